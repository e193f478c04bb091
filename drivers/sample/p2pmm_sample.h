/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the files of p2pmm_sample.ko share: the PCI driver and its DMA engine (p2pmm_sample.c), the dma-buf importer
 * that DMAs with that engine (p2pmm_sample_importer.c), and the importer of process memory by virtual address
 * (p2pmm_sample_mirror.c).
 */
#ifndef P2PMM_SAMPLE_H
#define P2PMM_SAMPLE_H

#include <linux/types.h>

struct device;

struct device *p2pmm_sample_engine_device(void);
int p2pmm_sample_engine_dma(struct device *dev, dma_addr_t addr, void *page, bool to_memory);
int p2pmm_sample_importer_init(void);
void p2pmm_sample_importer_exit(void);
int p2pmm_sample_mirror_init(void);
void p2pmm_sample_mirror_exit(void);

#endif /* P2PMM_SAMPLE_H */
