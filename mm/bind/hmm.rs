// SPDX-License-Identifier: GPL-2.0

//! `hmm_range_fault()`: snapshot or fault a range of a mirrored address space into PFNs a device
//! can map.
//!
//! Wraps `struct hmm_range` (`include/linux/hmm.h`) for an [`IntervalNotifier`]. A fault gives a
//! [`Faulted`], whose PFNs can only be read once [`Faulted::commit`] has taken the notifier's lock
//! and checked that no invalidation ran meanwhile; see `notifier.rs` for the protocol.

use crate::ffi::{
    p2pmm_hmm_pfn_to_map_order, p2pmm_hmm_pfn_to_page, p2pmm_hmm_range_fault,
    p2pmm_hmm_range_fault_unlocked, p2pmm_page_is_device_private, p2pmm_page_is_zero,
    p2pmm_page_pgmap_owner, p2pmm_page_to_pfn, p2pmm_pmd_order, p2pmm_pud_order,
};
use crate::notifier::{IntervalNotifier, InvalidateHandler, ReadSeq, Retry};
use kernel::{
    bindings,
    error::to_result,
    ffi::{c_ulong, c_void},
    prelude::*,
    sync::MutexGuard,
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;
const BITS: u32 = usize::BITS;

kernel::impl_flags!(
    /// What a fault asks of every page in the range (`HMM_PFN_REQ_*`).
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Request(u64);

    /// One request flag.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RequestFlag {
        /// `HMM_PFN_REQ_FAULT`: make every page present (fault it in), else fail with `EFAULT`.
        Fault = 1 << 63,
        /// `HMM_PFN_REQ_WRITE`: make every page writable (break COW), else fail with `EPERM`.
        Write = 1 << 62,
    }
);

/// # Examples
///
/// ```
/// use crate::hmm::{Request, RequestFlag};
///
/// let write = RequestFlag::Fault | RequestFlag::Write;
/// assert!(write.contains_all(RequestFlag::Fault | RequestFlag::Write));
/// let read = Request::from(RequestFlag::Fault);
/// assert!(read.contains(RequestFlag::Fault));
/// assert!(!read.contains(RequestFlag::Write));
/// assert_eq!(Request::SNAPSHOT, Request::default());
/// assert!(!Request::SNAPSHOT.contains_any(write));
/// // The bits are hmm_range_fault()'s own, HMM_PFN_REQ_FAULT and HMM_PFN_REQ_WRITE.
/// assert_eq!(u64::from(write), 3 << 62);
/// ```
impl Request {
    /// No request: a snapshot of what is mapped, faulting nothing in.
    pub const SNAPSHOT: Request = Request(0);
}

/// One output entry of a fault (`unsigned long` of `hmm_pfns`).
///
/// # Examples
///
/// What anonymous memory looks like to a device ([`PageKind`]): nothing before it is touched, the
/// shared zero page after a read fault, a page of its own, writable, after a write fault.
///
/// ```
/// use crate::{
///     hmm::{fault_and_commit, HmmPfn, HmmRange, PageKind, Request, RequestFlag},
///     kunit_mm::TestMapping,
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// struct Mirror;
///
/// impl InvalidateHandler for Mirror {
///     type State = ();
///
///     fn invalidate(&self, _inv: &Invalidation<'_>, _state: &mut ()) {}
/// }
///
/// let map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Mirror, ()),
///     GFP_KERNEL,
/// )?;
/// let (start, end) = (map.addr(), map.end());
///
/// // `f` sees the committed PFNs of one fault of `[start, end)` with `request`, retried if it
/// // races.
/// let walk = |request, f: &mut dyn FnMut(usize, HmmPfn)| -> Result {
///     let mut range = HmmRange::new(&n, start, end, request, 0)?;
///     assert_eq!((range.start(), range.end()), (start, end));
///     fault_and_commit(&mut range, false, 16, |(), pfns| {
///         assert_eq!(pfns.len(), 4);
///         for (addr, pfn) in pfns.iter() {
///             f(addr, pfn);
///         }
///         Ok(())
///     })
/// };
///
/// walk(Request::SNAPSHOT, &mut |_, pfn| {
///     assert!(!pfn.is_valid());
///     assert_eq!(pfn.kind(0), PageKind::None);
///     assert_eq!(pfn.pfn(), None);
/// })?;
/// walk(RequestFlag::Fault.into(), &mut |_, pfn| {
///     assert!(pfn.is_valid() && !pfn.is_writable());
///     assert_eq!(pfn.kind(0), PageKind::Zero);
/// })?;
/// let mut next = start;
/// let mut pfns = [0usize; 4];
/// walk(RequestFlag::Fault | RequestFlag::Write, &mut |addr, pfn| {
///     assert_eq!(addr, next);
///     next += PAGE_SIZE;
///     assert!(pfn.is_valid() && pfn.is_writable() && !pfn.is_error());
///     assert_eq!(pfn.kind(0), PageKind::System);
///     assert_eq!(pfn.map_order(), 0);
///     pfns[(addr - start) / PAGE_SIZE] = pfn.pfn().unwrap_or(0);
/// })?;
/// // Four pages of their own: four different page frames.
/// assert!(pfns.iter().all(|&p| p != 0));
/// assert!((1..4).all(|i| !pfns[..i].contains(&pfns[i])));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HmmPfn(usize);

