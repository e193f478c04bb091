// SPDX-License-Identifier: GPL-2.0
/*
 * kselftests of p2pmm for an unprivileged user. The node is given to a group the way
 * Documentation/p2pmm/admin.rst's udev rule does (root:GROUP, 0660); a member without any capability then uses its
 * own memory (static mmap, zeroed; migration there and back; advice; a query of itself), while a non-member cannot
 * open the node and a member cannot look at another process's placement, map through the sysfs `allocate` file or
 * read p2pmm's debugfs; unless it traces that process (ptrace(2)): a tracer sees its tracee's placement. The node's mode and owner are restored afterwards. Needs p2pmm.ko loaded on the default VM
 * topology; run as root (dropping privileges needs them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/p2pmm.h>

#include "kselftest_harness.h"
#include "p2pmm_ioctl.h"

#define P2PMM_DEV "/dev/p2pmm"
#define GROUP 1001	/* the node's owner group */
#define MEMBER 1000	/* uid and primary gid of a user in GROUP */
#define STRANGER 1002	/* uid and gid of a user outside it */
#define PAGE 4096UL
#define LEN (64 * PAGE)

/* Runs @fn as @uid:@uid with supplementary groups @groups[@n] and no capabilities; returns its exit status. */
static int run_as(uid_t uid, const gid_t *groups, int n, int (*fn)(void *), void *arg)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		if (setgroups(n, groups) || setgid(uid) || setuid(uid) || !geteuid())
			_exit(100);
		_exit(fn(arg));
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int as_member(int (*fn)(void *), void *arg)
{
	const gid_t g = GROUP;

	return run_as(MEMBER, &g, 1, fn, arg);
}

FIXTURE(unpriv)
{
	struct p2pmm_provider_info st, mg;
};

FIXTURE_SETUP(unpriv)
{
	struct p2pmm_provider_info p[32];
	int fd, n;

	ASSERT_EQ(0, geteuid()) TH_LOG("run as root: dropping privileges needs them");
	/* What the udev rule does: the node belongs to GROUP, which may read and write it. */
	ASSERT_EQ(0, chown(P2PMM_DEV, 0, GROUP));
	ASSERT_EQ(0, chmod(P2PMM_DEV, 0660));
	fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd);
	n = p2pmm_providers(fd, p, 32);
	close(fd);
	ASSERT_LT(0, n);
	memset(&self->st, 0, sizeof(self->st));
	memset(&self->mg, 0, sizeof(self->mg));
	for (int i = 0; i < n && i < 32; i++) {
		if (p[i].kind == P2PMM_PROVIDER_STATIC && p[i].capacity - p[i].used >= LEN && !self->st.id)
			self->st = p[i];
		if (p[i].kind == P2PMM_PROVIDER_MANAGED && !self->mg.id)
			self->mg = p[i];
	}
	ASSERT_NE(0, self->st.id);
	ASSERT_NE(0, self->mg.id);
}

FIXTURE_TEARDOWN(unpriv)
{
	EXPECT_EQ(0, chmod(P2PMM_DEV, 0600));
	EXPECT_EQ(0, chown(P2PMM_DEV, 0, 0));
}

static int open_dev(void *arg)
{
	int fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);

	(void)arg;
	if (fd >= 0)
		return 0;
	return errno == EACCES ? 1 : 2;
}

TEST_F(unpriv, members_open_the_node_and_others_do_not)
{
	const gid_t none = STRANGER;

	EXPECT_EQ(0, as_member(open_dev, NULL));
	EXPECT_EQ(1, run_as(STRANGER, &none, 1, open_dev, NULL));
}

/* Exit codes name the step that failed. */
static int use_own_memory(void *arg)
{
	const struct p2pmm_provider_info *p = arg;	/* [0] static, [1] managed */
	struct p2pmm_version v = { .size = sizeof(v) };
	struct p2pmm_provider_info list[32];
	uint32_t loc[LEN / PAGE];
	struct p2pmm_query q = {
		.size = sizeof(q), .addr = 0, .length = LEN, .locations = (uintptr_t)loc, .pid = (uint32_t)getpid(),
	};
	struct p2pmm_advise a = { .size = sizeof(a), .length = LEN, .advice = P2PMM_ADV_PIN };
	int fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);
	uint8_t *s, *m;

	if (fd < 0)
		return 10;
	if (ioctl(fd, P2PMM_IOC_VERSION, &v) || p2pmm_providers(fd, list, 32) < 1)
		return 11;
	s = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, P2PMM_MMAP_OFFSET(p[0].id));
	if (s == MAP_FAILED)
		return 12;
	for (size_t i = 0; i < LEN; i++)
		if (s[i])
			return 13;	/* another user's bytes */
	memset(s, 0x3c, LEN);
	m = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 14;
	for (size_t i = 0; i < LEN; i++)
		m[i] = (uint8_t)(i * 13);
	if (p2pmm_migrate(fd, m, LEN, p[1].id) != (long)(LEN / PAGE))
		return 15;
	q.addr = (uintptr_t)m;
	if (ioctl(fd, P2PMM_IOC_QUERY, &q) || loc[0] != p[1].id || loc[LEN / PAGE - 1] != p[1].id)
		return 16;
	a.addr = (uintptr_t)m;
	if (ioctl(fd, P2PMM_IOC_ADVISE, &a))
		return 17;
	if (p2pmm_migrate(fd, m, LEN, P2PMM_LOCATION_SYSTEM) != (long)(LEN / PAGE))
		return 18;
	for (size_t i = 0; i < LEN; i++)
		if (m[i] != (uint8_t)(i * 13) || s[i] != 0x3c)
			return 19;
	return 0;
}

