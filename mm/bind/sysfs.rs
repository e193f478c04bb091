// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/p2pmm/`: one directory per provider (`providers/<id>/`) with one value per
//! attribute, and the `routes` table. The C glue (`sysfs_glue.c`) owns the kobjects; the values
//! come from a [`SysfsSource`], asked on every read. A static provider's directory also has
//! `allocate`, a file whose `mmap()` the source serves, and is linked from `by-device/<pci name>`.
//! Documented in `Documentation/ABI/testing/sysfs-kernel-p2pmm`.

use crate::ffi::{
    p2pmm_sysfs_add_provider, p2pmm_sysfs_exit, p2pmm_sysfs_init, p2pmm_sysfs_remove_provider,
};
use core::{fmt, ptr::NonNull};
use kernel::{
    error::to_result,
    ffi::{c_char, c_int, c_void},
    mm::virt::VmaNew,
    prelude::*,
    str::CStr,
};

/// A provider attribute (`enum p2pmm_sysfs_attr` in sysfs_glue.h, same order).
///
/// # Examples
///
/// Each attribute is one file of `providers/<id>/`, and a read of it asks the [`SysfsSource`] for
/// that attribute: one value and a newline. (The source is called directly here, as sysfs would
/// call it.)
///
/// ```
/// use crate::bind_sysfs::{Attr, PageWriter, SysfsSource};
/// use core::fmt::Write;
///
/// // One provider, id 3: 8 MiB of managed memory, 1 MiB of it used, nothing moved yet.
/// struct Three;
///
/// impl SysfsSource for Three {
///     fn provider_attr(id: u32, attr: Attr, out: &mut PageWriter<'_>) -> Result {
///         if id != 3 {
///             return Err(ENODEV);
///         }
///         let written = match attr {
///             Attr::Kind => writeln!(out, "managed"),
///             Attr::Device => writeln!(out, "0000:04:00.0"),
///             Attr::Capacity => writeln!(out, "{}", 8 << 20),
///             Attr::Used => writeln!(out, "{}", 1 << 20),
///             Attr::CopyEngine => writeln!(out, "none"),
///             // Every counter.
///             _ => writeln!(out, "0"),
///         };
///         written.map_err(|_| EOVERFLOW)
///     }
///
///     fn routes(_out: &mut PageWriter<'_>) -> Result {
///         Ok(())
///     }
/// }
///
/// let mut page = [0u8; 64];
/// let mut read = |attr: Attr| -> Result<KVec<u8>> {
///     let mut w = PageWriter::new(&mut page);
///     Three::provider_attr(3, attr, &mut w)?;
///     let mut value = KVec::new();
///     value.extend_from_slice(w.written(), GFP_KERNEL)?;
///     Ok(value)
/// };
/// assert_eq!(&read(Attr::Kind)?[..], b"managed\n");
/// assert_eq!(&read(Attr::Used)?[..], b"1048576\n");
/// assert_eq!(&read(Attr::Evictions)?[..], b"0\n");
/// # Ok::<(), Error>(())
/// ```
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
    /// `copied_by_engine`: pages copied in from a peer provider by a copy engine.
    CopiedByEngine,
    /// `copied_by_cpu`: pages copied in from a peer provider by the CPU.
    CopiedByCpu,
    /// `copy_engine`: the device of the copy engine lent to the provider, or `none`.
    CopyEngine,
    /// `evictions_background`: pages background reclaim evicted (managed providers only).
    EvictionsBackground,
    /// `watermark_low`: bytes; fewer free starts background reclaim (managed providers only,
    /// writable).
    WatermarkLow,
    /// `watermark_high`: bytes; background reclaim frees this much (managed providers only,
    /// writable).
    WatermarkHigh,
    /// `thrash_moves`: moves of a range within the thrash window that make it thrash, 0 for off
    /// (managed providers only, writable).
    ThrashMoves,
    /// `thrash_trips`: ranges found thrashing (managed providers only).
    ThrashTrips,
    /// `thrash_held`: pages left where they were because their range thrashed (managed providers
    /// only).
    ThrashHeld,
    /// `evictions_skipped_pinned`: pinned pages eviction passed over (managed providers only).
    EvictionsSkippedPinned,
}

