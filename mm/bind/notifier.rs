// SPDX-License-Identifier: GPL-2.0

//! Interval notifiers: a device's mirror of part of a process address space, and the callback that
//! tells the device when that part changes.
//!
//! Wraps `struct mmu_interval_notifier` (`include/linux/mmu_notifier.h`). The read-begin / fault /
//! lock / retry protocol described there is encoded in types instead of comments:
//!
//! - An [`IntervalNotifier`] owns the device's lock and the state it protects (the device "page
//!   table"). The invalidate callback takes that lock *and* records the new sequence number before
//!   the driver's handler runs, so no handler can forget `mmu_interval_set_seq()` or call it
//!   without the lock.
//! - A fault result ([`crate::hmm::Faulted`]) exposes its PFNs only through
//!   [`crate::hmm::Committed`], which exists only while the lock is held and after the sequence was
//!   checked: publishing a stale mapping does not compile.
//! - Retry and timeout are the caller's policy: a stale fault returns [`Retry`], nothing spins.
//!
//! Lock order: mmap lock -> core mm's notifier machinery -> the notifier's state lock. Handlers run
//! under the state lock from inside core mm's invalidation: they must not allocate with
//! `GFP_KERNEL` or sleep on reclaim.

use crate::ffi::{
    p2pmm_interval_read_retry, p2pmm_interval_set_seq, p2pmm_range_blockable,
    p2pmm_trace_invalidate_finish, p2pmm_trace_invalidate_start,
};
use crate::lock_class::lock_class;
use kernel::{
    bindings,
    error::to_result,
    ffi::c_ulong,
    mm::Mm,
    prelude::*,
    sync::{aref::ARef, Mutex, MutexGuard},
    types::Opaque,
};

/// Emits the `invalidate_finish` tracepoint.
fn trace_finish(start: usize, end: usize, deferred: bool) {
    // SAFETY: Plain values.
    unsafe { p2pmm_trace_invalidate_finish(start as c_ulong, end as c_ulong, deferred) };
}

/// Why core mm invalidates a range (`enum mmu_notifier_event`).
///
/// # Examples
///
/// A migration reaches notifiers as [`Event::Migrate`] with the migration's owner, both ways: to a
/// device, and back when the CPU touches the page (the device memory's `migrate_to_ram` migrates
/// under the same owner). A zap is an [`Event::Clear`] of no owner; [`Invalidation`] shows munmap's
/// [`Event::Unmap`].
///
/// ```
/// use crate::{
///     devmem::{DevmemChunk, WholeFolios},
///     kunit_mm::TestMapping,
///     migrate::{for_each_vma_piece, MigrateVma, Select},
///     notifier::{Event, IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// // The reason and the owner of the last invalidation.
/// struct Last;
///
/// impl InvalidateHandler for Last {
///     type State = Option<(Event, usize)>;
///
///     fn invalidate(&self, inv: &Invalidation<'_>, last: &mut Option<(Event, usize)>) {
///         *last = Some((inv.event(), inv.owner()));
///     }
/// }
///
/// static OWNER: u8 = 0;
/// let owner = core::ptr::from_ref(&OWNER) as usize;
/// let chunk = KBox::pin_init(DevmemChunk::new(owner, false, WholeFolios::new()?), GFP_KERNEL)?;
/// let map = TestMapping::anonymous(PAGE_SIZE)?;
/// map.write(0, &[7; 8])?;
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Last, None),
///     GFP_KERNEL,
/// )?;
/// for_each_vma_piece(&mm, map.addr(), map.end(), 1, |vma, a, b| {
///     let mut m = MigrateVma::setup(vma, a, b, owner, Select::System, false)?;
///     m.to_device(|order| chunk.alloc(order))?;
///     m.pages();
///     m.finalize();
///     Ok(())
/// })?;
/// assert_eq!(*n.lock(), Some((Event::Migrate, owner)));
///
/// *n.lock() = None;
/// let mut data = [0u8; 8];
/// map.read(0, &mut data)?;
/// assert_eq!(data, [7; 8]);
/// assert_eq!(*n.lock(), Some((Event::Migrate, owner)));
///
/// map.zap(0, PAGE_SIZE)?;
/// assert_eq!(*n.lock(), Some((Event::Clear, 0)));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The range was unmapped (munmap, mremap).
    Unmap,
    /// Pages were cleared or replaced (e.g. COW, page migration by the CPU, zap).
    Clear,
    /// The protection of a whole VMA changed (mprotect).
    ProtectionVma,
    /// The protection of some pages changed (e.g. write-protect for fork).
    ProtectionPage,
    /// Soft-dirty tracking reset.
    SoftDirty,
    /// The address space is going away.
    Release,
    /// Pages are being migrated (`migrate_vma_*`, `migrate_device_*`); see [`Invalidation::owner`].
    Migrate,
    /// Pages are made exclusive to a device (`make_device_exclusive`).
    Exclusive,
    /// An event this binding does not know (a newer kernel).
    Other(u32),
}

