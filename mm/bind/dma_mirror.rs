// SPDX-License-Identifier: GPL-2.0

//! A device's DMA mapping of a range of a process's memory that it mirrors: the binding under
//! p2pmm's in-kernel importers (`p2pmm_importer_*` of `include/linux/p2pmm.h`).
//!
//! The range is watched by an [`IntervalNotifier`]. A mapping is made the way a device fault is
//! (`notifier.rs`'s protocol): the range is faulted (`hmm_range_fault`), then, under the notifier's
//! lock with the sequence checked, the caller's policy says how the device reaches each page
//! ([`Reach`]) and the pages are mapped for the device (`dma_map_sgtable`) before the lock drops.
//! An invalidation of any part of the range takes the lock, has the [`Client`] stop the device
//! and unmaps the whole mapping; core mm moves or frees the pages only after that. Nothing is
//! pinned, and no page of the mapping can go while the device may still use its address.
//!
//! Invalidations come in two passes (Linux 7.3's `invalidate_start`/`invalidate_finish`): in the
//! first, under the lock, the client stops the device starting new accesses and may start an
//! asynchronous teardown (a TLB flush, a queue drain); in the second, once every notifier of the
//! range had its first pass, without the lock, it waits for that teardown, and the mapping is
//! unmapped after it. So all the importers of a range tear down in parallel. A client whose device
//! stops at once does it all in the first pass.
//!
//! Lock order: mmap lock -> core mm's notifier machinery -> the notifier's state lock -> the
//! client's own locks (taken in [`Client::invalidate`]).

use crate::ffi::{
    p2pmm_dev_pci_get, p2pmm_dma_pages_alloc, p2pmm_dma_pages_free, p2pmm_dma_pages_map,
    p2pmm_importer_call_invalidate_finish, p2pmm_importer_call_invalidate_start,
};
use crate::{
    bar_devmem::{BarDevmem, SlotHandler},
    hmm::{HmmRange, PageKind, Request, RequestFlag},
    notifier::{IntervalNotifier, InvalidateHandler, Invalidation, ReadSeq},
};
use core::ptr::NonNull;
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

/// A mapping for the device.
///
/// # Invariants
///
/// `0` is a `struct p2pmm_dma_pages` of `dma_mirror_glue.c` owned by this value.
struct DmaPages(NonNull<c_void>);

// SAFETY: The table is plain memory owned by this value; the glue's functions may be called from
// any thread.
unsafe impl Send for DmaPages {}

impl DmaPages {
    /// Gives up ownership, for a handler's atomic slot ([`DmaPages::from_raw`] takes it back).
    fn into_raw(self) -> usize {
        let p = self.0.as_ptr() as usize;
        core::mem::forget(self);
        p
    }

    /// Takes back what [`DmaPages::into_raw`] gave, or `None` for 0.
    ///
    /// # Safety
    ///
    /// `p` is 0 or came from [`DmaPages::into_raw`] and is taken back once.
    unsafe fn from_raw(p: usize) -> Option<Self> {
        // INVARIANT: the caller hands back the ownership `into_raw` gave up.
        NonNull::new(p as *mut c_void).map(Self)
    }
}

impl Drop for DmaPages {
    fn drop(&mut self) {
        // SAFETY: Owned (type invariant); the device no longer uses the mapping (whoever drops it
        // made sure: an invalidation asked the client first, a new mapping replaces one whose
        // addresses the API says are gone, and destruction comes after the driver's last use).
        unsafe { p2pmm_dma_pages_free(self.0.as_ptr()) };
    }
}

/// What the notifier's lock protects.
pub struct MirrorState {
    mapping: Option<DmaPages>,
}

struct Handler<C: Client> {
    client: C,
    start: usize,
    end: usize,
    /// The mapping a first pass took away, unmapped by the second: a `DmaPages::into_raw`, or 0.
    /// One is enough: a mapping is made only when no invalidation of the range is in progress
    /// (`mmu_interval_read_begin()` waits for them, and the second pass runs before they end), so
    /// there is never a second one to take away before the first is unmapped.
    retired: Atomic<usize>,
}

impl<C: Client> Handler<C> {
    fn clamp(&self, start: usize, end: usize) -> (usize, usize) {
        (start.max(self.start), end.min(self.end))
    }

    /// Unmaps the mapping a first pass took away, if any.
    fn unmap_retired(&self) {
        // SAFETY: The slot holds 0 or an `into_raw` of which it is the only owner; the exchange
        // takes it out once.
        drop(unsafe { DmaPages::from_raw(self.retired.xchg(0, ordering::Relaxed)) });
    }
}

