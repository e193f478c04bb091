/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The spare accelerator of the default VM topology (scripts/vm.sh: the ivshmem-plain device at function 1 of a
 * slot below the switch). tests/guest/init.sh keeps every driver off it (driver_override "none") so that the
 * other tests see the topology they were written for; the eviction cascade over three managed providers
 * (p2pmm_pressure_test, tests/bench/oversub_bench) binds it to p2pmm_vaccel for as long as it needs it, through
 * the PCI core's own files, as an administrator would. Header-only, on p2p_dma.h's file helpers.
 */
#ifndef P2PMM_TESTS_P2PMM_SPARE_H
#define P2PMM_TESTS_P2PMM_SPARE_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "p2p_dma.h"

#define P2PMM_SPARE_DEVICES "/sys/bus/pci/devices"
#define P2PMM_SPARE_DRIVER "p2pmm_vaccel"
/* What init.sh writes to driver_override: a name no driver has. */
#define P2PMM_SPARE_NO_DRIVER "none"

/* The first line of attribute @file of PCI device @dev (newline cut) into buf: 0, or -1. */
static inline int p2pmm_spare_read(const char *dev, const char *file, char *buf, size_t len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s/%s", P2PMM_SPARE_DEVICES, dev, file);
	return p2p_dma_read_line(path, buf, len);
}

/*
 * Binds the spare accelerator (an ivshmem device whose driver_override is "none") to p2pmm_vaccel, which
 * registers its providers before the write returns; its PCI name goes to @bdf. 0, or -1 with errno set (ENODEV:
 * no spare, as in the scale VM).
 */
static inline int p2pmm_spare_bind(char *bdf, size_t len)
{
	char path[512], line[64];
	struct dirent *d;
	DIR *dir = opendir(P2PMM_SPARE_DEVICES);

	if (!dir)
		return -1;
	bdf[0] = 0;
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		if (p2pmm_spare_read(d->d_name, "vendor", line, sizeof(line)) || strcmp(line, "0x1af4") ||
		    p2pmm_spare_read(d->d_name, "device", line, sizeof(line)) || strcmp(line, "0x1110") ||
		    p2pmm_spare_read(d->d_name, "driver_override", line, sizeof(line)) ||
		    strcmp(line, P2PMM_SPARE_NO_DRIVER))
			continue;
		if (strlen(d->d_name) < len)
			memcpy(bdf, d->d_name, strlen(d->d_name) + 1);
		break;
	}
	closedir(dir);
	if (!bdf[0]) {
		errno = ENODEV;
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s/driver_override", P2PMM_SPARE_DEVICES, bdf);
	if (p2p_dma_write_file(path, P2PMM_SPARE_DRIVER))
		return -1;
	if (p2p_dma_write_file("/sys/bus/pci/drivers_probe", bdf) == 0) {
		snprintf(path, sizeof(path), "%s/%s/driver", P2PMM_SPARE_DEVICES, bdf);
		if (access(path, F_OK) == 0)
			return 0;
		errno = ENXIO; /* the probe failed: dmesg says why */
	}
	snprintf(path, sizeof(path), "%s/%s/driver_override", P2PMM_SPARE_DEVICES, bdf);
	p2p_dma_write_file(path, P2PMM_SPARE_NO_DRIVER);
	return -1;
}

/*
 * Unbinds the spare @bdf (its managed pages go to system memory first, its mappings of static memory are
 * revoked) and keeps drivers off it again: 0, or -1 with errno set.
 */
static inline int p2pmm_spare_unbind(const char *bdf)
{
	char path[512];
	int rc;

	rc = p2p_dma_write_file("/sys/bus/pci/drivers/" P2PMM_SPARE_DRIVER "/unbind", bdf);
	snprintf(path, sizeof(path), "%s/%s/driver_override", P2PMM_SPARE_DEVICES, bdf);
	if (p2p_dma_write_file(path, P2PMM_SPARE_NO_DRIVER))
		rc = -1;
	return rc;
}

#endif /* P2PMM_TESTS_P2PMM_SPARE_H */
