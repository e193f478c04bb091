// SPDX-License-Identifier: GPL-2.0

//! `make_device_exclusive()`: take a page away from the CPU so a device may access it atomically.
//!
//! The CPU's page table entry is replaced by a device-exclusive entry; the next CPU access faults,
//! core mm restores the mapping and invalidates the range (event
//! [`crate::notifier::Event::Exclusive`] first, then a normal one), and the device must drop its
//! exclusive mapping.

use crate::ffi::{p2pmm_folio_unlock_put, p2pmm_make_device_exclusive};
use kernel::{
    bindings,
    ffi::c_void,
    mm::{MmWithUser, MmapReadGuard},
    prelude::*,
};

/// The mmap read lock of one address space, held while pages are made exclusive.
///
/// # Examples
///
/// A device takes a page for atomic access; the CPU's next access takes it back, and the
/// invalidation that comes with it removes the device's mapping.
///
/// ```
/// use crate::{
///     exclusive::ExclusiveSession,
///     kunit_mm::TestMapping,
///     mirror_table::{Access, MirrorTable, NodeReserve},
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// struct Device;
///
/// impl InvalidateHandler for Device {
///     type State = MirrorTable;
///
///     fn invalidate(&self, inv: &Invalidation<'_>, table: &mut MirrorTable) {
///         table.unmap_range(inv.start(), inv.end());
///     }
/// }
///
/// let map = TestMapping::anonymous(2 * PAGE_SIZE)?;
/// map.write(0, b"atomic")?;
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Device, MirrorTable::new()),
///     GFP_KERNEL,
/// )?;
/// let mut reserve = NodeReserve::new(1)?;
/// {
///     let session = ExclusiveSession::new(&mm);
///     let page = session.make_exclusive(map.addr(), 0)?;
///     assert_eq!(page.addr(), map.addr());
///     n.lock().map_exclusive(&page, &mut reserve)?;
/// } // The page is unlocked and the mmap lock released: the CPU may fault again.
/// assert_eq!(n.lock().access(map.addr()), Some(Access::Atomic));
/// assert!(n.lock().any_atomic(map.addr(), map.end()));
/// let mut buf = KVec::from_elem(0u8, PAGE_SIZE, GFP_KERNEL)?;
/// assert_eq!(n.lock().read(map.addr(), &mut buf), 1);
/// assert_eq!(&buf[..6], b"atomic");
///
/// // The CPU reads the page: core mm restores its mapping and invalidates the device's.
/// let mut cpu = [0u8; 6];
/// map.read(0, &mut cpu)?;
/// assert_eq!(&cpu, b"atomic");
/// assert!(!n.lock().any_atomic(map.addr(), map.end()));
/// assert_eq!(n.lock().access(map.addr()), None);
/// # Ok::<(), Error>(())
/// ```
pub struct ExclusiveSession<'a> {
    mm: &'a MmWithUser,
    _lock: MmapReadGuard<'a>,
}

impl<'a> ExclusiveSession<'a> {
    /// Takes the mmap read lock of `mm`.
    pub fn new(mm: &'a MmWithUser) -> Self {
        Self {
            mm,
            _lock: mm.mmap_read_lock(),
        }
    }

    /// Makes the page at `addr` exclusive to the device identified by `owner` (an address used as
    /// identity, 0 for none). The page stays locked and referenced until the returned value is
    /// dropped: map it into the device before that.
    pub fn make_exclusive(&self, addr: usize, owner: usize) -> Result<ExclusivePage<'_>> {
        let mut folio: *mut bindings::folio = core::ptr::null_mut();
        // SAFETY: The mmap read lock of `self.mm` is held (`_lock`), `folio` is a valid out
        // pointer.
        let page = unsafe {
            p2pmm_make_device_exclusive(
                self.mm.as_raw().cast(),
                addr,
                owner as *mut c_void,
                (&raw mut folio).cast(),
            )
        };
        let page = kernel::error::from_err_ptr(page)?.cast::<bindings::page>();
        // INVARIANT: on success core mm returns the page locked and referenced through `folio`.
        Ok(ExclusivePage {
            page,
            folio,
            addr,
            _session: core::marker::PhantomData,
        })
    }
}

/// A page made exclusive to a device, locked and referenced until dropped.
///
/// # Examples
///
/// Each page is one `ExclusivePage`, faulted in writable first if need be. Making it exclusive
/// invalidates it for every mirror ([`Event::Exclusive`], naming the device), and once it is
/// dropped the CPU's next access gets the page back with its data.
///
/// [`Event::Exclusive`]: crate::notifier::Event::Exclusive
///
/// ```
/// use crate::{
///     exclusive::ExclusiveSession,
///     kunit_mm::TestMapping,
///     notifier::{Event, IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// // Counts the invalidations that make pages exclusive to a given device.
/// struct Exclusions(usize);
///
/// impl InvalidateHandler for Exclusions {
///     type State = usize;
///
///     fn invalidate(&self, inv: &Invalidation<'_>, seen: &mut usize) {
///         if inv.event() == Event::Exclusive && inv.owner() == self.0 {
///             *seen += 1;
///         }
///     }
/// }
///
/// static OWNER: u8 = 0;
/// let owner = core::ptr::from_ref(&OWNER) as usize;
/// let map = TestMapping::anonymous(2 * PAGE_SIZE)?;
/// map.write(PAGE_SIZE, b"x")?;
/// let ro = TestMapping::read_only(PAGE_SIZE)?;
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Exclusions(owner), 0),
///     GFP_KERNEL,
/// )?;
/// {
///     let session = ExclusiveSession::new(&mm);
///     // Page 0 was never touched: it is faulted in first.
///     let first = session.make_exclusive(map.addr(), owner)?;
///     let second = session.make_exclusive(map.addr() + PAGE_SIZE, owner)?;
///     assert_eq!((first.addr(), second.addr()), (map.addr(), map.addr() + PAGE_SIZE));
///     assert_eq!(*n.lock(), 2);
///     // Only writable memory can be made exclusive.
///     assert_eq!(session.make_exclusive(ro.addr(), owner).err(), Some(EFAULT));
/// } // Both pages are unlocked, and the mmap lock released.
/// let mut cpu = [0u8; 1];
/// map.read(PAGE_SIZE, &mut cpu)?;
/// assert_eq!(&cpu, b"x");
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `folio` is locked and holds a reference taken by `make_device_exclusive`; `page` belongs to it.
pub struct ExclusivePage<'s> {
    page: *mut bindings::page,
    folio: *mut bindings::folio,
    addr: usize,
    _session: core::marker::PhantomData<&'s ()>,
}

impl ExclusivePage<'_> {
    /// The user address of the page.
    pub fn addr(&self) -> usize {
        self.addr
    }

    pub(crate) fn raw_page(&self) -> *mut bindings::page {
        self.page
    }
}

impl Drop for ExclusivePage<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the folio is locked and referenced by us.
        unsafe { p2pmm_folio_unlock_put(self.folio.cast()) };
    }
}
