/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for p2pmm's mirror bindings (the Rust files in mm/bind/): the inline helpers and structs of <linux/mmu_notifier.h>,
 * <linux/hmm.h> and <linux/rmap.h> that `kernel::bindings` does not reach from an out-of-tree module.
 * Each function is a thin pass-through; the rules for calling it are in the Rust file that wraps it.
 */
#ifndef P2PMM_MIRROR_GLUE_H
#define P2PMM_MIRROR_GLUE_H

#include <linux/types.h>

struct mmu_interval_notifier;
struct mmu_notifier_range;
struct mm_struct;
struct page;
struct folio;

/* mm/bind/notifier.rs */
bool p2pmm_range_blockable(const struct mmu_notifier_range *range);
void p2pmm_interval_set_seq(struct mmu_interval_notifier *sub, unsigned long cur_seq);
bool p2pmm_interval_read_retry(struct mmu_interval_notifier *sub, unsigned long seq);

/* mm/bind/hmm.rs */
int p2pmm_hmm_range_fault(struct mmu_interval_notifier *sub, unsigned long seq, unsigned long start,
			  unsigned long end, unsigned long *pfns, unsigned long default_flags, void *owner);
int p2pmm_hmm_range_fault_unlocked(struct mmu_interval_notifier *sub, unsigned long *seq, unsigned long start,
				   unsigned long end, unsigned long *pfns, unsigned long default_flags,
				   void *owner, unsigned long timeout_ms);
struct page *p2pmm_hmm_pfn_to_page(unsigned long hmm_pfn);
unsigned int p2pmm_hmm_pfn_to_map_order(unsigned long hmm_pfn);

/* mm/bind/dev_page.rs */
bool p2pmm_page_is_zero(struct page *page);
bool p2pmm_page_is_device_private(struct page *page);
void *p2pmm_page_pgmap_owner(struct page *page);
void p2pmm_copy_from_page(void *dst, struct page *page);
void p2pmm_copy_to_page(struct page *page, const void *src);
struct page *p2pmm_make_device_exclusive(struct mm_struct *mm, unsigned long addr, void *owner,
					 struct folio **folio);
void p2pmm_folio_unlock_put(struct folio *folio);
unsigned int p2pmm_pmd_order(void);
unsigned int p2pmm_pud_order(void);

#endif /* P2PMM_MIRROR_GLUE_H */