impl Attr {
    const ALL: [Attr; 18] = [
        Attr::Kind,
        Attr::Device,
        Attr::Capacity,
        Attr::Used,
        Attr::Evictions,
        Attr::MigratedIn,
        Attr::MigratedOut,
        Attr::Invalidations,
        Attr::CopiedByEngine,
        Attr::CopiedByCpu,
        Attr::CopyEngine,
        Attr::EvictionsBackground,
        Attr::WatermarkLow,
        Attr::WatermarkHigh,
        Attr::ThrashMoves,
        Attr::ThrashTrips,
        Attr::ThrashHeld,
        Attr::EvictionsSkippedPinned,
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
///
/// # Examples
///
/// A source is asked on every read, so what it answers is what the files say at that moment: here a
/// provider that goes away (`ENODEV` from then on, which the read returns), and a route table
/// (`routes`) that grows. Whatever does not fit the page fails. (The source is called directly
/// here, as sysfs would call it.)
///
/// ```
/// use crate::bind_sysfs::{Attr, PageWriter, SysfsSource};
/// use core::fmt::Write;
/// use kernel::sync::atomic::{ordering, Atomic};
///
/// // Providers 0 to `COUNT - 1`, each with a route to the next one.
/// static COUNT: Atomic<u32> = Atomic::new(0);
///
/// struct Counted;
///
/// impl SysfsSource for Counted {
///     fn provider_attr(id: u32, attr: Attr, out: &mut PageWriter<'_>) -> Result {
///         if id >= COUNT.load(ordering::Relaxed) {
///             return Err(ENODEV);
///         }
///         match attr {
///             Attr::Kind => writeln!(out, "static"),
///             _ => writeln!(out, "0"),
///         }
///         .map_err(|_| EOVERFLOW)
///     }
///
///     fn routes(out: &mut PageWriter<'_>) -> Result {
///         for id in 1..COUNT.load(ordering::Relaxed) {
///             writeln!(out, "{} {} bus-address", id - 1, id).map_err(|_| EOVERFLOW)?;
///         }
///         Ok(())
///     }
/// }
///
/// COUNT.store(2, ordering::Relaxed);
/// let mut page = [0u8; 32];
/// assert!(Counted::provider_attr(1, Attr::Kind, &mut PageWriter::new(&mut page)).is_ok());
/// let mut w = PageWriter::new(&mut page);
/// Counted::routes(&mut w)?;
/// assert_eq!(w.written(), b"0 1 bus-address\n");
///
/// // Provider 1 goes.
/// COUNT.store(1, ordering::Relaxed);
/// let gone = Counted::provider_attr(1, Attr::Kind, &mut PageWriter::new(&mut page));
/// assert_eq!(gone, Err(ENODEV));
/// // Three more come: their routes are more than this page holds.
/// COUNT.store(4, ordering::Relaxed);
/// assert_eq!(Counted::routes(&mut PageWriter::new(&mut page)), Err(EOVERFLOW));
/// # Ok::<(), Error>(())
/// ```
pub trait SysfsSource {
    /// Writes `attr` of provider `id` (`ENODEV` if it is gone).
    fn provider_attr(id: u32, attr: Attr, out: &mut PageWriter<'_>) -> Result;
    /// Sets `attr` of provider `id` to `value` (what was written to the file); only the
    /// watermarks and `thrash_moves` are writable.
    fn provider_store(_id: u32, _attr: Attr, _value: &[u8]) -> Result {
        Err(EACCES)
    }
    /// Writes the route table.
    fn routes(out: &mut PageWriter<'_>) -> Result;
    /// Maps all of `vma` (a new mapping of provider `id`'s `allocate` file) with new memory of that
    /// provider.
    fn map(_id: u32, _vma: &VmaNew) -> Result {
        Err(ENODEV)
    }
}

/// Runs `f` on the page at `buf` and returns what sysfs expects: the length written or a negative
/// errno.
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
///
/// # Examples
///
/// In a module's init, kept in its state so the files go at unload, after every provider directory
/// (compile-only: there is one `/sys/kernel/p2pmm`, which p2pmm.ko creates before its KUnit suites
/// run, and the glue keeps it in globals; a second root would fail and overwrite them).
///
/// ```no_run
/// use crate::bind_sysfs::{self, Attr, PageWriter, ProviderDir, SysfsRoot, SysfsSource};
///
/// // No provider yet: every read of one fails.
/// struct NoProviders;
///
/// impl SysfsSource for NoProviders {
///     fn provider_attr(_id: u32, _attr: Attr, _out: &mut PageWriter<'_>) -> Result {
///         Err(ENODEV)
///     }
///
///     fn routes(_out: &mut PageWriter<'_>) -> Result {
///         Ok(())
///     }
/// }
///
/// // Fields drop in order: the directories, then the root.
/// struct State {
///     _dirs: KVec<ProviderDir>,
///     _root: SysfsRoot,
/// }
///
/// let state = State {
///     _root: bind_sysfs::init::<NoProviders>()?,
///     _dirs: KVec::new(),
/// };
/// drop(state);
/// # Ok::<(), Error>(())
/// ```
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
    /// Called by the glue's `store()` only, with the `len` bytes written at `buf`.
    unsafe extern "C" fn provider_store<T: SysfsSource>(
        id: u32,
        attr: u32,
        buf: *const c_char,
        len: usize,
    ) -> isize {
        let Some(&attr) = Attr::ALL.get(attr as usize) else {
            return EINVAL.to_errno() as isize;
        };
        // SAFETY: `len` readable bytes at `buf` (our caller's guarantee).
        let value = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
        match T::provider_store(id, attr, value) {
            // sysfs writes are at most a page: `len` fits.
            Ok(()) => len as isize,
            Err(e) => e.to_errno() as isize,
        }
    }
    /// # Safety
    ///
    /// Called by the glue's `show()` only, with a sysfs buffer.
    unsafe extern "C" fn routes_show<T: SysfsSource>(buf: *mut c_char) -> isize {
        // SAFETY: `buf` is a sysfs buffer (our caller's guarantee).
        unsafe { show(buf, |w| T::routes(w)) }
    }
    /// # Safety
    ///
    /// Called by the glue's `mmap()` of an `allocate` file only, with the VMA being set up (mmap
    /// lock held).
    unsafe extern "C" fn provider_mmap<T: SysfsSource>(id: u32, vma: *mut c_void) -> c_int {
        // SAFETY: A VMA under construction, valid for the call (our caller's guarantee).
        let vma = unsafe { VmaNew::from_raw(vma.cast()) };
        match T::map(id, vma) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
    // SAFETY: The callbacks stay valid while the module is loaded; `SysfsRoot` removes everything
    // before.
    to_result(unsafe {
        p2pmm_sysfs_init(
            provider_show::<T>,
            provider_store::<T>,
            routes_show::<T>,
            provider_mmap::<T>,
        )
    })?;
    Ok(SysfsRoot(()))
}

impl Drop for SysfsRoot {
    fn drop(&mut self) {
        // SAFETY: Created by `init`; every provider directory is gone (they are dropped before the
        // root).
        unsafe { p2pmm_sysfs_exit() };
    }
}

/// `/sys/kernel/p2pmm/providers/<id>/`; removed when dropped (waiting for reads in progress).
///
/// # Examples
///
/// A provider's directory lives as long as its entry in the module's list (compile-only: it goes
/// into the live `/sys/kernel/p2pmm` of p2pmm.ko, whose reads the module's own source answers).
///
/// ```no_run
/// use crate::bind_sysfs;
///
/// let mut listed = KVec::new();
/// for id in [0, 1] {
///     listed.push((id, bind_sysfs::add_provider(id, None)?), GFP_KERNEL)?;
/// }
/// // Unlisting provider 1 removes `providers/1/`, once reads in progress are done.
/// listed.retain(|(id, _)| *id != 1);
/// assert_eq!(listed.len(), 1);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `0` is a directory made by `p2pmm_sysfs_add_provider`, not yet removed.
pub struct ProviderDir(NonNull<c_void>);

// SAFETY: The kobject may be removed from any thread.
unsafe impl Send for ProviderDir {}
// SAFETY: Shared references give no access to the kobject.
unsafe impl Sync for ProviderDir {}

/// Creates provider `id`'s directory (the root must exist). For a static provider, `static_on` is
/// its device's PCI name: the directory then has an `allocate` file and is linked from
/// `by-device/<name>`; a managed provider's (`static_on` `None`) has the background reclaim files.
pub fn add_provider(id: u32, static_on: Option<&CStr>) -> Result<ProviderDir> {
    let device = static_on.map_or(core::ptr::null(), |d| d.as_char_ptr());
    // SAFETY: `device` is null or a NUL-terminated string valid for the call (the glue copies it).
    let k = unsafe { p2pmm_sysfs_add_provider(id, device, static_on.is_none()) };
    // INVARIANT: a fresh kobject.
    Ok(ProviderDir(NonNull::new(k).ok_or(ENOMEM)?))
}

impl Drop for ProviderDir {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, not removed yet; removed once, here.
        unsafe { p2pmm_sysfs_remove_provider(self.0.as_ptr()) };
    }
}
