// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for mm/bind/pci_p2p.rs; see p2p_glue.h.
 */
#include <linux/build_bug.h>
#include <linux/genalloc.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/notifier.h>
#include <linux/capability.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>
#include <linux/sched/task.h>
#include <linux/percpu-refcount.h>
#include <linux/pci.h>
#include <linux/pci-p2pdma.h>
#include <linux/rcupdate.h>
#include <linux/scatterlist.h>
#include <linux/dma-mapping.h>
#include <uapi/linux/p2pmm.h>

#include "p2p_glue.h"

static_assert(P2PMM_GLUE_ROUTE_BUS_ADDR == P2PMM_ROUTE_BUS_ADDR);
static_assert(P2PMM_GLUE_ROUTE_HOST_BRIDGE == P2PMM_ROUTE_HOST_BRIDGE);
static_assert(P2PMM_GLUE_ROUTE_NOT_SUPPORTED == P2PMM_ROUTE_NOT_SUPPORTED);

int p2pmm_p2p_add_resource(struct pci_dev *pdev, int bar, u64 size, u64 offset)
{
	return pci_p2pdma_add_resource(pdev, bar, size, offset);
}

/*
 * A managed provider's BAR range as p2pdma memory that p2pmm allocates whole (its P2P window; bar_devmem.rs).
 * NULL with *@err set when p2pdma refuses the range: the range stayed out of the pool, the caller may go on
 * without a window. -EBUSY when p2pdma took the range but the allocation did not get exactly it: part of it may
 * be someone else's now, so the caller must not use the range at all. Otherwise the window holds one reference to
 * its pagemap, so p2pdma's teardown waits for p2pmm_p2p_window_free().
 */
void *p2pmm_p2p_window_alloc(struct pci_dev *pdev, int bar, u64 size, u64 offset, int *err)
{
	void *kaddr;

	*err = pci_p2pdma_add_resource(pdev, bar, size, offset);
	if (*err)
		return NULL;
	kaddr = pci_alloc_p2pmem(pdev, size);
	if (kaddr && pci_p2pmem_virt_to_bus(pdev, kaddr) == pci_bus_address(pdev, bar) + offset)
		return kaddr;
	if (kaddr)
		pci_free_p2pmem(pdev, kaddr, size);
	*err = -EBUSY;
	return NULL;
}

void p2pmm_p2p_window_free(struct pci_dev *pdev, void *kaddr, u64 size)
{
	pci_free_p2pmem(pdev, kaddr, size);
}

struct page *p2pmm_kaddr_page(void *kaddr)
{
	return virt_to_page(kaddr);
}

void p2pmm_p2p_publish(struct pci_dev *pdev, bool publish)
{
	pci_p2pmem_publish(pdev, publish);
}

/*
 * The head of drivers/pci/p2pdma.c's private `struct pci_p2pdma`: its first member is the pool of p2p memory. Only
 * that first member is read, so the rest of the (private) layout does not matter. Exported p2pdma API offers no
 * way to ask a device how much p2p memory it has, which adopting an existing provider (the NVMe CMB) needs.
 */
struct p2pmm_p2pdma_head {
	struct gen_pool *pool;
};

bool p2pmm_p2p_has_mem(struct pci_dev *pdev, u64 *size, u64 *avail)
{
	struct p2pmm_p2pdma_head *p2pdma;
	bool ret = false;

	rcu_read_lock();
	p2pdma = (struct p2pmm_p2pdma_head *)rcu_dereference(pdev->p2pdma);
	if (p2pdma && p2pdma->pool) {
		*size = gen_pool_size(p2pdma->pool);
		*avail = gen_pool_avail(p2pdma->pool);
		ret = *size > 0;
	}
	rcu_read_unlock();
	return ret;
}

/* Whether `a` and `b` share an upstream bridge (p2pdma's first test for a bus-address route). */
static bool p2pmm_common_bridge(struct pci_dev *a, struct pci_dev *b)
{
	struct pci_dev *x, *y;

	for (x = a; x; x = pci_upstream_bridge(x))
		for (y = b; y; y = pci_upstream_bridge(y))
			if (x == y)
				return true;
	return false;
}

/*
 * The map type the kernel itself gives `client`'s DMA to `provider`'s p2pdma memory.
 * pci_p2pdma_map_type() is not exported, but the DMA API decides with it (dma-direct and
 * dma-iommu both go through pci_p2pdma_state(), as the block layer does for a bio of p2pdma
 * pages): map one page of the provider's pool for the client and look at the answer.
 * -EREMOTEIO: no P2P path; a bus address: below a common bridge; any other address: through
 * the host bridge. Returns a negative errno when it cannot tell (no pool, no free page, another
 * mapping error).
 */
