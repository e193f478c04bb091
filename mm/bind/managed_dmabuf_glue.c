// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for mm/bind/managed_dmabuf.rs: dma-bufs of managed memory (P2PMM_IOC_DMABUF with P2PMM_DMABUF_MANAGED).
 *
 * A managed dma-buf owns its memory, as a GPU driver's buffer object does: slots of a managed provider that no
 * process maps (reserved in the provider's CLOCK, so its policy never picks them as victims of a process's page),
 * handed over by the Rust side at export. Importers get the slots' P2P window (p2pdma pages of the provider's BAR)
 * by the kernel's P2P mapping of MMIO (dma_buf_phys_vec_to_sgt()): bus addresses below a common switch, IOMMU
 * addresses through an allowed host bridge. The buffer moves once, to system memory, whole:
 *  - eviction (p2pmm_mbuf_evict(), when a migration into the provider finds no process page to evict): buffers
 *    nobody pinned, least recently mapped first;
 *  - revocation (p2pmm_mbuf_gate_revoke(), before the provider's memory goes, e.g. its device unbinds): every
 *    buffer, pinned ones too, and it waits until every importer has unmapped the BAR.
 * A moved buffer's name (bufinfo, p2pmmctl dmabufs) says it is in system memory now.
 * A move takes the buffer's reservation lock, tells every importer (dma_buf_invalidate_mappings(): move_notify),
 * waits for the dma-buf's fences, copies the data into new system pages and gives the slots back. Importers map
 * again and get the system pages, DMA-mapped for their device; nothing is lost. An evicted buffer stays in system
 * memory (p2pmm does not move it back).
 *
 * As for static memory (static_dmabuf_glue.c), importers must be dynamic, P2P-capable and revocable: a device that
 * cannot take P2P memory is refused at attach (-EOPNOTSUPP), never bounced; one without a route to the provider
 * gets -EREMOTEIO while the buffer is in device memory. The CPU does not map the dma-buf.
 *
 * Why a buffer and not a range of a process's managed memory: dma-buf's reservation lock nests outside the mmap
 * lock and the mmu notifiers (dma_resv_lockdep()), so a dma-buf cannot follow pages that core mm moves under a
 * notifier (amdgpu refuses to export userptr BOs for the same reason). p2pmm moves a buffer itself, outside any
 * notifier, where it may take the lock.
 *
 * Locks: a dma-buf's reservation lock is taken by eviction with the mmap read lock of the migrating process held
 * (the order dma_resv_lockdep() primes), by revocation with nothing held; a gate's sem (read: a release giving slots
 * back; write: revocation shutting the gate) is never taken with a reservation lock; a gate's lock (its list) is a
 * leaf.
 */
#include <linux/dma-buf.h>
#include <linux/dma-buf-mapping.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/err.h>
#include <linux/fcntl.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/rwsem.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "managed_dmabuf_glue.h"
#include "p2p_glue.h"

MODULE_IMPORT_NS("DMA_BUF");

/* One managed provider's gate: open until the provider's memory goes. */
struct p2pmm_mbuf_gate {
	struct kref kref;		/* the provider's, and one per buffer */
	struct rw_semaphore sem;	/* read: a release giving slots back; write: shutting the gate */
	bool revoked;			/* under sem */
	const void *mem;		/* the Rust memory: live while the gate is open */
	const struct p2pmm_mbuf_mem_ops *ops;	/* its operations */
	struct pci_dev *pdev;		/* referenced */
	spinlock_t lock;		/* bufs */
	struct list_head bufs;		/* buffers in device memory, least recently mapped first */
};

