// SPDX-License-Identifier: GPL-2.0

//! Rust binding of `include/linux/p2pmm.h` for Rust drivers outside `p2pmm.ko`.
//!
//! An out-of-tree Rust module cannot use another module's Rust API, but it can call the C symbols
//! `p2pmm.ko` exports (namespace `P2PMM`). A driver compiles this file into its own crate
//! (`#[path]` to `include/rust/p2pmm.rs`, as a C driver includes the header) and imports the
//! namespace (`imports_ns: ["P2PMM"]` in its `module!`). What it offers is the header's, with
//! ownership: a [`Registration`] is a provider that goes away when it is dropped, a [`LentEngine`]
//! a device's copy engine that is taken back from every provider it was lent to when it is
//! dropped, an [`Importer`] a device's import of a process's range that ends when it is dropped.

use core::{marker::PhantomPinned, ptr::NonNull};
use kernel::ffi::{c_int, c_uint, c_ulong, c_void};
use kernel::{
    device::Bound,
    mm::MmWithUser,
    new_mutex, pci,
    prelude::*,
    sync::{aref::ARef, Mutex},
    types::Opaque,
};

// The functions of `include/linux/p2pmm.h` this binding wraps, declared once. `struct pci_dev`,
// `struct device`, `struct mm_struct` and `struct p2pmm_importer` are `void *` here: the first
// holds zero-sized arrays that rustc's FFI-safety lint rejects, and this file needs none of their
// fields.
extern "C" {
    fn p2pmm_register_static(pdev: *mut c_void, bar: c_int, size: u64, offset: u64) -> c_int;
    fn p2pmm_register_managed(pdev: *mut c_void, bar: c_int, size: u64, offset: u64) -> c_int;
    fn p2pmm_unregister(pdev: *mut c_void, id: u32) -> c_int;
    fn p2pmm_set_copy_engine(pdev: *mut c_void, id: u32, engine: *mut RawCopyEngine) -> c_int;
    fn p2pmm_importer_create(
        dev: *mut c_void,
        mm: *mut c_void,
        start: c_ulong,
        length: c_ulong,
        ops: *const RawImporterOps,
        private: *mut c_void,
    ) -> *mut c_void;
    fn p2pmm_importer_priv(imp: *mut c_void) -> *mut c_void;
    fn p2pmm_importer_map(
        imp: *mut c_void,
        flags: c_uint,
        addrs: *mut u64,
        routes: *mut u8,
        seq: *mut c_ulong,
    ) -> c_int;
    fn p2pmm_importer_retry(imp: *mut c_void, seq: c_ulong) -> bool;
    fn p2pmm_importer_destroy(imp: *mut c_void);
}

/// `struct p2pmm_importer_ops` of the header, field for field.
#[repr(C)]
struct RawImporterOps {
    invalidate: Option<unsafe extern "C" fn(*mut c_void, c_ulong, c_ulong)>,
    invalidate_start: Option<unsafe extern "C" fn(*mut c_void, c_ulong, c_ulong) -> bool>,
    invalidate_finish: Option<unsafe extern "C" fn(*mut c_void, c_ulong, c_ulong)>,
}

/// `struct p2pmm_copy_engine` of the header, field for field (`dev` is a `struct device *`).
#[repr(C)]
struct RawCopyEngine {
    dev: *mut c_void,
    copy: Option<unsafe extern "C" fn(*mut RawCopyEngine, *const CopyPage, c_uint) -> c_int>,
}

// `dma_addr_t` is 64 bits wide where p2pmm builds (x86-64): `map` hands the C side `u64`s.
const _: () = assert!(core::mem::size_of::<kernel::bindings::dma_addr_t>() == 8);

/// The raw `struct pci_dev` of a device: `pci::Device` is `#[repr(transparent)]` over
/// `Opaque<bindings::pci_dev>`.
fn raw<Ctx: kernel::device::DeviceContext>(pdev: &pci::Device<Ctx>) -> *mut c_void {
    core::ptr::from_ref(pdev).cast_mut().cast()
}