impl HmmPfn {
    const VALID: usize = 1 << (BITS - 1);
    const WRITE: usize = 1 << (BITS - 2);
    const ERROR: usize = 1 << (BITS - 3);

    /// A page is present (`HMM_PFN_VALID`).
    pub fn is_valid(self) -> bool {
        self.0 & Self::VALID != 0
    }

    /// The page may be written (`HMM_PFN_WRITE`).
    pub fn is_writable(self) -> bool {
        self.0 & Self::WRITE != 0
    }

    /// The address cannot be accessed at all (`HMM_PFN_ERROR`), e.g. `PROT_NONE` or no VMA.
    pub fn is_error(self) -> bool {
        self.0 & Self::ERROR != 0
    }

    /// The order of the CPU mapping this page is part of: 0 for a PTE, 9 for a PMD on x86-64.
    pub fn map_order(self) -> u32 {
        // SAFETY: Pure bit manipulation on a value `hmm_range_fault` produced.
        unsafe { p2pmm_hmm_pfn_to_map_order(self.0 as c_ulong) }
    }

    /// Makes the PFN of a page inside a large mapping match its address.
    ///
    /// Linux 7.3's `hmm_vma_handle_absent_pmd()` reports every page of a PMD-mapped
    /// *device-private* folio from the folio's first PFN on, without the offset of the range's
    /// start inside the PMD (present PMDs get it right), so a range that starts mid-PMD reads the
    /// wrong pages. A large mapping is naturally aligned in both address and PFN, so the low bits
    /// of the PFN must equal those of the virtual page number.
    fn within_large_mapping(self, addr: usize) -> Self {
        if !self.is_valid() {
            return self;
        }
        let order = self.map_order();
        if order == 0 {
            return self;
        }
        let mask = (1usize << order) - 1;
        HmmPfn((self.0 & !mask) | ((addr / PAGE_SIZE) & mask))
    }

    /// The page frame number of a valid entry (a plain number: only meaningful while the fault's
    /// lock is held).
    pub fn pfn(self) -> Option<usize> {
        let page = self.raw_page()?;
        // SAFETY: `page` comes from a valid entry, so it is a `struct page` with a PFN.
        Some(unsafe { p2pmm_page_to_pfn(page.cast()) } as usize)
    }

    /// The raw `struct page` of a valid entry; only meaningful while the fault's lock is held.
    pub(crate) fn raw_page(self) -> Option<*mut bindings::page> {
        if !self.is_valid() {
            return None;
        }
        // SAFETY: The entry is valid, so it encodes a PFN with a `struct page`.
        Some(unsafe { p2pmm_hmm_pfn_to_page(self.0 as c_ulong) }.cast())
    }
}

