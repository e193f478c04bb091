// SPDX-License-Identifier: GPL-2.0

//! Binding to `p2pmm_glue_uapi_layout()`: the uAPI header as the C compiler laid it out.
//!
//! The Rust side of the uAPI (`mm/core/src/version.rs`) is written by hand; this lets a KUnit test compare it with
//! `include/uapi/linux/p2pmm.h` in the same build, so the two cannot silently drift apart.

/// Sizes, offsets and constants of `include/uapi/linux/p2pmm.h`; mirrors `struct p2pmm_uapi_layout`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UapiLayout {
    /// `sizeof(struct p2pmm_version)`
    pub version_size: u32,
    /// `P2PMM_VERSION_SIZE_VER0`
    pub version_size_ver0: u32,
    /// `offsetof(struct p2pmm_version, size)`
    pub off_size: u32,
    /// `offsetof(struct p2pmm_version, flags)`
    pub off_flags: u32,
    /// `offsetof(struct p2pmm_version, version)`
    pub off_version: u32,
    /// `offsetof(struct p2pmm_version, __reserved)`
    pub off_reserved: u32,
    /// `offsetof(struct p2pmm_version, features)`
    pub off_features: u32,
    /// `P2PMM_IOC_VERSION`
    pub ioc_version: u32,
    /// `P2PMM_UAPI_VERSION`
    pub uapi_version: u32,
    /// `P2PMM_IOC_MAGIC`
    pub ioc_magic: u32,
    /// `P2PMM_FEATURE_VERSION`
    pub feature_version: u64,
}

extern "C" {
    fn p2pmm_glue_uapi_layout(out: *mut UapiLayout);
}

impl UapiLayout {
    /// Asks the C compiler's view of the uAPI header.
    pub fn from_c_header() -> UapiLayout {
        let mut layout = UapiLayout::default();
        // SAFETY: `layout` is a valid, writable `struct p2pmm_uapi_layout` (same `#[repr(C)]` field order and
        // types as `mm/p2pmm_glue.h`); the C function only writes that struct.
        unsafe { p2pmm_glue_uapi_layout(&mut layout) };
        layout
    }
}
