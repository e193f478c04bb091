// SPDX-License-Identifier: GPL-2.0
/* Prints what P2PMM_IOC_VERSION reports; `make run` shows it (p2pmmctl version says the same, in Rust). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/p2pmm.h>

int main(void)
{
	struct p2pmm_version v = { .size = sizeof(v) };
	int fd = open("/dev/p2pmm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "p2pmm-info: cannot open /dev/p2pmm: %s\n", strerror(errno));
		return 1;
	}
	if (ioctl(fd, P2PMM_IOC_VERSION, &v)) {
		fprintf(stderr, "p2pmm-info: P2PMM_IOC_VERSION failed: %s\n", strerror(errno));
		return 1;
	}
	printf("p2pmm uapi version %u, features 0x%llx:%s%s%s%s%s%s%s%s\n", v.version, (unsigned long long)v.features,
	       v.features & P2PMM_FEATURE_VERSION ? " version" : "",
	       v.features & P2PMM_FEATURE_PROVIDERS ? " providers" : "",
	       v.features & P2PMM_FEATURE_MIGRATE ? " migrate" : "", v.features & P2PMM_FEATURE_ADVISE ? " advise" : "",
	       v.features & P2PMM_FEATURE_STATIC_MMAP ? " static-mmap" : "",
	       v.features & P2PMM_FEATURE_BLKIO ? " blkio" : "", v.features & P2PMM_FEATURE_DMABUF ? " dmabuf" : "",
	       v.features & P2PMM_FEATURE_DMABUF_MANAGED ? " dmabuf-managed" : "");
	close(fd);
	return 0;
}