TEST_F(unpriv, a_member_uses_its_own_memory)
{
	struct p2pmm_provider_info p[2] = { self->st, self->mg };

	EXPECT_EQ(0, as_member(use_own_memory, p));
}

static int look_elsewhere(void *arg)
{
	const struct p2pmm_provider_info *st = arg;
	uint32_t loc;
	struct p2pmm_query q = {
		.size = sizeof(q), .addr = 0x400000, .length = PAGE, .locations = (uintptr_t)&loc, .pid = 1,
	};
	char path[96];
	int fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return 10;
	/* Another process's placement needs CAP_SYS_PTRACE, or to trace it. */
	if (ioctl(fd, P2PMM_IOC_QUERY, &q) != -1 || errno != EPERM)
		return 11;
	/* The allocate file is root's (the node is what the administrator hands out). */
	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/allocate", st->id);
	if (open(path, O_RDWR) != -1 || errno != EACCES)
		return 12;
	/* The counters are anyone's to read. */
	snprintf(path, sizeof(path), "/sys/kernel/p2pmm/providers/%u/used", st->id);
	if (open(path, O_RDONLY) < 0)
		return 13;
	/* debugfs (slot states, BLKIO internals) is root's. */
	if (open("/sys/kernel/debug/p2pmm", O_RDONLY) != -1 || errno != EACCES)
		return 14;
	return 0;
}

TEST_F(unpriv, a_member_sees_only_what_is_its_own_or_public)
{
	EXPECT_EQ(0, as_member(look_elsewhere, &self->st));
}

/*
 * A member without capabilities queries a child of its own (same user) whose memory is on a managed provider:
 * refused (EPERM) until it traces the child (PTRACE_SEIZE, which runs the ptrace access check), then answered.
 */
static int look_at_tracee(void *arg)
{
	const struct p2pmm_provider_info *mg = arg;
	uint32_t loc[LEN / PAGE];
	struct p2pmm_query q = { .size = sizeof(q), .length = LEN, .locations = (uintptr_t)loc };
	int fd = open(P2PMM_DEV, O_RDWR | O_CLOEXEC), ready[2], rc = 0;
	uint8_t *m;
	pid_t child;

	if (fd < 0)
		return 10;
	/* setuid() made the process undumpable, which only CAP_SYS_PTRACE may trace: undo that for the child. */
	if (prctl(PR_SET_DUMPABLE, 1) || pipe(ready))
		return 11;
	m = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return 12;
	child = fork();
	if (child < 0)
		return 13;
	if (!child) {
		char c = 1;

		memset(m, 0x5a, LEN);
		if (p2pmm_migrate(fd, m, LEN, mg->id) != (long)(LEN / PAGE))
			c = 0;
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	{
		char c = 0;

		if (read(ready[0], &c, 1) != 1 || !c)
			rc = 14;
	}
	q.addr = (uintptr_t)m;
	q.pid = (uint32_t)child;
	if (!rc && (ioctl(fd, P2PMM_IOC_QUERY, &q) != -1 || errno != EPERM))
		rc = 15;
	if (!rc && ptrace(PTRACE_SEIZE, child, 0, 0))
		rc = 16;
	loc[0] = loc[LEN / PAGE - 1] = 0;
	if (!rc && (ioctl(fd, P2PMM_IOC_QUERY, &q) || loc[0] != mg->id || loc[LEN / PAGE - 1] != mg->id))
		rc = 17;
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	return rc;
}

TEST_F(unpriv, a_tracer_sees_its_tracee)
{
	EXPECT_EQ(0, as_member(look_at_tracee, &self->mg));
}

TEST_HARNESS_MAIN
