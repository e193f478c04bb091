// SPDX-License-Identifier: GPL-2.0

//! Block I/O between a block device and a range of a process's memory, with the pages left where
//! they are.
//!
//! The pages are found with `hmm_range_fault` under an interval notifier, the way a device mirrors
//! a process: nothing is pinned and nothing migrates. Each page is reached the way the caller's
//! policy says ([`Via`]): the page itself (system memory, or static p2pdma memory the process
//! mapped), the P2P window page of a managed slot (the disk DMAs to the BAR by bus address, as
//! nvmet's bios of p2pdma pages do), or a bounce page the CPU copies to or from the slot. Bios are
//! built from those pages, one kind per bio (the block layer maps a request by its first page).
//!
//! What keeps the pages in place is the invalidation protocol, not a pin:
//!
//! 1. A chunk's pages are faulted, then classified under the notifier's lock after the sequence
//!    check, and the chunk is marked in flight (its range in [`InFlight`], the fence armed) before
//!    the lock drops.
//! 2. An invalidation that overlaps the chunk (migration, eviction, munmap, fork's write-protect,
//!    reclaim) takes that lock in its first pass, sees the chunk and asks for a second pass, which
//!    waits on the fence. Core mm only unmaps, copies or frees the pages after that: the I/O
//!    completed into the old location, and a migration then copies the completed data. A
//!    non-blocking invalidation (the OOM reaper) of a busy chunk fails, and core mm tries again
//!    later.
//! 3. An invalidation that ran between the fault and the lock makes the sequence check fail: the
//!    chunk is faulted again (counted in [`Moved::retries`]).
//!
//! The fence drops before the lock is taken to clear the chunk, so a waiter never needs the lock
//! the I/O side is about to take. While a chunk is in flight its submitter allocates nothing that
//! could enter reclaim with I/O (`memalloc_noio`), as reclaim could invalidate one of the chunk's
//! own pages and wait for it.
//!
//! Lock order: mmap lock -> core mm's notifier machinery -> the notifier's state lock.

