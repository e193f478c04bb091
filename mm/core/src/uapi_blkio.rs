// SPDX-License-Identifier: GPL-2.0

//! `P2PMM_IOC_BLKIO`: a transfer between a block device and a range of the caller's memory, checked
//! before any byte moves. The block size rules need the device, so the kernel checks those
//! ([`BlkioRequest::check_blocks`]).

use crate::errno::Errno;
use crate::extensible::{get_u32, get_u64, put_u64};

/// `sizeof(struct p2pmm_blkio)` and its first published size.
pub const SIZE: usize = 72;
/// `P2PMM_BLKIO_SIZE_VER0`.
pub const SIZE_VER0: usize = 72;

/// `P2PMM_BLKIO_WRITE`: memory to device (without it: device to memory).
pub const FLAG_WRITE: u32 = 1 << 0;

/// Field offsets of `struct p2pmm_blkio`.
pub mod offset {
    /// `flags`.
    pub const FLAGS: usize = 4;
    /// `fd`.
    pub const FD: usize = 8;
    /// `__reserved`.
    pub const RESERVED: usize = 12;
    /// `addr`.
    pub const ADDR: usize = 16;
    /// `length`.
    pub const LENGTH: usize = 24;
    /// `offset`.
    pub const OFFSET: usize = 32;
    /// `bytes_p2p`.
    pub const BYTES_P2P: usize = 40;
    /// `bytes_system`.
    pub const BYTES_SYSTEM: usize = 48;
    /// `bytes_bounce`.
    pub const BYTES_BOUNCE: usize = 56;
    /// `retries`.
    pub const RETRIES: usize = 64;
}

/// A checked `P2PMM_IOC_BLKIO` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlkioRequest {
    /// The block device's file descriptor.
    pub fd: u32,
    /// Memory to device.
    pub to_device: bool,
    /// First byte of memory.
    pub addr: u64,
    /// Bytes.
    pub length: u64,
    /// Byte offset on the device.
    pub offset: u64,
}

/// What a transfer moved, by path (bytes), and how often it started a chunk again.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BlkioDone {
    /// Moved by the device to or from a BAR (P2P DMA).
    pub p2p: u64,
    /// Moved by the device to or from system memory.
    pub system: u64,
    /// Bounced through system memory (the device cannot reach the BAR).
    pub bounce: u64,
    /// Chunks faulted again because an invalidation raced their setup.
    pub retries: u64,
}

impl BlkioRequest {
    /// Checks flags and reserved fields (`EINVAL`), the descriptor (`EBADF` when negative), and the
    /// ranges (`EINVAL` when empty or wrapping); output fields are ignored.
    pub fn decode(r: &[u8; SIZE]) -> Result<Self, Errno> {
        let flags = get_u32(r, offset::FLAGS);
        if flags & !FLAG_WRITE != 0 || get_u32(r, offset::RESERVED) != 0 {
            return Err(Errno::Inval);
        }
        let fd = get_u32(r, offset::FD);
        if fd as i32 <= -1 {
            return Err(Errno::BadF);
        }
        let (addr, length, off) = (
            get_u64(r, offset::ADDR),
            get_u64(r, offset::LENGTH),
            get_u64(r, offset::OFFSET),
        );
        if length == 0 || addr.checked_add(length).is_none() || off.checked_add(length).is_none() {
            return Err(Errno::Inval);
        }
        Ok(Self {
            fd,
            to_device: flags & FLAG_WRITE != 0,
            addr,
            length,
            offset: off,
        })
    }

    /// Checks the request against a device of `block_size`-byte blocks and `device_bytes` bytes:
    /// address, length and offset are multiples of the block size, and the range is inside the
    /// device (`EINVAL` otherwise).
    pub fn check_blocks(&self, block_size: u32, device_bytes: u64) -> Result<(), Errno> {
        let bs = u64::from(block_size);
        if bs == 0 || (self.addr | self.length | self.offset) % bs != 0 {
            return Err(Errno::Inval);
        }
        // `decode` checked that `offset + length` does not wrap.
        if self.offset + self.length > device_bytes {
            return Err(Errno::Inval);
        }
        Ok(())
    }