/// A range of a mirrored address space to fault, with room for its PFNs.
///
/// # Invariants
///
/// `start < end`, both page aligned, and `pfns.len() == (end - start) / PAGE_SIZE`.
///
/// # Examples
///
/// A fault is published only once it is known to be current ([`Faulted::commit`]), and fails for
/// what the process itself could not do.
///
/// ```
/// use crate::{
///     hmm::{HmmRange, PageKind, Request, RequestFlag},
///     kunit_mm::TestMapping,
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// struct Mirror;
///
/// impl InvalidateHandler for Mirror {
///     type State = ();
///
///     fn invalidate(&self, _inv: &Invalidation<'_>, _state: &mut ()) {}
/// }
///
/// let mut ro = TestMapping::read_only(2 * PAGE_SIZE)?;
/// let mm = ro.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, ro.addr(), ro.len(), Mirror, ()),
///     GFP_KERNEL,
/// )?;
/// // Ranges are whole pages.
/// let (start, end) = (ro.addr(), ro.end());
/// assert_eq!(HmmRange::new(&n, start, start, Request::SNAPSHOT, 0).err(), Some(EINVAL));
/// assert_eq!(HmmRange::new(&n, start + 1, end, Request::SNAPSHOT, 0).err(), Some(EINVAL));
///
/// // Read-only memory cannot be faulted for writing.
/// let write = RequestFlag::Fault | RequestFlag::Write;
/// let mut range = HmmRange::new(&n, start, end, write, 0)?;
/// assert_eq!(range.fault().err(), Some(EPERM));
///
/// // Reading is allowed: fault, then publish only once the fault is known to be current.
/// let mut range = HmmRange::new(&n, start, end, RequestFlag::Fault.into(), 0)?;
/// let mut zero_pages = None;
/// for _ in 0..16 {
///     let faulted = match range.fault() {
///         Err(e) if e == EBUSY => continue,
///         r => r?,
///     };
///     let Ok(mut committed) = faulted.commit() else {
///         continue; // `Retry`: an invalidation ran since the fault
///     };
///     let (_state, pfns) = committed.parts();
///     zero_pages = Some(pfns.iter().filter(|(_, p)| p.kind(0) == PageKind::Zero).count());
///     break;
/// }
/// assert_eq!(zero_pages, Some(2));
///
/// // Once unmapped there is nothing to fault.
/// ro.unmap()?;
/// assert_eq!(range.fault().err(), Some(EFAULT));
/// # Ok::<(), Error>(())
/// ```
pub struct HmmRange<'n, T: InvalidateHandler> {
    notifier: &'n IntervalNotifier<T>,
    start: usize,
    end: usize,
    pfns: KVec<usize>,
    request: Request,
    owner: usize,
}

impl<'n, T: InvalidateHandler> HmmRange<'n, T> {
    /// A range `[start, end)` mirrored by `notifier`. `owner` is the `pgmap_owner` of this device's
    /// private memory (pages owned by it are reported, not faulted back to RAM); 0 for none.
    ///
    /// Fails with `EINVAL` for an unaligned or empty range.
    pub fn new(
        notifier: &'n IntervalNotifier<T>,
        start: usize,
        end: usize,
        request: Request,
        owner: usize,
    ) -> Result<Self> {
        if start >= end || start % PAGE_SIZE != 0 || end % PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let npages = (end - start) / PAGE_SIZE;
        let mut pfns = KVec::with_capacity(npages, GFP_KERNEL)?;
        pfns.resize(npages, 0, GFP_KERNEL)?;
        Ok(Self {
            notifier,
            start,
            end,
            pfns,
            request,
            owner,
        })
    }

    /// First address.
    pub fn start(&self) -> usize {
        self.start
    }

    /// End (exclusive).
    pub fn end(&self) -> usize {
        self.end
    }

    fn prepare(&mut self) {
        // hmm_range_fault reads the request from each entry (default_flags | entry & mask, mask =
        // 0): reset the outputs of an earlier attempt.
        self.pfns.iter_mut().for_each(|p| *p = 0);
    }

