/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest-side helpers for the programs that make an NVMe DMA into p2pmm memory (tests/kselftest/p2pmm_odirect_test.c,
 * tests/guest/p2pmm_demo.c): finding an NVMe of the VM by its serial, and counting the kernel's dma:dma_map_phys
 * events of a device, which every DMA mapping of system memory (and every mapping through a host bridge) emits and
 * a P2P transfer by bus address never does. Header-only: each program is one static binary.
 */
#ifndef P2PMM_TESTS_P2P_DMA_H
#define P2PMM_TESTS_P2P_DMA_H

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#define P2P_DMA_NVME_CLASS "/sys/class/nvme"
#define P2P_DMA_TRACEFS "/sys/kernel/tracing"

struct p2p_dma_nvme {
	char blk[64];	/* /dev/nvmeXn1 */
	char pci[32];	/* 0000:06:00.0 */
};

/* The first line of a sysfs file, without the trailing newline and the NVMe serial's space padding. */
static inline int p2p_dma_read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	char *end;

	if (!f)
		return -1;
	if (!fgets(buf, len, f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	end = buf + strcspn(buf, "\n");
	while (end > buf && end[-1] == ' ')
		end--;
	*end = 0;
	return 0;
}

/* The NVMe controller with this serial: its first namespace's block device and its PCI name. 0 or -1. */
static inline int p2p_dma_find_nvme(const char *serial, struct p2p_dma_nvme *out)
{
	char path[PATH_MAX], buf[64], link[PATH_MAX];
	struct dirent *d, *ns;
	DIR *dir = opendir(P2P_DMA_NVME_CLASS);
	int found = -1;

	if (!dir)
		return -1;
	while ((d = readdir(dir))) {
		size_t nlen = strlen(d->d_name);
		const char *slash;
		DIR *ctrl;
		ssize_t n;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), P2P_DMA_NVME_CLASS "/%s/serial", d->d_name);
		if (p2p_dma_read_line(path, buf, sizeof(buf)) || strcmp(buf, serial))
			continue;
		snprintf(path, sizeof(path), P2P_DMA_NVME_CLASS "/%s/device", d->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			break;
		link[n] = 0;
		slash = strrchr(link, '/');
		snprintf(out->pci, sizeof(out->pci), "%.31s", slash ? slash + 1 : link);
		snprintf(path, sizeof(path), P2P_DMA_NVME_CLASS "/%s", d->d_name);
		ctrl = opendir(path);
		if (!ctrl)
			break;
		/* nvme0n1 under nvme0: the namespace, not one of nvme0's other attributes. */
		while ((ns = readdir(ctrl))) {
			if (!strncmp(ns->d_name, d->d_name, nlen) && ns->d_name[nlen] == 'n') {
				snprintf(out->blk, sizeof(out->blk), "/dev/%.50s", ns->d_name);
				found = 0;
				break;
			}
		}
		closedir(ctrl);
		break;
	}
	closedir(dir);
	return found;
}

static inline int p2p_dma_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_TRUNC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* Mounts tracefs if needed and switches dma:dma_map_phys on (1) or off (0). 0 or -1. */
static inline int p2p_dma_trace(int on)
{
	mkdir(P2P_DMA_TRACEFS, 0755);
	if (access(P2P_DMA_TRACEFS "/trace", F_OK) && mount("nodev", P2P_DMA_TRACEFS, "tracefs", 0, NULL))
		return -1;
	return p2p_dma_write_file(P2P_DMA_TRACEFS "/events/dma/dma_map_phys/enable", on ? "1" : "0");
}

/* Empties the trace buffer. 0 or -1. */
static inline int p2p_dma_trace_clear(void)
{
	return p2p_dma_write_file(P2P_DMA_TRACEFS "/trace", "");
}

/* dma_map_phys events of PCI device `pci` since the buffer was last cleared; -1 if it cannot be read. */
static inline int p2p_dma_maps_of(const char *pci)
{
	char line[512];
	FILE *f = fopen(P2P_DMA_TRACEFS "/trace", "r");
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, "dma_map_phys:") && strstr(line, pci))
			n++;
	fclose(f);
	return n;
}

#endif /* P2PMM_TESTS_P2P_DMA_H */
