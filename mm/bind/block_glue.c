// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for mm/bind/block_io.rs; see block_glue.h.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/pci.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/wait.h>

#include "block_glue.h"

/*
 * A block device opened the way this transfer needs: readable to read from it, writable to write to it.
 * Anything else (a regular file, a pipe) is -EINVAL; a file opened the wrong way is -EBADF, as read(2) and
 * write(2) say it.
 */
int p2pmm_bdev_check(struct file *file, bool to_device)
{
	if (!S_ISBLK(file_inode(file)->i_mode))
		return -EINVAL;
	if (!(file->f_mode & (to_device ? FMODE_WRITE : FMODE_READ)))
		return -EBADF;
	return 0;
}

u32 p2pmm_bdev_block_size(struct file *file)
{
	return bdev_logical_block_size(file_bdev(file));
}

u64 p2pmm_bdev_bytes(struct file *file)
{
	return bdev_nr_bytes(file_bdev(file));
}

/* Whether the device's queue takes bios of p2pdma pages (nvme over PCIe does). */
bool p2pmm_bdev_p2pdma(struct file *file)
{
	return blk_queue_pci_p2pdma(bdev_get_queue(file_bdev(file)));
}

/* The PCI device that does the disk's DMA, with a reference, or NULL: the first PCI ancestor of the disk. */
struct pci_dev *p2pmm_bdev_pci_dev(struct file *file)
{
	struct device *dev;

	for (dev = disk_to_dev(file_bdev(file)->bd_disk); dev; dev = dev->parent)
		if (dev_is_pci(dev))
			return pci_dev_get(to_pci_dev(dev));
	return NULL;
}

/*
 * What O_DIRECT does around its bios: dirty page cache of the range is written back first, so the device holds
 * the latest data before a read and a later writeback cannot overwrite what a write puts there.
 */
int p2pmm_bdev_prepare(struct file *file, u64 pos, u64 len, bool to_device)
{
	return filemap_write_and_wait_range(file->f_mapping, pos, pos + len - 1);
}

/* After a write to the device, cached pages of the range are stale: drop them (O_DIRECT does the same). */
void p2pmm_bdev_finish(struct file *file, u64 pos, u64 len, bool to_device)
{
	if (to_device)
		invalidate_inode_pages2_range(file->f_mapping, pos >> PAGE_SHIFT,
					      (pos + len - 1) >> PAGE_SHIFT);
}

/*
 * A run of bios over consecutive sectors. The submitter holds one count of @pending, each bio in flight one
 * more; the last one to drop it completes @done. @error keeps the first failure.
 */
struct p2pmm_bio_batch {
	struct block_device *bdev;
	blk_opf_t opf;
	sector_t sector;
	struct bio *bio;
	atomic_t pending;
	int error;
	struct completion done;
};

struct p2pmm_bio_batch *p2pmm_bio_batch_new(struct file *file, bool to_device, u64 pos)
{
	struct p2pmm_bio_batch *batch = kzalloc(sizeof(*batch), GFP_KERNEL);

	if (!batch)
		return NULL;
	batch->bdev = file_bdev(file);
	batch->opf = to_device ? REQ_OP_WRITE : REQ_OP_READ;
	batch->sector = pos >> SECTOR_SHIFT;
	atomic_set(&batch->pending, 1);
	init_completion(&batch->done);
	return batch;
}

static void p2pmm_bio_end(struct bio *bio)
{
	struct p2pmm_bio_batch *batch = bio->bi_private;
	int err = blk_status_to_errno(bio->bi_status);

	if (err)
		cmpxchg(&batch->error, 0, err);
	bio_put(bio);
	if (atomic_dec_and_test(&batch->pending))
		complete(&batch->done);
}

static void p2pmm_bio_submit(struct p2pmm_bio_batch *batch)
{
	struct bio *bio = batch->bio;

	if (!bio)
		return;
	batch->bio = NULL;
	batch->sector += bio_sectors(bio);
	atomic_inc(&batch->pending);
	submit_bio(bio);
}

