// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for p2pmm's mirror bindings; see mirror_glue.h.
 */
#include <kunit/test.h>
#include <kunit/test-bug.h>
#include <linux/err.h>
#include <linux/highmem.h>
#include <linux/hmm.h>
#include <linux/ioport.h>
#include <linux/jiffies.h>
#include <linux/memremap.h>
#include <linux/migrate.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/mmu_notifier.h>
#include <linux/pgtable.h>
#include <linux/rmap.h>
#include <linux/slab.h>

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

static struct hmm_range p2pmm_range(struct mmu_interval_notifier *sub, unsigned long start, unsigned long end,
				    unsigned long *pfns, unsigned long default_flags, void *owner)
{
	return (struct hmm_range){
		.notifier = sub,
		.start = start,
		.end = end,
		.hmm_pfns = pfns,
		.default_flags = default_flags,
		.pfn_flags_mask = 0,
		.dev_private_owner = owner,
	};
}

int p2pmm_hmm_range_fault(struct mmu_interval_notifier *sub, unsigned long seq, unsigned long start,
			  unsigned long end, unsigned long *pfns, unsigned long default_flags, void *owner)
{
	struct hmm_range range = p2pmm_range(sub, start, end, pfns, default_flags, owner);

	range.notifier_seq = seq;
	return hmm_range_fault(&range);
}