static int p2pmm_p2p_map_type(struct pci_dev *provider, struct pci_dev *client)
{
	struct scatterlist sg;
	struct sg_table sgt = { .sgl = &sg, .nents = 1, .orig_nents = 1 };
	void *probe = pci_alloc_p2pmem(provider, PAGE_SIZE);
	int ret;

	if (!probe)
		return -ENOMEM;
	sg_init_table(&sg, 1);
	sg_set_page(&sg, virt_to_page(probe), PAGE_SIZE, 0);
	ret = dma_map_sgtable(&client->dev, &sgt, DMA_BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
	if (!ret) {
		ret = sg_dma_is_bus_address(&sg) ? P2PMM_GLUE_ROUTE_BUS_ADDR :
						   P2PMM_GLUE_ROUTE_HOST_BRIDGE;
		dma_unmap_sgtable(&client->dev, &sgt, DMA_BIDIRECTIONAL, DMA_ATTR_SKIP_CPU_SYNC);
	} else if (ret == -EREMOTEIO) {
		ret = P2PMM_GLUE_ROUTE_NOT_SUPPORTED;
	}
	pci_free_p2pmem(provider, probe, PAGE_SIZE);
	return ret;
}

void p2pmm_p2p_route(struct pci_dev *provider, struct pci_dev *client, struct p2pmm_p2p_route *out)
{
	struct pci_host_bridge *host = pci_find_host_bridge(provider->bus);
	struct pci_dev *root = NULL;
	int type;

	out->distance = pci_p2pdma_distance(provider, &client->dev, false);
	out->common_bridge = p2pmm_common_bridge(provider, client);
	if (host)
		root = list_first_entry_or_null(&host->bus->devices, struct pci_dev, bus_list);
	out->host_bridge_id = root ? ((u32)root->vendor << 16) | root->device : 0;
	type = p2pmm_p2p_map_type(provider, client);
	out->probed = type > 0;
	if (type > 0)
		out->verdict = type;
	/*
	 * No page to probe with (a device without a p2pdma pool, or a full one): the verdict follows
	 * from the distance, which is p2pdma's own answer to "supported or not", and from whether
	 * the path stays below a common bridge. Only ACS redirection with an allowlisted host bridge
	 * makes that differ from the probe.
	 */
	else if (out->distance < 0)
		out->verdict = P2PMM_GLUE_ROUTE_NOT_SUPPORTED;
	else if (out->common_bridge)
		out->verdict = P2PMM_GLUE_ROUTE_BUS_ADDR;
	else
		out->verdict = P2PMM_GLUE_ROUTE_HOST_BRIDGE;
}

struct pci_dev *p2pmm_pci_get(u32 domain, u32 bus, u32 devfn)
{
	return pci_get_domain_bus_and_slot(domain, bus, devfn);
}

struct pci_dev *p2pmm_pci_next(struct pci_dev *from)
{
	return pci_get_device(PCI_ANY_ID, PCI_ANY_ID, from);
}

void p2pmm_pci_put(struct pci_dev *pdev)
{
	pci_dev_put(pdev);
}

const char *p2pmm_pci_name(struct pci_dev *pdev)
{
	return pci_name(pdev);
}

/*
 * Allocates @len bytes of p2pdma memory of @pdev for a userspace mapping, zeroed, as p2pdma's own sysfs
 * `p2pmem/allocate` file does (drivers/pci/p2pdma.c, p2pmem_alloc_mmap(), which is static): each page gets one
 * reference (the caller's) and holds one on the pool's percpu ref, so it goes back to the pool by itself
 * (p2pdma's folio_free) when its last reference is put. NULL with *@err -ENODEV when @pdev has no pool any more,
 * -ENOMEM when the pool has no contiguous @len bytes. p2pmm_p2p_free_pages() puts the caller's references.
 */
void *p2pmm_p2p_alloc_pages(struct pci_dev *pdev, size_t len, int *err)
{
	struct p2pmm_p2pdma_head *p2pdma;
	struct percpu_ref *ref;
	void *kaddr;
	size_t off;

	rcu_read_lock();
	p2pdma = (struct p2pmm_p2pdma_head *)rcu_dereference(pdev->p2pdma);
	if (!p2pdma || !p2pdma->pool) {
		rcu_read_unlock();
		*err = -ENODEV;
		return NULL;
	}
	kaddr = (void *)gen_pool_alloc_owner(p2pdma->pool, len, (void **)&ref);
	if (!kaddr) {
		rcu_read_unlock();
		*err = -ENOMEM;
		return NULL;
	}
	if (unlikely(!percpu_ref_tryget_live_rcu(ref))) {
		gen_pool_free(p2pdma->pool, (uintptr_t)kaddr, len);
		rcu_read_unlock();
		*err = -ENODEV;
		return NULL;
	}
	rcu_read_unlock();
	/*
	 * What the last user of this BAR range left there is not for this process to read (anonymous memory starts
	 * zeroed too). p2pdma's own allocate file does not clear it.
	 */
	memset(kaddr, 0, len);
	for (off = 0; off < len; off += PAGE_SIZE) {
		struct page *page = virt_to_page(kaddr + off);

		VM_WARN_ON_ONCE_PAGE(page_ref_count(page), page);
		set_page_count(page, 1);
		percpu_ref_get(ref);
	}
	percpu_ref_put(ref);
	return kaddr;
}

/* Puts the references p2pmm_p2p_alloc_pages() gave: a page no mapping holds any more goes back to the pool. */
void p2pmm_p2p_free_pages(void *kaddr, size_t len)
{
	size_t off;

	for (off = 0; off < len; off += PAGE_SIZE)
		put_page(virt_to_page(kaddr + off));
}

/* Whether page frame `pfn` is p2pdma memory inside one of `pdev`'s BARs. */
bool p2pmm_pci_owns_p2pdma_pfn(struct pci_dev *pdev, unsigned long pfn)
{
	phys_addr_t phys = PFN_PHYS(pfn);
	int bar;

	if (!pfn_valid(pfn) || !is_pci_p2pdma_page(pfn_to_page(pfn)))
		return false;
	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		resource_size_t start = pci_resource_start(pdev, bar), len = pci_resource_len(pdev, bar);

		if (len && phys >= start && phys - start < len)
			return true;
	}
	return false;
}

