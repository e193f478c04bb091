/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for /sys/kernel/p2pmm (mm/bind/sysfs.rs): kobjects and attribute groups, which `kernel::bindings` offers
 * no safe abstraction for. The attribute numbers are mirrored by `Attr` in sysfs.rs.
 */
#ifndef P2PMM_SYSFS_GLUE_H
#define P2PMM_SYSFS_GLUE_H

#include <linux/types.h>

struct kobject;
struct vm_area_struct;
struct p2pmm_provider_dir;

enum p2pmm_sysfs_attr {
	P2PMM_SYSFS_KIND,
	P2PMM_SYSFS_DEVICE,
	P2PMM_SYSFS_CAPACITY,
	P2PMM_SYSFS_USED,
	P2PMM_SYSFS_EVICTIONS,
	P2PMM_SYSFS_MIGRATED_IN,
	P2PMM_SYSFS_MIGRATED_OUT,
	P2PMM_SYSFS_INVALIDATIONS,
	P2PMM_SYSFS_COPIED_BY_ENGINE,
	P2PMM_SYSFS_COPIED_BY_CPU,
	P2PMM_SYSFS_COPY_ENGINE,
	/* A managed provider's only. */
	P2PMM_SYSFS_EVICTIONS_BACKGROUND,
	P2PMM_SYSFS_WATERMARK_LOW,
	P2PMM_SYSFS_WATERMARK_HIGH,
	P2PMM_SYSFS_THRASH_MOVES,
	P2PMM_SYSFS_THRASH_TRIPS,
	P2PMM_SYSFS_THRASH_HELD,
	P2PMM_SYSFS_EVICTIONS_SKIPPED_PINNED,
	P2PMM_SYSFS_NR_ATTRS,
};

/* The first attribute of managed providers only. */
#define P2PMM_SYSFS_FIRST_MANAGED P2PMM_SYSFS_EVICTIONS_BACKGROUND

int p2pmm_sysfs_init(ssize_t (*provider_show)(u32 id, u32 attr, char *buf),
		     ssize_t (*provider_store)(u32 id, u32 attr, const char *buf, size_t len),
		     ssize_t (*routes_show)(char *buf), int (*provider_mmap)(u32 id, struct vm_area_struct *vma));
void p2pmm_sysfs_exit(void);
struct p2pmm_provider_dir *p2pmm_sysfs_add_provider(u32 id, const char *device, bool managed);
void p2pmm_sysfs_remove_provider(struct p2pmm_provider_dir *dir);

#endif /* P2PMM_SYSFS_GLUE_H */