/*
 * Appends @len bytes of @page from @off. A page the current bio cannot take (full, or of another kind: bios of
 * p2pdma pages hold nothing else, see bio_add_page()) starts the next bio. Bios come from the bio_set's mempool
 * (GFP_NOIO): this never fails, as the submission of I/O must not.
 */
int p2pmm_bio_batch_add(struct p2pmm_bio_batch *batch, struct page *page, u32 off, u32 len)
{
	if (batch->bio && bio_add_page(batch->bio, page, len, off) == len)
		return 0;
	p2pmm_bio_submit(batch);
	batch->bio = bio_alloc(batch->bdev, BIO_MAX_VECS, batch->opf, GFP_NOIO);
	batch->bio->bi_iter.bi_sector = batch->sector;
	batch->bio->bi_end_io = p2pmm_bio_end;
	batch->bio->bi_private = batch;
	if (bio_add_page(batch->bio, page, len, off) != len) {
		bio_put(batch->bio);
		batch->bio = NULL;
		return -EINVAL;
	}
	return 0;
}

/* Submits what is left, waits for every bio of the batch, frees it; returns the first error. */
int p2pmm_bio_batch_finish(struct p2pmm_bio_batch *batch)
{
	int err;

	p2pmm_bio_submit(batch);
	if (!atomic_dec_and_test(&batch->pending))
		wait_for_completion_io(&batch->done);
	err = batch->error;
	kfree(batch);
	return err;
}

struct page *p2pmm_bounce_alloc(void)
{
	return alloc_page(GFP_KERNEL);
}

void p2pmm_bounce_free(struct page *page)
{
	__free_page(page);
}

/*
 * The device wrote the page behind the CPU's back: it must be written out before reclaim may drop it. The page is
 * mapped and cannot be truncated meanwhile (an invalidation would wait for the I/O), so no page lock is needed.
 */
void p2pmm_page_dirty(struct page *page)
{
	if (!is_zone_device_page(page))
		folio_mark_dirty(page_folio(page));
}

unsigned int p2pmm_noio_save(void)
{
	return memalloc_noio_save();
}

void p2pmm_noio_restore(unsigned int flags)
{
	memalloc_noio_restore(flags);
}

/* Raised while I/O is in flight; an invalidation of its pages waits until it drops. */
struct p2pmm_fence {
	atomic_t busy;
	wait_queue_head_t wq;
};

struct p2pmm_fence *p2pmm_fence_new(void)
{
	struct p2pmm_fence *fence = kzalloc(sizeof(*fence), GFP_KERNEL);

	if (fence)
		init_waitqueue_head(&fence->wq);
	return fence;
}

void p2pmm_fence_free(struct p2pmm_fence *fence)
{
	kfree(fence);
}

void p2pmm_fence_arm(struct p2pmm_fence *fence)
{
	atomic_set_release(&fence->busy, 1);
}

void p2pmm_fence_signal(struct p2pmm_fence *fence)
{
	atomic_set_release(&fence->busy, 0);
	wake_up_all(&fence->wq);
}

/*
 * Waits until the fence drops and returns the nanoseconds waited. The wait has no deadline of its own: the I/O
 * is bounded by the block layer's timeout (an nvme command that times out is aborted and completes with an
 * error). Each @report_ms without progress adds one to *@late, for the counters that show a slow device.
 */
u64 p2pmm_fence_wait(struct p2pmm_fence *fence, u32 report_ms, u64 *late)
{
	ktime_t start = ktime_get();

	while (!wait_event_timeout(fence->wq, !atomic_read_acquire(&fence->busy),
				   msecs_to_jiffies(report_ms)))
		(*late)++;
	return ktime_to_ns(ktime_sub(ktime_get(), start));
}
