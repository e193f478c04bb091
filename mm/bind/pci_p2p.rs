// SPDX-License-Identifier: GPL-2.0

//! PCI peer-to-peer: registering BAR memory with p2pdma, asking p2pdma how two devices reach each
//! other, and finding PCI devices by name. Thin wrappers over `<linux/pci-p2pdma.h>` (C glue in
//! `p2p_glue.c`).
//!
//! The verdict for a pair is the kernel's own (its rules: common upstream bridge, ACS, host-bridge
//! allowlist): the map type the DMA API gives the client for a page of the provider's p2pdma pool,
//! which is what a bio of such pages gets from the block layer; without a page to probe with,
//! `pci_p2pdma_distance()`'s answer. p2pmm never second-guesses it, it only reports it and plans
//! around it.

use crate::ffi::{
    p2pmm_current_tgid, p2pmm_p2p_add_resource, p2pmm_p2p_has_mem, p2pmm_p2p_publish,
    p2pmm_p2p_route, p2pmm_p2p_unwatch_unbind, p2pmm_p2p_watch_unbind, p2pmm_pci_get,
    p2pmm_pci_name, p2pmm_pci_next, p2pmm_pci_owns_p2pdma_pfn, p2pmm_pid_mm,
};
use crate::pci_name::PciAddr;
use kernel::{
    device,
    error::to_result,
    ffi::{c_int, c_void},
    pci,
    prelude::*,
    str::CStr,
    sync::aref::ARef,
};

/// Layout of the glue's `struct p2pmm_p2p_route` (p2p_glue.h).
#[repr(C)]
#[derive(Default)]
struct RawRoute {
    verdict: u32,
    distance: i32,
    common_bridge: u32,
    host_bridge_id: u32,
    probed: u32,
}

/// The raw `struct pci_dev` of a device (as `void *`: the extern declarations above use `void *`
/// because `struct pci_dev` holds a zero-sized array that rustc's FFI-safety lint rejects).
pub(crate) fn raw<Ctx: device::DeviceContext>(pdev: &pci::Device<Ctx>) -> *mut c_void {
    // `pci::Device` is `#[repr(transparent)]` over `Opaque<bindings::pci_dev>`, so a reference to
    // it points at the C struct.
    core::ptr::from_ref(pdev).cast_mut().cast()
}

/// Gives `size` bytes of `bar`, from `offset`, to p2pdma as peer-to-peer memory
/// (`pci_p2pdma_add_resource`), and publishes it so p2pdma clients (and
/// `/sys/bus/pci/devices/*/p2pmem`) can find it. The memory stays registered until the driver
/// unbinds (p2pdma ties it to the device with devres).
///
/// # Examples
///
/// In a driver's probe (compile-only: it needs a bound device, which a KUnit test does not have):
///
/// ```no_run
/// use crate::pci_p2p;
/// use kernel::{device, pci};
///
/// // The first half of BAR 2 becomes p2pdma memory, all of it free at first.
/// fn offer(pdev: &pci::Device<device::Bound>) -> Result {
///     let half = pdev.resource_len(2)? / 2;
///     pci_p2p::add_p2p_memory(pdev, 2, half, 0)?;
///     assert_eq!(pci_p2p::p2p_memory(pdev), Some((half, half)));
///     Ok(())
/// }
/// # Ok::<(), Error>(())
/// ```
pub fn add_p2p_memory(
    pdev: &pci::Device<device::Bound>,
    bar: u32,
    size: u64,
    offset: u64,
) -> Result {
    let bar = c_int::try_from(bar).map_err(|_| EINVAL)?;
    // SAFETY: `pdev` is bound to a driver for the duration of the call (the `Bound` context).
    to_result(unsafe { p2pmm_p2p_add_resource(raw(pdev), bar, size, offset) })?;
    // SAFETY: As above; p2pdma was set up by the call above.
    unsafe { p2pmm_p2p_publish(raw(pdev), true) };
    Ok(())
}