    /// Faults the range with the mmap read lock taken here (`hmm_range_fault`).
    ///
    /// `EBUSY` means an invalidation raced with the walk: fault again. `EFAULT` for an address
    /// without a usable VMA (or a dead address space), `EPERM` for a write to read-only memory.
    pub fn fault(&mut self) -> Result<Faulted<'_, 'n, T>> {
        self.prepare();
        let mm = self.notifier.mm().ok_or(EFAULT)?;
        let seq = self.notifier.read_begin();
        {
            let _mmap = mm.mmap_read_lock();
            // SAFETY: The notifier is inserted, the mmap lock of its mm is held, `pfns` has one
            // entry per page of `[start, end)` (type invariant).
            to_result(unsafe {
                p2pmm_hmm_range_fault(
                    self.notifier.as_raw().cast(),
                    seq.0,
                    self.start as c_ulong,
                    self.end as c_ulong,
                    self.pfns.as_mut_ptr().cast(),
                    u64::from(self.request) as c_ulong,
                    self.owner as *mut c_void,
                )
            })?;
        }
        Ok(Faulted { range: self, seq })
    }

    /// Faults the range without holding the mmap lock across the call
    /// (`hmm_range_fault_unlocked_timeout`), which lets fault handlers such as userfaultfd drop it.
    /// `timeout_ms` bounds core mm's own retries (0: none); `EBUSY` when it expires, `EINTR` on a
    /// fatal signal.
    pub fn fault_unlocked(&mut self, timeout_ms: u32) -> Result<Faulted<'_, 'n, T>> {
        self.prepare();
        let _mm = self.notifier.mm().ok_or(EFAULT)?;
        let mut seq: c_ulong = 0;
        // SAFETY: The notifier is inserted, the address space has users (`_mm`), the mmap lock is
        // not held, `pfns` has one entry per page (type invariant).
        to_result(unsafe {
            p2pmm_hmm_range_fault_unlocked(
                self.notifier.as_raw().cast(),
                &mut seq,
                self.start as c_ulong,
                self.end as c_ulong,
                self.pfns.as_mut_ptr().cast(),
                u64::from(self.request) as c_ulong,
                self.owner as *mut c_void,
                timeout_ms as c_ulong,
            )
        })?;
        Ok(Faulted {
            range: self,
            seq: ReadSeq(seq),
        })
    }
}

/// A fault that succeeded but may already be stale.
///
/// # Examples
///
/// An invalidation between the fault and its commit makes the result stale: [`Faulted::commit`]
/// refuses it with [`Retry`], and the next fault commits.
///
/// ```
/// use crate::{
///     hmm::{HmmRange, RequestFlag},
///     kunit_mm::TestMapping,
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation, Retry},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// # struct Mirror;
/// #
/// # impl InvalidateHandler for Mirror {
/// #     type State = ();
/// #
/// #     fn invalidate(&self, _inv: &Invalidation<'_>, _state: &mut ()) {}
/// # }
/// #
/// let map = TestMapping::anonymous(2 * PAGE_SIZE)?;
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Mirror, ()),
///     GFP_KERNEL,
/// )?;
/// let mut range = HmmRange::new(&n, map.addr(), map.end(), RequestFlag::Fault.into(), 0)?;
/// let faulted = range.fault()?;
/// // The CPU page tables change before the device could use the result.
/// map.zap(0, PAGE_SIZE)?;
/// assert!(matches!(faulted.commit(), Err(Retry)));
/// // Faulted again with nothing in between, the result commits.
/// assert!(range.fault()?.commit().is_ok());
/// # Ok::<(), Error>(())
/// ```
pub struct Faulted<'r, 'n, T: InvalidateHandler> {
    range: &'r HmmRange<'n, T>,
    seq: ReadSeq,
}

impl<'r, 'n, T: InvalidateHandler> Faulted<'r, 'n, T> {
    /// The notifier's sequence the fault began at: what a committed result stays valid for.
    pub fn seq(&self) -> ReadSeq {
        self.seq
    }

    /// Takes the notifier's lock and checks the fault is still current. On [`Retry`] fault again.
    pub fn commit(self) -> Result<Committed<'r, 'n, T>, Retry> {
        let guard = self.range.notifier.lock_checked(self.seq)?;
        Ok(Committed {
            guard,
            pfns: FaultedPfns {
                start: self.range.start,
                pfns: &self.range.pfns,
            },
        })
    }
}

