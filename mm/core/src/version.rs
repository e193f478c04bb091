// SPDX-License-Identifier: GPL-2.0

//! `P2PMM_IOC_VERSION`: which uAPI version and which features the running kernel offers.
//!
//! Mirrors `struct p2pmm_version` of `include/uapi/linux/p2pmm.h`; the module's KUnit suite checks
//! these offsets against the C header's `offsetof()` so the two cannot drift apart.

use crate::errno::Errno;
use crate::extensible::{get_u32, get_u64, put_u32, put_u64};

/// `P2PMM_UAPI_VERSION`.
pub const UAPI_VERSION: u32 = 6;

/// `P2PMM_FEATURE_VERSION`: the VERSION ioctl and extensible structs.
pub const FEATURE_VERSION: u64 = 1 << 0;

/// `P2PMM_FEATURE_PROVIDERS`: the PROVIDERS and ROUTE ioctls.
pub const FEATURE_PROVIDERS: u64 = 1 << 1;

/// `P2PMM_FEATURE_MIGRATE`: managed providers, the MIGRATE and QUERY ioctls.
pub const FEATURE_MIGRATE: u64 = 1 << 2;

/// `P2PMM_FEATURE_ADVISE`: the ADVISE ioctl.
pub const FEATURE_ADVISE: u64 = 1 << 3;

/// `P2PMM_FEATURE_STATIC_MMAP`: static memory is mapped with mmap at `P2PMM_MMAP_OFFSET(id)`.
pub const FEATURE_STATIC_MMAP: u64 = 1 << 4;

/// `P2PMM_FEATURE_BLKIO`: the BLKIO ioctl (uAPI version 4).
pub const FEATURE_BLKIO: u64 = 1 << 5;

/// `P2PMM_FEATURE_DMABUF`: the DMABUF ioctl (uAPI version 5).
pub const FEATURE_DMABUF: u64 = 1 << 6;

/// `P2PMM_FEATURE_DMABUF_MANAGED`: the DMABUF ioctl allocates managed memory as a dma-buf (uAPI
/// version 6).
pub const FEATURE_DMABUF_MANAGED: u64 = 1 << 7;

/// Every feature this build implements; a bit is added here only together with the code behind it.
pub const FEATURES: u64 = FEATURE_VERSION
    | FEATURE_PROVIDERS
    | FEATURE_MIGRATE
    | FEATURE_ADVISE
    | FEATURE_STATIC_MMAP
    | FEATURE_BLKIO
    | FEATURE_DMABUF
    | FEATURE_DMABUF_MANAGED;

/// `P2PMM_VERSION_SIZE_VER0`: the first published size of `struct p2pmm_version`.
pub const SIZE_VER0: usize = 24;
/// The size of `struct p2pmm_version` as this kernel knows it.
pub const SIZE: usize = 24;

/// Byte offsets of the fields of `struct p2pmm_version`.
pub mod offset {
    /// `size`
    pub const SIZE: usize = 0;
    /// `flags`
    pub const FLAGS: usize = 4;
    /// `version`
    pub const VERSION: usize = 8;
    /// `__reserved`
    pub const RESERVED: usize = 12;
    /// `features`
    pub const FEATURES: usize = 16;
}

/// Answers a VERSION request given the bytes userspace passed (zero-extended to [`SIZE`]).
///
/// Returns the struct image to copy back: the request with `version` and `features` filled in.
pub fn answer(request: &[u8; SIZE]) -> Result<[u8; SIZE], Errno> {
    if get_u32(request, offset::FLAGS) != 0 || get_u32(request, offset::RESERVED) != 0 {
        return Err(Errno::Inval);
    }
    // Output fields must not carry input: a set `features` is a userspace bug worth telling about.
    if get_u32(request, offset::VERSION) != 0 || get_u64(request, offset::FEATURES) != 0 {
        return Err(Errno::Inval);
    }
    let mut reply = *request;
    put_u32(&mut reply, offset::VERSION, UAPI_VERSION);
    put_u64(&mut reply, offset::FEATURES, FEATURES);
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(flags: u32, reserved: u32) -> [u8; SIZE] {
        let mut r = [0u8; SIZE];
        put_u32(&mut r, offset::SIZE, SIZE as u32);
        put_u32(&mut r, offset::FLAGS, flags);
        put_u32(&mut r, offset::RESERVED, reserved);
        r
    }

    #[test]
    fn answer_fills_version_and_features() {
        let reply = answer(&request(0, 0)).unwrap();
        assert_eq!(get_u32(&reply, offset::SIZE), SIZE as u32);
        assert_eq!(get_u32(&reply, offset::VERSION), UAPI_VERSION);
        assert_eq!(get_u64(&reply, offset::FEATURES), FEATURES);
    }

    #[test]
    fn unknown_flags_and_reserved_are_einval() {
        assert_eq!(answer(&request(1, 0)), Err(Errno::Inval));
        assert_eq!(answer(&request(0x8000_0000, 0)), Err(Errno::Inval));
        assert_eq!(answer(&request(0, 7)), Err(Errno::Inval));
    }

    #[test]
    fn output_fields_set_on_input_are_einval() {
        let mut r = request(0, 0);
        put_u64(&mut r, offset::FEATURES, 1);
        assert_eq!(answer(&r), Err(Errno::Inval));
    }
}