/* One exported buffer. */
struct p2pmm_mbuf {
	struct dma_buf *dmabuf;
	struct p2pmm_mbuf_gate *gate;	/* referenced */
	struct list_head node;		/* in gate->bufs while in device memory (and the gate open) */
	u32 id;				/* the provider's, for the name */
	u32 npages;
	/* Under the reservation lock: */
	u32 *slots;			/* the provider's slots holding the data, or NULL once moved */
	struct page **pages;		/* system pages holding it once moved (allocated at export) */
	bool on_device;
	unsigned int pins;
	struct kref maps;		/* one, plus one per mapping of the BAR */
	struct completion unmapped;	/* the last put of maps, after a revocation dropped the one */
};

static int p2pmm_mbuf_attach(struct dma_buf *dmabuf, struct dma_buf_attachment *attach)
{
	struct p2pmm_mbuf *b = dmabuf->priv;
	int ret = 0;

	if (!attach->peer2peer || !dma_buf_attach_revocable(attach))
		return -EOPNOTSUPP;
	dma_resv_lock(dmabuf->resv, NULL);
	/* In device memory, the gate is open: its device is there. */
	if (b->on_device && pci_p2pdma_distance_many(b->gate->pdev, &attach->dev, 1, false) < 0)
		ret = -EREMOTEIO;
	dma_resv_unlock(dmabuf->resv);
	return ret;
}

static int p2pmm_mbuf_pin(struct dma_buf_attachment *attach)
{
	struct p2pmm_mbuf *b = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	b->pins++;
	return 0;
}

static void p2pmm_mbuf_unpin(struct dma_buf_attachment *attach)
{
	struct p2pmm_mbuf *b = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	b->pins--;
}

/* The BAR mapping of @b (in device memory) for @attach: its slots as runs of contiguous CPU physical addresses. */
static struct sg_table *p2pmm_mbuf_map_bar(struct p2pmm_mbuf *b, struct dma_buf_attachment *attach,
					   enum dma_data_direction dir)
{
	struct p2pdma_provider *provider;
	struct phys_vec *vec;
	struct sg_table *sgt;
	u32 i, nr = 0;

	vec = kvcalloc(b->npages, sizeof(*vec), GFP_KERNEL);
	if (!vec)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < b->npages; i++) {
		struct page *page = b->gate->ops->window_page(b->gate->mem, b->slots[i]);
		phys_addr_t phys;

		if (!page) {
			kvfree(vec);
			return ERR_PTR(-ENODEV);
		}
		phys = page_to_phys(page);
		if (nr && vec[nr - 1].paddr + vec[nr - 1].len == phys) {
			vec[nr - 1].len += PAGE_SIZE;
		} else {
			vec[nr].paddr = phys;
			vec[nr].len = PAGE_SIZE;
			nr++;
		}
	}
	provider = p2pmm_bar_provider(b->gate->pdev, vec[0].paddr, PAGE_SIZE);
	sgt = provider ? dma_buf_phys_vec_to_sgt(attach, provider, vec, nr, (size_t)b->npages * PAGE_SIZE, dir) :
			 ERR_PTR(-ENODEV);
	kvfree(vec);
	if (!IS_ERR(sgt))
		kref_get(&b->maps);
	return sgt;
}

/* The mapping of @b (in system memory) for @attach: its pages, DMA-mapped for the importer's device. */
static struct sg_table *p2pmm_mbuf_map_pages(struct p2pmm_mbuf *b, struct dma_buf_attachment *attach,
					     enum dma_data_direction dir)
{
	struct sg_table *sgt = kzalloc_obj(*sgt);
	int ret;

	if (!sgt)
		return ERR_PTR(-ENOMEM);
	ret = sg_alloc_table_from_pages(sgt, b->pages, b->npages, 0, (unsigned long)b->npages * PAGE_SIZE,
					GFP_KERNEL);
	if (ret)
		goto free;
	ret = dma_map_sgtable(attach->dev, sgt, dir, 0);
	if (!ret)
		return sgt;
	sg_free_table(sgt);
free:
	kfree(sgt);
	return ERR_PTR(ret);
}

static struct sg_table *p2pmm_mbuf_map(struct dma_buf_attachment *attach, enum dma_data_direction dir)
{
	struct p2pmm_mbuf *b = attach->dmabuf->priv;
	struct p2pmm_mbuf_gate *gate = b->gate;

