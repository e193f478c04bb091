/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What static_map_glue.c (mappings of static memory, their gate) and static_dmabuf_glue.c (dma-bufs exported from
 * such mappings) share; nothing else includes it.
 *
 * Locks: a gate's sem (read: a fault mapping a page, an export creating a dma-buf; write: revocation shutting the
 * gate) is taken with the mmap lock (or the VMA lock) held by faults, with nothing held by exports and with
 * nothing of p2pmm's held by revocation; a gate's lock (its lists) is a leaf. A dma-buf's reservation lock is
 * taken by revocation with nothing held, and never with the gate's sem or lock.
 */
#ifndef P2PMM_STATIC_MAP_PRIV_H
#define P2PMM_STATIC_MAP_PRIV_H

#include <linux/kref.h>
#include <linux/list.h>
#include <linux/refcount.h>
#include <linux/rwsem.h>
#include <linux/spinlock.h>
#include <linux/types.h>

struct file;
struct mm_struct;
struct p2pmm_vma_charge;
struct pci_dev;

/* One static provider's gate: open until the provider is revoked. */
struct p2pmm_static_gate {
	u32 id;				/* the provider's once it has one, for the names of its dma-bufs */
	struct kref kref;		/* the provider's, and one per mapping */
	struct rw_semaphore sem;	/* read: a fault mapping a page, an export; write: shutting the gate */
	bool revoked;			/* under sem */
	spinlock_t lock;		/* maps, dmabufs */
	struct list_head maps;		/* mappings holding memory */
	struct list_head dmabufs;	/* dma-bufs exported from them, until revoked or released */
};

/* One mapping's memory, shared by the VMAs made from it and the dma-bufs exported from it. */
struct p2pmm_static_map {
	refcount_t ref;			/* VMAs, dma-bufs, and a revocation at work on it */
	struct p2pmm_static_gate *gate;
	struct list_head node;		/* in gate->maps while the gate is open; empty after */
	struct pci_dev *pdev;		/* the provider's device: valid while the gate is open */
	void *kaddr;			/* the memory, NULL once given back */
	size_t len;
	pgoff_t pgoff;			/* the file offset (in pages) the mapping starts at */
	struct file *file;		/* the mapped file, whose page-cache mapping a revocation unmaps */
	struct p2pmm_vma_charge *charge;	/* its dmem charge, or NULL */
};

struct p2pmm_static_map *p2pmm_static_map_of_range(struct mm_struct *mm, unsigned long addr, size_t len,
						   size_t *offset);
void p2pmm_static_map_put(struct p2pmm_static_map *m);
void p2pmm_static_dmabufs_revoke(struct p2pmm_static_gate *gate);

#endif /* P2PMM_STATIC_MAP_PRIV_H */
