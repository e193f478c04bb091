// SPDX-License-Identifier: GPL-2.0
/*
 * C glue of p2pmm.ko; see p2pmm_glue.h for why each function exists.
 */
#include <linux/build_bug.h>
#include <linux/stddef.h>
#include <uapi/linux/p2pmm.h>

#include "p2pmm_glue.h"

/* The header's VER0 constant must describe the struct it ships with. */
static_assert(sizeof(struct p2pmm_version) == P2PMM_VERSION_SIZE_VER0);

void p2pmm_glue_uapi_layout(struct p2pmm_uapi_layout *out)
{
	*out = (struct p2pmm_uapi_layout){
		.version_size = sizeof(struct p2pmm_version),
		.version_size_ver0 = P2PMM_VERSION_SIZE_VER0,
		.off_size = offsetof(struct p2pmm_version, size),
		.off_flags = offsetof(struct p2pmm_version, flags),
		.off_version = offsetof(struct p2pmm_version, version),
		.off_reserved = offsetof(struct p2pmm_version, __reserved),
		.off_features = offsetof(struct p2pmm_version, features),
		.ioc_version = P2PMM_IOC_VERSION,
		.uapi_version = P2PMM_UAPI_VERSION,
		.ioc_magic = P2PMM_IOC_MAGIC,
		.feature_version = P2PMM_FEATURE_VERSION,
	};
}
