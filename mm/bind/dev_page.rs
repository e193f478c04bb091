// SPDX-License-Identifier: GPL-2.0

//! The device pages of simulated device-private memory (`devmem.rs`) on their way into a migration
//! (`migrate.rs`), and the PMD folio order both use. Both files use these; neither needs the other
//! for them.

use crate::ffi::p2pmm_devpage_backing;
use kernel::ffi::c_void;

/// Order of a PMD-sized folio (x86-64, 4 KiB pages; checked by a `static_assert` in mirror_glue.c).
pub const PMD_ORDER: u32 = 9;

/// A device page handed out by [`DevmemChunk::alloc`], not yet given to a migration.
///
/// [`DevmemChunk::alloc`]: crate::devmem::DevmemChunk::alloc
///
/// A `DevPage` must go to a migration: one that is dropped keeps its device page in use for good,
/// and dropping its chunk then waits for that page forever.
///
/// # Examples
///
/// The allocator of [`MigrateVma::to_device`] hands out `DevPage`s, which the migration takes over
/// at once; a page it gives none stays in system memory. Here there are device pages for two pages
/// of three.
///
/// [`MigrateVma::to_device`]: crate::migrate::MigrateVma::to_device
///
/// ```
/// use crate::{
///     devmem::{DevmemChunk, WholeFolios},
///     kunit_mm::TestMapping,
///     migrate::{for_each_vma_piece, MigrateVma, Select},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// static OWNER: u8 = 0;
/// let owner = core::ptr::from_ref(&OWNER) as usize;
/// let chunk = KBox::pin_init(DevmemChunk::new(owner, false, WholeFolios::new()?), GFP_KERNEL)?;
/// let map = TestMapping::anonymous(3 * PAGE_SIZE)?;
/// for i in 0..3u8 {
///     map.write(usize::from(i) * PAGE_SIZE, &[i + 1; 8])?;
/// }
/// let mm = map.mm()?;
/// let (mut budget, mut moved) = (2, 0);
/// for_each_vma_piece(&mm, map.addr(), map.end(), 3, |vma, a, b| {
///     let mut m = MigrateVma::setup(vma, a, b, owner, Select::System, false)?;
///     m.to_device(|order| {
///         if budget == 0 {
///             return Ok(None);
///         }
///         budget -= 1;
///         chunk.alloc(order)
///     })?;
///     m.pages();
///     moved = m.migrated();
///     m.finalize();
///     Ok(())
/// })?;
/// assert_eq!((moved, chunk.used()), (2, 2));
///
/// // Page 2 stayed in system memory: reading it brings nothing back from the device.
/// let mut data = [0u8; 8];
/// map.read(2 * PAGE_SIZE, &mut data)?;
/// assert_eq!(data, [3; 8]);
/// assert_eq!(chunk.used(), 2);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `page` is an initialised (refcount 1) device-private folio whose `zone_device_data` is its
/// backing folio of the same order.
pub struct DevPage {
    page: *mut c_void,
}

impl DevPage {
    /// Takes over an initialised device page.
    ///
    /// # Safety
    ///
    /// `page` is an initialised (refcount 1) device-private folio whose `zone_device_data` is its
    /// backing folio of the same order, and no one else refers to it.
    pub unsafe fn from_raw(page: *mut c_void) -> Self {
        // INVARIANT: the caller's promise.
        Self { page }
    }

    /// The system page that holds this device page's data.
    pub(crate) fn backing(&self) -> *mut c_void {
        // SAFETY: By the type invariant `page` is a live device page.
        unsafe { p2pmm_devpage_backing(self.page) }
    }

    /// Gives the page to a migration (which now owns its reference).
    pub(crate) fn into_raw(self) -> *mut c_void {
        self.page
    }
}