/// The p2pdma memory a device offers, `(size, available)` in bytes, or `None` if it offers none (or
/// no longer does: p2pdma drops it when the owning driver unbinds, which is how p2pmm notices a
/// revoked static provider).
pub fn p2p_memory(pdev: &pci::Device) -> Option<(u64, u64)> {
    let (mut size, mut avail) = (0u64, 0u64);
    // The glue reads the device's p2pdma pool under RCU.
    // SAFETY: `pdev` is a live PCI device (we hold a reference).
    unsafe { p2pmm_p2p_has_mem(raw(pdev), &mut size, &mut avail) }.then_some((size, avail))
}

/// What p2pdma says about a (provider, client) pair.
///
/// # Examples
///
/// Every PCI device reaches itself by bus address, at distance 0 (p2pdma's rule for a device paired
/// with itself), whether or not it offers p2pdma memory.
///
/// ```
/// use crate::{pci_p2p, uapi_route::ROUTE_BUS_ADDR};
///
/// let (mut devices, mut to_itself) = (0, 0);
/// pci_p2p::for_each(|pdev| {
///     devices += 1;
///     let facts = pci_p2p::route(pdev, pdev);
///     if facts.verdict == ROUTE_BUS_ADDR && facts.distance == 0 && facts.common_bridge {
///         to_itself += 1;
///     }
/// });
/// assert!(devices > 0);
/// assert_eq!(to_itself, devices);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteFacts {
    /// `P2PMM_ROUTE_*`.
    pub verdict: u32,
    /// `pci_p2pdma_distance()`, -1 when not supported.
    pub distance: i32,
    /// Both sit below a common upstream bridge.
    pub common_bridge: bool,
    /// Vendor << 16 | device of the provider's host bridge.
    pub host_bridge: u32,
    /// The DMA API gave the verdict (else it follows from the distance: the provider has no free
    /// pool page).
    pub probed: bool,
}

/// Asks p2pdma how `client` reaches memory of `provider`.
pub fn route(provider: &pci::Device, client: &pci::Device) -> RouteFacts {
    let mut r = RawRoute::default();
    // SAFETY: Both devices are live (we hold references); `r` is a valid out-parameter.
    unsafe { p2pmm_p2p_route(raw(provider), raw(client), (&raw mut r).cast()) };
    RouteFacts {
        verdict: r.verdict,
        distance: r.distance,
        common_bridge: r.common_bridge != 0,
        host_bridge: r.host_bridge_id,
        probed: r.probed != 0,
    }
}

/// The PCI device at `addr`, if there is one.
///
/// # Examples
///
/// Every PCI device is found again by the name it reports.
///
/// ```
/// use crate::{pci_name::PciAddr, pci_p2p};
///
/// let (mut devices, mut found) = (0, 0);
/// pci_p2p::for_each(|pdev| {
///     devices += 1;
///     let name = pci_p2p::name(pdev);
///     let again = PciAddr::parse(name.to_bytes_with_nul())
///         .ok()
///         .and_then(pci_p2p::find);
///     if again.is_some_and(|d| pci_p2p::name(&d) == name) {
///         found += 1;
///     }
/// });
/// assert!(devices > 0);
/// assert_eq!(found, devices);
/// // Domain ffff holds no device.
/// let nowhere = PciAddr::parse(b"ffff:00:00.0\0")?;
/// assert!(pci_p2p::find(nowhere).is_none());
/// # Ok::<(), Error>(())
/// ```
pub fn find(addr: PciAddr) -> Option<ARef<pci::Device>> {
    // SAFETY: Plain lookup; a non-null result carries a reference that the `ARef` now owns.
    let p = unsafe { p2pmm_pci_get(addr.domain, u32::from(addr.bus), u32::from(addr.devfn)) };
    let p = core::ptr::NonNull::new(p.cast::<pci::Device>())?;
    // `pci::Device` wraps `struct pci_dev` transparently.
    // SAFETY: `p` is a live `struct pci_dev` with a reference we own.
    Some(unsafe { ARef::from_raw(p) })
}

