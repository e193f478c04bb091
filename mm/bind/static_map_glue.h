/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for mm/bind/static_map.rs: userspace mappings of static (p2pdma) memory, mapped page by page at fault time
 * behind their provider's revoke gate (static_map_glue.c), and ranges of them exported as dma-bufs
 * (static_dmabuf_glue.c). The rules for calling each function are in the Rust file.
 */
#ifndef P2PMM_STATIC_MAP_GLUE_H
#define P2PMM_STATIC_MAP_GLUE_H

#include <linux/types.h>

struct p2pmm_dmem_region;
struct p2pmm_static_gate;
struct pci_dev;
struct vm_area_struct;

struct p2pmm_static_gate *p2pmm_static_gate_new(void);
void p2pmm_static_gate_set_id(struct p2pmm_static_gate *gate, u32 id);
void p2pmm_static_gate_revoke(struct p2pmm_static_gate *gate);
void p2pmm_static_gate_put(struct p2pmm_static_gate *gate);
int p2pmm_static_mmap(struct pci_dev *pdev, struct p2pmm_static_gate *gate, struct p2pmm_dmem_region *region,
		      struct vm_area_struct *vma, bool own_file);
int p2pmm_static_dmabuf_export(unsigned long addr, size_t len, bool cloexec, int __user *fd_out);

#endif /* P2PMM_STATIC_MAP_GLUE_H */