/// A fault proven current: the notifier's lock is held, so its PFNs may be published to the device.
///
/// # Examples
///
/// The state and the PFNs come together under the lock: what a device records from a committed
/// fault is in its state before any invalidation can run, and the next invalidation finds it there
/// to tear it down.
///
/// ```
/// use crate::{
///     hmm::{HmmRange, RequestFlag},
///     kunit_mm::TestMapping,
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// // The state: how many pages the device maps. An invalidation unmaps them all.
/// struct Device;
///
/// impl InvalidateHandler for Device {
///     type State = usize;
///
///     fn invalidate(&self, _inv: &Invalidation<'_>, mapped: &mut usize) {
///         *mapped = 0;
///     }
/// }
///
/// let map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Device, 0),
///     GFP_KERNEL,
/// )?;
/// let mut range = HmmRange::new(&n, map.addr(), map.end(), RequestFlag::Fault.into(), 0)?;
/// for _ in 0..16 {
///     let Ok(mut committed) = range.fault()?.commit() else {
///         continue; // `Retry`: fault again.
///     };
///     let (mapped, pfns) = committed.parts();
///     *mapped += pfns.len();
///     break;
/// } // The lock goes with `committed`.
/// assert_eq!(*n.lock(), 4);
/// map.zap(0, PAGE_SIZE)?;
/// assert_eq!(*n.lock(), 0);
/// # Ok::<(), Error>(())
/// ```
pub struct Committed<'r, 'n, T: InvalidateHandler> {
    guard: MutexGuard<'n, T::State>,
    pfns: FaultedPfns<'r>,
}

impl<'r, 'n, T: InvalidateHandler> Committed<'r, 'n, T> {
    /// The protected state and the PFNs, together (e.g. to map the PFNs into the device page
    /// table).
    pub fn parts(&mut self) -> (&mut T::State, &FaultedPfns<'r>) {
        (&mut self.guard, &self.pfns)
    }
}

/// The PFNs of a committed fault. Only [`Committed`] hands these out, so whatever consumes them
/// (e.g. [`crate::mirror_table::MirrorTable::map`]) runs under the lock with a current fault.
///
/// # Examples
///
/// One entry per page of the range, from its first address: here a snapshot of the middle two pages
/// of four, of which only the first was ever written.
///
/// ```
/// use crate::{
///     hmm::{fault_and_commit, HmmRange, Request},
///     kunit_mm::TestMapping,
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// # struct Mirror;
/// #
/// # impl InvalidateHandler for Mirror {
/// #     type State = ();
/// #
/// #     fn invalidate(&self, _inv: &Invalidation<'_>, _state: &mut ()) {}
/// # }
/// #
/// let map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// map.write(PAGE_SIZE, b"written")?;
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Mirror, ()),
///     GFP_KERNEL,
/// )?;
/// let start = map.addr() + PAGE_SIZE;
/// let mut range = HmmRange::new(&n, start, start + 2 * PAGE_SIZE, Request::SNAPSHOT, 0)?;
/// fault_and_commit(&mut range, false, 16, |(), pfns| {
///     assert_eq!(pfns.len(), 2);
///     assert!(!pfns.is_empty());
///     let mut pages = pfns.iter();
///     assert!(pages.next().is_some_and(|(a, p)| a == start && p.is_valid()));
///     assert!(pages.next().is_some_and(|(a, p)| a == start + PAGE_SIZE && !p.is_valid()));
///     assert!(pages.next().is_none());
///     Ok(())
/// })?;
/// # Ok::<(), Error>(())
/// ```
pub struct FaultedPfns<'r> {
    start: usize,
    pfns: &'r [usize],
}