/// Calls `f` for every PCI device in the system (`for_each_pci_dev`).
pub fn for_each(mut f: impl FnMut(&pci::Device)) {
    let mut cur: *mut c_void = core::ptr::null_mut();
    loop {
        // SAFETY: `cur` is null or a device we hold a reference to; the call drops that reference
        // and returns the next device with a new one (or null at the end).
        cur = unsafe { p2pmm_pci_next(cur) };
        if cur.is_null() {
            return;
        }
        // SAFETY: `cur` is live while we hold its reference (until the next call above).
        f(unsafe { &*cur.cast::<pci::Device>() });
    }
}

/// Whether page frame `pfn` is p2pdma memory of one of `pdev`'s BARs (static memory mapped by a
/// process).
pub fn owns_p2p_pfn(pdev: &pci::Device, pfn: usize) -> bool {
    // The glue checks `pfn` before looking at its page.
    // SAFETY: `pdev` is live (we hold a reference).
    unsafe { p2pmm_pci_owns_p2pdma_pfn(raw(pdev), pfn) }
}

/// The address space of process `pid` (in the caller's pid namespace), if the caller may look at
/// it: it has `CAP_SYS_PTRACE`, or one of its threads traces the process (`ptrace(2)`), else
/// `EPERM`; `ESRCH` if there is no such process or it has no address space.
///
/// # Examples
///
/// ```
/// use crate::pci_p2p;
///
/// // A KUnit test runs in a kernel thread, with every capability: init, which always has an
/// // address space, is open to it.
/// assert!(pci_p2p::pid_mm(1).is_ok());
/// assert_eq!(pci_p2p::pid_mm(u32::MAX).err(), Some(ESRCH));
/// // The thread has a pid and no address space to hand out.
/// let me = pci_p2p::caller_pid();
/// assert!(me > 1);
/// assert_eq!(pci_p2p::pid_mm(me).err(), Some(ESRCH));
/// ```
pub fn pid_mm(pid: u32) -> Result<ARef<kernel::mm::MmWithUser>> {
    let nr = c_int::try_from(pid).map_err(|_| ESRCH)?;
    let mut err: c_int = 0;
    // SAFETY: Plain lookup; a non-null result carries an `mmget` reference.
    let mm = unsafe { p2pmm_pid_mm(nr, &mut err) };
    let mm = core::ptr::NonNull::new(mm.cast::<kernel::mm::MmWithUser>())
        .ok_or_else(|| kernel::error::Error::from_errno(err))?;
    // SAFETY: `mm` is a live `struct mm_struct` with a user reference (`mmget`) that the `ARef` now
    // owns; `MmWithUser` wraps it transparently and drops that reference with `mmput`.
    Ok(unsafe { ARef::from_raw(mm) })
}

/// The caller's process id (thread group id) in its pid namespace.
pub fn caller_pid() -> u32 {
    // SAFETY: Plain call on the current task.
    unsafe { p2pmm_current_tgid() as u32 }
}

/// Calls `T::unbinding(pdev)` whenever a PCI driver is about to unbind from a device, until the
/// returned guard is dropped. One watcher at a time (p2pmm's module holds it).
pub fn watch_unbind<T: UnbindWatcher>() -> Result<UnbindGuard> {
    /// # Safety
    ///
    /// Called by the bus notifier only, with a live `struct pci_dev`.
    unsafe extern "C" fn unbinding<T: UnbindWatcher>(pdev: *mut c_void) {
        // SAFETY: The bus notifier passes a live PCI device, which stays alive for the callback.
        T::unbinding(unsafe { &*pdev.cast::<pci::Device>() });
    }
    /// # Safety
    ///
    /// Called by the bus notifier only, with a live `struct pci_dev`.
    unsafe extern "C" fn unbound<T: UnbindWatcher>(pdev: *mut c_void) {
        // SAFETY: As above.
        T::unbound(unsafe { &*pdev.cast::<pci::Device>() });
    }
    // The guard unregisters them before unload.
    // SAFETY: The callbacks stay valid while the module is loaded.
    to_result(unsafe { p2pmm_p2p_watch_unbind(unbinding::<T>, unbound::<T>) })?;
    Ok(UnbindGuard(()))
}

