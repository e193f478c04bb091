/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest-side wrappers of the /dev/p2pmm ioctls that list providers and move memory (PROVIDERS, MIGRATE, QUERY,
 * BLKIO) for the guest programs that use them together (the blkio, fail-nth and scale kselftests, scale_bench).
 * Output fields start poisoned, so an answer the kernel did not write fails every check, of 0 too. Header-only.
 */
#ifndef P2PMM_TESTS_P2PMM_IOCTL_H
#define P2PMM_TESTS_P2PMM_IOCTL_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/p2pmm.h>

#define P2PMM_IOCTL_UNWRITTEN 0xa5a5a5a5a5a5a5a5ULL
#define P2PMM_IOCTL_PAGE 4096

/* P2PMM_IOC_PROVIDERS into out[room]: how many providers exist, or -1 (errno set). */
static inline int p2pmm_providers(int fd, struct p2pmm_provider_info *out, int room)
{
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = room, .entry_size = sizeof(*out), .entries = (uintptr_t)out,
	};

	return ioctl(fd, P2PMM_IOC_PROVIDERS, &req) ? -1 : (int)req.count;
}

/* Provider `id` into *info: 0, or -1 when there is no such provider (or the list failed). */
static inline int p2pmm_provider(int fd, uint32_t id, struct p2pmm_provider_info *info)
{
	struct p2pmm_provider_info p[32];
	int n = p2pmm_providers(fd, p, 32);

	for (int i = 0; i < n && i < 32; i++)
		if (p[i].id == id) {
			*info = p[i];
			return 0;
		}
	return -1;
}

/* P2PMM_IOC_MIGRATE of [addr, addr + len) to target, the reply in *m: 0, or -1 (errno set). */
static inline int p2pmm_migrate_reply(int fd, void *addr, size_t len, uint32_t target, struct p2pmm_migrate *m)
{
	*m = (struct p2pmm_migrate){
		.size = sizeof(*m), .addr = (uintptr_t)addr, .length = len, .target = target,
		.migrated = P2PMM_IOCTL_UNWRITTEN, .evicted = P2PMM_IOCTL_UNWRITTEN,
	};
	return ioctl(fd, P2PMM_IOC_MIGRATE, m) ? -1 : 0;
}

/* P2PMM_IOC_MIGRATE of [addr, addr + len) to target: pages moved, or -1 (errno set). */
static inline long p2pmm_migrate(int fd, void *addr, size_t len, uint32_t target)
{
	struct p2pmm_migrate m;

	if (p2pmm_migrate_reply(fd, addr, len, target, &m))
		return -1;
	return (long)m.migrated;
}

/* How many pages of [addr, addr + len) P2PMM_IOC_QUERY places at location `where`; -1 (errno set) on error. */
static inline long p2pmm_count_at(int fd, void *addr, size_t len, uint32_t where)
{
	uint32_t loc[1024];
	const size_t room = sizeof(loc) / sizeof(loc[0]);
	size_t pages = len / P2PMM_IOCTL_PAGE;
	long n = 0;

	for (size_t at = 0; at < pages; at += room) {
		size_t k = pages - at < room ? pages - at : room;
		struct p2pmm_query q = {
			.size = sizeof(q), .addr = (uintptr_t)addr + at * P2PMM_IOCTL_PAGE,
			.length = k * P2PMM_IOCTL_PAGE, .locations = (uintptr_t)loc,
		};

		memset(loc, 0xa5, sizeof(loc));
		if (ioctl(fd, P2PMM_IOC_QUERY, &q))
			return -1;
		for (size_t i = 0; i < k; i++)
			n += loc[i] == where;
	}
	return n;
}

/* P2PMM_IOC_BLKIO between [addr, addr + len) and byte off of block device bfd; 0 or -1 (errno set). */
static inline int p2pmm_blkio(int fd, int bfd, void *addr, size_t len, uint64_t off, int write,
			      struct p2pmm_blkio *b)
{
	memset(b, 0, sizeof(*b));
	b->size = sizeof(*b);
	b->flags = write ? P2PMM_BLKIO_WRITE : 0;
	b->fd = bfd;
	b->addr = (uintptr_t)addr;
	b->length = len;
	b->offset = off;
	b->bytes_p2p = b->bytes_system = b->bytes_bounce = b->retries = P2PMM_IOCTL_UNWRITTEN;
	return ioctl(fd, P2PMM_IOC_BLKIO, b);
}

/* The value of `key` in /sys/kernel/debug/p2pmm/blkio, or -1. */
static inline long long p2pmm_blkio_stat(const char *key)
{
	char line[128], name[64];
	long long v, found = -1;
	FILE *f = fopen("/sys/kernel/debug/p2pmm/blkio", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%63s %lld", name, &v) == 2 && !strcmp(name, key))
			found = v;
	fclose(f);
	return found;
}

#endif /* P2PMM_TESTS_P2PMM_IOCTL_H */
