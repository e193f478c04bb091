/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for device-private memory whose data lives in a PCI BAR (mm/bind/bar_devmem.rs): mapping the BAR window
 * and copying pages in and out of it. Thin pass-throughs; the rules for calling each
 * one are in the Rust file.
 */
#ifndef P2PMM_BAR_GLUE_H
#define P2PMM_BAR_GLUE_H

#include <linux/types.h>

struct pci_dev;
struct page;

void __iomem *p2pmm_bar_map(struct pci_dev *pdev, int bar, u64 offset, u64 len);
void p2pmm_bar_unmap(struct pci_dev *pdev, void __iomem *addr);
void p2pmm_bar_copy_from_page(void __iomem *dst, struct page *src);
void p2pmm_bar_zero(void __iomem *dst);
void p2pmm_bar_copy_to_page(struct page *dst, const void __iomem *src);
void p2pmm_bar_copy_bar(void __iomem *dst, const void __iomem *src);
unsigned long p2pmm_devpage_folio(unsigned long pfn, unsigned int *order);

#endif /* P2PMM_BAR_GLUE_H */