/// One invalidation as core mm reports it to an [`IntervalNotifier`].
///
/// # Examples
///
/// A notifier over an anonymous mapping hears core mm invalidate it, with the range and the reason:
/// a zap clears pages ([`Event::Clear`]), munmap unmaps them ([`Event::Unmap`]).
///
/// ```
/// use crate::{
///     kunit_mm::TestMapping,
///     notifier::{Event, IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// // What the device saw: a fixed record, since a handler must not allocate.
/// #[derive(Default)]
/// struct Seen {
///     calls: usize,
///     last: Option<(usize, usize, Event)>,
///     blockable: bool,
/// }
///
/// struct Recorder;
///
/// impl InvalidateHandler for Recorder {
///     type State = Seen;
///
///     fn invalidate(&self, inv: &Invalidation<'_>, seen: &mut Seen) {
///         seen.calls += 1;
///         seen.last = Some((inv.start(), inv.end(), inv.event()));
///         seen.blockable = inv.blockable();
///     }
/// }
///
/// let mut map = TestMapping::anonymous(8 * PAGE_SIZE)?;
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Recorder, Seen::default()),
///     GFP_KERNEL,
/// )?;
/// // Faulting pages in changes no existing mapping: nothing to invalidate.
/// map.write(0, &[1; 64])?;
/// assert_eq!(n.lock().calls, 0);
///
/// map.zap(2 * PAGE_SIZE, PAGE_SIZE)?;
/// {
///     let seen = n.lock();
///     let page2 = map.addr() + 2 * PAGE_SIZE;
///     assert_eq!(seen.calls, 1);
///     assert_eq!(seen.last, Some((page2, page2 + PAGE_SIZE, Event::Clear)));
///     assert!(seen.blockable);
/// }
/// map.unmap()?;
/// let seen = n.lock();
/// assert_eq!(seen.calls, 2);
/// assert_eq!(seen.last, Some((map.addr(), map.end(), Event::Unmap)));
/// # Ok::<(), Error>(())
/// ```
pub struct Invalidation<'a> {
    range: &'a bindings::mmu_notifier_range,
}

impl Invalidation<'_> {
    /// First address of the invalidated range.
    pub fn start(&self) -> usize {
        self.range.start
    }

    /// End (exclusive) of the invalidated range.
    pub fn end(&self) -> usize {
        self.range.end
    }

    /// Why the range is invalidated.
    pub fn event(&self) -> Event {
        match self.range.event {
            bindings::mmu_notifier_event_MMU_NOTIFY_UNMAP => Event::Unmap,
            bindings::mmu_notifier_event_MMU_NOTIFY_CLEAR => Event::Clear,
            bindings::mmu_notifier_event_MMU_NOTIFY_PROTECTION_VMA => Event::ProtectionVma,
            bindings::mmu_notifier_event_MMU_NOTIFY_PROTECTION_PAGE => Event::ProtectionPage,
            bindings::mmu_notifier_event_MMU_NOTIFY_SOFT_DIRTY => Event::SoftDirty,
            bindings::mmu_notifier_event_MMU_NOTIFY_RELEASE => Event::Release,
            bindings::mmu_notifier_event_MMU_NOTIFY_MIGRATE => Event::Migrate,
            bindings::mmu_notifier_event_MMU_NOTIFY_EXCLUSIVE => Event::Exclusive,
            other => Event::Other(other),
        }
    }

    /// The `owner` core mm passed: for [`Event::Migrate`] the `pgmap_owner` of the migration, so a
    /// device can ignore the invalidations its own migrations cause. An address used only as an
    /// identity.
    pub fn owner(&self) -> usize {
        self.range.owner as usize
    }

    /// Whether the handler may sleep (false under e.g. the OOM reaper).
    pub fn blockable(&self) -> bool {
        // SAFETY: `self.range` is a valid `mmu_notifier_range` for the lifetime of `self`.
        unsafe { p2pmm_range_blockable(core::ptr::from_ref(self.range).cast()) }
    }
}

