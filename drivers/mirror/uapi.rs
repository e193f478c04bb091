// SPDX-License-Identifier: GPL-2.0

//! The upstream test_hmm uAPI (`lib/test_hmm_uapi.h`), so the unmodified upstream `hmm-tests` can
//! drive this driver.

use kernel::{
    ioctl::_IOWR,
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

/// `struct hmm_dmirror_cmd`.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Cmd {
    /// in: first virtual address the device accesses (page aligned).
    pub(crate) addr: u64,
    /// in: user buffer with the data to write, or to receive data / snapshot bytes.
    pub(crate) ptr: u64,
    /// in: number of pages.
    pub(crate) npages: u64,
    /// out: pages copied, migrated or snapshotted.
    pub(crate) cpages: u64,
    /// out: device faults taken.
    pub(crate) faults: u64,
}

const CMD_SIZE: usize = 40;
const MAGIC: u32 = b'H' as u32;

pub(crate) const READ: u32 = _IOWR::<[u64; 5]>(MAGIC, 0x00);
pub(crate) const WRITE: u32 = _IOWR::<[u64; 5]>(MAGIC, 0x01);
pub(crate) const MIGRATE_TO_DEV: u32 = _IOWR::<[u64; 5]>(MAGIC, 0x02);
pub(crate) const MIGRATE_TO_SYS: u32 = _IOWR::<[u64; 5]>(MAGIC, 0x03);
pub(crate) const SNAPSHOT: u32 = _IOWR::<[u64; 5]>(MAGIC, 0x04);
pub(crate) const EXCLUSIVE: u32 = _IOWR::<[u64; 5]>(MAGIC, 0x05);
pub(crate) const CHECK_EXCLUSIVE: u32 = _IOWR::<[u64; 5]>(MAGIC, 0x06);
pub(crate) const RELEASE: u32 = _IOWR::<[u64; 5]>(MAGIC, 0x07);
pub(crate) const FLAGS: u32 = _IOWR::<[u64; 5]>(MAGIC, 0x08);
pub(crate) const READ_UNLOCKED: u32 = _IOWR::<[u64; 5]>(MAGIC, 0x09);

/// `HMM_DMIRROR_FLAG_FAIL_ALLOC`: fail the next large allocation.
pub(crate) const FLAG_FAIL_ALLOC: u64 = 1 << 0;

/// Snapshot byte values (`HMM_DMIRROR_PROT_*`).
pub(crate) mod prot {
    pub(crate) const ERROR: u8 = 0xff;
    pub(crate) const NONE: u8 = 0x00;
    pub(crate) const READ: u8 = 0x01;
    pub(crate) const WRITE: u8 = 0x02;
    pub(crate) const PMD: u8 = 0x04;
    pub(crate) const PUD: u8 = 0x08;
    pub(crate) const ZERO: u8 = 0x10;
    pub(crate) const DEV_PRIVATE_LOCAL: u8 = 0x20;
    pub(crate) const DEV_PRIVATE_REMOTE: u8 = 0x30;
}

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

impl Cmd {
    /// Reads the command at `arg`.
    pub(crate) fn read(arg: UserPtr) -> Result<Self> {
        let mut b = [0u8; CMD_SIZE];
        UserSlice::new(arg, CMD_SIZE).reader().read_slice(&mut b)?;
        let f = |i: usize| {
            let mut v = [0u8; 8];
            v.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_ne_bytes(v)
        };
        Ok(Self {
            addr: f(0),
            ptr: f(1),
            npages: f(2),
            cpages: f(3),
            faults: f(4),
        })
    }

    /// Writes the command back to `arg`.
    pub(crate) fn write(&self, arg: UserPtr) -> Result {
        let mut b = [0u8; CMD_SIZE];
        for (i, v) in [self.addr, self.ptr, self.npages, self.cpages, self.faults]
            .iter()
            .enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_ne_bytes());
        }
        UserSlice::new(arg, CMD_SIZE).writer().write_slice(&b)
    }

    /// The range `[addr, addr + npages pages)`, validated as upstream does: aligned, non-empty, not
    /// wrapping.
    pub(crate) fn range(&self) -> Result<(usize, usize)> {
        let start = usize::try_from(self.addr).map_err(|_| EINVAL)?;
        let npages = usize::try_from(self.npages).map_err(|_| EINVAL)?;
        if start % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let end = npages
            .checked_mul(PAGE_SIZE)
            .and_then(|len| start.checked_add(len))
            .ok_or(EINVAL)?;
        if end <= start {
            return Err(EINVAL);
        }
        Ok((start, end))
    }

    /// The user buffer of the command.
    pub(crate) fn buffer(&self, len: usize) -> UserSlice {
        UserSlice::new(UserPtr::from_addr(self.ptr as usize), len)
    }
}