/// A provider a driver registered on its device: static (p2pdma) or managed memory in a BAR.
///
/// # Examples
///
/// A probe that offers the first 16 MiB of BAR 2 as static memory and the next 8 MiB as managed
/// memory, for as long as the driver is bound. Not a KUnit case (it needs a device bound to the
/// calling driver): `drivers/vaccel/vaccel.rs`, the full driver, is what compiles and runs it.
///
/// ```ignore
/// use crate::p2pmm::Registration;
/// use kernel::{device::Core, pci};
///
/// // The driver's data of one device, dropped at unbind: the managed memory goes first, its pages
/// // back to system memory.
/// struct Bound {
///     managed: Registration,
///     stat: Registration,
/// }
///
/// fn probe(pdev: &pci::Device<Core<'_>>) -> Result<Bound> {
///     pdev.enable_device_mem()?;
///     let stat = Registration::new_static(pdev, 2, 16 << 20, 0)?;
///     let managed = Registration::new_managed(pdev, 2, 8 << 20, 16 << 20)?;
///     pr_info!("providers {} and {}\n", stat.id(), managed.id());
///     Ok(Bound { managed, stat })
/// }
/// ```
///
/// # Invariants
///
/// `id` is a provider registered on `pdev` that only p2pmm's revocation (a static provider, at
/// unbind) or this value's drop unregisters, once.
pub struct Registration {
    pdev: ARef<pci::Device>,
    id: u32,
}

impl Registration {
    /// Offers `size` bytes of `bar` from `offset` (both multiples of 2 MiB) as static memory
    /// (`p2pmm_register_static()`): `EINVAL` for a bad range, `EEXIST` if the device has a static
    /// provider, `ENOMEM`, or p2pdma's error.
    pub fn new_static(pdev: &pci::Device<Bound>, bar: u32, size: u64, offset: u64) -> Result<Self> {
        let bar = c_int::try_from(bar).map_err(|_| EINVAL)?;
        // SAFETY: `pdev` is bound to the calling driver (its type says so) for this call.
        Self::from_ret(pdev, unsafe {
            p2pmm_register_static(raw(pdev), bar, size, offset)
        })
    }

    /// Offers `size` bytes of `bar` from `offset` (both multiples of 2 MiB, not overlapping the
    /// static range) as managed memory (`p2pmm_register_managed()`): `EINVAL` for a bad range,
    /// `EBUSY` if p2pdma handed out part of it, `ENOMEM`.
    pub fn new_managed(
        pdev: &pci::Device<Bound>,
        bar: u32,
        size: u64,
        offset: u64,
    ) -> Result<Self> {
        let bar = c_int::try_from(bar).map_err(|_| EINVAL)?;
        // SAFETY: As in `new_static`.
        Self::from_ret(pdev, unsafe {
            p2pmm_register_managed(raw(pdev), bar, size, offset)
        })
    }

    fn from_ret(pdev: &pci::Device<Bound>, ret: c_int) -> Result<Self> {
        let id = u32::try_from(kernel::error::to_result(ret).map(|()| ret)?).map_err(|_| EINVAL)?;
        let pdev: &pci::Device = pdev;
        // INVARIANT: p2pmm registered provider `id` on `pdev`.
        Ok(Self {
            pdev: ARef::from(pdev),
            id,
        })
    }

    /// The provider's id, as `P2PMM_IOC_PROVIDERS` and `/sys/kernel/p2pmm/providers/` list it.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // A static provider is already gone when its device unbinds (p2pmm revokes static memory
        // from the PCI bus notifier, before the driver's remove): `ENOENT`, the only error, then.
        // SAFETY: `id` was registered on `pdev` (type invariant); the driver is still bound (the
        // value lives in its per-device data, dropped at unbind before devres releases the BAR).
        let _ = unsafe { p2pmm_unregister(raw(&self.pdev), self.id) };
    }
}

/// One page for a [`CopyEngine`] to copy, `struct p2pmm_copy` of the header: `PAGE_SIZE` bytes
/// from `src` to `dst`, both DMA addresses of the engine's device (p2pmm mapped them for it).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyPage {
    /// Where to.
    pub dst: u64,
    /// Where from.
    pub src: u64,
}

