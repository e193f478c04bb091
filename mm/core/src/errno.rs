// SPDX-License-Identifier: GPL-2.0

//! The error numbers the portable core can return.
//!
//! The core never touches kernel types, so it names errors with this small enum; the module maps
//! each variant to `kernel::error::Error` and the host tests compare against the raw Linux values.

/// An error a p2pmm decision can end in, as the Linux errno userspace will see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Errno {
    /// `EFAULT`: a user pointer could not be read or written.
    Fault,
    /// `EINVAL`: a malformed argument (unknown flags, reserved field set, struct too small).
    Inval,
    /// `E2BIG`: an extensible struct carries non-zero fields this kernel does not know, or is
    /// absurdly large.
    TooBig,
    /// `ENOTTY`: an ioctl number this device does not implement.
    NoTty,
    /// `ENODEV`: no such provider or device.
    NoDev,
    /// `ENOMEM`: out of memory, or an address range that is not mapped (as madvise(2) reports it).
    NoMem,
    /// `EBUSY`: nothing can be moved right now (every candidate is pinned or too young to evict).
    Busy,
    /// `EOPNOTSUPP`: a request the uAPI names but p2pmm does not carry out (e.g. read-mostly
    /// advice).
    OpNotSupp,
    /// `EBADF`: a file descriptor that is not open, or not open for what the request does.
    BadF,
    /// `ENOSPC`: a per-provider table is full (e.g. too many distinct sets of accessing devices).
    NoSpc,
}

impl Errno {
    /// The positive Linux errno value (as in `include/uapi/asm-generic/errno-base.h`).
    pub const fn to_raw(self) -> i32 {
        match self {
            Errno::Fault => 14,
            Errno::Inval => 22,
            Errno::TooBig => 7,
            Errno::NoTty => 25,
            Errno::NoDev => 19,
            Errno::NoMem => 12,
            Errno::Busy => 16,
            Errno::OpNotSupp => 95,
            Errno::BadF => 9,
            Errno::NoSpc => 28,
        }
    }
}