	dma_resv_assert_held(attach->dmabuf->resv);
	if (!b->on_device)
		return p2pmm_mbuf_map_pages(b, attach, dir);
	/* Recently mapped: the last an eviction picks. */
	spin_lock(&gate->lock);
	if (!list_empty(&b->node))
		list_move_tail(&b->node, &gate->bufs);
	spin_unlock(&gate->lock);
	return p2pmm_mbuf_map_bar(b, attach, dir);
}

static void p2pmm_mbuf_mappings_gone(struct kref *kref)
{
	complete(&container_of(kref, struct p2pmm_mbuf, maps)->unmapped);
}

static void p2pmm_mbuf_unmap(struct dma_buf_attachment *attach, struct sg_table *sgt, enum dma_data_direction dir)
{
	struct p2pmm_mbuf *b = attach->dmabuf->priv;

	dma_resv_assert_held(attach->dmabuf->resv);
	/* A table of system pages has pages; one of the BAR (dma_buf_phys_vec_to_sgt()) has none. */
	if (sg_page(sgt->sgl)) {
		dma_unmap_sgtable(attach->dev, sgt, dir, 0);
		sg_free_table(sgt);
		kfree(sgt);
		return;
	}
	/* dma_buf_phys_vec_to_sgt() zeroes orig_nents; sg_free_table() needs it (static_dmabuf_glue.c). */
	sgt->orig_nents = sgt->nents;
	dma_buf_free_sgt(attach, sgt, dir);
	kref_put(&b->maps, p2pmm_mbuf_mappings_gone);
}

static void p2pmm_mbuf_release(struct dma_buf *dmabuf)
{
	struct p2pmm_mbuf *b = dmabuf->priv;
	struct p2pmm_mbuf_gate *gate = b->gate;
	u32 i;

	spin_lock(&gate->lock);
	list_del_init(&b->node);
	spin_unlock(&gate->lock);
	/* Nothing else holds the buffer now; its slots go back unless the provider's memory is going. */
	down_read(&gate->sem);
	if (b->on_device && !gate->revoked)
		for (i = 0; i < b->npages; i++)
			gate->ops->give_back(gate->mem, b->slots[i]);
	up_read(&gate->sem);
	for (i = 0; i < b->npages; i++)
		if (b->pages[i])
			__free_page(b->pages[i]);
	kvfree(b->pages);
	kvfree(b->slots);
	p2pmm_mbuf_gate_put(gate);
	kfree(b);
}

static const struct dma_buf_ops p2pmm_mbuf_ops = {
	.attach = p2pmm_mbuf_attach,
	.pin = p2pmm_mbuf_pin,
	.unpin = p2pmm_mbuf_unpin,
	.map_dma_buf = p2pmm_mbuf_map,
	.unmap_dma_buf = p2pmm_mbuf_unmap,
	.release = p2pmm_mbuf_release,
};

struct p2pmm_mbuf_gate *p2pmm_mbuf_gate_new(struct pci_dev *pdev, const void *mem,
					    const struct p2pmm_mbuf_mem_ops *ops)
{
	struct p2pmm_mbuf_gate *g = kzalloc_obj(*g);

	if (!g)
		return NULL;
	kref_init(&g->kref);
	init_rwsem(&g->sem);
	spin_lock_init(&g->lock);
	INIT_LIST_HEAD(&g->bufs);
	g->mem = mem;
	g->ops = ops;
	g->pdev = pci_dev_get(pdev);
	return g;
}

static void p2pmm_mbuf_gate_free(struct kref *kref)
{
	struct p2pmm_mbuf_gate *g = container_of(kref, struct p2pmm_mbuf_gate, kref);

	pci_dev_put(g->pdev);
	kfree(g);
}