/// A device's DMA engine that copies memory to memory. Lent to managed providers through a
/// [`LentEngine`], it moves their pages to and from peer providers instead of the CPU.
pub trait CopyEngine: Send + Sync {
    /// Copies every page of `pages` and returns when all are done. An error means some copy may
    /// not have happened: p2pmm then copies the whole batch with the CPU. Called in process
    /// context with the pages' locks held, may sleep; at most 256 pages at once; copies for
    /// several providers may come at once (an engine serialises itself).
    fn copy(&self, pages: &[CopyPage]) -> Result;
}

/// A [`CopyEngine`] of a device, as the header's `struct p2pmm_copy_engine`, which its driver
/// lends to managed providers ([`LentEngine::lend`]). Dropping it takes it back from each of them
/// first, waiting for a copy in progress, so p2pmm never calls an engine that is gone.
///
/// # Examples
///
/// An engine is lent only to a managed provider its device has: p2pmm refuses others, and an
/// engine lent to none is simply dropped. (`drivers/vaccel/vaccel.rs` lends QEMU's `edu` to the
/// accelerator memory of its slot.)
///
/// ```
/// use crate::{
///     p2pmm_binding::{CopyEngine, CopyPage, LentEngine},
///     pci_p2p,
/// };
/// use kernel::{pci, prelude::*, sync::aref::ARef};
///
/// // An engine that never copies: p2pmm would copy with the CPU instead.
/// struct Broken;
///
/// impl CopyEngine for Broken {
///     fn copy(&self, _pages: &[CopyPage]) -> Result {
///         Err(EIO)
///     }
/// }
///
/// let mut first = None;
/// pci_p2p::for_each(|pdev| {
///     if first.is_none() {
///         first = Some(ARef::<pci::Device>::from(pdev));
///     }
/// });
/// let pdev = first.ok_or(ENODEV)?;
/// // An engine without pinned state is its own initializer (a `Result` of it).
/// let engine = LentEngine::new(pdev.as_ref(), Ok::<_, Error>(Broken));
/// let engine = KBox::pin_init(engine, GFP_KERNEL)?;
/// // Provider ids start at 1: there is no provider 0, on this device or any.
/// assert_eq!(engine.as_ref().lend(&pdev, 0), Err(ENOENT));
/// assert_eq!(engine.lent(), 0);
/// assert_eq!(engine.engine().copy(&[]), Err(EIO));
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `raw` holds a pointer to `dev`'s `struct device` (which `dev` keeps alive) and
/// [`LentEngine::copy_callback`]; the providers in `lent` are the only ones that may hold a
/// pointer to `raw`, and this value's drop takes it back from each of them.
#[pin_data(PinnedDrop)]
pub struct LentEngine<E: CopyEngine> {
    #[pin]
    raw: Opaque<RawCopyEngine>,
    dev: ARef<kernel::device::Device>,
    #[pin]
    lent: Mutex<KVec<(ARef<pci::Device>, u32)>>,
    #[pin]
    engine: E,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: `raw` is written only while the value is initialized and then only read (by p2pmm, from
// any thread, as the header allows); `dev` and `lent` may be used from any thread; `E` is `Send`.
unsafe impl<E: CopyEngine> Send for LentEngine<E> {}
// SAFETY: As above; `E` is `Sync`, and `lent` is behind its mutex.
unsafe impl<E: CopyEngine> Sync for LentEngine<E> {}

impl<E: CopyEngine> LentEngine<E> {
    /// The engine of `dev`, the DMA master p2pmm maps every address for; lent to no provider yet.
    pub fn new(
        dev: &kernel::device::Device,
        engine: impl PinInit<E, Error>,
    ) -> impl PinInit<Self, Error> {
        let raw_dev = core::ptr::from_ref(dev).cast_mut().cast::<c_void>();
        let held = ARef::from(dev);
        // INVARIANT: `raw` points to `dev`'s device, held by `held`, and to the copy callback; lent
        // to none.
        try_pin_init!(Self {
            raw: Opaque::new(RawCopyEngine {
                dev: raw_dev,
                copy: Some(Self::copy_callback),
            }),
            dev: held,
            lent <- new_mutex!(KVec::new(), "p2pmm_lent_engine"),
            engine <- engine,
            _pin: PhantomPinned,
        })
    }

    /// The engine.
    pub fn engine(&self) -> &E {
        &self.engine
    }

    /// The device whose DMA the engine is.
    pub fn device(&self) -> &kernel::device::Device {
        &self.dev
    }

    /// How many providers it was lent to.
    pub fn lent(&self) -> usize {
        self.lent.lock().len()
    }

    /// Lends the engine to managed provider `id` of `pdev` (`p2pmm_set_copy_engine()`): moves
    /// between that provider and its peers use it from now on, until this value is dropped or the
    /// provider goes. `ENOENT` if `pdev` has no provider `id`, `EINVAL` if it is not a managed
    /// provider, `ENOMEM`.
    pub fn lend(self: Pin<&Self>, pdev: &pci::Device, id: u32) -> Result {
        let mut lent = self.lent.lock();
        lent.reserve(1, GFP_KERNEL)?;
        // SAFETY: `raw` is pinned, points to a live device and the copy callback (type
        // invariant), and stays valid until this value is dropped; the drop takes it back from
        // `pdev`'s provider `id`, recorded below, before `raw` goes.
        kernel::error::to_result(unsafe { p2pmm_set_copy_engine(raw(pdev), id, self.raw.get()) })?;
        // INVARIANT: the provider that may now hold `raw` is recorded. Within the reserved room.
        lent.push_within_capacity((ARef::from(pdev), id))
            .map_err(|_| ENOMEM)
    }

    /// # Safety
    ///
    /// Called by p2pmm only, with `raw` the `raw` of a [`LentEngine`] lent to one of its providers
    /// and `copies` `n` pages.
    unsafe extern "C" fn copy_callback(
        raw: *mut RawCopyEngine,
        copies: *const CopyPage,
        n: c_uint,
    ) -> c_int {
        // `Opaque<T>` is `#[repr(transparent)]` over `T`.
        let field = raw.cast::<Opaque<RawCopyEngine>>();
        // SAFETY: `raw` is the field of a `LentEngine`, alive while it is lent (this function's
        // contract and the type invariant).
        let this = unsafe { &*kernel::container_of!(field, Self, raw) };
        // SAFETY: p2pmm passes `n` pages at `copies` (this function's contract).
        let pages = unsafe { core::slice::from_raw_parts(copies, n as usize) };
        match this.engine.copy(pages) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }
}

#[pinned_drop]
impl<E: CopyEngine> PinnedDrop for LentEngine<E> {
    fn drop(self: Pin<&mut Self>) {
        for (pdev, id) in self.lent.lock().drain_all() {
            // A provider that went meanwhile (`ENOENT`) forgot the engine already. One whose id was
            // reused on the same device has its engine taken back too.
            // SAFETY: `pdev` is a live device (referenced); taking an engine back needs nothing
            // more, and waits for the copy in progress.
            let _ = unsafe { p2pmm_set_copy_engine(raw(&pdev), id, core::ptr::null_mut()) };
        }
    }
}

/// `P2PMM_IMPORT_WRITE`: the device writes (every page is made writable).
pub const IMPORT_WRITE: u32 = 1 << 0;
/// `P2PMM_IMPORT_NO_P2P`: the device takes no P2P memory (managed pages move to system memory).
pub const IMPORT_NO_P2P: u32 = 1 << 1;
/// `P2PMM_IMPORT_PIN`: the mapping pins the managed pages it reaches in place (revocable).
pub const IMPORT_PIN: u32 = 1 << 2;

/// A driver's side of an [`Importer`]: told when part of the range changes, in one pass
/// ([`ImporterClient::invalidate`]) or, with [`ImporterClient::TWO_PASS`], in two.
///
/// # Examples
///
/// A device whose teardown is asynchronous (a TLB flush it queues) stops new accesses in the
/// first pass and waits for the flush in the second, after every importer of the range had its
/// first: p2pmm calls both when a mapped page is unmapped.
///
/// ```
/// use crate::{
///     kunit_mm::TestMapping,
///     p2pmm_binding::{Importer, ImporterClient},
///     pci_p2p,
/// };
/// use kernel::{
///     device::Device,
///     page::PAGE_SIZE,
///     sync::{
///         aref::ARef,
///         atomic::{ordering, Atomic},
///     },
/// };
///
/// struct Tlb {
///     queued: Atomic<u32>,
///     waited: Atomic<u32>,
///     whole: Atomic<u32>,
/// }
///
/// impl ImporterClient for Tlb {
///     const TWO_PASS: bool = true;
///
///     // Never called for a two-pass client.
///     fn invalidate(&self, _start: usize, _end: usize) {
///         self.whole.fetch_add(1, ordering::Relaxed);
///     }
///
///     fn invalidate_start(&self, _start: usize, _end: usize) -> bool {
///         self.queued.fetch_add(1, ordering::Relaxed);
///         true // the flush is still running
///     }
///
///     fn invalidate_finish(&self, _start: usize, _end: usize) {
///         self.waited.fetch_add(1, ordering::Relaxed);
///     }
/// }
///
/// let mut first = None;
/// pci_p2p::for_each(|pdev| {
///     if first.is_none() {
///         first = Some(ARef::<Device>::from(pdev.as_ref()));
///     }
/// });
/// let dev = first.ok_or(ENODEV)?;
/// let map = TestMapping::anonymous(2 * PAGE_SIZE)?;
/// map.write(0, &[1; 8])?;
/// let mm = map.mm()?;
/// let tlb = Tlb { queued: Atomic::new(0), waited: Atomic::new(0), whole: Atomic::new(0) };
/// let imp = Importer::new(&dev, &mm, map.addr(), map.len(), tlb)?;
/// let mut addrs = [0u64; 2];
/// let seq = imp.map(0, &mut addrs, None)?;
/// map.zap(0, PAGE_SIZE)?;
/// assert_eq!(imp.client().queued.load(ordering::Relaxed), 1);
/// assert_eq!(imp.client().waited.load(ordering::Relaxed), 1);
/// assert_eq!(imp.client().whole.load(ordering::Relaxed), 0);
/// assert!(imp.retry(seq));
/// // No mapping, no callback.
/// map.zap(0, PAGE_SIZE)?;
/// assert_eq!(imp.client().queued.load(ordering::Relaxed), 1);
/// # Ok::<(), Error>(())
/// ```
pub trait ImporterClient: Send + Sync {
    /// Whether p2pmm tears the device's mapping down in two passes
    /// ([`ImporterClient::invalidate_start`], then [`ImporterClient::invalidate_finish`]; the
    /// header's `ops->invalidate_start` and `ops->invalidate_finish`) instead of one
    /// ([`ImporterClient::invalidate`], `ops->invalidate`).
    const TWO_PASS: bool = false;

    /// Part of the range, `[start, end)`, changes (`ops->invalidate`; called only without
    /// [`ImporterClient::TWO_PASS`]): on return the device no longer uses any address of the
    /// current mapping. Called under p2pmm's lock of the importer, only while there is a mapping;
    /// may sleep; must not map or drop the importer (that deadlocks).
    fn invalidate(&self, start: usize, end: usize);

    /// The first pass (`ops->invalidate_start`; called only with [`ImporterClient::TWO_PASS`]),
    /// under the same lock and rules as [`ImporterClient::invalidate`]: on return the device starts
    /// no new access to the mapping. Returns whether an access may still be finishing: then
    /// [`ImporterClient::invalidate_finish`] follows, once every importer of the range had its
    /// first pass. The default does the whole teardown here.
    fn invalidate_start(&self, start: usize, end: usize) -> bool {
        self.invalidate(start, end);
        false
    }

    /// The second pass (`ops->invalidate_finish`), without p2pmm's lock: on return the device no
    /// longer uses any address of the mapping. May sleep.
    fn invalidate_finish(&self, _start: usize, _end: usize) {}
}

/// A device's import of a range of a process's memory (`p2pmm_importer_*`): [`Importer::map`]
/// gives the DMA address and route of every page wherever it is, and the client is told before any
/// page of a mapping moves. Dropping it ends the import.
///
/// # Examples
///
/// A device maps four pages of anonymous memory, each at a DMA address of its own in system
/// memory; unmapping one of them reaches the client, and the mapping's sequence says so.
///
/// ```
/// use crate::{
///     kunit_mm::TestMapping,
///     p2pmm_binding::{Importer, ImporterClient, IMPORT_WRITE},
///     pci_p2p,
/// };
/// use kernel::{
///     device::Device,
///     page::PAGE_SIZE,
///     sync::{
///         aref::ARef,
///         atomic::{ordering, Atomic},
///     },
/// };
///
/// struct Engine {
///     told: Atomic<u32>,
/// }
///
/// impl ImporterClient for Engine {
///     fn invalidate(&self, _start: usize, _end: usize) {
///         self.told.fetch_add(1, ordering::Relaxed);
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
/// let engine = Engine { told: Atomic::new(0) };
/// let imp = Importer::new(&dev, &mm, map.addr(), map.len(), engine)?;
/// let (mut addrs, mut routes) = ([0u64; 4], [0u8; 4]);
/// let seq = imp.map(IMPORT_WRITE, &mut addrs, Some(&mut routes))?;
/// assert!(!imp.retry(seq));
/// assert_eq!(routes, [1; 4]); // P2PMM_DMA_SYSTEM
/// assert!((1..4).all(|i| addrs[i] != 0 && !addrs[..i].contains(&addrs[i])));
/// map.zap(PAGE_SIZE, PAGE_SIZE)?;
/// assert_eq!(imp.client().told.load(ordering::Relaxed), 1);
/// assert!(imp.retry(seq));
/// // Output slices must cover the range, and flags be known.
/// assert_eq!(imp.map(0, &mut addrs[..3], None).err(), Some(EINVAL));
/// assert_eq!(imp.map(1 << 9, &mut addrs, None).err(), Some(EINVAL));
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `raw` is a `struct p2pmm_importer` this value created and destroys once, whose private pointer
/// is `client`'s (which lives, pinned in its box, until after that destruction), with the ops of
/// [`Importer::OPS`]; it imports `pages` pages.
pub struct Importer<T: ImporterClient> {
    raw: NonNull<c_void>,
    client: Pin<KBox<T>>,
    pages: usize,
}

// SAFETY: The importer may be used from any thread (the header's contract); `T` is `Send + Sync`.
unsafe impl<T: ImporterClient> Send for Importer<T> {}
// SAFETY: `map`, `retry` and the callbacks may run concurrently (the header's contract).
unsafe impl<T: ImporterClient> Sync for Importer<T> {}

impl<T: ImporterClient> Importer<T> {
    /// One of the header's two ways (it refuses both, and neither).
    const OPS: RawImporterOps = if T::TWO_PASS {
        RawImporterOps {
            invalidate: None,
            invalidate_start: Some(Self::start_callback),
            invalidate_finish: Some(Self::finish_callback),
        }
    } else {
        RawImporterOps {
            invalidate: Some(Self::invalidate_callback),
            invalidate_start: None,
            invalidate_finish: None,
        }
    };

    /// The client of a live importer.
    ///
    /// # Safety
    ///
    /// `imp` is an importer of [`Importer::new`] during one of its callbacks (its private pointer
    /// is a `T` alive until the importer is destroyed).
    unsafe fn client_of<'a>(imp: *mut c_void) -> &'a T {
        // SAFETY: `imp` is live during its callback; its private pointer is the pinned `T`
        // (type invariant of `Importer`), which outlives the importer and so the callback.
        unsafe { &*p2pmm_importer_priv(imp).cast::<T>() }
    }

    /// # Safety
    ///
    /// Called by p2pmm only, for an importer of [`Importer::new`].
    unsafe extern "C" fn invalidate_callback(imp: *mut c_void, start: c_ulong, end: c_ulong) {
        // SAFETY: A callback of such an importer (this function's contract).
        unsafe { Self::client_of(imp) }.invalidate(start, end);
    }

    /// # Safety
    ///
    /// Called by p2pmm only, for an importer of [`Importer::new`].
    unsafe extern "C" fn start_callback(imp: *mut c_void, start: c_ulong, end: c_ulong) -> bool {
        // SAFETY: A callback of such an importer (this function's contract).
        unsafe { Self::client_of(imp) }.invalidate_start(start, end)
    }

    /// # Safety
    ///
    /// Called by p2pmm only, for an importer of [`Importer::new`].
    unsafe extern "C" fn finish_callback(imp: *mut c_void, start: c_ulong, end: c_ulong) {
        // SAFETY: A callback of such an importer (this function's contract).
        unsafe { Self::client_of(imp) }.invalidate_finish(start, end);
    }

    /// Imports `[start, start + length)` of `mm` (which has users) for `dev` (the device that DMAs,
    /// whose DMA mask and route decide each page's address), told to `client`
    /// (`p2pmm_importer_create()`). `EINVAL` for an unaligned, empty or wrapping range, `ENOMEM`.
    pub fn new(
        dev: &kernel::device::Device,
        mm: &MmWithUser,
        start: usize,
        length: usize,
        client: T,
    ) -> Result<Self> {
        let client = KBox::pin(client, GFP_KERNEL)?;
        let private = core::ptr::from_ref::<T>(&client)
            .cast_mut()
            .cast::<c_void>();
        // SAFETY: `dev` and `mm` are live for the call (p2pmm takes its references); `OPS` is a
        // constant in static memory; `private` is the pinned client, kept until after destroy.
        let raw = unsafe {
            p2pmm_importer_create(
                core::ptr::from_ref(dev).cast_mut().cast(),
                mm.as_raw().cast(),
                start,
                length,
                &Self::OPS,
                private,
            )
        };
        let raw = NonNull::new(kernel::error::from_err_ptr(raw)?).ok_or(ENOMEM)?;
        // INVARIANT: created with `OPS` and `client` as its private pointer, for `length` bytes.
        Ok(Self {
            raw,
            client,
            pages: length / kernel::page::PAGE_SIZE,
        })
    }

    /// The client given to [`Importer::new`].
    pub fn client(&self) -> &T {
        &self.client
    }

    /// Maps every page for the device (`p2pmm_importer_map()`, `flags` of `IMPORT_*`): each
    /// page's DMA address into `addrs`, its route (`enum p2pmm_dma_route`) into `routes`; both
    /// must have one entry per page (`EINVAL`). Returns the sequence for [`Importer::retry`].
    /// Errors as the header says: `EFAULT`, `EPERM`, `EREMOTEIO`, `EINVAL`, `EBUSY`, `ENOMEM`.
    pub fn map(&self, flags: u32, addrs: &mut [u64], routes: Option<&mut [u8]>) -> Result<usize> {
        if addrs.len() != self.pages || routes.as_ref().is_some_and(|r| r.len() != self.pages) {
            return Err(EINVAL);
        }
        let routes = routes.map_or(core::ptr::null_mut(), |r| r.as_mut_ptr());
        let mut seq: c_ulong = 0;
        // SAFETY: Live (type invariant); `addrs` (and `routes`, if any) have an entry per page of
        // the range, as the C side writes.
        let ret = unsafe {
            p2pmm_importer_map(
                self.raw.as_ptr(),
                flags,
                addrs.as_mut_ptr(),
                routes,
                &mut seq,
            )
        };
        kernel::error::to_result(ret)?;
        Ok(seq)
    }

    /// Whether the mapping of `seq` was invalidated since (`p2pmm_importer_retry()`): call it
    /// under the lock the client's `invalidate` takes, before the device uses the addresses.
    pub fn retry(&self, seq: usize) -> bool {
        // SAFETY: Live (type invariant).
        unsafe { p2pmm_importer_retry(self.raw.as_ptr(), seq) }
    }
}

impl<T: ImporterClient> Drop for Importer<T> {
    fn drop(&mut self) {
        // SAFETY: Created by `new` and destroyed once, here (type invariant); destruction waits for
        // a callback in progress, so the client (dropped after this) is no longer used.
        unsafe { p2pmm_importer_destroy(self.raw.as_ptr()) };
    }
}
