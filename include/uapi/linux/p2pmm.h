/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * p2pmm: one memory manager for PCIe peer-to-peer device memory, static BARs and invalidatable device memory.
 *
 * Userspace talks to /dev/p2pmm through ioctls. Every ioctl argument is an *extensible struct* whose first field,
 * `size`, says how many bytes userspace passed (as openat2(2)/clone3(2) do):
 *  - size smaller than the struct's first published version (..._SIZE_VER0) -> EINVAL;
 *  - size larger than the kernel knows: the extra bytes must be zero, else E2BIG (new fields a newer userspace
 *    set that this kernel does not understand); a size over 4096 -> E2BIG;
 *  - the kernel writes back at most `size` bytes.
 * The size encoded in the ioctl number itself is ignored: the `size` field is the only version a struct has, so
 * a struct can grow without its ioctl number changing.
 * Unknown ioctl -> ENOTTY, unknown flags or non-zero reserved fields -> EINVAL, bad pointer -> EFAULT.
 */
#ifndef _UAPI_LINUX_P2PMM_H
#define _UAPI_LINUX_P2PMM_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Version of this interface; bumped when a struct grows or an ioctl is added. */
#define P2PMM_UAPI_VERSION 1

/* Feature bits returned by P2PMM_IOC_VERSION: what the running kernel implements. */
#define P2PMM_FEATURE_VERSION (1ULL << 0) /* P2PMM_IOC_VERSION and extensible structs */

/* 0xB9 is unused in Documentation/userspace-api/ioctl/ioctl-number.rst. */
#define P2PMM_IOC_MAGIC 0xB9

/**
 * struct p2pmm_version - argument of P2PMM_IOC_VERSION
 * @size:      in: sizeof(struct p2pmm_version) as userspace was built with
 * @flags:     in: must be 0
 * @version:   out: P2PMM_UAPI_VERSION of the running kernel
 * @__reserved: must be 0
 * @features:  out: P2PMM_FEATURE_* bits the running kernel implements
 */
struct p2pmm_version {
	__u32 size;
	__u32 flags;
	__u32 version;
	__u32 __reserved;
	__u64 features;
};
#define P2PMM_VERSION_SIZE_VER0 24 /* sizeof first published struct p2pmm_version */

#define P2PMM_IOC_VERSION _IOWR(P2PMM_IOC_MAGIC, 0x00, struct p2pmm_version)

#endif /* _UAPI_LINUX_P2PMM_H */
