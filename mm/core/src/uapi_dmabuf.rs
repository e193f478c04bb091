// SPDX-License-Identifier: GPL-2.0

//! `P2PMM_IOC_DMABUF`: a range of the caller's static memory exported as a dma-buf, or new managed
//! memory of a provider allocated as one (`P2PMM_DMABUF_MANAGED`), checked before the kernel looks
//! at the mapping or the provider (which it checks itself: static, writable, one VMA; managed).

use crate::errno::Errno;
use crate::extensible::{get_u32, get_u64};
use crate::uapi_migrate::UserRange;

/// `sizeof(struct p2pmm_dmabuf)` and its first published size.
pub const SIZE: usize = 32;
/// `P2PMM_DMABUF_SIZE_VER0`.
pub const SIZE_VER0: usize = 32;

/// `P2PMM_DMABUF_CLOEXEC`: the new file descriptor is close-on-exec.
pub const FLAG_CLOEXEC: u32 = 1 << 0;
/// `P2PMM_DMABUF_MANAGED`: allocate `length` bytes of managed provider `provider` (`addr` 0).
pub const FLAG_MANAGED: u32 = 1 << 1;

/// Field offsets of `struct p2pmm_dmabuf`.
pub mod offset {
    /// `flags`.
    pub const FLAGS: usize = 4;
    /// `addr`.
    pub const ADDR: usize = 8;
    /// `length`.
    pub const LENGTH: usize = 16;
    /// `fd`.
    pub const FD: usize = 24;
    /// `provider`.
    pub const PROVIDER: usize = 28;
}

/// What a `P2PMM_IOC_DMABUF` request exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DmabufSource {
    /// A range of the caller's static memory.
    Static(UserRange),
    /// New memory of a managed provider.
    Managed {
        /// The provider's id (not checked here).
        provider: u32,
        /// Bytes: a multiple of the page size, not 0.
        length: u64,
    },
}

/// A checked `P2PMM_IOC_DMABUF` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmabufRequest {
    /// What to export.
    pub source: DmabufSource,
    /// The file descriptor is close-on-exec.
    pub cloexec: bool,
}

impl DmabufRequest {
    /// Checks flags and `provider` (`EINVAL`: 0 without `P2PMM_DMABUF_MANAGED`, not 0 with it)
    /// and the range (page-aligned, not empty, not wrapping; `addr` 0 with `P2PMM_DMABUF_MANAGED`:
    /// `EINVAL`); `fd` is output only and ignored.
    pub fn decode(r: &[u8; SIZE]) -> Result<Self, Errno> {
        let flags = get_u32(r, offset::FLAGS);
        if flags & !(FLAG_CLOEXEC | FLAG_MANAGED) != 0 {
            return Err(Errno::Inval);
        }
        let provider = get_u32(r, offset::PROVIDER);
        let (addr, length) = (get_u64(r, offset::ADDR), get_u64(r, offset::LENGTH));
        let source = if flags & FLAG_MANAGED != 0 {
            if provider == 0 || addr != 0 {
                return Err(Errno::Inval);
            }
            // The same length rules as a range's.
            UserRange::new(0, length)?;
            DmabufSource::Managed { provider, length }
        } else {
            if provider != 0 {
                return Err(Errno::Inval);
            }
            DmabufSource::Static(UserRange::new(addr, length)?)
        };
        Ok(Self {
            source,
            cloexec: flags & FLAG_CLOEXEC != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extensible::{put_u32, put_u64};

    fn request(flags: u32, addr: u64, length: u64, provider: u32) -> [u8; SIZE] {
        let mut r = [0u8; SIZE];
        put_u32(&mut r, 0, SIZE as u32);
        put_u32(&mut r, offset::FLAGS, flags);
        put_u64(&mut r, offset::ADDR, addr);
        put_u64(&mut r, offset::LENGTH, length);
        put_u32(&mut r, offset::FD, 0xffff_ffff);
        put_u32(&mut r, offset::PROVIDER, provider);
        r
    }

    #[test]
    fn a_page_aligned_range_decodes() {
        let d = DmabufRequest::decode(&request(FLAG_CLOEXEC, 0x20_0000, 0x4000, 0)).unwrap();
        let DmabufSource::Static(range) = d.source else {
            panic!("not static: {d:?}");
        };
        assert_eq!(range.start, 0x20_0000);
        assert_eq!(range.end, 0x20_4000);
        assert!(d.cloexec);
        assert!(
            !DmabufRequest::decode(&request(0, 0x1000, 0x1000, 0))
                .unwrap()
                .cloexec
        );
    }

    #[test]
    fn a_managed_allocation_decodes() {
        let d = DmabufRequest::decode(&request(FLAG_MANAGED, 0, 0x10_0000, 7)).unwrap();
        assert_eq!(
            d.source,
            DmabufSource::Managed {
                provider: 7,
                length: 0x10_0000
            }
        );
        assert!(!d.cloexec);
    }

    #[test]
    fn bad_requests_are_einval() {
        for (flags, addr, length, provider) in [
            (4, 0x1000, 0x1000, 0),
            (0, 0x1000, 0x1000, 1),
            (FLAG_MANAGED, 0, 0x1000, 0),
            (FLAG_MANAGED, 0x1000, 0x1000, 1),
            (FLAG_MANAGED, 0, 0x800, 1),
            (FLAG_MANAGED, 0, 0, 1),
            (0, 0x1001, 0x1000, 0),
            (0, 0x1000, 0x800, 0),
            (0, 0x1000, 0, 0),
            (0, !0xfff, 0x2000, 0),
        ] {
            assert_eq!(
                DmabufRequest::decode(&request(flags, addr, length, provider)),
                Err(Errno::Inval),
                "flags {flags} addr {addr:#x} length {length:#x} provider {provider}"
            );
        }
    }
}
