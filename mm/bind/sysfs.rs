// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/p2pmm/`: one directory per provider (`providers/<id>/`) with one value per attribute, and the
//! `routes` table. The C glue (`sysfs_glue.c`) owns the kobjects; the values come from a [`SysfsSource`], asked on
//! every read. Documented in `Documentation/ABI/testing/sysfs-kernel-p2pmm`.

use core::{fmt, ptr::NonNull};
use kernel::{
    error::to_result,
    ffi::{c_char, c_int, c_void},
    prelude::*,
};

extern "C" {
    fn p2pmm_sysfs_init(
        provider_show: unsafe extern "C" fn(u32, u32, *mut c_char) -> isize,
        routes_show: unsafe extern "C" fn(*mut c_char) -> isize,
    ) -> c_int;
    fn p2pmm_sysfs_exit();
    fn p2pmm_sysfs_add_provider(id: u32) -> *mut c_void;
    fn p2pmm_sysfs_remove_provider(k: *mut c_void);
}

/// A provider attribute (`enum p2pmm_sysfs_attr` in sysfs_glue.h, same order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    /// `kind`: static, adopted or managed.
    Kind,
    /// `device`: the PCI name.
    Device,
    /// `capacity`: bytes.
    Capacity,
    /// `used`: bytes.
    Used,
    /// `evictions`: pages.
    Evictions,
    /// `migrated_in`: pages.
    MigratedIn,
    /// `migrated_out`: pages.
    MigratedOut,
    /// `invalidations`: pages unmapped from their mappings and importers.
    Invalidations,
}

impl Attr {
    const ALL: [Attr; 8] = [
        Attr::Kind,
        Attr::Device,
        Attr::Capacity,
        Attr::Used,
        Attr::Evictions,
        Attr::MigratedIn,
        Attr::MigratedOut,
        Attr::Invalidations,
    ];
}

/// A sysfs `show()` buffer (one page); writes past its end fail.
///
/// # Examples
///
/// ```
/// use crate::bind_sysfs::PageWriter;
/// use core::fmt::Write;
///
/// let mut page = [0u8; 16];
/// let mut w = PageWriter::new(&mut page);
/// writeln!(w, "{}", 16 << 20).map_err(|_| EINVAL)?;
/// assert_eq!(w.written(), b"16777216\n");
/// // One byte stays free for the NUL that ends a sysfs string: 15 bytes fit, the 16th does not.
/// assert!(w.write_str("123456").is_ok());
/// assert!(w.write_str("7").is_err());
/// assert_eq!(w.written(), b"16777216\n123456");
/// # Ok::<(), Error>(())
/// ```
pub struct PageWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> PageWriter<'a> {
    /// An empty writer over `buf`: the `show()` page, or any buffer (a test's).
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    /// What was written so far.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for PageWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        // Keep one byte: sysfs buffers are NUL-terminated strings.
        if end >= self.buf.len() {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Where the values come from.
pub trait SysfsSource {
    /// Writes `attr` of provider `id` (`ENODEV` if it is gone).
    fn provider_attr(id: u32, attr: Attr, out: &mut PageWriter<'_>) -> Result;
    /// Writes the route table.
    fn routes(out: &mut PageWriter<'_>) -> Result;
}

/// Runs `f` on the page at `buf` and returns what sysfs expects: the length written or a negative errno.
///
/// # Safety
///
/// `buf` must be a sysfs `show()` buffer: `PAGE_SIZE` writable bytes.
unsafe fn show(buf: *mut c_char, f: impl FnOnce(&mut PageWriter<'_>) -> Result) -> isize {
    // SAFETY: Guaranteed by the caller.
    let buf = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), kernel::page::PAGE_SIZE) };
    let mut w = PageWriter::new(buf);
    match f(&mut w) {
        Ok(()) => w.len as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// `/sys/kernel/p2pmm/` itself; removed when dropped.
pub struct SysfsRoot(());

/// Creates `/sys/kernel/p2pmm/` with values from `T`.
pub fn init<T: SysfsSource>() -> Result<SysfsRoot> {
    /// # Safety
    ///
    /// Called by the glue's `show()` only, with a sysfs buffer.
    unsafe extern "C" fn provider_show<T: SysfsSource>(
        id: u32,
        attr: u32,
        buf: *mut c_char,
    ) -> isize {
        let Some(&attr) = Attr::ALL.get(attr as usize) else {
            return EINVAL.to_errno() as isize;
        };
        // SAFETY: `buf` is a sysfs buffer (our caller's guarantee).
        unsafe { show(buf, |w| T::provider_attr(id, attr, w)) }
    }
    /// # Safety
    ///
    /// Called by the glue's `show()` only, with a sysfs buffer.
    unsafe extern "C" fn routes_show<T: SysfsSource>(buf: *mut c_char) -> isize {
        // SAFETY: `buf` is a sysfs buffer (our caller's guarantee).
        unsafe { show(buf, |w| T::routes(w)) }
    }
    // SAFETY: The callbacks stay valid while the module is loaded; `SysfsRoot` removes everything before.
    to_result(unsafe { p2pmm_sysfs_init(provider_show::<T>, routes_show::<T>) })?;
    Ok(SysfsRoot(()))
}

impl Drop for SysfsRoot {
    fn drop(&mut self) {
        // SAFETY: Created by `init`; every provider directory is gone (they are dropped before the root).
        unsafe { p2pmm_sysfs_exit() };
    }
}

/// `/sys/kernel/p2pmm/providers/<id>/`; removed when dropped (waiting for reads in progress).
///
/// # Invariants
///
/// `0` is a kobject made by `p2pmm_sysfs_add_provider`, not yet removed.
pub struct ProviderDir(NonNull<c_void>);

// SAFETY: The kobject may be removed from any thread.
unsafe impl Send for ProviderDir {}
// SAFETY: Shared references give no access to the kobject.
unsafe impl Sync for ProviderDir {}

/// Creates provider `id`'s directory (the root must exist).
pub fn add_provider(id: u32) -> Result<ProviderDir> {
    // SAFETY: Plain call; the glue checks nothing else.
    let k = unsafe { p2pmm_sysfs_add_provider(id) };
    // INVARIANT: a fresh kobject.
    Ok(ProviderDir(NonNull::new(k).ok_or(ENOMEM)?))
}

impl Drop for ProviderDir {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, not removed yet; removed once, here.
        unsafe { p2pmm_sysfs_remove_provider(self.0.as_ptr()) };
    }
}
