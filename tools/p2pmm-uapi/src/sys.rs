// SPDX-License-Identifier: GPL-2.0

//! The only unsafe code of the crate: the `ioctl(2)`, `mmap(2)` and `munmap(2)` calls, each behind
//! a safe function whose arguments make the call sound.
#![allow(unsafe_code)]

use crate::raw;
use core::ptr::NonNull;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The uAPI structs without user pointers: plain old data that the kernel reads and writes through
/// an ioctl's argument pointer. Crate-private, so implemented for exactly these.
pub(crate) trait IoctlArg: Copy {}
impl IoctlArg for raw::Version {}
impl IoctlArg for raw::Route {}
impl IoctlArg for raw::Migrate {}
impl IoctlArg for raw::Advise {}
impl IoctlArg for raw::Dmabuf {}

/// The current thread's errno.
fn errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// `ioctl(fd, request, arg)` for an argument struct without user pointers in it; `Err(errno)` on
/// failure.
pub(crate) fn ioctl<T: IoctlArg>(fd: BorrowedFd<'_>, request: u32, arg: &mut T) -> Result<(), i32> {
    // SAFETY: `arg` is a valid, exclusively borrowed `#[repr(C)]` struct of plain integers
    // (`IoctlArg` is crate-private, implemented only for the uAPI structs without user pointers),
    // so the kernel may read and write any of its bytes; it writes at most `size` bytes, and every
    // caller sets `size` to `size_of::<T>()`. `fd` is an open descriptor for the duration of the
    // call.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::Ioctl::from(request),
            core::ptr::from_mut(arg),
        )
    };
    if rc < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// `P2PMM_IOC_DMABUF` of `arg`: the new dma-buf's descriptor, owned by the caller.
pub(crate) fn dmabuf(fd: BorrowedFd<'_>, arg: &mut raw::Dmabuf) -> Result<OwnedFd, i32> {
    ioctl(fd, raw::P2PMM_IOC_DMABUF, arg)?;
    // SAFETY: On success the kernel installed a new descriptor in this process's table for this
    // call and wrote its number into `arg.fd`; nothing else knows of it, so it is ours to own and
    // close.
    Ok(unsafe { OwnedFd::from_raw_fd(arg.fd) })
}

/// `P2PMM_IOC_PROVIDERS` into `entries`: returns (count, entry_size) as the kernel reports them.
pub(crate) fn providers(
    fd: BorrowedFd<'_>,
    entries: &mut [raw::ProviderInfo],
) -> Result<(u32, u32), i32> {
    let mut req = raw::Providers {
        size: raw::size_of_u32::<raw::Providers>(),
        count: u32::try_from(entries.len()).map_err(|_| libc::EINVAL)?,
        entry_size: raw::size_of_u32::<raw::ProviderInfo>(),
        entries: entries.as_mut_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `req` is a valid `struct p2pmm_providers`; its `entries` points to `count`
    // exclusively borrowed `struct p2pmm_provider_info`s of `entry_size` bytes each, which the
    // kernel writes at most; they are plain integers and bytes, valid for any value. `fd` is open
    // for the call.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::Ioctl::from(raw::P2PMM_IOC_PROVIDERS),
            &raw mut req,
        )
    };
    if rc < 0 {
        Err(errno())
    } else {
        Ok((req.count, req.entry_size))
    }
}

/// `P2PMM_IOC_QUERY` of `[addr, addr + length)` of process `pid` (0: the caller) into `locations`,
/// which must hold a `u32` for each page.
pub(crate) fn query(
    fd: BorrowedFd<'_>,
    pid: u32,
    addr: u64,
    length: u64,
    locations: &mut [u32],
) -> Result<(), i32> {
    let pages = length.div_ceil(page_size() as u64);
    if (locations.len() as u64) < pages {
        return Err(libc::EINVAL);
    }
    let mut req = raw::Query {
        size: raw::size_of_u32::<raw::Query>(),
        addr,
        length,
        locations: locations.as_mut_ptr() as u64,
        pid,
        ..Default::default()
    };
    // SAFETY: `req` is a valid `struct p2pmm_query`; `locations` points to at least one exclusively
    // borrowed `u32` per page of the range (checked above; the kernel's page size is the one
    // `sysconf` reports), which is all the kernel writes through it. The range itself (of this
    // process or of process `pid`) is only looked at by the kernel, never dereferenced here. `fd`
    // is open for the call.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::Ioctl::from(raw::P2PMM_IOC_QUERY),
            &raw mut req,
        )
    };
    if rc < 0 {
        Err(errno())
    } else {
        Ok(())
    }
}

