/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for mm/bind/static_map.rs: userspace mappings of static (p2pdma) memory, mapped page by page at fault time
 * behind their provider's revoke gate. The rules for calling each function are in the Rust file.
 */
#ifndef P2PMM_STATIC_MAP_GLUE_H
#define P2PMM_STATIC_MAP_GLUE_H

#include <linux/types.h>

struct p2pmm_dmem_region;
struct p2pmm_static_gate;
struct pci_dev;
struct vm_area_struct;

struct p2pmm_static_gate *p2pmm_static_gate_new(void);
void p2pmm_static_gate_revoke(struct p2pmm_static_gate *gate);
void p2pmm_static_gate_put(struct p2pmm_static_gate *gate);
int p2pmm_static_mmap(struct pci_dev *pdev, struct p2pmm_static_gate *gate, struct p2pmm_dmem_region *region,
		      struct vm_area_struct *vma, bool own_file);

#endif /* P2PMM_STATIC_MAP_GLUE_H */
