/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for p2pmm's PCI peer-to-peer bindings (mm/bind/pci_p2p.rs): <linux/pci-p2pdma.h> and the PCI lookups that
 * `kernel::bindings` does not reach from an out-of-tree module. Thin pass-throughs; the rules for calling each one
 * are in the Rust file.
 */
#ifndef P2PMM_P2P_GLUE_H
#define P2PMM_P2P_GLUE_H

#include <linux/types.h>

struct pci_dev;
struct vm_area_struct;
struct file;
struct mm_struct;
struct page;
struct p2pdma_provider;

/* Verdicts of p2pmm_p2p_route(); the numbers are the uAPI's P2PMM_ROUTE_* (static_assert in p2p_glue.c). */
#define P2PMM_GLUE_ROUTE_BUS_ADDR 1
#define P2PMM_GLUE_ROUTE_HOST_BRIDGE 2
#define P2PMM_GLUE_ROUTE_NOT_SUPPORTED 3

/* What p2pmm_p2p_route() found out about a (provider, client) pair. */
struct p2pmm_p2p_route {
	u32 verdict;	     /* P2PMM_GLUE_ROUTE_* */
	s32 distance;	     /* pci_p2pdma_distance(); -1 when not supported */
	u32 common_bridge;   /* 1 if both sit below a common upstream PCI bridge (or are the same device) */
	u32 host_bridge_id;  /* vendor << 16 | device of the provider's host bridge device (devfn 00.0), 0 if none */
	u32 probed;	     /* 1 if the DMA API gave the verdict (a page of the provider's pool was mapped) */
};

int p2pmm_p2p_add_resource(struct pci_dev *pdev, int bar, u64 size, u64 offset);
void *p2pmm_p2p_window_alloc(struct pci_dev *pdev, int bar, u64 size, u64 offset, int *err);
void p2pmm_p2p_window_free(struct pci_dev *pdev, void *kaddr, u64 size);
struct page *p2pmm_kaddr_page(void *kaddr);
void p2pmm_p2p_publish(struct pci_dev *pdev, bool publish);
bool p2pmm_p2p_has_mem(struct pci_dev *pdev, u64 *size, u64 *avail);
void p2pmm_p2p_route(struct pci_dev *provider, struct pci_dev *client, struct p2pmm_p2p_route *out);
struct pci_dev *p2pmm_pci_get(u32 domain, u32 bus, u32 devfn);
struct pci_dev *p2pmm_pci_next(struct pci_dev *from);
void p2pmm_pci_put(struct pci_dev *pdev);
const char *p2pmm_pci_name(struct pci_dev *pdev);
void *p2pmm_p2p_alloc_pages(struct pci_dev *pdev, size_t len, int *err);
void p2pmm_p2p_free_pages(void *kaddr, size_t len);
bool p2pmm_pci_owns_p2pdma_pfn(struct pci_dev *pdev, unsigned long pfn);
int p2pmm_p2p_watch_unbind(void (*unbinding)(struct pci_dev *pdev), void (*unbound)(struct pci_dev *pdev));
void p2pmm_p2p_unwatch_unbind(void);
struct mm_struct *p2pmm_pid_mm(int nr, int *err);
int p2pmm_current_tgid(void);
/* The p2pdma provider of the BAR of @pdev that holds [@phys, @phys + @len), or NULL (the dma-buf exporters). */
struct p2pdma_provider *p2pmm_bar_provider(struct pci_dev *pdev, phys_addr_t phys, size_t len);

#endif /* P2PMM_P2P_GLUE_H */