use crate::ffi::{
    p2pmm_bdev_block_size, p2pmm_bdev_bytes, p2pmm_bdev_check, p2pmm_bdev_finish,
    p2pmm_bdev_p2pdma, p2pmm_bdev_pci_dev, p2pmm_bdev_prepare, p2pmm_bio_batch_add,
    p2pmm_bio_batch_finish, p2pmm_bio_batch_new, p2pmm_bounce_alloc, p2pmm_bounce_free,
    p2pmm_fence_arm, p2pmm_fence_free, p2pmm_fence_new, p2pmm_fence_signal, p2pmm_fence_wait,
    p2pmm_noio_restore, p2pmm_noio_save, p2pmm_page_dirty,
};
use crate::{
    bar_devmem::{BarDevmem, SlotHandler},
    hmm::{HmmRange, PageKind, Request, RequestFlag},
    notifier::{IntervalNotifier, InvalidateHandler, Invalidation, Retry},
};
use kernel::{
    ffi::c_void,
    fs::file::LocalFile,
    mm::Mm,
    pci,
    prelude::*,
    sync::{
        aref::ARef,
        atomic::{ordering, Atomic},
    },
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// Pages per chunk: what one fault, one lock hold and one batch of bios cover, and the most an
/// invalidation waits for.
pub const CHUNK_PAGES: usize = 512;

/// How often a waiting invalidation counts itself late ([`WaitStats::late`]).
const REPORT_MS: u32 = 1000;

/// How many times a chunk is faulted again after racing invalidations before the transfer gives up
/// (`EBUSY`).
const RETRIES: u32 = 1000;

/// What invalidations waited for I/O in flight, over all transfers (relaxed atomics: statistics).
pub struct WaitStats {
    /// Invalidations that waited.
    pub waits: Atomic<u64>,
    /// Total nanoseconds they waited.
    pub waited_ns: Atomic<u64>,
    /// The longest wait, in nanoseconds.
    pub max_wait_ns: Atomic<u64>,
    /// Seconds (`REPORT_MS` periods) invalidations spent waiting on one I/O beyond the first: a
    /// slow device.
    pub late: Atomic<u64>,
    /// Non-blocking invalidations refused because I/O was in flight.
    pub refused: Atomic<u64>,
}

/// The waits of every transfer.
pub static WAITS: WaitStats = WaitStats {
    waits: Atomic::new(0),
    waited_ns: Atomic::new(0),
    max_wait_ns: Atomic::new(0),
    late: Atomic::new(0),
    refused: Atomic::new(0),
};

/// A block device a process handed over by file descriptor.
pub struct BlockDev {
    file: ARef<LocalFile>,
}

impl BlockDev {
    /// The block device open as `fd`: `EBADF` for no such descriptor or one not open for the
    /// direction (readable to read from the device, writable to write to it), `EINVAL` if it is not
    /// a block device.
    pub fn from_fd(fd: u32, to_device: bool) -> Result<Self> {
        let file = LocalFile::fget(fd).map_err(|_| EBADF)?;
        // SAFETY: `file` is a live file we hold a reference to.
        kernel::error::to_result(unsafe { p2pmm_bdev_check(file.as_ptr().cast(), to_device) })?;
        Ok(Self { file })
    }

    fn raw(&self) -> *mut c_void {
        self.file.as_ptr().cast()
    }

    /// The logical block size: offsets, lengths and memory addresses of a transfer are multiples of
    /// it.
    pub fn block_size(&self) -> u32 {
        // SAFETY: By `from_fd`, a block device file we hold.
        unsafe { p2pmm_bdev_block_size(self.raw()) }
    }

    /// The device's size in bytes.
    pub fn bytes(&self) -> u64 {
        // SAFETY: As above.
        unsafe { p2pmm_bdev_bytes(self.raw()) }
    }

    /// Whether the device's queue takes bios of p2pdma pages.
    pub fn takes_p2pdma(&self) -> bool {
        // SAFETY: As above.
        unsafe { p2pmm_bdev_p2pdma(self.raw()) }
    }

    /// The PCI device that does the disk's DMA (its first PCI ancestor), if any.
    pub fn pci_device(&self) -> Option<ARef<pci::Device>> {
        // SAFETY: As above; a non-null result carries a reference that the `ARef` now owns.
        let p = unsafe { p2pmm_bdev_pci_dev(self.raw()) };
        let p = core::ptr::NonNull::new(p.cast::<pci::Device>())?;
        // SAFETY: `pci::Device` wraps `struct pci_dev` transparently; `p` is live with our
        // reference.
        Some(unsafe { ARef::from_raw(p) })
    }
}

/// How the device reaches one page of the range (the caller's policy decides).
pub enum Via<'a, T: SlotHandler> {
    /// The page itself: system memory (`p2p: false`) or static p2pdma memory the process mapped
    /// (`p2p: true`).
    Itself {
        /// The page is p2pdma memory: the device reaches it by bus address.
        p2p: bool,
    },
    /// The P2P window page of a managed slot: the device moves the bytes to or from the BAR
    /// directly.
    Window(&'a BarDevmem<T>, u32),
    /// A bounce page in system memory that the CPU copies from or to the managed slot.
    Bounce(&'a BarDevmem<T>, u32),
}

/// Bytes moved, by path.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Moved {
    /// By the device, to or from a BAR (P2P DMA).
    pub p2p: u64,
    /// By the device, to or from system memory.
    pub system: u64,
    /// By the device to or from a bounce page, and by the CPU between it and a BAR.
    pub bounce: u64,
    /// Chunks faulted again because an invalidation raced their setup.
    pub retries: u64,
}

/// The chunk in flight, as the notifier's lock protects it.
pub struct InFlight {
    range: Option<(usize, usize)>,
}

/// An armed-while-busy fence (C glue: an atomic and a wait queue).
///
/// # Invariants
///
/// `0` is a live fence from `p2pmm_fence_new`, freed in `drop`.
struct Fence(*mut c_void);

// SAFETY: The fence is an atomic and a wait queue, usable from any thread.
unsafe impl Send for Fence {}
// SAFETY: See `Send`.
unsafe impl Sync for Fence {}

impl Drop for Fence {
    fn drop(&mut self) {
        // SAFETY: Live by the type invariant; the notifier that waits on it is gone before its
        // handler drops.
        unsafe { p2pmm_fence_free(self.0) };
    }
}

/// The invalidation side: wait for the chunk in flight.
struct Guard {
    fence: Fence,
}

impl InvalidateHandler for Guard {
    type State = InFlight;

    const TWO_PASS: bool = true;

    fn invalidate(&self, inv: &Invalidation<'_>, state: &mut InFlight) {
        // Core mm calls the two passes; this single pass is their sum. The fence drops without the
        // lock.
        if self.invalidate_start(inv, state) {
            self.invalidate_finish(inv.start(), inv.end());
        }
    }

    fn invalidate_start(&self, inv: &Invalidation<'_>, state: &mut InFlight) -> bool {
        state
            .range
            .is_some_and(|(a, b)| a < inv.end() && inv.start() < b)
    }

    fn invalidate_finish(&self, _start: usize, _end: usize) {
        let mut late = 0;
        // SAFETY: The fence is live (type invariant of `Fence`); `late` is ours.
        let ns = unsafe { p2pmm_fence_wait(self.fence.0, REPORT_MS, &mut late) };
        WAITS.waits.fetch_add(1, ordering::Relaxed);
        WAITS.waited_ns.fetch_add(ns, ordering::Relaxed);
        WAITS.late.fetch_add(late, ordering::Relaxed);
        if ns > WAITS.max_wait_ns.load(ordering::Relaxed) {
            WAITS.max_wait_ns.store(ns, ordering::Relaxed);
        }
    }

    fn busy(&self, inv: &Invalidation<'_>, state: &InFlight) -> bool {
        let busy = state
            .range
            .is_some_and(|(a, b)| a < inv.end() && inv.start() < b);
        if busy {
            WAITS.refused.fetch_add(1, ordering::Relaxed);
        }
        busy
    }
}

/// One piece of a bio: a page, or the index of a bounce page, and the bytes of it.
#[derive(Clone, Copy)]
enum Piece {
    Page(*mut c_void),
    /// Bounce page `n`, filled from or emptied into `slot` of the memory `mem` (an erased
    /// `&BarDevmem<T>`).
    Bounce {
        n: usize,
        mem: *const c_void,
        slot: u32,
    },
}

#[derive(Clone, Copy)]
struct IoVec {
    piece: Piece,
    off: u32,
    len: u32,
    /// Counts as (p2p, system, bounce).
    class: u8,
    /// A system page the device writes: it must be marked dirty.
    dirty: bool,
}

const CLASS_P2P: u8 = 0;
const CLASS_SYSTEM: u8 = 1;
const CLASS_BOUNCE: u8 = 2;

/// Transfers between a block device and `[start, end)` of a process's memory, chunk by chunk.
pub struct Transfer {
    notifier: Pin<KBox<IntervalNotifier<Guard>>>,
    start: usize,
    end: usize,
    to_device: bool,
    pos: u64,
    bounce: KVec<*mut c_void>,
    vecs: KVec<IoVec>,
}

impl Transfer {
    /// Watches `[start, end)` of `mm` (any byte range; its pages are watched) for a transfer to
    /// (`to_device`) or from a device at byte `pos`, where the range's first byte goes. Bounce
    /// pages are allocated when a piece first needs them, outside the notifier's lock, and kept for
    /// the next pieces.
    pub fn new(mm: &Mm, start: usize, end: usize, to_device: bool, pos: u64) -> Result<Self> {
        if start >= end {
            return Err(EINVAL);
        }
        let page_start = start & !(PAGE_SIZE - 1);
        let page_end = end.checked_next_multiple_of(PAGE_SIZE).ok_or(EINVAL)?;
        // SAFETY: Plain allocation.
        let fence = unsafe { p2pmm_fence_new() };
        if fence.is_null() {
            return Err(ENOMEM);
        }
        let guard = Guard {
            fence: Fence(fence),
        };
        let notifier = KBox::pin_init(
            IntervalNotifier::new(
                mm,
                page_start,
                page_end - page_start,
                guard,
                InFlight { range: None },
            ),
            GFP_KERNEL,
        )?;
        Ok(Self {
            notifier,
            start,
            end,
            to_device,
            pos,
            bounce: KVec::new(),
            vecs: KVec::with_capacity(CHUNK_PAGES, GFP_KERNEL)?,
        })
    }

    /// Moves the bytes of the chunk of pages `[page_start, page_end)` (inside the watched range)
    /// between memory and `dev`. `owner` is the `pgmap_owner` whose device-private pages are
    /// reported rather than faulted back to system memory; `classify(addr, kind, pfn)` says how the
    /// device reaches each page. It runs under the notifier's lock and must neither sleep nor
    /// allocate; its errors end the chunk before any I/O.
    pub fn chunk<'a, T: SlotHandler + 'a>(
        &mut self,
        dev: &BlockDev,
        page_start: usize,
        page_end: usize,
        owner: usize,
        mut classify: impl FnMut(usize, PageKind, Option<usize>) -> Result<Via<'a, T>>,
    ) -> Result<Moved> {
        if page_start % PAGE_SIZE != 0
            || page_end % PAGE_SIZE != 0
            || page_start >= page_end
            || (page_end - page_start) / PAGE_SIZE > CHUNK_PAGES
            || page_end <= self.start
            || page_start >= self.end
        {
            return Err(EINVAL);
        }
        // The bytes of the transfer inside this chunk, and where they go on the device.
        let (first, last) = (self.start.max(page_start), self.end.min(page_end));
        let (to_device, dev_pos) = (self.to_device, self.pos + (first - self.start) as u64);
        let request = if to_device {
            Request::from(RequestFlag::Fault)
        } else {
            RequestFlag::Fault | RequestFlag::Write
        };
        let Self {
            notifier,
            bounce,
            vecs,
            ..
        } = self;
        let mut range = HmmRange::new(notifier, page_start, page_end, request, owner)?;
        let mut moved = Moved::default();
        let mut committed = None;
        for _ in 0..RETRIES {
            let faulted = match range.fault() {
                Ok(f) => f,
                Err(e) if e == EBUSY => {
                    moved.retries += 1;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let mut c = match faulted.commit() {
                Ok(c) => c,
                Err(Retry) => {
                    moved.retries += 1;
                    continue;
                }
            };
            let (state, pfns) = c.parts();
            vecs.clear();
            // Bounce pages this attempt needs beyond the pool: allocated outside the lock, then set
            // up again.
            let mut short = 0;
            let mut nbounce = 0;
            for (addr, pfn) in pfns.iter() {
                let lo = first.max(addr);
                let hi = last.min(addr + PAGE_SIZE);
                if lo >= hi {
                    continue;
                }
                let (off, len) = ((lo - addr) as u32, (hi - lo) as u32);
                let kind = pfn.kind(owner);
                let (piece, class, dirty) = match classify(addr, kind, pfn.pfn())? {
                    Via::Itself { p2p } => {
                        // A hole or an error cannot be the page itself: the policy refuses those.
                        let page = pfn.raw_page().ok_or(EFAULT)?;
                        let class = if p2p { CLASS_P2P } else { CLASS_SYSTEM };
                        (Piece::Page(page.cast()), class, !to_device && !p2p)
                    }
                    Via::Window(mem, slot) => (
                        Piece::Page(mem.p2p_page(slot).ok_or(EINVAL)?),
                        CLASS_P2P,
                        false,
                    ),
                    Via::Bounce(mem, slot) => {
                        if slot as usize >= mem.slots() {
                            return Err(EINVAL);
                        }
                        if nbounce >= bounce.len() {
                            short += 1;
                            continue;
                        }
                        nbounce += 1;
                        let mem = core::ptr::from_ref(mem).cast::<c_void>();
                        let n = nbounce - 1;
                        (Piece::Bounce { n, mem, slot }, CLASS_BOUNCE, false)
                    }
                };
                vecs.push_within_capacity(IoVec {
                    piece,
                    off,
                    len,
                    class,
                    dirty,
                })
                .map_err(|_| EINVAL)?;
            }
            if short > 0 {
                drop(c);
                grow_pool(bounce, nbounce + short)?;
                continue;
            }
            // In flight from here: an invalidation of these pages now waits for the fence.
            state.range = Some((page_start, page_end));
            // SAFETY: The fence is live (type invariant of `Fence`).
            unsafe { p2pmm_fence_arm(notifier.handler().fence.0) };
            committed = Some(());
            break;
        }
        if committed.is_none() {
            return Err(EBUSY);
        }
        // SAFETY: Plain call; restored below on every path.
        let noio = unsafe { p2pmm_noio_save() };
        // SAFETY: The pages named by `vecs` stay in place until the fence drops (the protocol at
        // the top of this file); `T` is the type every `Bounce` memory was erased from.
        let res = unsafe { Self::submit::<T>(vecs, bounce, dev, to_device, dev_pos) };
        // SAFETY: Restores the state saved above.
        unsafe { p2pmm_noio_restore(noio) };
        // SAFETY: The fence is live. It drops before the lock is taken, so a waiter never holds
        // what we need.
        unsafe { p2pmm_fence_signal(notifier.handler().fence.0) };
        notifier.lock().range = None;
        res?;
        for v in vecs.iter() {
            let n = u64::from(v.len);
            match v.class {
                CLASS_P2P => moved.p2p += n,
                CLASS_SYSTEM => moved.system += n,
                _ => moved.bounce += n,
            }
        }
        Ok(moved)
    }

    /// Builds the bios of `vecs`, submits them and waits, with the bounce copies around the I/O.
    ///
    /// # Safety
    ///
    /// Every page `vecs` names stays valid and in place until this returns, and every `Bounce`
    /// memory is a live `BarDevmem<T>`.
    unsafe fn submit<T: SlotHandler>(
        vecs: &[IoVec],
        bounce: &[*mut c_void],
        dev: &BlockDev,
        to_device: bool,
        pos: u64,
    ) -> Result {
        for v in vecs {
            match v.piece {
                // SAFETY: The caller's promise: the page is in place (mapped and not truncated).
                Piece::Page(page) if v.dirty => unsafe { p2pmm_page_dirty(page) },
                Piece::Bounce { n, mem, slot } if to_device || v.len as usize != PAGE_SIZE => {
                    // The device reads the slot's data, or writes part of the page: start from the
                    // data. SAFETY: The caller's promise for `mem`; bounce page `n` is ours, `slot`
                    // was checked.
                    unsafe { (*mem.cast::<BarDevmem<T>>()).copy_slot_to_page(slot, bounce[n]) };
                }
                _ => {}
            }
        }
        let dpos = pos;
        // SAFETY: A block device file we hold.
        let batch = unsafe { p2pmm_bio_batch_new(dev.raw(), to_device, dpos) };
        if batch.is_null() {
            return Err(ENOMEM);
        }
        let mut err = 0;
        for v in vecs {
            let page = match v.piece {
                Piece::Page(page) => page,
                Piece::Bounce { n, .. } => bounce[n],
            };
            if err == 0 {
                // SAFETY: `batch` is live until `finish`; the page stays valid (the caller's
                // promise).
                err = unsafe { p2pmm_bio_batch_add(batch, page, v.off, v.len) };
            }
        }
        // SAFETY: `batch` came from `p2pmm_bio_batch_new`; this frees it.
        let done = unsafe { p2pmm_bio_batch_finish(batch) };
        kernel::error::to_result(if err != 0 { err } else { done })?;
        if !to_device {
            for v in vecs {
                if let Piece::Bounce { n, mem, slot } = v.piece {
                    // SAFETY: As for the copies above.
                    unsafe { (*mem.cast::<BarDevmem<T>>()).copy_page_to_slot(bounce[n], slot) };
                }
            }
        }
        Ok(())
    }
}

/// Grows the bounce pool to `want` pages (at most a chunk's worth).
fn grow_pool(pool: &mut KVec<*mut c_void>, want: usize) -> Result {
    let want = want.min(CHUNK_PAGES);
    pool.reserve(want.saturating_sub(pool.len()), GFP_KERNEL)?;
    while pool.len() < want {
        // SAFETY: Plain allocation.
        let page = unsafe { p2pmm_bounce_alloc() };
        if page.is_null() {
            return Err(ENOMEM);
        }
        // Within the capacity reserved above.
        let _ = pool.push_within_capacity(page);
    }
    Ok(())
}

impl Drop for Transfer {
    fn drop(&mut self) {
        for &page in self.bounce.iter() {
            // SAFETY: Allocated in `new`, no I/O uses it any more (every chunk waited for its
            // bios).
            unsafe { p2pmm_bounce_free(page) };
        }
    }
}

/// Writes back dirty page cache of `[pos, pos + len)` of `dev` before a transfer (as O_DIRECT
/// does).
pub fn prepare(dev: &BlockDev, pos: u64, len: u64, to_device: bool) -> Result {
    // SAFETY: A block device file we hold.
    kernel::error::to_result(unsafe { p2pmm_bdev_prepare(dev.raw(), pos, len, to_device) })
}

/// Drops page cache of `[pos, pos + len)` of `dev` that a write to the device made stale.
pub fn finish(dev: &BlockDev, pos: u64, len: u64, to_device: bool) {
    // SAFETY: A block device file we hold.
    unsafe { p2pmm_bdev_finish(dev.raw(), pos, len, to_device) }
}
