// SPDX-License-Identifier: GPL-2.0

//! A device's DMA mapping of a range of a process's memory that it mirrors: the binding under
//! p2pmm's in-kernel importers (`p2pmm_importer_*` of `include/linux/p2pmm.h`).
//!
//! The range is watched by an [`IntervalNotifier`]. A mapping is made the way a device fault is
//! (`notifier.rs`'s protocol): the range is faulted (`hmm_range_fault`), then, under the notifier's
//! lock with the sequence checked, the caller's policy says how the device reaches each page
//! ([`Reach`]) and the pages are mapped for the device (`dma_map_sgtable`) before the lock drops.
//! An invalidation of any part of the range takes the lock, has the [`Client`] stop the device
//! and unmaps the whole mapping; core mm moves or frees the pages only after that. No page of the
//! mapping can go while the device may still use its address.
//!
//! Nothing is pinned in core mm's sense. A mapping may *hold* the device-memory slots it reaches
//! in place ([`SlotHandler::hold`]: their memory's own eviction leaves them alone); it releases
//! them when it goes, always under the notifier's lock or inside an invalidation, so while each
//! page is still in its slot (a page moves only after the invalidations of its range).
//!
//! Invalidations come in two passes (Linux 7.3's `invalidate_start`/`invalidate_finish`): in the
//! first, under the lock, the client stops the device starting new accesses and may start an
//! asynchronous teardown (a TLB flush, a queue drain); in the second, once every notifier of the
//! range had its first pass, without the lock, it waits for that teardown, and the mapping is
//! unmapped after it. So all the importers of a range tear down in parallel. A client whose device
//! stops at once does it all in the first pass.
//!
//! Lock order: mmap lock -> core mm's notifier machinery -> the notifier's state lock -> the
//! client's own locks (taken in [`Client::invalidate_start`]), or a slot handler's lock (taken
//! in [`SlotHandler::hold`] and [`SlotHandler::release`]: a managed provider's clock spinlock, a
//! leaf).

use crate::ffi::{
    p2pmm_dev_pci_get, p2pmm_dma_pages_alloc, p2pmm_dma_pages_free, p2pmm_dma_pages_map,
    p2pmm_importer_call_invalidate_finish, p2pmm_importer_call_invalidate_start,
};
use crate::{
    bar_devmem::{BarDevmem, SlotHandler},
    hmm::{HmmRange, PageKind, Request, RequestFlag},
    notifier::{IntervalNotifier, InvalidateHandler, Invalidation, ReadSeq},
};
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{
    device::Device,
    ffi::c_void,
    mm::{Mm, MmWithUser},
    pci,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{ordering, Atomic},
    },
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// How many times a mapping is faulted again after racing invalidations before it gives up
/// (`EBUSY`).
const RETRIES: u32 = 1000;

/// How the device reaches one page, as the policy decides.
pub enum Reach<'a, T: SlotHandler> {
    /// The page itself: system memory, or static p2pdma memory the process mapped.
    Itself,
    /// The P2P window page of slot `.1` of a managed provider's memory: the device DMAs to the BAR
    /// by bus address while the page stays there.
    Window(&'a BarDevmem<T>, u32),
}

/// The driver side of a mirror: told when the device must stop using the mapping.
pub trait Client: Send + Sync {
    /// First pass: part of the range, `[start, end)`, changes. On return the device starts no new
    /// access to the mapping. Returns `false` if it no longer uses it at all (the mapping is
    /// unmapped at once), `true` if an access may still be finishing: [`Self::invalidate_finish`]
    /// then waits for it. Called under the notifier's lock, only while there is a mapping; may
    /// sleep.
    fn invalidate_start(&self, start: usize, end: usize) -> bool;

    /// Second pass, after a first pass that returned `true`, without the notifier's lock: on
    /// return the device no longer uses any address of the mapping, which is then unmapped.
    fn invalidate_finish(&self, _start: usize, _end: usize) {}
}

/// A mapping for the device, and the slots it holds.
///
/// # Invariants
///
/// `table` is a `struct p2pmm_dma_pages` of `dma_mirror_glue.c` owned by this value. Each entry of
/// `holds` is one [`SlotHandler::hold`] of that slot, which this value releases when dropped.
struct DmaPages<T: SlotHandler> {
    table: NonNull<c_void>,
    holds: KVec<(T, u32)>,
}