/// What to do when a PCI driver unbinds.
///
/// # Examples
///
/// Compile-only: there is one watcher at a time, and p2pmm's module holds it.
///
/// ```no_run
/// use crate::pci_p2p::{self, UnbindWatcher};
/// use kernel::pci;
///
/// struct Log;
///
/// impl UnbindWatcher for Log {
///     fn unbinding(pdev: &pci::Device) {
///         pr_info!("{:?} is unbinding\n", pci_p2p::name(pdev));
///     }
///
///     fn unbound(_pdev: &pci::Device) {}
/// }
///
/// let guard = pci_p2p::watch_unbind::<Log>()?;
/// // ...until the guard goes.
/// drop(guard);
/// # Ok::<(), Error>(())
/// ```
pub trait UnbindWatcher {
    /// `pdev`'s driver is about to unbind (`BUS_NOTIFY_UNBIND_DRIVER`), before its remove runs.
    fn unbinding(pdev: &pci::Device);

    /// `pdev`'s driver is gone (`BUS_NOTIFY_UNBOUND_DRIVER`), after its remove ran.
    fn unbound(pdev: &pci::Device);
}

/// Unregisters the unbind watcher when dropped.
///
/// # Examples
///
/// The guard is kept in the module's state, so the watch ends at unload, after which no callback
/// runs (compile-only: there is one watcher at a time, and p2pmm's module holds it; a second
/// `watch_unbind` would register the same notifier again).
///
/// ```no_run
/// use crate::pci_p2p::{self, UnbindGuard, UnbindWatcher};
/// use kernel::{
///     pci,
///     sync::atomic::{ordering, Atomic},
/// };
///
/// static UNBINDS: Atomic<usize> = Atomic::new(0);
///
/// struct Count;
///
/// impl UnbindWatcher for Count {
///     fn unbinding(_pdev: &pci::Device) {
///         UNBINDS.fetch_add(1, ordering::Relaxed);
///     }
///
///     fn unbound(_pdev: &pci::Device) {}
/// }
///
/// struct ModuleState {
///     _unbind: UnbindGuard,
/// }
///
/// let state = ModuleState {
///     _unbind: pci_p2p::watch_unbind::<Count>()?,
/// };
/// // At unload: from here on the count stays as it is.
/// drop(state);
/// pr_info!("{} unbinds seen\n", UNBINDS.load(ordering::Relaxed));
/// # Ok::<(), Error>(())
/// ```
pub struct UnbindGuard(());

impl Drop for UnbindGuard {
    fn drop(&mut self) {
        // SAFETY: Registered by `watch_unbind`.
        unsafe { p2pmm_p2p_unwatch_unbind() };
    }
}

/// The file offset a new mapping was asked for (`vm_pgoff` in bytes).
pub fn mmap_offset(vma: &kernel::mm::virt::VmaNew) -> u64 {
    // The mmap lock is held.
    // SAFETY: `vma` is a VMA being set up by `mmap`, so reading its fields is safe.
    let pgoff = unsafe { (*vma.as_ptr()).vm_pgoff };
    (pgoff as u64) << kernel::page::PAGE_SHIFT
}

/// The device's PCI name (`"0000:04:00.0"`).
pub fn name(pdev: &pci::Device) -> &CStr {
    // `pci_name` returns the device's name.
    // SAFETY: The name is a NUL-terminated string that lives as long as the device.
    unsafe { CStr::from_char_ptr(p2pmm_pci_name(raw(pdev))) }
}
