/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for mm/bind/managed_dmabuf.rs: dma-bufs of managed memory, which p2pmm may move to system memory
 * (managed_dmabuf_glue.c). The rules for calling each function are in the Rust file.
 */
#ifndef P2PMM_MANAGED_DMABUF_GLUE_H
#define P2PMM_MANAGED_DMABUF_GLUE_H

#include <linux/types.h>

struct p2pmm_mbuf_gate;
struct page;
struct pci_dev;

/* What a gate needs of the memory it was made for (the Rust side's); @mem is live until the gate is revoked. */
struct p2pmm_mbuf_mem_ops {
	struct page *(*window_page)(const void *mem, u32 slot);	/* the P2P window page of @slot's data */
	void (*copy_out)(const void *mem, u32 slot, struct page *page);	/* @slot's data into a new system page */
	void (*give_back)(const void *mem, u32 slot);			/* @slot is free again */
};

struct p2pmm_mbuf_gate *p2pmm_mbuf_gate_new(struct pci_dev *pdev, const void *mem,
					    const struct p2pmm_mbuf_mem_ops *ops);
void p2pmm_mbuf_gate_revoke(struct p2pmm_mbuf_gate *gate);
void p2pmm_mbuf_gate_put(struct p2pmm_mbuf_gate *gate);
int p2pmm_mbuf_export(struct p2pmm_mbuf_gate *gate, u32 id, const u32 *slots, u32 n, bool cloexec,
		      int __user *fd_out);
u64 p2pmm_mbuf_evict(struct p2pmm_mbuf_gate *gate, u64 want, u64 *skipped_pinned);

#endif /* P2PMM_MANAGED_DMABUF_GLUE_H */
