// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for mm/bind/bar_devmem.rs; see bar_glue.h.
 */
#include <linux/highmem.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/pci.h>

#include "bar_glue.h"

/* Write-combining: the BAR is plain memory (ivshmem), and page copies stream through it. */
void __iomem *p2pmm_bar_map(struct pci_dev *pdev, int bar, u64 offset, u64 len)
{
	return pci_iomap_wc_range(pdev, bar, offset, len);
}

void p2pmm_bar_unmap(struct pci_dev *pdev, void __iomem *addr)
{
	pci_iounmap(pdev, addr);
}

void p2pmm_bar_copy_from_page(void __iomem *dst, struct page *src)
{
	void *s = kmap_local_page(src);

	memcpy_toio(dst, s, PAGE_SIZE);
	kunmap_local(s);
}

void p2pmm_bar_zero(void __iomem *dst)
{
	memset_io(dst, 0, PAGE_SIZE);
}

void p2pmm_bar_copy_to_page(struct page *dst, const void __iomem *src)
{
	void *d = kmap_local_page(dst);

	memcpy_fromio(d, src, PAGE_SIZE);
	kunmap_local(d);
}

/* BAR to BAR (device to device): through a CPU bounce of one cache-friendly chunk at a time. */
void p2pmm_bar_copy_bar(void __iomem *dst, const void __iomem *src)
{
	u64 buf[64];
	size_t off;

	for (off = 0; off < PAGE_SIZE; off += sizeof(buf)) {
		memcpy_fromio(buf, src + off, sizeof(buf));
		memcpy_toio(dst + off, buf, sizeof(buf));
	}
}

/*
 * The head PFN and order of the folio device page @pfn is part of, as they are now: only a hint unless the caller
 * keeps the folio from changing (a migration that holds it locked, or its slot reserved).
 */
unsigned long p2pmm_devpage_folio(unsigned long pfn, unsigned int *order)
{
	struct folio *folio = page_folio(pfn_to_page(pfn));

	*order = folio_order(folio);
	return folio_pfn(folio);
}
