/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for block I/O into a process's memory by page (mm/bind/block_io.rs): the block device behind a file,
 * batches of bios built from pages (nvmet style), and the fence an invalidation waits on while such I/O is in
 * flight. Thin pass-throughs; the rules for calling each one are in the Rust file.
 */
#ifndef P2PMM_BLOCK_GLUE_H
#define P2PMM_BLOCK_GLUE_H

#include <linux/types.h>

struct file;
struct page;
struct pci_dev;
struct p2pmm_bio_batch;
struct p2pmm_fence;

int p2pmm_bdev_check(struct file *file, bool to_device);
u32 p2pmm_bdev_block_size(struct file *file);
u64 p2pmm_bdev_bytes(struct file *file);
bool p2pmm_bdev_p2pdma(struct file *file);
struct pci_dev *p2pmm_bdev_pci_dev(struct file *file);
int p2pmm_bdev_prepare(struct file *file, u64 pos, u64 len, bool to_device);
void p2pmm_bdev_finish(struct file *file, u64 pos, u64 len, bool to_device);

struct p2pmm_bio_batch *p2pmm_bio_batch_new(struct file *file, bool to_device, u64 pos);
int p2pmm_bio_batch_add(struct p2pmm_bio_batch *batch, struct page *page, u32 off, u32 len);
int p2pmm_bio_batch_finish(struct p2pmm_bio_batch *batch);

struct page *p2pmm_bounce_alloc(void);
void p2pmm_bounce_free(struct page *page);
void p2pmm_page_dirty(struct page *page);
unsigned int p2pmm_noio_save(void);
void p2pmm_noio_restore(unsigned int flags);

struct p2pmm_fence *p2pmm_fence_new(void);
void p2pmm_fence_free(struct p2pmm_fence *fence);
void p2pmm_fence_arm(struct p2pmm_fence *fence);
void p2pmm_fence_signal(struct p2pmm_fence *fence);
u64 p2pmm_fence_wait(struct p2pmm_fence *fence, u32 report_ms, u64 *late);

#endif /* P2PMM_BLOCK_GLUE_H */
