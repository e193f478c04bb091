// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of /dev/p2pmm basics: open/close, P2PMM_IOC_VERSION and its extensible-struct rules,
 * and the errnos of bad input. Needs p2pmm.ko loaded; run as root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"

#define P2PMM_DEV "/dev/p2pmm"

/* The ioctl number for an argument of `size` bytes: the kernel must ignore the size it encodes. */
#define P2PMM_IOC_VERSION_SIZED(size) _IOC(_IOC_READ | _IOC_WRITE, P2PMM_IOC_MAGIC, 0x00, (size))

FIXTURE(dev) {
	int fd;
};

FIXTURE_SETUP(dev)
{
	self->fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s (is p2pmm.ko loaded?)", P2PMM_DEV, strerror(errno));
}

FIXTURE_TEARDOWN(dev)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST(open_close)
{
	struct stat st;
	int fd;

	ASSERT_EQ(0, stat(P2PMM_DEV, &st));
	ASSERT_TRUE(S_ISCHR(st.st_mode));
	/* The uAPI is gated by the node's permissions: root only by default. */
	ASSERT_EQ(0600, st.st_mode & 07777);
	for (int i = 0; i < 100; i++) {
		fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);
		ASSERT_LE(0, fd);
		ASSERT_EQ(0, close(fd));
	}
}

TEST_F(dev, version)
{
	struct p2pmm_version v = { .size = sizeof(v) };

	ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_VERSION, &v));
	EXPECT_EQ(P2PMM_UAPI_VERSION, v.version);
	EXPECT_EQ(sizeof(v), v.size);
	EXPECT_EQ(0, v.flags);
	EXPECT_TRUE(v.features & P2PMM_FEATURE_VERSION);
	/* Only bits this header knows: a bit outside them would be a feature nobody documented. */
	EXPECT_EQ(0, v.features & ~(P2PMM_FEATURE_VERSION | P2PMM_FEATURE_PROVIDERS | P2PMM_FEATURE_MIGRATE |
				    P2PMM_FEATURE_ADVISE | P2PMM_FEATURE_STATIC_MMAP | P2PMM_FEATURE_BLKIO |
				    P2PMM_FEATURE_DMABUF | P2PMM_FEATURE_DMABUF_MANAGED));
}

/* A newer userspace passes a larger struct; zero tail bytes are accepted and left alone. */
TEST_F(dev, version_larger_struct_zero_tail)
{
	struct {
		struct p2pmm_version v;
		uint64_t future[8];
	} big;

	memset(&big, 0, sizeof(big));
	big.v.size = sizeof(big);
	ASSERT_EQ(0, ioctl(self->fd, P2PMM_IOC_VERSION_SIZED(sizeof(big)), &big));
	EXPECT_EQ(P2PMM_UAPI_VERSION, big.v.version);
	for (int i = 0; i < 8; i++)
		EXPECT_EQ(0, big.future[i]);
}

/* A non-zero byte the kernel does not understand is E2BIG, as openat2/clone3 do. */
TEST_F(dev, version_larger_struct_nonzero_tail)
{
	struct {
		struct p2pmm_version v;
		uint64_t future[8];
	} big;

	memset(&big, 0, sizeof(big));
	big.v.size = sizeof(big);
	big.future[7] = 1;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_VERSION, &big));
	EXPECT_EQ(E2BIG, errno);
	EXPECT_EQ(0, big.v.version) TH_LOG("nothing is written back on error");
}

TEST_F(dev, version_too_small_is_einval)
{
	struct p2pmm_version v = { .size = P2PMM_VERSION_SIZE_VER0 - 1 };

	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_VERSION, &v));
	EXPECT_EQ(EINVAL, errno);
	v.size = 0;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_VERSION, &v));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(dev, version_huge_size_is_e2big)
{
	struct p2pmm_version v = { .size = 1u << 20 };

	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_VERSION, &v));
	EXPECT_EQ(E2BIG, errno);
}

TEST_F(dev, version_unknown_flags_is_einval)
{
	struct p2pmm_version v = { .size = sizeof(v), .flags = 1 };

	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_VERSION, &v));
	EXPECT_EQ(EINVAL, errno);
	v.flags = 0x80000000u;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_VERSION, &v));
	EXPECT_EQ(EINVAL, errno);
	v.flags = 0;
	v.__reserved = 1;
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_VERSION, &v));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(dev, version_bad_pointer_is_efault)
{
	struct p2pmm_version *v;
	void *unmapped;

	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_VERSION, NULL));
	EXPECT_EQ(EFAULT, errno);
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_VERSION, (void *)-4096L));
	EXPECT_EQ(EFAULT, errno);
	/* A struct that starts readable but whose declared size runs into an unmapped page. */
	unmapped = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, unmapped);
	ASSERT_EQ(0, munmap((char *)unmapped + 4096, 4096));
	v = (void *)((char *)unmapped + 4096 - 8);
	memset(v, 0, 8);
	v->size = sizeof(*v);
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_VERSION, v));
	EXPECT_EQ(EFAULT, errno);
	munmap(unmapped, 4096);
}

/* A read-only struct can be read but not answered: EFAULT, not a crash. */
TEST_F(dev, version_readonly_struct_is_efault)
{
	struct p2pmm_version *v = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, v);
	memset(v, 0, sizeof(*v));
	v->size = sizeof(*v);
	ASSERT_EQ(0, mprotect(v, 4096, PROT_READ));
	ASSERT_EQ(-1, ioctl(self->fd, P2PMM_IOC_VERSION, v));
	EXPECT_EQ(EFAULT, errno);
	munmap(v, 4096);
}

TEST_F(dev, unknown_ioctl_is_enotty)
{
	unsigned long cmds[] = {
		_IO(P2PMM_IOC_MAGIC, 0x00),                     /* right nr, no direction */
		_IOR(P2PMM_IOC_MAGIC, 0x00, struct p2pmm_version), /* right nr, read-only */
		_IOWR(P2PMM_IOC_MAGIC, 0xff, struct p2pmm_version), /* unknown nr */
		_IOWR('H', 0x00, struct p2pmm_version),         /* another driver's magic */
		0x5401,                                          /* TCGETS */
	};
	struct p2pmm_version v = { .size = sizeof(v) };

	for (unsigned int i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		EXPECT_EQ(-1, ioctl(self->fd, cmds[i], &v)) TH_LOG("cmd %#lx", cmds[i]);
		EXPECT_EQ(ENOTTY, errno) TH_LOG("cmd %#lx", cmds[i]);
	}
}

/* With the default 0600 root-owned node, an unprivileged process cannot open the device. */
TEST(unprivileged_open_refused)
{
	pid_t pid;
	int status;

	/* Root, as for every test here (the node is 0600): as anyone else this proves nothing. */
	ASSERT_EQ(0, geteuid()) TH_LOG("run as root: dropping privileges needs them");
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		int fd;

		if (setgid(65534) || setuid(65534))
			_exit(2);
		fd = open(P2PMM_DEV, O_RDWR);
		_exit(fd < 0 && errno == EACCES ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("unprivileged open was not refused with EACCES");
}

TEST_HARNESS_MAIN