impl FaultedPfns<'_> {
    /// `(address, entry)` for every page of the range.
    pub fn iter(&self) -> impl Iterator<Item = (usize, HmmPfn)> + '_ {
        let start = self.start;
        self.pfns.iter().enumerate().map(move |(i, &p)| {
            let addr = start + i * PAGE_SIZE;
            (addr, HmmPfn(p).within_large_mapping(addr))
        })
    }

    /// Number of pages.
    pub fn len(&self) -> usize {
        self.pfns.len()
    }

    /// Whether the range is empty (never, by construction).
    pub fn is_empty(&self) -> bool {
        self.pfns.is_empty()
    }
}

/// What kind of page a fault or snapshot entry refers to.
///
/// # Examples
///
/// A device page is [`PageKind::DevicePrivateLocal`] to its owner and
/// [`PageKind::DevicePrivateRemote`] to anyone else; a snapshot for another device does not report
/// it ([`PageKind::None`]), and a fault for another device brings it back to [`PageKind::System`]
/// memory. ([`HmmPfn`] shows [`PageKind::Zero`].)
///
/// ```
/// use crate::{
///     devmem::{DevmemChunk, WholeFolios},
///     hmm::{fault_and_commit, HmmRange, PageKind, Request, RequestFlag},
///     kunit_mm::TestMapping,
///     migrate::{for_each_vma_piece, MigrateVma, Select},
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// # struct Mirror;
/// #
/// # impl InvalidateHandler for Mirror {
/// #     type State = ();
/// #
/// #     fn invalidate(&self, _inv: &Invalidation<'_>, _state: &mut ()) {}
/// # }
/// #
/// static OWNER: u8 = 0;
/// let owner = core::ptr::from_ref(&OWNER) as usize;
/// let chunk = KBox::pin_init(DevmemChunk::new(owner, false, WholeFolios::new()?), GFP_KERNEL)?;
/// let map = TestMapping::anonymous(PAGE_SIZE)?;
/// map.write(0, b"moved")?;
/// let mm = map.mm()?;
/// // The page moves to the memory of device `owner` (as in `MigrateVma`'s example).
/// for_each_vma_piece(&mm, map.addr(), map.end(), 1, |vma, a, b| {
///     let mut m = MigrateVma::setup(vma, a, b, owner, Select::System, false)?;
///     m.to_device(|order| chunk.alloc(order))?;
///     m.pages();
///     m.finalize();
///     Ok(())
/// })?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Mirror, ()),
///     GFP_KERNEL,
/// )?;
/// // The kind of the page in a fault by device `by` with `request`, classified for device `asked`.
/// let kind = |request: Request, by: usize, asked: usize| -> Result<PageKind> {
///     let mut range = HmmRange::new(&n, map.addr(), map.end(), request, by)?;
///     fault_and_commit(&mut range, false, 16, |(), pfns| {
///         pfns.iter().next().map(|(_, p)| p.kind(asked)).ok_or(EINVAL)
///     })
/// };
/// assert_eq!(kind(Request::SNAPSHOT, owner, owner)?, PageKind::DevicePrivateLocal);
/// assert_eq!(kind(Request::SNAPSHOT, owner, 0)?, PageKind::DevicePrivateRemote);
/// assert_eq!(kind(Request::SNAPSHOT, 0, 0)?, PageKind::None);
/// assert_eq!(chunk.used(), 1);
/// assert_eq!(kind(RequestFlag::Fault.into(), 0, 0)?, PageKind::System);
/// assert_eq!(chunk.used(), 0);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// No access possible (`HMM_PFN_ERROR`).
    Error,
    /// Nothing mapped (a snapshot hole).
    None,
    /// The shared zero page.
    Zero,
    /// Device-private memory of the device whose owner was asked about.
    DevicePrivateLocal,
    /// Device-private memory of another device.
    DevicePrivateRemote,
    /// Ordinary system memory.
    System,
}

impl HmmPfn {
    /// Classifies the entry; `owner` identifies "this device" for device-private pages.
    ///
    /// Call only while the fault that produced the entry is committed (its lock held).
    pub fn kind(self, owner: usize) -> PageKind {
        if self.is_error() {
            return PageKind::Error;
        }
        let Some(page) = self.raw_page() else {
            return PageKind::None;
        };
        // SAFETY: `page` comes from a valid entry of a committed fault, so it is a live `struct
        // page`.
        unsafe {
            if p2pmm_page_is_device_private(page.cast()) {
                if p2pmm_page_pgmap_owner(page.cast()) as usize == owner {
                    PageKind::DevicePrivateLocal
                } else {
                    PageKind::DevicePrivateRemote
                }
            } else if p2pmm_page_is_zero(page.cast()) {
                PageKind::Zero
            } else {
                PageKind::System
            }
        }
    }
}