// SAFETY: The table is plain memory owned by this value; the glue's functions may be called from
// any thread, and so may a `SlotHandler`'s.
unsafe impl<T: SlotHandler> Send for DmaPages<T> {}

impl<T: SlotHandler> DmaPages<T> {
    /// Gives up ownership, for a handler's atomic slot ([`DmaPages::from_raw`] takes it back).
    fn into_raw(this: KBox<Self>) -> usize {
        KBox::into_raw(this) as usize
    }

    /// Takes back what [`DmaPages::into_raw`] gave, or `None` for 0.
    ///
    /// # Safety
    ///
    /// `p` is 0 or came from [`DmaPages::into_raw`] and is taken back once.
    unsafe fn from_raw(p: usize) -> Option<KBox<Self>> {
        let p = NonNull::new(p as *mut Self)?;
        // SAFETY: The caller hands back, once, the ownership `into_raw` gave up.
        Some(unsafe { KBox::from_raw(p.as_ptr()) })
    }

    /// Ends every hold (the caller holds the notifier's lock, or runs in an invalidation).
    fn release_holds(&mut self) {
        for (handler, slot) in self.holds.iter() {
            handler.release(*slot);
        }
        self.holds.clear();
    }
}

impl<T: SlotHandler> Drop for DmaPages<T> {
    fn drop(&mut self) {
        // SAFETY: Owned (type invariant); the device no longer uses the mapping (whoever drops it
        // made sure: an invalidation asked the client first, a new mapping replaces one whose
        // addresses the API says are gone, and destruction comes after the driver's last use).
        unsafe { p2pmm_dma_pages_free(self.table.as_ptr()) };
        // Dropped under the notifier's lock or in an invalidation: the pages are still in place.
        self.release_holds();
    }
}

/// What the notifier's lock protects.
pub struct MirrorState<T: SlotHandler> {
    mapping: Option<KBox<DmaPages<T>>>,
}

struct Handler<C: Client, T: SlotHandler> {
    client: C,
    start: usize,
    end: usize,
    /// The mapping a first pass took away, unmapped by the second: a `DmaPages::into_raw`, or 0.
    /// One is enough: a mapping is made only when no invalidation of the range is in progress
    /// (`mmu_interval_read_begin()` waits for them, and the second pass runs before they end), so
    /// there is never a second one to take away before the first is unmapped.
    retired: Atomic<usize>,
    _holds: PhantomData<T>,
}

impl<C: Client, T: SlotHandler> Handler<C, T> {
    fn clamp(&self, start: usize, end: usize) -> (usize, usize) {
        (start.max(self.start), end.min(self.end))
    }

    /// Unmaps the mapping a first pass took away, if any.
    fn unmap_retired(&self) {
        // SAFETY: The slot holds 0 or an `into_raw` of which it is the only owner; the exchange
        // takes it out once.
        drop(unsafe { DmaPages::<T>::from_raw(self.retired.xchg(0, ordering::Relaxed)) });
    }
}

impl<C: Client, T: SlotHandler> Drop for Handler<C, T> {
    fn drop(&mut self) {
        self.unmap_retired();
    }
}

impl<C: Client, T: SlotHandler> InvalidateHandler for Handler<C, T> {
    type State = MirrorState<T>;

    const TWO_PASS: bool = true;

    // Core mm calls the two passes; this single pass is their sum.
    fn invalidate(&self, inv: &Invalidation<'_>, state: &mut MirrorState<T>) {
        if self.invalidate_start(inv, state) {
            self.invalidate_finish(inv.start(), inv.end());
        }
    }

    fn invalidate_start(&self, inv: &Invalidation<'_>, state: &mut MirrorState<T>) -> bool {
        let Some(mapping) = state.mapping.take() else {
            return false;
        };
        let (start, end) = self.clamp(inv.start(), inv.end());
        if !self.client.invalidate_start(start, end) {
            return false; // `mapping` is unmapped here.
        }
        // Never occupied (see `retired`); if it were, that mapping's device had its first pass.
        self.unmap_retired();
        self.retired
            .store(DmaPages::into_raw(mapping), ordering::Relaxed);
        true
    }

