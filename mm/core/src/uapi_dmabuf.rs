// SPDX-License-Identifier: GPL-2.0

//! `P2PMM_IOC_DMABUF`: a range of the caller's static memory exported as a dma-buf, checked before
//! the kernel looks at the mapping (which it checks itself: static, writable, one VMA).

use crate::errno::Errno;
use crate::extensible::{get_u32, get_u64};
use crate::uapi_migrate::UserRange;

/// `sizeof(struct p2pmm_dmabuf)` and its first published size.
pub const SIZE: usize = 32;
/// `P2PMM_DMABUF_SIZE_VER0`.
pub const SIZE_VER0: usize = 32;

/// `P2PMM_DMABUF_CLOEXEC`: the new file descriptor is close-on-exec.
pub const FLAG_CLOEXEC: u32 = 1 << 0;

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
    /// `__reserved`.
    pub const RESERVED: usize = 28;
}

/// A checked `P2PMM_IOC_DMABUF` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmabufRequest {
    /// The range to export.
    pub range: UserRange,
    /// The file descriptor is close-on-exec.
    pub cloexec: bool,
}

impl DmabufRequest {
    /// Checks flags and the reserved field (`EINVAL`) and the range (page-aligned, not empty, not
    /// wrapping: `EINVAL`); `fd` is output only and ignored.
    pub fn decode(r: &[u8; SIZE]) -> Result<Self, Errno> {
        let flags = get_u32(r, offset::FLAGS);
        if flags & !FLAG_CLOEXEC != 0 || get_u32(r, offset::RESERVED) != 0 {
            return Err(Errno::Inval);
        }
        let range = UserRange::new(get_u64(r, offset::ADDR), get_u64(r, offset::LENGTH))?;
        Ok(Self {
            range,
            cloexec: flags & FLAG_CLOEXEC != 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extensible::{put_u32, put_u64};

    fn request(flags: u32, addr: u64, length: u64, reserved: u32) -> [u8; SIZE] {
        let mut r = [0u8; SIZE];
        put_u32(&mut r, 0, SIZE as u32);
        put_u32(&mut r, offset::FLAGS, flags);
        put_u64(&mut r, offset::ADDR, addr);
        put_u64(&mut r, offset::LENGTH, length);
        put_u32(&mut r, offset::FD, 0xffff_ffff);
        put_u32(&mut r, offset::RESERVED, reserved);
        r
    }

    #[test]
    fn a_page_aligned_range_decodes() {
        let d = DmabufRequest::decode(&request(FLAG_CLOEXEC, 0x20_0000, 0x4000, 0)).unwrap();
        assert_eq!(d.range.start, 0x20_0000);
        assert_eq!(d.range.end, 0x20_4000);
        assert!(d.cloexec);
        assert!(
            !DmabufRequest::decode(&request(0, 0x1000, 0x1000, 0))
                .unwrap()
                .cloexec
        );
    }

    #[test]
    fn bad_requests_are_einval() {
        for (flags, addr, length, reserved) in [
            (2, 0x1000, 0x1000, 0),
            (0, 0x1000, 0x1000, 1),
            (0, 0x1001, 0x1000, 0),
            (0, 0x1000, 0x800, 0),
            (0, 0x1000, 0, 0),
            (0, !0xfff, 0x2000, 0),
        ] {
            assert_eq!(
                DmabufRequest::decode(&request(flags, addr, length, reserved)),
                Err(Errno::Inval),
                "flags {flags} addr {addr:#x} length {length:#x} reserved {reserved}"
            );
        }
    }
}