impl<C: Client> Drop for Handler<C> {
    fn drop(&mut self) {
        self.unmap_retired();
    }
}

impl<C: Client> InvalidateHandler for Handler<C> {
    type State = MirrorState;

    const TWO_PASS: bool = true;

    // Core mm calls the two passes; this single pass is their sum.
    fn invalidate(&self, inv: &Invalidation<'_>, state: &mut MirrorState) {
        if self.invalidate_start(inv, state) {
            self.invalidate_finish(inv.start(), inv.end());
        }
    }

    fn invalidate_start(&self, inv: &Invalidation<'_>, state: &mut MirrorState) -> bool {
        let Some(mapping) = state.mapping.take() else {
            return false;
        };
        let (start, end) = self.clamp(inv.start(), inv.end());
        if !self.client.invalidate_start(start, end) {
            return false; // `mapping` is unmapped here.
        }
        // Never occupied (see `retired`); if it were, that mapping's device had its first pass.
        self.unmap_retired();
        self.retired.store(mapping.into_raw(), ordering::Relaxed);
        true
    }

    fn invalidate_finish(&self, start: usize, end: usize) {
        let (start, end) = self.clamp(start, end);
        self.client.invalidate_finish(start, end);
        self.unmap_retired();
    }

    // The OOM reaper must not tear pages down under a device that may be using them: it tries
    // again later, and the exit that follows invalidates blockably.
    fn busy(&self, _inv: &Invalidation<'_>, state: &MirrorState) -> bool {
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
/// let seq = mirror.map(true, 0, &mut addrs, Some(&mut routes), itself)?;
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
/// assert_eq!(mirror.map(true, 0, &mut addrs[..3], None, itself).err(), Some(EINVAL));
/// # Ok::<(), Error>(())
/// ```
pub struct DmaMirror<C: Client> {
    notifier: Pin<KBox<IntervalNotifier<Handler<C>>>>,
    dev: ARef<Device>,
}

/// The raw `struct device` of `dev`: `Device` is `#[repr(transparent)]` over
/// `Opaque<bindings::device>`, so a reference to it points at the C struct.
fn raw_dev(dev: &Device) -> *mut c_void {
    core::ptr::from_ref(dev).cast_mut().cast()
}

impl<C: Client> DmaMirror<C> {
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
    /// to `routes`. Returns the sequence the mapping is valid for.
    ///
    /// An error of `classify` stops the mapping and is returned (`EAGAIN` lets the policy act
    /// outside the lock, e.g. move a page, and map again). `EINVAL` for output slices of the wrong
    /// length, `EBUSY` when invalidations kept racing the fault, `EFAULT`/`EPERM` as
    /// [`HmmRange::fault`].
    pub fn map<'a, T: SlotHandler + 'a>(
        &self,
        write: bool,
        owner: usize,
        addrs: &mut [u64],
        mut routes: Option<&mut [u8]>,
        mut classify: impl FnMut(usize, PageKind, Option<usize>) -> Result<Reach<'a, T>>,
    ) -> Result<ReadSeq> {
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
        // SAFETY: The device is live (we hold a reference).
        let raw = unsafe { p2pmm_dma_pages_alloc(raw_dev(&self.dev), n32, write) };
        let mut dma = Some(DmaPages(NonNull::new(raw).ok_or(ENOMEM)?));
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
            pages.clear();
            for (addr, pfn) in pfns.iter() {
                let page = match classify(addr, pfn.kind(owner), pfn.pfn())? {
                    Reach::Itself => pfn.raw_page().ok_or(EFAULT)?.cast(),
                    Reach::Window(mem, slot) => mem.p2p_page(slot).ok_or(EINVAL)?,
                };
                pages.push_within_capacity(page).map_err(|_| EINVAL)?;
            }
            // The previous mapping goes first: the API says its addresses are gone.
            state.mapping = None;
            let mapping = dma.take().ok_or(EINVAL)?;
            let routes_ptr = routes
                .as_deref_mut()
                .map_or(core::ptr::null_mut(), |r| r.as_mut_ptr());
            // SAFETY: `mapping` is live with room for `n` pages; `pages` holds `n` pages that stay
            // in place while the lock is held and, after it, until an invalidation, which unmaps
            // this mapping first (a slot's window page lives as long as the device page in the
            // slot); `addrs` and `routes` have `n` entries.
            let ret = unsafe {
                p2pmm_dma_pages_map(
                    mapping.0.as_ptr(),
                    pages.as_mut_ptr(),
                    n32,
                    addrs.as_mut_ptr(),
                    routes_ptr,
                )
            };
            kernel::error::to_result(ret)?;
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