    fn invalidate_finish(&self, start: usize, end: usize) {
        let (start, end) = self.clamp(start, end);
        self.client.invalidate_finish(start, end);
        self.unmap_retired();
    }

    // The OOM reaper must not tear pages down under a device that may be using them: it tries
    // again later, and the exit that follows invalidates blockably.
    fn busy(&self, _inv: &Invalidation<'_>, state: &MirrorState<T>) -> bool {
        state.mapping.is_some()
    }
}

/// A device's mirror of `[start, end)` of one address space, and its current DMA mapping.
///
/// # Examples
///
/// A device maps four pages of anonymous memory: each gets a DMA address of its own in system
/// memory. A zap invalidates the mapping, the client is told once, and the sequence says the
/// addresses are gone; with nothing mapped, later invalidations leave the client alone.
///
/// ```
/// use crate::{
///     dma_mirror::{Client, DmaMirror, Reach},
///     hmm::PageKind,
///     kunit_mm::TestMapping,
///     managed::Slots,
///     pci_p2p,
/// };
/// use kernel::{
///     device::Device,
///     page::PAGE_SIZE,
///     sync::{
///         aref::ARef,
///         atomic::{ordering, Atomic},
///         Arc,
///     },
/// };
///
/// static TOLD: Atomic<u32> = Atomic::new(0);
///
/// // The device's side: stops using the mapping (here: counts that it was told).
/// struct Device0;
///
/// impl Client for Device0 {
///     fn invalidate_start(&self, _start: usize, _end: usize) -> bool {
///         TOLD.fetch_add(1, ordering::Relaxed);
///         false
///     }
/// }
///
/// // Any PCI device will do as the DMA master: the test VM's memory is all below 4 GiB.
/// let mut first = None;
/// pci_p2p::for_each(|pdev| {
///     if first.is_none() {
///         first = Some(ARef::<Device>::from(pdev.as_ref()));
///     }
/// });
/// let dev = first.ok_or(ENODEV)?;
/// let map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// map.write(0, &[7; 8])?;
/// let mm = map.mm()?;
/// let mirror = DmaMirror::new(&mm, dev, map.addr(), map.len(), Device0)?;
/// let itself = |_: usize, _: PageKind, _: Option<usize>| Ok(Reach::<Arc<Slots>>::Itself);
/// let (mut addrs, mut routes) = ([0u64; 4], [0u8; 4]);
/// let seq = mirror.map(true, false, 0, &mut addrs, Some(&mut routes), itself)?;
/// assert!(!mirror.retry(seq));
/// assert_eq!(routes, [1; 4]); // P2PMM_DMA_SYSTEM
/// assert!(addrs.iter().all(|&a| a != 0));
/// assert!((1..4).all(|i| !addrs[..i].contains(&addrs[i])));
///
/// map.zap(0, PAGE_SIZE)?;
/// assert_eq!(TOLD.load(ordering::Relaxed), 1);
/// assert!(mirror.retry(seq));
/// map.zap(PAGE_SIZE, PAGE_SIZE)?;
/// assert_eq!(TOLD.load(ordering::Relaxed), 1);
/// // Output slices must cover the range.
/// assert_eq!(mirror.map(true, false, 0, &mut addrs[..3], None, itself).err(), Some(EINVAL));
/// # Ok::<(), Error>(())
/// ```
pub struct DmaMirror<C: Client, T: SlotHandler> {
    notifier: Pin<KBox<IntervalNotifier<Handler<C, T>>>>,
    dev: ARef<Device>,
}

impl<C: Client, T: SlotHandler> Drop for DmaMirror<C, T> {
    fn drop(&mut self) {
        // The mapping goes, and its holds end, under the lock while the notifier is still inserted:
        // after its removal a page could move, and its slot take another page, unseen.
        self.notifier.lock().mapping = None;
    }
}

/// The raw `struct device` of `dev`: `Device` is `#[repr(transparent)]` over
/// `Opaque<bindings::device>`, so a reference to it points at the C struct.
fn raw_dev(dev: &Device) -> *mut c_void {
    core::ptr::from_ref(dev).cast_mut().cast()
}