/// What a device does when part of its mirror becomes stale.
///
/// # Examples
///
/// A two-pass handler: each first pass runs under the state lock and asks for a second pass, which
/// runs without the lock once every notifier of the range had its first pass.
///
/// ```
/// use crate::{
///     kunit_mm::TestMapping,
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::{
///     page::PAGE_SIZE,
///     sync::atomic::{ordering, Atomic},
/// };
///
/// // First passes are counted in the state (under the lock), second passes in the handler (no
/// // lock).
/// struct TwoPass {
///     finished: Atomic<usize>,
/// }
///
/// impl InvalidateHandler for TwoPass {
///     type State = usize;
///
///     const TWO_PASS: bool = true;
///
///     fn invalidate(&self, _inv: &Invalidation<'_>, started: &mut usize) {
///         *started += 1;
///     }
///
///     fn invalidate_start(&self, inv: &Invalidation<'_>, started: &mut usize) -> bool {
///         self.invalidate(inv, started);
///         true
///     }
///
///     fn invalidate_finish(&self, _start: usize, _end: usize) {
///         self.finished.fetch_add(1, ordering::Relaxed);
///     }
/// }
///
/// let mut map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// let handler = TwoPass {
///     finished: Atomic::new(0),
/// };
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), handler, 0),
///     GFP_KERNEL,
/// )?;
/// map.zap(0, map.len())?;
/// map.unmap()?;
/// assert_eq!(*n.lock(), 2);
/// assert_eq!(n.handler().finished.load(ordering::Relaxed), 2);
/// # Ok::<(), Error>(())
/// ```
///
/// A handler that [`ignore`](InvalidateHandler::ignore)s an invalidation is not called for it, and
/// the notifier's sequence stays as it was: a fault read before it still commits. (A device ignores
/// only what it already accounts for, such as its own migrations.)
///
/// ```
/// use crate::{
///     kunit_mm::TestMapping,
///     notifier::{Event, IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// struct IgnoreClears;
///
/// impl InvalidateHandler for IgnoreClears {
///     type State = usize;
///
///     fn ignore(&self, inv: &Invalidation<'_>) -> bool {
///         inv.event() == Event::Clear
///     }
///
///     fn invalidate(&self, _inv: &Invalidation<'_>, calls: &mut usize) {
///         *calls += 1;
///     }
/// }
///
/// let mut map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), IgnoreClears, 0),
///     GFP_KERNEL,
/// )?;
/// let seq = n.read_begin();
/// map.zap(0, PAGE_SIZE)?;
/// assert!(n.lock_checked(seq).is_ok());
/// assert_eq!(*n.lock(), 0);
/// map.unmap()?;
/// assert!(n.lock_checked(seq).is_err());
/// assert_eq!(*n.lock(), 1);
/// # Ok::<(), Error>(())
/// ```
pub trait InvalidateHandler: Send + Sync + Sized {
    /// The state the notifier's lock protects (typically the device page table).
    type State: Send + Unpin;

    /// Called first, without the lock: return `true` to let the invalidation pass without touching
    /// the mirror (e.g. a migration this very device started, which updates the mirror itself).
    /// Must not sleep.
    fn ignore(&self, _inv: &Invalidation<'_>) -> bool {
        false
    }