int p2pmm_hmm_range_fault_unlocked(struct mmu_interval_notifier *sub, unsigned long *seq, unsigned long start,
				   unsigned long end, unsigned long *pfns, unsigned long default_flags,
				   void *owner, unsigned long timeout_ms)
{
	struct hmm_range range = p2pmm_range(sub, start, end, pfns, default_flags, owner);
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

void p2pmm_get_page(struct page *page)
{
	get_page(page);
}

void p2pmm_put_page(struct page *page)
{
	put_page(page);
}

/* One page to user memory; the bytes not copied (0 on success). May fault and sleep: call without locks. */
unsigned long p2pmm_copy_page_to_user(void __user *dst, struct page *page)
{
	void *k = kmap_local_page(page);
	unsigned long left = copy_to_user(dst, k, PAGE_SIZE);

	kunmap_local(k);
	return left;
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

/* ---- device memory (mm/bind/devmem.rs) ---- */

int p2pmm_devmem_add(struct dev_pagemap *pgmap, unsigned long size, const struct dev_pagemap_ops *ops,
		     void *owner, unsigned long *first_pfn)
{
	struct resource *res;
	void *ptr;

	res = request_free_mem_region(&iomem_resource, size, "p2pmm_devmem");
	if (IS_ERR_OR_NULL(res))
		return res ? PTR_ERR(res) : -ENOMEM;
	memset(pgmap, 0, sizeof(*pgmap));
	pgmap->range.start = res->start;
	pgmap->range.end = res->end;
	pgmap->nr_range = 1;
	pgmap->type = MEMORY_DEVICE_PRIVATE;
	pgmap->ops = ops;
	pgmap->owner = owner;
	ptr = memremap_pages(pgmap, numa_node_id());
	if (IS_ERR_OR_NULL(ptr)) {
		release_mem_region(res->start, resource_size(res));
		return ptr ? PTR_ERR(ptr) : -EFAULT;
	}
	*first_pfn = pgmap->range.start >> PAGE_SHIFT;
	return 0;
}

void p2pmm_devmem_remove(struct dev_pagemap *pgmap)
{
	memunmap_pages(pgmap);
	release_mem_region(pgmap->range.start, range_len(&pgmap->range));
}

struct dev_pagemap *p2pmm_page_pgmap(struct page *page)
{
	return page_pgmap(page);
}

struct page *p2pmm_pfn_to_page(unsigned long pfn)
{
	return pfn_to_page(pfn);
}

unsigned long p2pmm_page_to_pfn(struct page *page)
{
	return page_to_pfn(page);
}

struct page *p2pmm_folio_page(struct folio *folio)
{
	return &folio->page;
}

/*
 * @dpage itself becomes the folio (as drm_pagemap does): a free page that was a tail of a larger folio still names
 * its old head, which page_folio() would initialise instead.
 */
void p2pmm_devpage_init(struct page *dpage, struct page *backing, unsigned int order)
{
	zone_device_folio_init((struct folio *)dpage, page_pgmap(dpage), order);
	dpage->zone_device_data = backing;
}

/* The backing page of any page of a simulated device folio: only the head records its backing folio. */
struct page *p2pmm_devpage_backing(struct page *dpage)
{
	struct folio *folio = page_folio(dpage);
	struct page *rhead = folio_page(folio, 0)->zone_device_data;

	return rhead ? pfn_to_page(page_to_pfn(rhead) + folio_page_idx(folio, dpage)) : NULL;
}

struct page *p2pmm_alloc_backing(unsigned int order)
{
	struct folio *folio = folio_alloc(GFP_HIGHUSER | __GFP_NOWARN, order);

	return folio ? folio_page(folio, 0) : NULL;
}

void p2pmm_free_pages(struct page *page, unsigned int order)
{
	__free_pages(page, order);
}

unsigned int p2pmm_page_folio_order(struct page *page)
{
	return folio_order(page_folio(page));
}

struct page *p2pmm_nth_page(struct page *page, unsigned long n)
{
	return pfn_to_page(page_to_pfn(page) + n);
}

/* The page n pages before page, inside the same folio (the head of a large mapping from one of its pages). */
struct page *p2pmm_nth_page_back(struct page *page, unsigned long n)
{
	return pfn_to_page(page_to_pfn(page) - n);
}

/*
 * folio_split of a simulated device's large folio: split its backing folio the same way and give every new
 * device folio its own backing page (as lib/test_hmm.c's dmirror_devmem_folio_split does).
 */
void p2pmm_devmem_split_backing(struct folio *head, struct folio *tail)
{
	struct page *rpage = folio_page(head, 0)->zone_device_data;
	struct page *rpage_tail;
	struct folio *rfolio;
	unsigned long offset;

	if (!rpage) {
		if (tail)
			tail->page.zone_device_data = NULL;
		return;
	}
	rfolio = page_folio(rpage);
	if (!tail) {
		folio_reset_order(rfolio);
		rfolio->mapping = NULL;
		folio_set_count(rfolio, 1);
		return;
	}
	offset = folio_pfn(tail) - folio_pfn(head);
	rpage_tail = folio_page(rfolio, offset);
	tail->page.zone_device_data = rpage_tail;
	rpage_tail->zone_device_data = rpage->zone_device_data;
	clear_compound_head(rpage_tail);
	rpage_tail->mapping = NULL;
	folio_page(tail, 0)->mapping = folio_page(head, 0)->mapping;
	tail->pgmap = head->pgmap;
	folio_set_count(page_folio(rpage_tail), 1);
}

bool p2pmm_vmf_has_pte(struct vm_fault *vmf)
{
	return vmf->pte != NULL;
}

void p2pmm_copy_page(struct page *dst, struct page *src)
{
	copy_highpage(dst, src);
}

void p2pmm_clear_page(struct page *page)
{
	clear_highpage(page);
}

struct page *p2pmm_vmf_page(struct vm_fault *vmf)
{
	return vmf->page;
}

struct vm_area_struct *p2pmm_vmf_vma(struct vm_fault *vmf)
{
	return vmf->vma;
}

unsigned long p2pmm_vmf_address(struct vm_fault *vmf)
{
	return vmf->address;
}

unsigned int p2pmm_vm_fault_oom(void)
{
	return VM_FAULT_OOM;
}

unsigned int p2pmm_vm_fault_sigbus(void)
{
	return VM_FAULT_SIGBUS;
}

/* ---- migration (mm/bind/migrate.rs) ---- */

struct migrate_vma *p2pmm_migrate_alloc(unsigned long npages)
{
	struct migrate_vma *m = kzalloc(sizeof(*m), GFP_KERNEL);

	if (!m)
		return NULL;
	m->src = kvcalloc(npages, sizeof(*m->src), GFP_KERNEL);
	m->dst = kvcalloc(npages, sizeof(*m->dst), GFP_KERNEL);
	if (!m->src || !m->dst) {
		p2pmm_migrate_free(m);
		return NULL;
	}
	return m;
}

void p2pmm_migrate_free(struct migrate_vma *m)
{
	kvfree(m->src);
	kvfree(m->dst);
	kfree(m);
}

unsigned long *p2pmm_migrate_src(struct migrate_vma *m)
{
	return m->src;
}

unsigned long *p2pmm_migrate_dst(struct migrate_vma *m)
{
	return m->dst;
}

int p2pmm_migrate_vma_setup(struct migrate_vma *m, struct vm_area_struct *vma, unsigned long start,
			    unsigned long end, void *owner, unsigned long flags, struct page *fault_page)
{
	m->vma = vma;
	m->start = start;
	m->end = end;
	m->pgmap_owner = owner;
	m->flags = flags;
	m->fault_page = fault_page;
	return migrate_vma_setup(m);
}

void p2pmm_migrate_vma_pages(struct migrate_vma *m)
{
	migrate_vma_pages(m);
}

void p2pmm_migrate_vma_finalize(struct migrate_vma *m)
{
	migrate_vma_finalize(m);
}

int p2pmm_migrate_device_range(unsigned long *src, unsigned long start_pfn, unsigned long npages)
{
	return migrate_device_range(src, start_pfn, npages);
}

int p2pmm_migrate_device_pfns(unsigned long *src, unsigned long npages)
{
	return migrate_device_pfns(src, npages);
}

void p2pmm_migrate_device_pages(unsigned long *src, unsigned long *dst, unsigned long npages)
{
	migrate_device_pages(src, dst, npages);
}

void p2pmm_migrate_device_finalize(unsigned long *src, unsigned long *dst, unsigned long npages)
{
	migrate_device_finalize(src, dst, npages);
}

struct page *p2pmm_alloc_page_vma_locked(struct vm_area_struct *vma, unsigned long addr, unsigned int order)
{
	struct folio *folio = vma_alloc_folio(GFP_HIGHUSER_MOVABLE | (order ? __GFP_NOWARN : 0), order, vma,
					      addr);

	if (!folio)
		return NULL;
	folio_lock(folio);
	return folio_page(folio, 0);
}

struct page *p2pmm_alloc_page_locked(unsigned int order)
{
	struct folio *folio = folio_alloc(GFP_HIGHUSER_MOVABLE | (order ? __GFP_NOWARN : __GFP_NOFAIL), order);

	if (!folio)
		return NULL;
	folio_lock(folio);
	return folio_page(folio, 0);
}

void p2pmm_unlock_free_pages(struct page *page, unsigned int order)
{
	unlock_page(page);
	__free_pages(page, order);
}

unsigned long p2pmm_migrate_select_compound(void)
{
	return MIGRATE_VMA_SELECT_COMPOUND;
}

unsigned long p2pmm_migrate_select_system(void)
{
	return MIGRATE_VMA_SELECT_SYSTEM;
}

unsigned long p2pmm_migrate_select_device_private(void)
{
	return MIGRATE_VMA_SELECT_DEVICE_PRIVATE;
}

unsigned long p2pmm_vma_flags(struct vm_area_struct *vma)
{
	return vma->vm_flags;
}

unsigned long p2pmm_vm_read(void)
{
	return VM_READ;
}

void p2pmm_devpage_clear(struct page *dpage)
{
	dpage->zone_device_data = NULL;
}

/* ---- KUnit test memory (mm/bind/kunit_mm.rs) ---- */

#if IS_ENABLED(CONFIG_KUNIT)
/*
 * An anonymous private mapping in the running KUnit test's own address space: kunit_vm_mmap() attaches a fresh mm
 * to the test kthread (kthread_use_mm) the first time, and that mm goes away with the kthread when the test ends.
 * -EINVAL outside a KUnit test (there is no test to own the mapping). kunit_vm_mmap() returns 0 when its resource
 * could not be set up, and vm_mmap()'s own error value when the mapping failed: both are reported.
 */
unsigned long p2pmm_kunit_mmap(unsigned long len, bool writable, int *err)
{
	struct kunit *test = kunit_get_current_test();
	unsigned long addr;

	if (!test) {
		*err = -EINVAL;
		return 0;
	}
	addr = kunit_vm_mmap(test, NULL, 0, len, PROT_READ | (writable ? PROT_WRITE : 0), MAP_ANONYMOUS | MAP_PRIVATE,
			     0);
	if (!addr || IS_ERR_VALUE(addr)) {
		*err = addr ? (int)addr : -ENOMEM;
		return 0;
	}
	*err = 0;
	return addr;
}

/* Unmaps part of the current task's address space, as munmap(2) would. */
int p2pmm_kunit_munmap(unsigned long addr, unsigned long len)
{
	return vm_munmap(addr, len);
}

/* Marks the running KUnit test skipped (kunit_mark_skipped() is a macro); nothing outside a test. */
void p2pmm_kunit_skip(const char *reason)
{
	struct kunit *test = kunit_get_current_test();

	if (test)
		kunit_mark_skipped(test, "%s", reason);
}
#endif /* CONFIG_KUNIT */

static_assert(HPAGE_PMD_ORDER == 9, "mm/bind/devmem.rs PMD_ORDER");
static_assert(MIGRATE_PFN_VALID == (1UL << 0) && MIGRATE_PFN_MIGRATE == (1UL << 1) &&
	      MIGRATE_PFN_WRITE == (1UL << 3) && MIGRATE_PFN_COMPOUND == (1UL << 4) && MIGRATE_PFN_SHIFT == 6,
	      "mm/bind/migrate.rs mirrors these values");

/* ---- tracepoints of the notifiers (mm/bind/notifier.rs; events defined in notify_trace.h) ---- */

#define CREATE_TRACE_POINTS
#include "notify_trace.h"

void p2pmm_trace_invalidate_start(unsigned long start, unsigned long end, u32 event, unsigned long owner,
				  bool two_pass)
{
	trace_invalidate_start(start, end, event, owner, two_pass);
}

void p2pmm_trace_invalidate_finish(unsigned long start, unsigned long end, bool deferred)
{
	trace_invalidate_finish(start, end, deferred);
}