/// The map order of a PMD-level CPU mapping (9 on x86-64 with 4 KiB pages).
///
/// # Examples
///
/// The orders [`HmmPfn::map_order`] reports for large CPU mappings: a PMD maps 2 MiB, a PUD 1 GiB
/// ([`pud_order`]).
///
/// ```
/// use crate::{
///     devmem::PMD_ORDER,
///     hmm::{pmd_order, pud_order},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// assert_eq!(PAGE_SIZE << pmd_order(), 2 << 20);
/// assert_eq!(PAGE_SIZE << pud_order(), 1 << 30);
/// // Large device folios are PMD-sized.
/// assert_eq!(pmd_order(), PMD_ORDER);
/// ```
pub fn pmd_order() -> u32 {
    // SAFETY: Returns a compile-time constant of the kernel.
    unsafe { p2pmm_pmd_order() }
}

/// The map order of a PUD-level CPU mapping (18 on x86-64 with 4 KiB pages; example:
/// [`pmd_order`]).
pub fn pud_order() -> u32 {
    // SAFETY: Returns a compile-time constant of the kernel.
    unsafe { p2pmm_pud_order() }
}

/// Faults `range` until the result commits, then hands the locked state and the PFNs to `consume`.
///
/// Races with invalidations are retried up to `retries` times, then the answer is `EBUSY`: the
/// retry policy is the caller's, core mm never spins on its behalf.
///
/// # Examples
///
/// ```
/// use crate::{
///     hmm::{fault_and_commit, HmmRange, RequestFlag},
///     kunit_mm::TestMapping,
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// // The state counts the pages this device has seen faulted.
/// struct Counter;
///
/// impl InvalidateHandler for Counter {
///     type State = usize;
///
///     fn invalidate(&self, _inv: &Invalidation<'_>, _seen: &mut usize) {}
/// }
///
/// let map = TestMapping::anonymous(8 * PAGE_SIZE)?;
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Counter, 0),
///     GFP_KERNEL,
/// )?;
/// let write = RequestFlag::Fault | RequestFlag::Write;
/// let mut range = HmmRange::new(&n, map.addr(), map.end(), write, 0)?;
/// let writable = |seen: &mut usize, pfns: &crate::hmm::FaultedPfns<'_>| {
///     *seen += pfns.len();
///     Ok(pfns.iter().filter(|(_, p)| p.is_writable()).count())
/// };
/// assert_eq!(fault_and_commit(&mut range, false, 16, writable)?, 8);
/// // The same without holding the mmap lock across the walk (hmm_range_fault_unlocked_timeout).
/// assert_eq!(fault_and_commit(&mut range, true, 16, writable)?, 8);
/// assert_eq!(*n.lock(), 16);
/// // No attempt allowed: busy.
/// assert_eq!(fault_and_commit(&mut range, false, 0, writable).err(), Some(EBUSY));
/// # Ok::<(), Error>(())
/// ```
pub fn fault_and_commit<T: InvalidateHandler, R>(
    range: &mut HmmRange<'_, T>,
    unlocked: bool,
    retries: u32,
    consume: impl FnOnce(&mut T::State, &FaultedPfns<'_>) -> Result<R>,
) -> Result<R> {
    for _ in 0..retries {
        let attempt = if unlocked {
            range.fault_unlocked(0)
        } else {
            range.fault()
        };
        let faulted = match attempt {
            Ok(faulted) => faulted,
            Err(e) if e == EBUSY => continue,
            Err(e) => return Err(e),
        };
        match faulted.commit() {
            Ok(mut committed) => {
                let (state, pfns) = committed.parts();
                return consume(state, pfns);
            }
            Err(Retry) => continue,
        }
    }
    Err(EBUSY)
}
