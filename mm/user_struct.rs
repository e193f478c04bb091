// SPDX-License-Identifier: GPL-2.0

//! Copying extensible ioctl structs between userspace and the kernel.
//!
//! The rules (what is too small, what tail must be zero) are decided by the portable core in
//! `mm/core/src/extensible.rs`; this file only moves the bytes, through `kernel::uaccess`.

use crate::extensible::{check_tail, get_u32, CopyPlan};
use kernel::{
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

/// Chunk size used to scan the zero tail that a newer userspace may pass.
const TAIL_CHUNK: usize = 64;

/// An extensible struct read from userspace, zero-extended to the `N` bytes this kernel knows.
pub struct UserStruct<const N: usize> {
    /// The struct image; bytes userspace did not pass read as zero.
    pub bytes: [u8; N],
    ptr: UserPtr,
    copy_len: usize,
}

impl<const N: usize> UserStruct<N> {
    /// Reads the struct at `ptr` whose first published version was `ver0` bytes.
    ///
    /// Fails with `EFAULT` for an unreadable pointer, `EINVAL` when `size` is below `ver0`, `E2BIG`
    /// when userspace passed non-zero bytes beyond the `N` this kernel understands.
    pub fn read(ptr: UserPtr, ver0: usize) -> Result<Self> {
        let mut size = [0u8; 4];
        UserSlice::new(ptr, size.len())
            .reader()
            .read_slice(&mut size)?;
        let plan = CopyPlan::new(get_u32(&size, 0), ver0, N)?;

        let mut reader = UserSlice::new(ptr, plan.copy_len + plan.tail_len).reader();
        let mut bytes = [0u8; N];
        reader.read_slice(&mut bytes[..plan.copy_len])?;
        let mut chunk = [0u8; TAIL_CHUNK];
        let mut left = plan.tail_len;
        while left > 0 {
            let n = left.min(TAIL_CHUNK);
            reader.read_slice(&mut chunk[..n])?;
            check_tail(&chunk[..n])?;
            left -= n;
        }
        Ok(Self {
            bytes,
            ptr,
            copy_len: plan.copy_len,
        })
    }

    /// Writes `reply` back to where the struct came from, never more bytes than userspace passed.
    pub fn write_back(self, reply: &[u8; N]) -> Result {
        UserSlice::new(self.ptr, self.copy_len)
            .writer()
            .write_slice(&reply[..self.copy_len])
    }
}