    /// Called with the state lock held, after the new sequence number was recorded. On return the
    /// device must no longer use any mapping inside `[inv.start(), inv.end())`.
    fn invalidate(&self, inv: &Invalidation<'_>, state: &mut Self::State);

    /// Whether invalidations come in two passes (Linux 7.3's
    /// `invalidate_start`/`invalidate_finish`): a first pass per notifier under the state lock,
    /// then, once every notifier of the range had its first pass, a second pass without the lock.
    /// Devices whose teardown is asynchronous (TLB invalidation, queue drain) start it in the first
    /// pass and wait in the second, so all importers of a range tear down in parallel.
    const TWO_PASS: bool = false;

    /// First pass of a [`Self::TWO_PASS`] handler, under the state lock after the sequence was
    /// recorded: stop using the range and start the teardown. Returns whether a second pass is
    /// wanted.
    fn invalidate_start(&self, inv: &Invalidation<'_>, state: &mut Self::State) -> bool {
        self.invalidate(inv, state);
        false
    }

    /// Second pass of a [`Self::TWO_PASS`] handler, without the state lock: wait until the device
    /// no longer uses `[start, end)`. May run right after the first pass when core mm could not
    /// batch it (allocation failure).
    fn invalidate_finish(&self, _start: usize, _end: usize) {}

    /// Whether the device would have to wait before it stops using the range (e.g. DMA in flight
    /// there). Asked, under the state lock, only of invalidations that must not sleep (the OOM
    /// reaper's): a busy handler fails them, and core mm tries again later, instead of tearing
    /// pages down under the device.
    fn busy(&self, _inv: &Invalidation<'_>, _state: &Self::State) -> bool {
        false
    }
}

/// An invalidation past the handler's filter: the notifier, the range and, unless ignored, the
/// state lock (held, with the sequence recorded).
struct Begun<'a, T: InvalidateHandler> {
    this: &'a IntervalNotifier<T>,
    inv: Invalidation<'a>,
    guard: Option<MutexGuard<'a, T::State>>,
}

/// The second-pass record of one two-pass invalidation (`struct mmu_interval_notifier_finish` plus
/// the range).
#[repr(C)]
struct FinishPass {
    raw: bindings::mmu_interval_notifier_finish,
    start: usize,
    end: usize,
}

/// A fault raced with an invalidation: fault again (the caller decides how often and for how long).
///
/// # Examples
///
/// Whatever was read of the address space after [`IntervalNotifier::read_begin`] may be used only
/// if [`IntervalNotifier::lock_checked`] finds no invalidation ran since; otherwise it is
/// [`Retry`].
///
/// ```
/// use crate::{
///     kunit_mm::TestMapping,
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation, Retry},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// struct Nothing;
///
/// impl InvalidateHandler for Nothing {
///     type State = ();
///
///     fn invalidate(&self, _inv: &Invalidation<'_>, _state: &mut ()) {}
/// }
///
/// let map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Nothing, ()),
///     GFP_KERNEL,
/// )?;
/// let seq = n.read_begin();
/// assert!(n.lock_checked(seq).is_ok());
///
/// let seq = n.read_begin();
/// map.zap(0, PAGE_SIZE)?;
/// assert!(matches!(n.lock_checked(seq), Err(Retry)));
/// assert!(n.lock_checked(n.read_begin()).is_ok());
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry;

/// A sequence number from `mmu_interval_read_begin()`, to be checked under the state lock.
///
/// # Examples
///
/// A sequence number may be checked any number of times; only an invalidation of its notifier's
/// range makes it stale, and then for good: what was read after it must be read again, after a new
/// [`IntervalNotifier::read_begin`]. ([`Retry`] shows the read-check cycle.)
///
/// ```
/// use crate::{
///     kunit_mm::TestMapping,
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// # struct Nothing;
/// #
/// # impl InvalidateHandler for Nothing {
/// #     type State = ();
/// #
/// #     fn invalidate(&self, _inv: &Invalidation<'_>, _state: &mut ()) {}
/// # }
/// #
/// let map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// let mm = map.mm()?;
/// // The notifier watches the first two pages only.
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), 2 * PAGE_SIZE, Nothing, ()),
///     GFP_KERNEL,
/// )?;
/// let seq = n.read_begin();
/// assert!(n.lock_checked(seq).is_ok());
/// assert!(n.lock_checked(seq).is_ok());
/// // An invalidation outside the watched range leaves it current.
/// map.zap(2 * PAGE_SIZE, 2 * PAGE_SIZE)?;
/// assert!(n.lock_checked(seq).is_ok());
///
/// map.zap(0, PAGE_SIZE)?;
/// let fresh = n.read_begin();
/// assert!(n.lock_checked(seq).is_err());
/// assert!(n.lock_checked(fresh).is_ok());
/// assert!(n.lock_checked(seq).is_err());
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ReadSeq(pub(crate) c_ulong);

