// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for p2pmm's mirror bindings; see mirror_glue.h.
 */
#include <linux/err.h>
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/jiffies.h>
#include <linux/memremap.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/pgtable.h>
#include <linux/rmap.h>

#include "mirror_glue.h"

bool p2pmm_range_blockable(const struct mmu_notifier_range *range)
{
	return mmu_notifier_range_blockable(range);
}

void p2pmm_interval_set_seq(struct mmu_interval_notifier *sub, unsigned long cur_seq)
{
	mmu_interval_set_seq(sub, cur_seq);
}

bool p2pmm_interval_read_retry(struct mmu_interval_notifier *sub, unsigned long seq)
{
	return mmu_interval_read_retry(sub, seq);
}

int p2pmm_hmm_range_fault(struct mmu_interval_notifier *sub, unsigned long seq, unsigned long start,
			  unsigned long end, unsigned long *pfns, unsigned long default_flags, void *owner)
{
	struct hmm_range range = {
		.notifier = sub,
		.notifier_seq = seq,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
		.default_flags = default_flags,
		.pfn_flags_mask = 0,
		.dev_private_owner = owner,
	};

	return hmm_range_fault(&range);
}

int p2pmm_hmm_range_fault_unlocked(struct mmu_interval_notifier *sub, unsigned long *seq, unsigned long start,
				   unsigned long end, unsigned long *pfns, unsigned long default_flags,
				   void *owner, unsigned long timeout_ms)
{
	struct hmm_range range = {
		.notifier = sub,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
		.default_flags = default_flags,
		.pfn_flags_mask = 0,
		.dev_private_owner = owner,
	};
	int ret;

	ret = hmm_range_fault_unlocked_timeout(&range, timeout_ms ? msecs_to_jiffies(timeout_ms) : 0);
	*seq = range.notifier_seq;
	return ret;
}

struct page *p2pmm_hmm_pfn_to_page(unsigned long hmm_pfn)
{
	return hmm_pfn_to_page(hmm_pfn);
}

unsigned int p2pmm_hmm_pfn_to_map_order(unsigned long hmm_pfn)
{
	return hmm_pfn_to_map_order(hmm_pfn);
}

bool p2pmm_page_is_zero(struct page *page)
{
	return is_zero_pfn(page_to_pfn(page));
}

bool p2pmm_page_is_device_private(struct page *page)
{
	return is_device_private_page(page);
}

void *p2pmm_page_pgmap_owner(struct page *page)
{
	return is_zone_device_page(page) ? page_pgmap(page)->owner : NULL;
}

void p2pmm_copy_from_page(void *dst, struct page *page)
{
	memcpy_from_page(dst, page, 0, PAGE_SIZE);
}

void p2pmm_copy_to_page(struct page *page, const void *src)
{
	memcpy_to_page(page, 0, src, PAGE_SIZE);
}

struct page *p2pmm_make_device_exclusive(struct mm_struct *mm, unsigned long addr, void *owner,
					 struct folio **folio)
{
	return make_device_exclusive(mm, addr, owner, folio);
}

void p2pmm_folio_unlock_put(struct folio *folio)
{
	folio_unlock(folio);
	folio_put(folio);
}

unsigned int p2pmm_pmd_order(void)
{
	return PMD_SHIFT - PAGE_SHIFT;
}

unsigned int p2pmm_pud_order(void)
{
	return PUD_SHIFT - PAGE_SHIFT;
}
