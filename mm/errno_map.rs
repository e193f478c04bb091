// SPDX-License-Identifier: GPL-2.0

//! Maps the portable core's [`Errno`] onto the kernel's [`Error`], so `?` works across the two.

use crate::errno::Errno;
use kernel::error::{code, Error};

impl From<Errno> for Error {
    fn from(e: Errno) -> Error {
        match e {
            Errno::Fault => code::EFAULT,
            Errno::Inval => code::EINVAL,
            Errno::TooBig => code::E2BIG,
            Errno::NoTty => code::ENOTTY,
            Errno::NoDev => code::ENODEV,
            Errno::NoMem => code::ENOMEM,
            Errno::Busy => code::EBUSY,
            Errno::OpNotSupp => code::EOPNOTSUPP,
            Errno::BadF => code::EBADF,
            Errno::NoSpc => code::ENOSPC,
        }
    }
}