impl<C: Client, T: SlotHandler + Clone> DmaMirror<C, T> {
    /// Mirrors `[start, start + length)` of `mm` (which has users) for `dev`; nothing is mapped
    /// yet. `EINVAL` for an unaligned, empty or wrapping range.
    pub fn new(mm: &Mm, dev: ARef<Device>, start: usize, length: usize, client: C) -> Result<Self> {
        if start % PAGE_SIZE != 0 || length % PAGE_SIZE != 0 || length == 0 {
            return Err(EINVAL);
        }
        let end = start.checked_add(length).ok_or(EINVAL)?;
        let state = MirrorState { mapping: None };
        let handler = Handler {
            client,
            start,
            end,
            retired: Atomic::new(0),
            _holds: PhantomData,
        };
        let notifier = KBox::pin_init(
            IntervalNotifier::new(mm, start, length, handler, state),
            GFP_KERNEL,
        )?;
        Ok(Self { notifier, dev })
    }

    /// First address.
    pub fn start(&self) -> usize {
        self.notifier.handler().start
    }

    /// End (exclusive).
    pub fn end(&self) -> usize {
        self.notifier.handler().end
    }

    /// The address space, if it still has users.
    pub fn mm(&self) -> Option<ARef<MmWithUser>> {
        self.notifier.mm()
    }

    /// The device as a PCI device, if it is one.
    pub fn pci_device(&self) -> Option<ARef<pci::Device>> {
        // SAFETY: The device is live (we hold a reference).
        let p = NonNull::new(unsafe { p2pmm_dev_pci_get(raw_dev(&self.dev)) })?;
        // SAFETY: The glue took a reference on this `struct pci_dev` for us, and `pci::Device` is a
        // transparent wrapper of it.
        Some(unsafe { ARef::from_raw(p.cast()) })
    }

    /// Whether the mapping made at `seq` was invalidated since ([`IntervalNotifier::read_retry`]).
    pub fn retry(&self, seq: ReadSeq) -> bool {
        self.notifier.read_retry(seq)
    }

