// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/p2pmm: kobjects and attributes for mm/bind/sysfs.rs. Each provider gets a directory named by its id
 * under providers/; every attribute's show() asks the Rust side, which formats from the live provider. Removing a
 * directory (kobject_put) waits for readers in progress, so show() never runs for a provider that is gone.
 *
 * A static provider's directory also has `allocate`, whose mmap() at offset 0 maps newly allocated memory of the
 * provider (as p2pdma's own p2pmem/allocate does), and is linked from by-device/<pci name>. kernfs unmaps every such
 * mapping when the file is removed, which is how a revoked provider's mappings go.
 */
#include <linux/kobject.h>
#include <linux/kstrtox.h>
#include <linux/slab.h>
#include <linux/sysfs.h>

#include "sysfs_glue.h"

static struct kobject *p2pmm_root, *p2pmm_providers, *p2pmm_by_device;

/* A provider's directory, and the name of its by-device link ("" for none). */
struct p2pmm_provider_dir {
	struct kobject *kobj;
	char link[32];
};
static ssize_t (*p2pmm_provider_show_cb)(u32 id, u32 attr, char *buf);
static ssize_t (*p2pmm_provider_store_cb)(u32 id, u32 attr, const char *buf, size_t len);
static ssize_t (*p2pmm_routes_show_cb)(char *buf);
static int (*p2pmm_provider_mmap_cb)(u32 id, struct vm_area_struct *vma);

static ssize_t p2pmm_attr_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf);
static ssize_t p2pmm_attr_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf, size_t len);

static struct kobj_attribute p2pmm_provider_attrs[P2PMM_SYSFS_NR_ATTRS] = {
	[P2PMM_SYSFS_KIND] = __ATTR(kind, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_DEVICE] = __ATTR(device, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_CAPACITY] = __ATTR(capacity, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_USED] = __ATTR(used, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_EVICTIONS] = __ATTR(evictions, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_MIGRATED_IN] = __ATTR(migrated_in, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_MIGRATED_OUT] = __ATTR(migrated_out, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_INVALIDATIONS] = __ATTR(invalidations, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_COPIED_BY_ENGINE] = __ATTR(copied_by_engine, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_COPIED_BY_CPU] = __ATTR(copied_by_cpu, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_COPY_ENGINE] = __ATTR(copy_engine, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_EVICTIONS_BACKGROUND] = __ATTR(evictions_background, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_WATERMARK_LOW] = __ATTR(watermark_low, 0644, p2pmm_attr_show, p2pmm_attr_store),
	[P2PMM_SYSFS_WATERMARK_HIGH] = __ATTR(watermark_high, 0644, p2pmm_attr_show, p2pmm_attr_store),
	[P2PMM_SYSFS_THRASH_MOVES] = __ATTR(thrash_moves, 0644, p2pmm_attr_show, p2pmm_attr_store),
	[P2PMM_SYSFS_THRASH_TRIPS] = __ATTR(thrash_trips, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_THRASH_HELD] = __ATTR(thrash_held, 0444, p2pmm_attr_show, NULL),
	[P2PMM_SYSFS_EVICTIONS_SKIPPED_PINNED] = __ATTR(evictions_skipped_pinned, 0444, p2pmm_attr_show, NULL),
};

static struct attribute *p2pmm_provider_attr_list[P2PMM_SYSFS_FIRST_MANAGED + 1] = {
	&p2pmm_provider_attrs[0].attr, &p2pmm_provider_attrs[1].attr, &p2pmm_provider_attrs[2].attr,
	&p2pmm_provider_attrs[3].attr, &p2pmm_provider_attrs[4].attr, &p2pmm_provider_attrs[5].attr,
	&p2pmm_provider_attrs[6].attr, &p2pmm_provider_attrs[7].attr, &p2pmm_provider_attrs[8].attr,
	&p2pmm_provider_attrs[9].attr, &p2pmm_provider_attrs[10].attr, NULL,
};

static const struct attribute_group p2pmm_provider_group = {
	.attrs = p2pmm_provider_attr_list,
};

/* A managed provider's background reclaim and thrash detection: counters, and limits root may set. */
static struct attribute *p2pmm_managed_attr_list[P2PMM_SYSFS_NR_ATTRS - P2PMM_SYSFS_FIRST_MANAGED + 1] = {
	&p2pmm_provider_attrs[P2PMM_SYSFS_EVICTIONS_BACKGROUND].attr,
	&p2pmm_provider_attrs[P2PMM_SYSFS_WATERMARK_LOW].attr,
	&p2pmm_provider_attrs[P2PMM_SYSFS_WATERMARK_HIGH].attr,
	&p2pmm_provider_attrs[P2PMM_SYSFS_THRASH_MOVES].attr,
	&p2pmm_provider_attrs[P2PMM_SYSFS_THRASH_TRIPS].attr,
	&p2pmm_provider_attrs[P2PMM_SYSFS_THRASH_HELD].attr,
	&p2pmm_provider_attrs[P2PMM_SYSFS_EVICTIONS_SKIPPED_PINNED].attr, NULL,
};

static const struct attribute_group p2pmm_managed_group = {
	.attrs = p2pmm_managed_attr_list,
};