void p2pmm_mbuf_gate_put(struct p2pmm_mbuf_gate *gate)
{
	kref_put(&gate->kref, p2pmm_mbuf_gate_free);
}

/*
 * Creates the dma-buf of the @n slots at @slots (reserved and zeroed by the caller) of @gate's memory, named after
 * provider @id, and stores its new file descriptor at @fd_out; the descriptor is installed only once that store
 * succeeded. On success the dma-buf owns the slots; on failure the caller still does. 0 or -errno: -EFAULT for
 * @fd_out, -EMFILE, -ENFILE, -ENOMEM.
 */
int p2pmm_mbuf_export(struct p2pmm_mbuf_gate *gate, u32 id, const u32 *slots, u32 n, bool cloexec,
		      int __user *fd_out)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct dma_buf *dmabuf;
	struct p2pmm_mbuf *b;
	int fd, ret = -ENOMEM;

	b = kzalloc_obj(*b);
	if (!b)
		return -ENOMEM;
	b->npages = n;
	b->id = id;
	b->slots = kvmalloc_array(n, sizeof(*b->slots), GFP_KERNEL);
	/* The page array a move fills, allocated now so that a revocation never fails for want of it. */
	b->pages = kvcalloc(n, sizeof(*b->pages), GFP_KERNEL);
	if (!b->slots || !b->pages)
		goto free;
	memcpy(b->slots, slots, n * sizeof(*slots));
	b->on_device = true;
	kref_init(&b->maps);
	init_completion(&b->unmapped);
	INIT_LIST_HEAD(&b->node);
	b->gate = gate;
	info.ops = &p2pmm_mbuf_ops;
	info.size = (size_t)n * PAGE_SIZE;
	info.flags = O_RDWR;
	info.priv = b;
	dmabuf = dma_buf_export(&info);
	if (IS_ERR(dmabuf)) {
		ret = PTR_ERR(dmabuf);
		goto free;
	}
	b->dmabuf = dmabuf;
	/* For /sys/kernel/debug/dma_buf/bufinfo (p2pmmctl dmabufs); set before anyone else sees the dma-buf. */
	dmabuf->name = kasprintf(GFP_KERNEL, "p2pmm provider %u managed", id);
	fd = get_unused_fd_flags(cloexec ? O_CLOEXEC : 0);
	if (fd >= 0 && put_user(fd, fd_out)) {
		put_unused_fd(fd);
		fd = -EFAULT;
	}
	if (fd < 0) {
		/* Not the dma-buf's yet: the release must not give the caller's slots back. */
		b->on_device = false;
		kref_get(&gate->kref);
		dma_buf_put(dmabuf);
		return fd;
	}
	kref_get(&gate->kref);
	spin_lock(&gate->lock);
	list_add_tail(&b->node, &gate->bufs);
	spin_unlock(&gate->lock);
	dma_buf_fd_install(dmabuf, fd);
	return 0;

free:
	kvfree(b->pages);
	kvfree(b->slots);
	kfree(b);
	return ret;
}

/* Renames @b's dma-buf to say it is in system memory (as DMA_BUF_SET_NAME renames one); kept as it was without memory. */
static void p2pmm_mbuf_name_moved(struct p2pmm_mbuf *b)
{
	const char *name = kasprintf(GFP_KERNEL, "p2pmm provider %u managed, in system memory", b->id);

	if (!name)
		return;
	spin_lock(&b->dmabuf->name_lock);
	swap(name, b->dmabuf->name);
	spin_unlock(&b->dmabuf->name_lock);
	kfree(name);
}

/*
 * Moves @b (reservation lock held, in device memory, its gate open) to system memory: tells every importer, waits
 * for the dma-buf's fences, copies the data and gives the slots back. @gfp for the new pages: a revocation may not
 * fail. 0 or -ENOMEM (nothing moved, nobody told).
 */