    /// Maps every page of the range for the device, replacing the previous mapping: faulted in
    /// (writable with `write`), each page reached as `classify` says (given its address, kind for
    /// `owner` and PFN), its DMA address written to `addrs` and its route (`enum p2pmm_dma_route`)
    /// to `routes`. With `hold`, the mapping holds each slot it reaches in place
    /// ([`SlotHandler::hold`]) until it goes. Returns the sequence the mapping is valid for.
    ///
    /// An error of `classify` stops the mapping and is returned (`EAGAIN` lets the policy act
    /// outside the lock, e.g. move a page, and map again); so does a hold's (`EBUSY`: the page was
    /// being evicted). `EINVAL` for output slices of the wrong length, `EBUSY` when invalidations
    /// kept racing the fault, `EFAULT`/`EPERM` as [`HmmRange::fault`].
    pub fn map<'a>(
        &self,
        write: bool,
        hold: bool,
        owner: usize,
        addrs: &mut [u64],
        mut routes: Option<&mut [u8]>,
        mut classify: impl FnMut(usize, PageKind, Option<usize>) -> Result<Reach<'a, T>>,
    ) -> Result<ReadSeq>
    where
        T: 'a,
    {
        let n = (self.end() - self.start()) / PAGE_SIZE;
        let n32 = u32::try_from(n).map_err(|_| EINVAL)?;
        if addrs.len() != n || routes.as_ref().is_some_and(|r| r.len() != n) {
            return Err(EINVAL);
        }
        let request = if write {
            RequestFlag::Fault | RequestFlag::Write
        } else {
            Request::from(RequestFlag::Fault)
        };
        let mut range = HmmRange::new(&self.notifier, self.start(), self.end(), request, owner)?;
        let mut pages = KVec::with_capacity(n, GFP_KERNEL)?;
        // Allocated before the lock: reclaim may invalidate this very range.
        let holds = KVec::with_capacity(if hold { n } else { 0 }, GFP_KERNEL)?;
        // SAFETY: The device is live (we hold a reference).
        let raw = unsafe { p2pmm_dma_pages_alloc(raw_dev(&self.dev), n32, write) };
        // INVARIANT: the table is new and ours; no hold is made yet.
        let table = NonNull::new(raw).ok_or(ENOMEM)?;
        let mut dma = Some(KBox::new(DmaPages { table, holds }, GFP_KERNEL)?);
        for _ in 0..RETRIES {
            let faulted = match range.fault() {
                Ok(f) => f,
                Err(e) if e == EBUSY => continue,
                Err(e) => return Err(e),
            };
            let seq = faulted.seq();
            let Ok(mut committed) = faulted.commit() else {
                continue; // `Retry`: an invalidation ran meanwhile.
            };
            let (state, pfns) = committed.parts();
            let new = dma.as_mut().ok_or(EINVAL)?;
            pages.clear();
            let mut reach_all = || -> Result {
                for (addr, pfn) in pfns.iter() {
                    let page = match classify(addr, pfn.kind(owner), pfn.pfn())? {
                        Reach::Itself => pfn.raw_page().ok_or(EFAULT)?.cast(),
                        Reach::Window(mem, slot) => {
                            let page = mem.p2p_page(slot).ok_or(EINVAL)?;
                            if hold {
                                mem.handler().hold(slot)?;
                                // Within the capacity reserved above (one per page); the hold
                                // is the mapping's from here.
                                new.holds
                                    .push_within_capacity((mem.handler().clone(), slot))
                                    .map_err(|_| EINVAL)?;
                            }
                            page
                        }
                    };
                    pages.push_within_capacity(page).map_err(|_| EINVAL)?;
                }
                Ok(())
            };
            if let Err(e) = reach_all() {
                // Still under the lock: the held pages are in place.
                new.release_holds();
                return Err(e);
            }
            // The previous mapping goes first: the API says its addresses are gone.
            state.mapping = None;
            let mut mapping = dma.take().ok_or(EINVAL)?;
            let routes_ptr = routes
                .as_deref_mut()
                .map_or(core::ptr::null_mut(), |r| r.as_mut_ptr());
            // SAFETY: `mapping` is live with room for `n` pages; `pages` holds `n` pages that stay
            // in place while the lock is held and, after it, until an invalidation, which unmaps
            // this mapping first (a slot's window page lives as long as the device page in the
            // slot); `addrs` and `routes` have `n` entries.
            let ret = unsafe {
                p2pmm_dma_pages_map(
                    mapping.table.as_ptr(),
                    pages.as_mut_ptr(),
                    n32,
                    addrs.as_mut_ptr(),
                    routes_ptr,
                )
            };
            if let Err(e) = kernel::error::to_result(ret) {
                mapping.release_holds();
                return Err(e);
            }
            state.mapping = Some(mapping);
            return Ok(seq);
        }
        Err(EBUSY)
    }
}

/// The callbacks of a C driver's `struct p2pmm_importer` (`mm/p2pmm_export.c`).
///
/// # Invariants
///
/// `0` is a `struct p2pmm_importer` whose ops stay valid while this value lives.
pub struct DriverCallbacks(NonNull<c_void>);

impl DriverCallbacks {
    /// # Safety
    ///
    /// `imp` is a `struct p2pmm_importer` that outlives the returned value, with valid ops.
    pub unsafe fn new(imp: NonNull<c_void>) -> Self {
        Self(imp)
    }
}

// SAFETY: The driver's callback may be called from any thread (the API's contract).
unsafe impl Send for DriverCallbacks {}
// SAFETY: See `Send`.
unsafe impl Sync for DriverCallbacks {}

impl Client for DriverCallbacks {
    fn invalidate_start(&self, start: usize, end: usize) -> bool {
        // SAFETY: Live with valid ops (type invariant).
        unsafe { p2pmm_importer_call_invalidate_start(self.0.as_ptr(), start, end) }
    }

    fn invalidate_finish(&self, start: usize, end: usize) {
        // SAFETY: Live with valid ops (type invariant).
        unsafe { p2pmm_importer_call_invalidate_finish(self.0.as_ptr(), start, end) };
    }
}
