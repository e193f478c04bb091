/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue of p2pmm.ko: kernel facilities that `kernel::bindings` does not reach from an out-of-tree module.
 * Every function here is declared again, with the same layout, in the Rust binding file named beside it.
 */
#ifndef P2PMM_GLUE_H
#define P2PMM_GLUE_H

#include <linux/types.h>

/*
 * The uAPI as the C compiler sees include/uapi/linux/p2pmm.h: sizes, offsets and constants, so the module's
 * KUnit suite can prove the Rust side (mm/core/src/version.rs) agrees with the header. Rust: mm/uapi_layout.rs.
 */
struct p2pmm_uapi_layout {
	u32 version_size;
	u32 version_size_ver0;
	u32 off_size;
	u32 off_flags;
	u32 off_version;
	u32 off_reserved;
	u32 off_features;
	u32 ioc_version;
	u32 uapi_version;
	u32 ioc_magic;
	u64 feature_version;
};

void p2pmm_glue_uapi_layout(struct p2pmm_uapi_layout *out);

#endif /* P2PMM_GLUE_H */