static int p2pmm_mbuf_move_out(struct p2pmm_mbuf *b, gfp_t gfp)
{
	const struct p2pmm_mbuf_gate *gate = b->gate;
	u32 i;

	dma_resv_assert_held(b->dmabuf->resv);
	for (i = 0; i < b->npages; i++) {
		b->pages[i] = alloc_page(gfp);
		if (!b->pages[i])
			goto free;
	}
	dma_buf_invalidate_mappings(b->dmabuf);
	dma_resv_wait_timeout(b->dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP, false, MAX_SCHEDULE_TIMEOUT);
	for (i = 0; i < b->npages; i++) {
		gate->ops->copy_out(gate->mem, b->slots[i], b->pages[i]);
		gate->ops->give_back(gate->mem, b->slots[i]);
	}
	b->on_device = false;
	p2pmm_mbuf_name_moved(b);
	return 0;

free:
	while (i--) {
		__free_page(b->pages[i]);
		b->pages[i] = NULL;
	}
	return -ENOMEM;
}

/* The first buffer of @gate's list, referenced and taken off the list, or NULL. */
static struct p2pmm_mbuf *p2pmm_mbuf_take_first(struct p2pmm_mbuf_gate *gate)
{
	struct p2pmm_mbuf *b;

	spin_lock(&gate->lock);
	while ((b = list_first_entry_or_null(&gate->bufs, struct p2pmm_mbuf, node))) {
		list_del_init(&b->node);
		/* One being released is none of ours: its release gives its slots back. */
		if (get_file_active(&b->dmabuf->file))
			break;
	}
	spin_unlock(&gate->lock);
	return b;
}

/*
 * Evicts whole buffers of @gate that nobody pinned, least recently mapped first, until @want pages went or every
 * buffer was tried once. Returns the pages evicted; adds the pages of pinned buffers passed over to @skipped_pinned.
 * Called with the gate open (the caller holds the provider).
 */
u64 p2pmm_mbuf_evict(struct p2pmm_mbuf_gate *gate, u64 want, u64 *skipped_pinned)
{
	LIST_HEAD(tried);
	struct p2pmm_mbuf *b;
	u64 moved = 0;

	while (moved < want && (b = p2pmm_mbuf_take_first(gate))) {
		bool stays = true;

		dma_resv_lock(b->dmabuf->resv, NULL);
		if (b->pins)
			*skipped_pinned += b->npages;
		else if (b->on_device && !p2pmm_mbuf_move_out(b, GFP_KERNEL | __GFP_NOWARN))
			stays = false;
		dma_resv_unlock(b->dmabuf->resv);
		if (stays) {
			spin_lock(&gate->lock);
			list_add_tail(&b->node, &tried);
			spin_unlock(&gate->lock);
		} else {
			moved += b->npages;
		}
		fput(b->dmabuf->file);
	}
	/* Those tried stay, in the order they had. */
	spin_lock(&gate->lock);
	list_splice(&tried, &gate->bufs);
	spin_unlock(&gate->lock);
	return moved;
}

/*
 * Shuts @gate (releases no longer give slots back), then moves every buffer in device memory to system memory,
 * pinned ones too, and waits until each importer has unmapped the BAR. Called before the memory goes.
 */
void p2pmm_mbuf_gate_revoke(struct p2pmm_mbuf_gate *gate)
{
	struct p2pmm_mbuf *b;

	down_write(&gate->sem);
	gate->revoked = true;
	up_write(&gate->sem);
	while ((b = p2pmm_mbuf_take_first(gate))) {
		dma_resv_lock(b->dmabuf->resv, NULL);
		if (b->on_device)
			p2pmm_mbuf_move_out(b, GFP_KERNEL | __GFP_NOFAIL);
		dma_resv_unlock(b->dmabuf->resv);
		kref_put(&b->maps, p2pmm_mbuf_mappings_gone);
		/* Bounded: every importer takes invalidate_mappings and unmaps (p2pmm_mbuf_attach()). */
		wait_for_completion(&b->unmapped);
		fput(b->dmabuf->file);
	}
}