/// A registered `mmu_interval_notifier` over `[start, start + length)` of one address space, with
/// the device's lock and the state it protects.
///
/// # Invariants
///
/// `raw` is inserted in the interval tree of `raw.mm` from the end of initialisation until `drop`,
/// with `Self::OPS` as its ops, so core mm may call the callbacks at any time in between; `raw.mm`
/// holds a reference (`mmgrab`) to the address space for as long.
///
/// # Examples
///
/// A notifier watches its range from registration until it is dropped; its handler and state are
/// reachable through it.
///
/// ```
/// use crate::{
///     kunit_mm::TestMapping,
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// // Counts the invalidations of the range it watches.
/// struct Counter;
///
/// impl InvalidateHandler for Counter {
///     type State = usize;
///
///     fn invalidate(&self, _inv: &Invalidation<'_>, count: &mut usize) {
///         *count += 1;
///     }
/// }
///
/// let map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// let mm = map.mm()?;
/// // Only the second half of the mapping is watched.
/// let half = map.addr() + 2 * PAGE_SIZE;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, half, 2 * PAGE_SIZE, Counter, 0),
///     GFP_KERNEL,
/// )?;
/// assert!(n.mm().is_some_and(|m| m.as_raw() == mm.as_raw()));
/// map.zap(0, 2 * PAGE_SIZE)?;
/// assert_eq!(*n.lock(), 0);
/// map.zap(PAGE_SIZE, 2 * PAGE_SIZE)?;
/// assert_eq!(*n.lock(), 1);
///
/// // An empty or wrapping range cannot be watched.
/// let empty = KBox::pin_init(IntervalNotifier::new(&mm, half, 0, Counter, 0), GFP_KERNEL);
/// assert_eq!(empty.err(), Some(EINVAL));
/// let top = usize::MAX & !(PAGE_SIZE - 1);
/// let wrapping = KBox::pin_init(
///     IntervalNotifier::new(&mm, top, 2 * PAGE_SIZE, Counter, 0),
///     GFP_KERNEL,
/// );
/// assert_eq!(wrapping.err(), Some(EINVAL));
/// # Ok::<(), Error>(())
/// ```
#[pin_data(PinnedDrop)]
pub struct IntervalNotifier<T: InvalidateHandler> {
    #[pin]
    raw: Opaque<bindings::mmu_interval_notifier>,
    #[pin]
    state: Mutex<T::State>,
    handler: T,
}

// SAFETY: The raw notifier is only touched through core mm's own synchronisation and the state
// lock; `T` is `Send + Sync` and the state is `Send` behind a mutex.
unsafe impl<T: InvalidateHandler> Send for IntervalNotifier<T> {}
// SAFETY: See the `Send` implementation.
unsafe impl<T: InvalidateHandler> Sync for IntervalNotifier<T> {}

impl<T: InvalidateHandler> IntervalNotifier<T> {
    const OPS: bindings::mmu_interval_notifier_ops = bindings::mmu_interval_notifier_ops {
        invalidate: Some(Self::invalidate_callback),
        invalidate_start: if T::TWO_PASS {
            Some(Self::invalidate_start_callback)
        } else {
            None
        },
        invalidate_finish: if T::TWO_PASS {
            Some(Self::invalidate_finish_callback)
        } else {
            None
        },
    };