    /// The reply with the counts filled in.
    pub fn reply(r: &[u8; SIZE], done: &BlkioDone) -> [u8; SIZE] {
        let mut out = *r;
        put_u64(&mut out, offset::BYTES_P2P, done.p2p);
        put_u64(&mut out, offset::BYTES_SYSTEM, done.system);
        put_u64(&mut out, offset::BYTES_BOUNCE, done.bounce);
        put_u64(&mut out, offset::RETRIES, done.retries);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extensible::put_u32;

    fn request(flags: u32, fd: i32, addr: u64, length: u64, off: u64) -> [u8; SIZE] {
        let mut r = [0u8; SIZE];
        put_u32(&mut r, 0, SIZE as u32);
        put_u32(&mut r, offset::FLAGS, flags);
        put_u32(&mut r, offset::FD, fd as u32);
        put_u64(&mut r, offset::ADDR, addr);
        put_u64(&mut r, offset::LENGTH, length);
        put_u64(&mut r, offset::OFFSET, off);
        r
    }

    #[test]
    fn decodes_direction_and_ranges() {
        let read = BlkioRequest::decode(&request(0, 3, 0x1000, 8192, 512)).unwrap();
        assert_eq!(
            read,
            BlkioRequest {
                fd: 3,
                to_device: false,
                addr: 0x1000,
                length: 8192,
                offset: 512
            }
        );
        let write = BlkioRequest::decode(&request(FLAG_WRITE, 0, 0x1000, 4096, 0)).unwrap();
        assert!(write.to_device);
    }

    #[test]
    fn malformed_requests_are_refused() {
        assert_eq!(
            BlkioRequest::decode(&request(2, 3, 0, 4096, 0)),
            Err(Errno::Inval)
        );
        assert_eq!(
            BlkioRequest::decode(&request(0, -1, 0, 4096, 0)),
            Err(Errno::BadF)
        );
        assert_eq!(
            BlkioRequest::decode(&request(0, 3, 0, 0, 0)),
            Err(Errno::Inval)
        );
        assert_eq!(
            BlkioRequest::decode(&request(0, 3, u64::MAX - 10, 4096, 0)),
            Err(Errno::Inval)
        );
        assert_eq!(
            BlkioRequest::decode(&request(0, 3, 0, 4096, u64::MAX - 10)),
            Err(Errno::Inval)
        );
        let mut r = request(0, 3, 0, 4096, 0);
        put_u32(&mut r, offset::RESERVED, 1);
        assert_eq!(BlkioRequest::decode(&r), Err(Errno::Inval));
    }

    #[test]
    fn block_rules_follow_the_device() {
        let r = BlkioRequest::decode(&request(0, 3, 0x1200, 1024, 512)).unwrap();
        assert_eq!(r.check_blocks(512, 1 << 20), Ok(()));
        assert_eq!(r.check_blocks(4096, 1 << 20), Err(Errno::Inval));
        assert_eq!(r.check_blocks(512, 1024), Err(Errno::Inval));
        assert_eq!(r.check_blocks(512, 1536), Ok(()));
        assert_eq!(r.check_blocks(0, 1 << 20), Err(Errno::Inval));
    }

    #[test]
    fn reply_carries_the_counts() {
        let r = request(0, 3, 0, 4096, 0);
        let done = BlkioDone {
            p2p: 1,
            system: 2,
            bounce: 3,
            retries: 4,
        };
        let out = BlkioRequest::reply(&r, &done);
        assert_eq!(get_u64(&out, offset::BYTES_P2P), 1);
        assert_eq!(get_u64(&out, offset::BYTES_SYSTEM), 2);
        assert_eq!(get_u64(&out, offset::BYTES_BOUNCE), 3);
        assert_eq!(get_u64(&out, offset::RETRIES), 4);
        assert_eq!(get_u64(&out, offset::ADDR), 0);
    }
}
