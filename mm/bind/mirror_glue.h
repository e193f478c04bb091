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
void p2pmm_get_page(struct page *page);
void p2pmm_put_page(struct page *page);
unsigned long p2pmm_copy_page_to_user(void __user *dst, struct page *page);
struct page *p2pmm_make_device_exclusive(struct mm_struct *mm, unsigned long addr, void *owner,
					 struct folio **folio);
void p2pmm_folio_unlock_put(struct folio *folio);
unsigned int p2pmm_pmd_order(void);
unsigned int p2pmm_pud_order(void);

/* mm/bind/devmem.rs */
struct dev_pagemap;
struct dev_pagemap_ops;
struct vm_fault;
struct vm_area_struct;
int p2pmm_devmem_add(struct dev_pagemap *pgmap, unsigned long size, const struct dev_pagemap_ops *ops,
		     void *owner, unsigned long *first_pfn);
void p2pmm_devmem_remove(struct dev_pagemap *pgmap);
struct dev_pagemap *p2pmm_page_pgmap(struct page *page);
struct page *p2pmm_pfn_to_page(unsigned long pfn);
unsigned long p2pmm_page_to_pfn(struct page *page);
struct page *p2pmm_folio_page(struct folio *folio);
void p2pmm_devpage_init(struct page *dpage, struct page *backing, unsigned int order);
struct page *p2pmm_devpage_backing(struct page *dpage);
void p2pmm_devpage_clear(struct page *dpage);
struct page *p2pmm_alloc_backing(unsigned int order);
void p2pmm_free_pages(struct page *page, unsigned int order);
unsigned int p2pmm_page_folio_order(struct page *page);
struct page *p2pmm_nth_page(struct page *page, unsigned long n);
struct page *p2pmm_nth_page_back(struct page *page, unsigned long n);
void p2pmm_devmem_split_backing(struct folio *head, struct folio *tail);
bool p2pmm_vmf_has_pte(struct vm_fault *vmf);
void p2pmm_copy_page(struct page *dst, struct page *src);
void p2pmm_clear_page(struct page *page);
struct page *p2pmm_vmf_page(struct vm_fault *vmf);
struct vm_area_struct *p2pmm_vmf_vma(struct vm_fault *vmf);
unsigned long p2pmm_vmf_address(struct vm_fault *vmf);
unsigned int p2pmm_vm_fault_oom(void);
unsigned int p2pmm_vm_fault_sigbus(void);

/* mm/bind/migrate.rs */
struct migrate_vma;
struct migrate_vma *p2pmm_migrate_alloc(unsigned long npages);
void p2pmm_migrate_free(struct migrate_vma *m);
unsigned long *p2pmm_migrate_src(struct migrate_vma *m);
unsigned long *p2pmm_migrate_dst(struct migrate_vma *m);
int p2pmm_migrate_vma_setup(struct migrate_vma *m, struct vm_area_struct *vma, unsigned long start,
			    unsigned long end, void *owner, unsigned long flags, struct page *fault_page);
void p2pmm_migrate_vma_pages(struct migrate_vma *m);
void p2pmm_migrate_vma_finalize(struct migrate_vma *m);
int p2pmm_migrate_device_range(unsigned long *src, unsigned long start_pfn, unsigned long npages);
int p2pmm_migrate_device_pfns(unsigned long *src, unsigned long npages);
void p2pmm_migrate_device_pages(unsigned long *src, unsigned long *dst, unsigned long npages);
void p2pmm_migrate_device_finalize(unsigned long *src, unsigned long *dst, unsigned long npages);
struct page *p2pmm_alloc_page_vma_locked(struct vm_area_struct *vma, unsigned long addr, unsigned int order);
struct page *p2pmm_alloc_page_locked(unsigned int order);
void p2pmm_unlock_free_pages(struct page *page, unsigned int order);
unsigned long p2pmm_migrate_select_compound(void);
unsigned long p2pmm_migrate_select_system(void);
unsigned long p2pmm_migrate_select_device_private(void);
unsigned long p2pmm_vma_flags(struct vm_area_struct *vma);
unsigned long p2pmm_vm_read(void);

/* mm/bind/kunit_mm.rs (CONFIG_KUNIT only): user memory for the doctests, which run in a KUnit kthread */
unsigned long p2pmm_kunit_mmap(unsigned long len, bool writable, int *err);
int p2pmm_kunit_munmap(unsigned long addr, unsigned long len);
void p2pmm_kunit_skip(const char *reason);

/* tracepoints (notify_trace.h) */
void p2pmm_trace_invalidate_start(unsigned long start, unsigned long end, u32 event, unsigned long owner,
				  bool two_pass);
void p2pmm_trace_invalidate_finish(unsigned long start, unsigned long end, bool deferred);

#endif /* P2PMM_MIRROR_GLUE_H */