    /// Registers a notifier over `[start, start + length)` of `mm`.
    ///
    /// Fails with `EINVAL` for an empty or wrapping range and with what
    /// `mmu_interval_notifier_insert()` returns (e.g. `ENOMEM`).
    pub fn new<'a>(
        mm: &'a Mm,
        start: usize,
        length: usize,
        handler: T,
        state: T::State,
    ) -> impl PinInit<Self, Error> + 'a
    where
        T: 'a,
        T::State: 'a,
    {
        try_pin_init!(&this in Self {
            raw: Opaque::uninit(),
            state <- {
                let (name, key) = lock_class!("p2pmm_interval_notifier");
                Mutex::new(state, name, key)
            },
            handler,
            _: {
                if length == 0 || start.checked_add(length).is_none() {
                    return Err(EINVAL);
                }
                // SAFETY: `this` points to a pinned `Self` whose fields are all initialised, so the
                // callback may run as soon as the insert returns; `Self::OPS` is a constant, hence
                // `'static`; `mm` is a valid address space (the insert takes its own `mmgrab`
                // reference). INVARIANT: inserted here, removed in `drop`.
                to_result(unsafe {
                    bindings::mmu_interval_notifier_insert(
                        Opaque::cast_into(core::ptr::addr_of!((*this.as_ptr()).raw)),
                        mm.as_raw(),
                        start as c_ulong,
                        length as c_ulong,
                        &Self::OPS,
                    )
                })?;
            },
        })
    }

    fn raw(&self) -> *mut bindings::mmu_interval_notifier {
        self.raw.get()
    }

    /// The device's handler.
    pub fn handler(&self) -> &T {
        &self.handler
    }

    /// Takes the state lock, e.g. to read the mirror or tear part of it down. Publishing new
    /// mappings goes through [`crate::hmm::Faulted::commit`] instead, which also checks the
    /// sequence.
    pub fn lock(&self) -> MutexGuard<'_, T::State> {
        self.state.lock()
    }

    /// The address space this notifier mirrors, if it still has users (`mmget_not_zero`).
    pub fn mm(&self) -> Option<ARef<kernel::mm::MmWithUser>> {
        // SAFETY: By the type invariant `raw.mm` is set and holds an `mmgrab` reference while
        // `self` lives.
        let mm = unsafe { Mm::from_raw((*self.raw()).mm) };
        mm.mmget_not_zero()
    }

    /// Starts a read-side critical section (`mmu_interval_read_begin`).
    pub fn read_begin(&self) -> ReadSeq {
        // SAFETY: By the type invariant the notifier is inserted.
        ReadSeq(unsafe { bindings::mmu_interval_read_begin(self.raw()) })
    }

    /// Takes the state lock and checks that no invalidation ran since `seq` was read; the lock is
    /// released on [`Retry`].
    pub fn lock_checked(&self, seq: ReadSeq) -> Result<MutexGuard<'_, T::State>, Retry> {
        let guard = self.state.lock();
        // SAFETY: By the type invariant the notifier is inserted; the state lock, which the
        // invalidate callback takes around `mmu_interval_set_seq`, is held.
        if unsafe { p2pmm_interval_read_retry(self.raw().cast(), seq.0) } {
            return Err(Retry);
        }
        Ok(guard)
    }

    /// Whether an invalidation ran since `seq` was read, without the state lock: for a client
    /// whose invalidate handler takes a lock of the client's own, which the client holds around
    /// this check and its use of what it published (`mmu_interval_read_retry()`'s "user_lock").
    pub fn read_retry(&self, seq: ReadSeq) -> bool {
        // SAFETY: By the type invariant the notifier is inserted.
        unsafe { p2pmm_interval_read_retry(self.raw().cast(), seq.0) }
    }

    /// The raw notifier, for the other binding files of this layer (e.g. `hmm_range.notifier`).
    pub(crate) fn as_raw(&self) -> *mut bindings::mmu_interval_notifier {
        self.raw()
    }

    /// The common first part of both ops: the handler's filter, the lock, the sequence. `None` when
    /// the lock could not be taken without sleeping in a non-blockable context, or the handler is
    /// [busy] in one.
    ///
    /// [busy]: InvalidateHandler::busy
    ///
    /// # Safety
    ///
    /// `sub` is the `raw` field of an inserted `Self`, `range` valid for the call (core mm's
    /// callback contract).
    unsafe fn begin<'a>(
        sub: *mut bindings::mmu_interval_notifier,
        range: *const bindings::mmu_notifier_range,
        cur_seq: c_ulong,
    ) -> Option<Begun<'a, T>> {
        // SAFETY: Core mm only calls the ops for notifiers inserted with `Self::OPS`, i.e. the
        // `raw` field of a live `Self` (type invariant: removed before it is dropped).
        let this = unsafe { &*kernel::container_of!(Opaque::cast_from(sub), Self, raw) };
        let inv = Invalidation {
            // SAFETY: Core mm passes a valid range for the duration of the call.
            range: unsafe { &*range },
        };
        if this.handler.ignore(&inv) {
            return Some(Begun {
                this,
                inv,
                guard: None,
            });
        }
        // SAFETY: Plain values.
        unsafe {
            p2pmm_trace_invalidate_start(
                inv.start() as c_ulong,
                inv.end() as c_ulong,
                inv.range.event,
                inv.owner() as c_ulong,
                T::TWO_PASS,
            )
        };
        let guard = if inv.blockable() {
            this.state.lock()
        } else {
            this.state.try_lock()?
        };
        // SAFETY: `sub` is inserted and the state lock is held, as `mmu_interval_set_seq` requires.
        unsafe { p2pmm_interval_set_seq(sub.cast(), cur_seq) };
        if !inv.blockable() && this.handler.busy(&inv, &guard) {
            return None;
        }
        Some(Begun {
            this,
            inv,
            guard: Some(guard),
        })
    }

    /// The `invalidate` op of `Self::OPS`.
    ///
    /// # Safety
    ///
    /// Called by core mm only, with `sub` the `raw` field of an inserted `Self` and `range` valid
    /// for the call.
    unsafe extern "C" fn invalidate_callback(
        sub: *mut bindings::mmu_interval_notifier,
        range: *const bindings::mmu_notifier_range,
        cur_seq: c_ulong,
    ) -> bool {
        // SAFETY: Forwarded from core mm's contract.
        let Some(Begun { this, inv, guard }) = (unsafe { Self::begin(sub, range, cur_seq) }) else {
            return false;
        };
        if let Some(mut guard) = guard {
            this.handler.invalidate(&inv, &mut guard);
        }
        true
    }

    /// The `invalidate_start` op of `Self::OPS` (two-pass handlers).
    ///
    /// # Safety
    ///
    /// As [`Self::invalidate_callback`]; `finish` is a valid out pointer holding null.
    unsafe extern "C" fn invalidate_start_callback(
        sub: *mut bindings::mmu_interval_notifier,
        range: *const bindings::mmu_notifier_range,
        cur_seq: c_ulong,
        finish: *mut *mut bindings::mmu_interval_notifier_finish,
    ) -> bool {
        // SAFETY: Forwarded from core mm's contract.
        let Some(Begun { this, inv, guard }) = (unsafe { Self::begin(sub, range, cur_seq) }) else {
            return false;
        };
        let Some(mut guard) = guard else {
            return true;
        };
        if !this.handler.invalidate_start(&inv, &mut guard) {
            return true;
        }
        drop(guard);
        let pass = FinishPass {
            raw: bindings::mmu_interval_notifier_finish::default(),
            start: inv.start(),
            end: inv.end(),
        };
        match KBox::new(pass, GFP_NOWAIT) {
            Ok(pass) => {
                // Core mm links the record and hands it back to `invalidate_finish_callback`, which
                // frees it. SAFETY: `finish` is a valid out pointer (core mm's contract).
                unsafe { *finish = &raw mut (*KBox::into_raw(pass)).raw };
            }
            // No memory to defer the second pass: run it now, as the op's contract asks.
            Err(_) => {
                trace_finish(inv.start(), inv.end(), false);
                this.handler.invalidate_finish(inv.start(), inv.end());
            }
        }
        true
    }

    /// The `invalidate_finish` op of `Self::OPS` (two-pass handlers).
    ///
    /// # Safety
    ///
    /// Called by core mm only, with a record returned by [`Self::invalidate_start_callback`] whose
    /// `notifier` core mm set to the `raw` field of the live `Self`.
    unsafe extern "C" fn invalidate_finish_callback(
        finish: *mut bindings::mmu_interval_notifier_finish,
    ) {
        // SAFETY: `finish` is the `raw` field (first, `repr(C)`) of a `FinishPass` leaked from a
        // `KBox` by `invalidate_start_callback`; ownership comes back here exactly once.
        let pass = unsafe { KBox::from_raw(finish.cast::<FinishPass>()) };
        let raw = Opaque::cast_from(pass.raw.notifier);
        // SAFETY: Core mm set `notifier` to our inserted notifier, which outlives its
        // invalidations.
        let this = unsafe { &*kernel::container_of!(raw, Self, raw) };
        trace_finish(pass.start, pass.end, true);
        this.handler.invalidate_finish(pass.start, pass.end);
    }
}

#[pinned_drop]
impl<T: InvalidateHandler> PinnedDrop for IntervalNotifier<T> {
    fn drop(self: Pin<&mut Self>) {
        // Removal waits for running callbacks, so none can see `self` after it, and drops the
        // `mmgrab` reference. SAFETY: By the type invariant the notifier is inserted.
        unsafe { bindings::mmu_interval_notifier_remove(self.raw()) };
    }
}