/*
 * Revocation. Static memory mapped by userspace must be unmapped before p2pdma tears the memory down when its
 * device's driver unbinds (vaccel's or, for an adopted CMB, nvme's), or that teardown would wait for the mappings
 * forever (static_map_glue.c unmaps them). A PCI bus notifier tells p2pmm at BUS_NOTIFY_UNBIND_DRIVER, before the
 * driver's remove runs.
 */
static void (*p2pmm_unbind_cb)(struct pci_dev *pdev);
static void (*p2pmm_unbound_cb)(struct pci_dev *pdev);

static int p2pmm_bus_notify(struct notifier_block *nb, unsigned long action, void *data)
{
	struct device *dev = data;

	if (!dev_is_pci(dev))
		return NOTIFY_DONE;
	if (action == BUS_NOTIFY_UNBIND_DRIVER)
		p2pmm_unbind_cb(to_pci_dev(dev));
	else if (action == BUS_NOTIFY_UNBOUND_DRIVER)
		p2pmm_unbound_cb(to_pci_dev(dev));
	return NOTIFY_DONE;
}

static struct notifier_block p2pmm_bus_nb = {
	.notifier_call = p2pmm_bus_notify,
};

int p2pmm_p2p_watch_unbind(void (*unbinding)(struct pci_dev *pdev), void (*unbound)(struct pci_dev *pdev))
{
	p2pmm_unbind_cb = unbinding;
	p2pmm_unbound_cb = unbound;
	return bus_register_notifier(&pci_bus_type, &p2pmm_bus_nb);
}

void p2pmm_p2p_unwatch_unbind(void)
{
	bus_unregister_notifier(&pci_bus_type, &p2pmm_bus_nb);
}

/*
 * Whether the caller may look at @task's memory: it has CAP_SYS_PTRACE, or one of its threads traces @task
 * (ptrace(2) attached to it, which passed the ptrace access check, LSMs included, when it attached). That is a
 * subset of the ptrace access rules: mm_access(), which checks PTRACE_MODE_READ without an attachment, is not
 * exported to modules.
 */
static bool p2pmm_may_inspect(struct task_struct *task)
{
	struct task_struct *tracer;
	bool traced;

	if (capable(CAP_SYS_PTRACE))
		return true;
	rcu_read_lock();
	tracer = ptrace_parent(task);
	traced = tracer && same_thread_group(tracer, current);
	rcu_read_unlock();
	return traced;
}

/*
 * The address space of process `nr` (in the caller's pid namespace), if the caller may look at it
 * (p2pmm_may_inspect()), with a reference (mmget) the caller drops with mmput(). NULL with *err = -ESRCH if there
 * is no such process or it has no address space, -EPERM if the caller may not look at it.
 */
struct mm_struct *p2pmm_pid_mm(int nr, int *err)
{
	struct task_struct *task;
	struct mm_struct *mm = NULL;
	struct pid *pid;

	pid = find_get_pid(nr);
	task = pid ? get_pid_task(pid, PIDTYPE_TGID) : NULL;
	put_pid(pid);
	*err = -ESRCH;
	if (!task)
		return NULL;
	if (p2pmm_may_inspect(task))
		mm = get_task_mm(task);
	else
		*err = -EPERM;
	put_task_struct(task);
	if (mm)
		*err = 0;
	return mm;
}

int p2pmm_current_tgid(void)
{
	return task_tgid_vnr(current);
}

/* The provider of the BAR of @pdev that holds [@phys, @phys + @len), or NULL. */
struct p2pdma_provider *p2pmm_bar_provider(struct pci_dev *pdev, phys_addr_t phys, size_t len)
{
	int bar;

	for (bar = 0; bar < PCI_STD_NUM_BARS; bar++) {
		struct resource *r = pci_resource_n(pdev, bar);

		if ((r->flags & IORESOURCE_MEM) && phys >= r->start && phys + len - 1 <= r->end)
			return pcim_p2pdma_provider(pdev, bar);
	}
	return NULL;
}
