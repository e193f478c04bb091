// SPDX-License-Identifier: GPL-2.0

//! Extensible ioctl structs: the `size`-versioned argument convention of `openat2(2)` and
//! `clone3(2)`.
//!
//! Userspace states in the first field how many bytes it passes. An older userspace passes fewer
//! bytes than the kernel knows (the missing fields read as zero); a newer one passes more, which is
//! fine only while every byte the kernel does not understand is zero. This file decides what to
//! copy; the module does the copying.

use crate::errno::Errno;

/// Largest struct size accepted, as `copy_struct_from_user()` callers cap it: one page.
pub const MAX_SIZE: usize = 4096;

/// How to read an extensible struct that userspace says is `user_size` bytes long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyPlan {
    /// Bytes to copy into (and later back out of) the kernel's struct: `min(user_size, known)`.
    pub copy_len: usize,
    /// Bytes after the kernel's struct that userspace passed and that must all be zero.
    pub tail_len: usize,
}

impl CopyPlan {
    /// Plans the copy of a struct whose first published version is `ver0` bytes and whose current
    /// version, as this kernel knows it, is `known` bytes.
    pub fn new(user_size: u32, ver0: usize, known: usize) -> Result<CopyPlan, Errno> {
        let user_size = user_size as usize;
        if user_size < ver0 {
            return Err(Errno::Inval);
        }
        if user_size > MAX_SIZE {
            return Err(Errno::TooBig);
        }
        let copy_len = user_size.min(known);
        Ok(CopyPlan {
            copy_len,
            tail_len: user_size - copy_len,
        })
    }
}

/// Checks a chunk of the tail beyond the kernel's struct: any non-zero byte is a field this kernel
/// cannot honour.
pub fn check_tail(chunk: &[u8]) -> Result<(), Errno> {
    if chunk.iter().all(|&b| b == 0) {
        Ok(())
    } else {
        Err(Errno::TooBig)
    }
}

/// Reads the native-endian `u32` at `offset` of a struct image.
pub fn get_u32(bytes: &[u8], offset: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&bytes[offset..offset + 4]);
    u32::from_ne_bytes(v)
}

/// Reads the native-endian `u64` at `offset` of a struct image.
pub fn get_u64(bytes: &[u8], offset: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&bytes[offset..offset + 8]);
    u64::from_ne_bytes(v)
}

/// Writes `value` native-endian at `offset` of a struct image.
pub fn put_u32(bytes: &mut [u8], offset: usize, value: u32) {
    bytes[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
}

/// Writes `value` native-endian at `offset` of a struct image.
pub fn put_u64(bytes: &mut [u8], offset: usize, value: u64) {
    bytes[offset..offset + 8].copy_from_slice(&value.to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_userspace_copies_what_it_has() {
        assert_eq!(
            CopyPlan::new(24, 24, 32),
            Ok(CopyPlan {
                copy_len: 24,
                tail_len: 0
            })
        );
    }

    #[test]
    fn newer_userspace_has_a_tail_to_check() {
        assert_eq!(
            CopyPlan::new(40, 24, 24),
            Ok(CopyPlan {
                copy_len: 24,
                tail_len: 16
            })
        );
    }

    #[test]
    fn too_small_is_einval_too_large_is_e2big() {
        assert_eq!(CopyPlan::new(0, 24, 24), Err(Errno::Inval));
        assert_eq!(CopyPlan::new(23, 24, 24), Err(Errno::Inval));
        assert_eq!(CopyPlan::new(4097, 24, 24), Err(Errno::TooBig));
        assert_eq!(CopyPlan::new(u32::MAX, 24, 24), Err(Errno::TooBig));
        assert!(CopyPlan::new(4096, 24, 24).is_ok());
    }

    #[test]
    fn tail_must_be_zero() {
        assert_eq!(check_tail(&[0; 64]), Ok(()));
        let mut tail = [0u8; 64];
        tail[63] = 1;
        assert_eq!(check_tail(&tail), Err(Errno::TooBig));
    }

    #[test]
    fn field_accessors_round_trip() {
        let mut b = [0u8; 16];
        put_u32(&mut b, 4, 0xdead_beef);
        put_u64(&mut b, 8, 0x0123_4567_89ab_cdef);
        assert_eq!(get_u32(&b, 4), 0xdead_beef);
        assert_eq!(get_u64(&b, 8), 0x0123_4567_89ab_cdef);
        assert_eq!(get_u32(&b, 0), 0);
    }
}