static ssize_t p2pmm_attr_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	u32 id;

	if (kstrtou32(kobject_name(kobj), 10, &id))
		return -EINVAL;
	return p2pmm_provider_show_cb(id, attr - p2pmm_provider_attrs, buf);
}

static ssize_t p2pmm_attr_store(struct kobject *kobj, struct kobj_attribute *attr, const char *buf, size_t len)
{
	u32 id;

	if (kstrtou32(kobject_name(kobj), 10, &id))
		return -EINVAL;
	return p2pmm_provider_store_cb(id, attr - p2pmm_provider_attrs, buf, len);
}

static int p2pmm_allocate_mmap(struct file *filp, struct kobject *kobj, const struct bin_attribute *attr,
			       struct vm_area_struct *vma)
{
	u32 id;

	if (kstrtou32(kobject_name(kobj), 10, &id))
		return -EINVAL;
	return p2pmm_provider_mmap_cb(id, vma);
}

static const struct bin_attribute p2pmm_allocate_attr = {
	.attr = { .name = "allocate", .mode = 0600 },
	.mmap = p2pmm_allocate_mmap,
};

static ssize_t p2pmm_routes_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return p2pmm_routes_show_cb(buf);
}

static struct kobj_attribute p2pmm_routes_attr = __ATTR(routes, 0444, p2pmm_routes_show, NULL);

int p2pmm_sysfs_init(ssize_t (*provider_show)(u32 id, u32 attr, char *buf),
		     ssize_t (*provider_store)(u32 id, u32 attr, const char *buf, size_t len),
		     ssize_t (*routes_show)(char *buf), int (*provider_mmap)(u32 id, struct vm_area_struct *vma))
{
	int ret;

	p2pmm_provider_show_cb = provider_show;
	p2pmm_provider_store_cb = provider_store;
	p2pmm_routes_show_cb = routes_show;
	p2pmm_provider_mmap_cb = provider_mmap;
	p2pmm_root = kobject_create_and_add("p2pmm", kernel_kobj);
	if (!p2pmm_root)
		return -ENOMEM;
	p2pmm_providers = kobject_create_and_add("providers", p2pmm_root);
	if (!p2pmm_providers) {
		kobject_put(p2pmm_root);
		return -ENOMEM;
	}
	p2pmm_by_device = kobject_create_and_add("by-device", p2pmm_root);
	if (!p2pmm_by_device) {
		kobject_put(p2pmm_providers);
		kobject_put(p2pmm_root);
		return -ENOMEM;
	}
	ret = sysfs_create_file(p2pmm_root, &p2pmm_routes_attr.attr);
	if (ret) {
		kobject_put(p2pmm_by_device);
		kobject_put(p2pmm_providers);
		kobject_put(p2pmm_root);
	}
	return ret;
}

void p2pmm_sysfs_exit(void)
{
	sysfs_remove_file(p2pmm_root, &p2pmm_routes_attr.attr);
	kobject_put(p2pmm_by_device);
	kobject_put(p2pmm_providers);
	kobject_put(p2pmm_root);
}

/*
 * Provider @id's directory. A static provider (@device: its PCI name) also gets `allocate` and the link
 * by-device/<device> to the directory; a link that cannot be made is left out, the rest stays.
 */
struct p2pmm_provider_dir *p2pmm_sysfs_add_provider(u32 id, const char *device, bool managed)
{
	struct p2pmm_provider_dir *dir = kzalloc(sizeof(*dir), GFP_KERNEL);
	char name[16];

	if (!dir)
		return NULL;
	snprintf(name, sizeof(name), "%u", id);
	dir->kobj = kobject_create_and_add(name, p2pmm_providers);
	if (!dir->kobj)
		goto out_free;
	if (sysfs_create_group(dir->kobj, &p2pmm_provider_group))
		goto out_put;
	if (managed && sysfs_create_group(dir->kobj, &p2pmm_managed_group))
		goto out_group;
	if (device) {
		if (sysfs_create_bin_file(dir->kobj, &p2pmm_allocate_attr))
			goto out_group;
		if (!sysfs_create_link(p2pmm_by_device, dir->kobj, device))
			strscpy(dir->link, device, sizeof(dir->link));
	}
	return dir;

out_group:
	if (managed)
		sysfs_remove_group(dir->kobj, &p2pmm_managed_group);
	sysfs_remove_group(dir->kobj, &p2pmm_provider_group);
out_put:
	kobject_put(dir->kobj);
out_free:
	kfree(dir);
	return NULL;
}

/* Removing `allocate` unmaps what userspace mapped through it (kernfs drains the file's mappings). */
void p2pmm_sysfs_remove_provider(struct p2pmm_provider_dir *dir)
{
	if (dir->link[0])
		sysfs_remove_link(p2pmm_by_device, dir->link);
	sysfs_remove_bin_file(dir->kobj, &p2pmm_allocate_attr);
	/* Removing what a directory does not have (a static provider's managed group) does nothing. */
	sysfs_remove_group(dir->kobj, &p2pmm_managed_group);
	sysfs_remove_group(dir->kobj, &p2pmm_provider_group);
	kobject_put(dir->kobj);
	kfree(dir);
}
