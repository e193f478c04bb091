/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest-side helpers for the kselftests that ask p2pmm about providers and routes and check the answers against
 * the PCI topology in sysfs (tests/kselftest/p2pmm_providers_test.c, p2pmm_odirect_test.c, policy/). Header-only:
 * each test is one static binary.
 */
#ifndef P2PMM_TESTS_P2PMM_TOPO_H
#define P2PMM_TESTS_P2PMM_TOPO_H

#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/p2pmm.h>

#define P2PMM_TOPO_PCI_DEVICES "/sys/bus/pci/devices"

/* Whether two devices sit below a common PCI bridge: their sysfs paths share a PCI device component. */
static inline int share_bridge(const char *a, const char *b)
{
	char pa[PATH_MAX], pb[PATH_MAX], link[PATH_MAX];
	char *sa, *sb, *ta, *tb;

	snprintf(link, sizeof(link), P2PMM_TOPO_PCI_DEVICES "/%s", a);
	if (!realpath(link, pa))
		return -1;
	snprintf(link, sizeof(link), P2PMM_TOPO_PCI_DEVICES "/%s", b);
	if (!realpath(link, pb))
		return -1;
	/* /sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0/... : the first PCI component is the root port. */
	for (ta = strtok_r(pa, "/", &sa); ta; ta = strtok_r(NULL, "/", &sa)) {
		char copy[PATH_MAX];

		if (strlen(ta) != 12 || ta[4] != ':')
			continue;
		snprintf(copy, sizeof(copy), "%s", pb);
		for (tb = strtok_r(copy, "/", &sb); tb; tb = strtok_r(NULL, "/", &sb))
			if (!strcmp(ta, tb))
				return 1;
	}
	return 0;
}

/* P2PMM_IOC_PROVIDERS into out[0..room): how many providers exist (may exceed room), or -1. */
static inline int list_providers(int fd, struct p2pmm_provider_info *out, int room)
{
	struct p2pmm_providers req = {
		.size = sizeof(req), .count = room, .entry_size = sizeof(*out), .entries = (uintptr_t)out,
	};

	if (ioctl(fd, P2PMM_IOC_PROVIDERS, &req))
		return -1;
	return req.count;
}

/* P2PMM_IOC_ROUTE of (provider, client) into r, its output fields poisoned first: 0 or -1. */
static inline int route(int fd, uint32_t provider, const char *client, struct p2pmm_route *r)
{
	memset(r, 0, sizeof(*r));
	r->size = sizeof(*r);
	r->provider = provider;
	snprintf(r->client, sizeof(r->client), "%.31s", client);
	/* Output only (ignored on input): an answer left unwritten fails every check, of 0 too. */
	r->verdict = r->plan = r->reason = r->host_bridge = 0xa5a5a5a5U;
	r->distance = INT32_MIN;
	return ioctl(fd, P2PMM_IOC_ROUTE, r);
}

/* The static and managed providers of PCI device @dev (0 if none): how many providers exist, or -1. */
static inline int p2pmm_providers_of(int fd, const char *dev, uint32_t *st, uint32_t *managed)
{
	struct p2pmm_provider_info p[32];
	int n = list_providers(fd, p, 32);

	*st = *managed = 0;
	for (int i = 0; i < n && i < 32; i++) {
		if (strcmp(p[i].device, dev))
			continue;
		if (p[i].kind == P2PMM_PROVIDER_STATIC)
			*st = p[i].id;
		else
			*managed = p[i].id;
	}
	return n;
}

/* Whether @addr lies in a memory BAR of PCI device @dev (its resource file; bus = CPU addresses on q35). */
static inline int p2pmm_in_a_bar(const char *dev, uint64_t addr)
{
	unsigned long long start, end, flags;
	char path[PATH_MAX];
	FILE *f;
	int hit = 0;

	snprintf(path, sizeof(path), P2PMM_TOPO_PCI_DEVICES "/%s/resource", dev);
	f = fopen(path, "r");
	while (f && fscanf(f, "%llx %llx %llx", &start, &end, &flags) == 3)
		if (start && addr >= start && addr <= end)
			hit = 1;
	if (f)
		fclose(f);
	return hit;
}

/* The first line of sysfs file @dir/@name/@file without its newline, in @out: 0, or -1 if it cannot be read. */
static inline int p2pmm_topo_read(const char *dir, const char *name, const char *file, char *out, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fgets(out, (int)len, f) != NULL;
	fclose(f);
	out[strcspn(out, "\n")] = 0;
	return ok ? 0 : -1;
}

/* The PCI name of the first device with this vendor and device id ("0x1234"), or "" in @out. */
static inline void p2pmm_find_pci(const char *vendor, const char *device, char *out, size_t len)
{
	DIR *dir = opendir(P2PMM_TOPO_PCI_DEVICES);
	char v[16], d[16];
	struct dirent *e;

	out[0] = 0;
	while (dir && (e = readdir(dir))) {
		if (p2pmm_topo_read(P2PMM_TOPO_PCI_DEVICES, e->d_name, "vendor", v, sizeof(v)) ||
		    p2pmm_topo_read(P2PMM_TOPO_PCI_DEVICES, e->d_name, "device", d, sizeof(d)))
			continue;
		if (!strcmp(v, vendor) && !strcmp(d, device)) {
			snprintf(out, len, "%.31s", e->d_name);
			break;
		}
	}
	if (dir)
		closedir(dir);
}

#endif /* P2PMM_TESTS_P2PMM_TOPO_H */
