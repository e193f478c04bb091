// SPDX-License-Identifier: GPL-2.0

//! User memory for KUnit tests of the binding layer: an anonymous mapping in an address space of
//! the test's own.
//!
//! KUnit runs every test case in a kernel thread, which has no address space, while notifiers, HMM
//! and migration all work on one. `kunit_vm_mmap()` (`lib/kunit/user_alloc.c`) gives the test
//! thread a fresh `mm` the first time (`kthread_use_mm`) and maps memory into it; that `mm` is torn
//! down with the thread when the test case ends, so nothing outlives a test. [`TestMapping`] wraps
//! it for the `# Examples` doctests of `mm/bind/*.rs`, which `scripts/doctest_gen.py` turns into
//! KUnit suites. Compiled only with `CONFIG_KUNIT` (C glue in `mirror_glue.c`).
//!
//! Everything a test does through a mapping is ordinary user memory access of the current task
//! (user copies, page faults, munmap), so it exercises core mm exactly as a process would.

use crate::ffi::{p2pmm_kunit_mmap, p2pmm_kunit_munmap, p2pmm_kunit_skip};
use kernel::{
    error::to_result,
    ffi::{c_int, c_ulong},
    mm::MmWithUser,
    prelude::*,
    str::CStr,
    sync::aref::ARef,
    types::NotThreadSafe,
    uaccess::UserSlice,
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// An anonymous private mapping in the running KUnit test's address space (`current->mm`), unmapped
/// when dropped.
///
/// Only usable inside a KUnit test case: outside one, [`TestMapping::anonymous`] fails with
/// `EINVAL`.
///
/// # Invariants
///
/// `[addr, addr + len)` (page aligned, `len > 0`) was mapped by `kunit_vm_mmap()` into
/// `current->mm` of the KUnit test thread that created the value, and is still mapped there unless
/// `mapped` is false. The value never leaves that thread (`NotThreadSafe`), so `current->mm` is
/// always that address space when it is used.
///
/// # Examples
///
/// ```
/// use crate::kunit_mm::TestMapping;
/// use kernel::page::PAGE_SIZE;
///
/// let mut map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// assert_eq!(map.len(), 4 * PAGE_SIZE);
/// assert_eq!(map.addr() % PAGE_SIZE, 0);
///
/// // Written and read back through user copies, faulting the pages in as a process would.
/// map.write(PAGE_SIZE + 8, b"p2pmm")?;
/// let mut back = [0u8; 5];
/// map.read(PAGE_SIZE + 8, &mut back)?;
/// assert_eq!(&back, b"p2pmm");
///
/// // The test's address space holds the mapping as one VMA, until it is unmapped.
/// let mm = map.mm()?;
/// let (start, end) = {
///     let mmap = mm.mmap_read_lock();
///     let vma = mmap.vma_lookup(map.addr()).ok_or(ENOENT)?;
///     (vma.start(), vma.end())
/// };
/// assert_eq!((start, end), (map.addr(), map.end()));
/// map.unmap()?;
/// assert!(mm.mmap_read_lock().vma_lookup(map.addr()).is_none());
/// assert_eq!(map.read(0, &mut back), Err(EFAULT));
///
/// // Bounds are the mapping's, and a read-only mapping cannot be written.
/// let ro = TestMapping::read_only(PAGE_SIZE)?;
/// assert_eq!(ro.write(PAGE_SIZE, b"x"), Err(EINVAL));
/// assert_eq!(ro.write(0, b"x"), Err(EFAULT));
/// assert_eq!(TestMapping::anonymous(PAGE_SIZE + 1).err(), Some(EINVAL));
/// # Ok::<(), Error>(())
/// ```
pub struct TestMapping {
    addr: usize,
    len: usize,
    mapped: bool,
    _thread: NotThreadSafe,
}

impl TestMapping {
    fn map(len: usize, writable: bool) -> Result<Self> {
        if len == 0 || len % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let mut err: c_int = 0;
        // SAFETY: Plain call with a valid out pointer; the glue checks that a KUnit test is
        // running.
        let addr = unsafe { p2pmm_kunit_mmap(len as c_ulong, writable, &mut err) };
        to_result(err)?;
        // INVARIANT: mapped just now into the current (test) thread's address space.
        Ok(Self {
            addr: addr as usize,
            len,
            mapped: true,
            _thread: NotThreadSafe,
        })
    }

    /// Maps `len` bytes (a whole number of pages) of readable and writable anonymous memory.
    pub fn anonymous(len: usize) -> Result<Self> {
        Self::map(len, true)
    }

    /// Maps `len` bytes (a whole number of pages) of read-only anonymous memory (it reads as
    /// zeroes).
    pub fn read_only(len: usize) -> Result<Self> {
        Self::map(len, false)
    }

    /// The first address.
    pub fn addr(&self) -> usize {
        self.addr
    }

    /// The end (exclusive).
    pub fn end(&self) -> usize {
        self.addr + self.len
    }

    /// The length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never: a mapping has at least one page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The address space the mapping lives in (the test thread's), with a user reference (`mmget`).
    pub fn mm(&self) -> Result<ARef<MmWithUser>> {
        let task = kernel::current!();
        task.mm().map(ARef::from).ok_or(EINVAL)
    }

    fn user(&self, offset: usize, len: usize) -> Result<UserSlice> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => {
                Ok(UserSlice::new(UserPtr::from_addr(self.addr + offset), len))
            }
            _ => Err(EINVAL),
        }
    }

    /// Writes `data` at `offset` as the process would (`copy_to_user`, faulting pages in); `EFAULT`
    /// where the memory cannot be written, `EINVAL` past the mapping's end.
    pub fn write(&self, offset: usize, data: &[u8]) -> Result {
        self.user(offset, data.len())?.writer().write_slice(data)
    }

    /// Reads `buf.len()` bytes at `offset` as the process would (`copy_from_user`, faulting pages
    /// in, which brings device-private pages back to system memory); `EFAULT` where nothing is
    /// mapped.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> Result {
        self.user(offset, buf.len())?.reader().read_slice(buf)
    }

    /// Zaps the page table entries of `[offset, offset + len)` (as `madvise(MADV_DONTNEED)`): core
    /// mm sends an [`crate::notifier::Event::Clear`] invalidation, and the next access faults a
    /// fresh zero page in.
    pub fn zap(&self, offset: usize, len: usize) -> Result {
        self.user(offset, len)?;
        let mm = self.mm()?;
        let mmap = mm.mmap_read_lock();
        let vma = mmap.vma_lookup(self.addr + offset).ok_or(EFAULT)?;
        vma.zap_vma_range(self.addr + offset, len);
        Ok(())
    }

    /// Unmaps the whole mapping now (`munmap`), sending an [`crate::notifier::Event::Unmap`]
    /// invalidation; later calls do nothing. Accesses fail with `EFAULT` afterwards.
    pub fn unmap(&mut self) -> Result {
        if !self.mapped {
            return Ok(());
        }
        self.mapped = false;
        // SAFETY: By the type invariant the range is mapped in `current->mm`, the address space of
        // the thread that mapped it; unmapping user memory is what munmap(2) does and leaves no
        // kernel reference dangling.
        to_result(unsafe { p2pmm_kunit_munmap(self.addr as c_ulong, self.len as c_ulong) })
    }
}

impl Drop for TestMapping {
    fn drop(&mut self) {
        // Unmapped here rather than with the test's address space, so the invalidation reaches
        // notifiers that a test declared before the mapping while they still exist. Failing is
        // harmless: the thread's exit unmaps everything anyway.
        let _ = self.unmap();
    }
}

/// Marks the running KUnit test case skipped, with `reason` in its KTAP result line (`# SKIP
/// reason`); does nothing outside a test. The doctests generated from `no_run` examples report
/// themselves so.
pub fn skip(reason: &CStr) {
    // SAFETY: `reason` is a NUL-terminated string, valid for the call (KUnit copies it).
    unsafe { p2pmm_kunit_skip(reason.as_char_ptr()) };
}