/// The memory of a `P2PMM_IOC_BLKIO`, borrowed for as long as the call runs: the device writes
/// it (a read of the block device) or reads it (a write).
#[derive(Debug)]
pub(crate) enum BlkioBuf<'a> {
    /// Device to memory: the kernel writes these bytes.
    Read(&'a mut [u8]),
    /// Memory to device: the kernel only reads these bytes.
    Write(&'a [u8]),
}

/// `P2PMM_IOC_BLKIO` between the block device `file` at byte `offset` and `buf`: the request as
/// the kernel answered it (the `bytes_*` and `retries` fields filled in).
pub(crate) fn blkio(
    fd: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    buf: BlkioBuf<'_>,
    offset: u64,
) -> Result<raw::Blkio, i32> {
    let (flags, addr, len) = match &buf {
        BlkioBuf::Read(b) => (0, b.as_ptr() as u64, b.len()),
        BlkioBuf::Write(b) => (raw::P2PMM_BLKIO_WRITE, b.as_ptr() as u64, b.len()),
    };
    let mut req = raw::Blkio {
        size: raw::size_of_u32::<raw::Blkio>(),
        flags,
        fd: file.as_raw_fd(),
        addr,
        length: len as u64,
        offset,
        ..Default::default()
    };
    // SAFETY: `req` is a valid `struct p2pmm_blkio` of plain integers, of which the kernel reads
    // and writes at most `size` bytes. Its range `[addr, addr + length)` is exactly `buf`, borrowed
    // until the call returns: for a read (no `P2PMM_BLKIO_WRITE`) exclusively, so the device's DMA
    // and the kernel's copies into it race no other access, and any byte values are valid `u8`s,
    // as with read(2); for a write the kernel only reads it, as write(2) does, so a shared borrow
    // suffices. The kernel waits for the I/O to finish before it returns, so nothing touches the
    // range after the borrow ends. `fd` and `file` are open for the call.
    let rc = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::Ioctl::from(raw::P2PMM_IOC_BLKIO),
            &raw mut req,
        )
    };
    if rc < 0 {
        Err(errno())
    } else {
        Ok(req)
    }
}

/// The system's page size.
pub fn page_size() -> usize {
    // SAFETY: `sysconf` only reads a configuration value.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
}

/// A memory mapping owned by this process, unmapped on drop.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: a `Mapping` owns its pages exclusively, as a `Vec<u8>` owns its buffer; nothing in it is
// tied to a thread.
unsafe impl Send for Mapping {}

impl Mapping {
    /// `mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, offset)`.
    pub(crate) fn new(
        len: usize,
        flags: i32,
        fd: Option<BorrowedFd<'_>>,
        offset: u64,
    ) -> Result<Mapping, i32> {
        if len == 0 {
            return Err(libc::EINVAL);
        }
        let offset = libc::off_t::try_from(offset).map_err(|_| libc::EINVAL)?;
        let fd = fd.map_or(-1, |fd| fd.as_raw_fd());
        // SAFETY: a new mapping at an address the kernel picks (no MAP_FIXED) cannot overlap any
        // existing object.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                offset,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(errno());
        }
        NonNull::new(p.cast::<u8>())
            .map(|ptr| Mapping { ptr, len })
            .ok_or(libc::EFAULT)
    }

    /// The start address.
    pub fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it is empty (never: a mapping has at least one page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The mapped bytes.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes, owned by `self` until drop; shared borrow of
        // `self`.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The mapped bytes, writable.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` readable and writable bytes, owned by `self` until drop;
        // exclusive borrow.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` is a mapping this object created and nothing borrows it any more.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
