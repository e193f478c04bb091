// SPDX-License-Identifier: GPL-2.0

//! The providers p2pmm knows: registered by p2pmm's own drivers, or adopted from p2pdma (memory
//! another driver, such as nvme for its CMB, published with `pci_p2pmem_publish`).
//!
//! One global mutex guards the list and serialises its changes; it is never held across a
//! migration or a user copy. Readers do not take it: every change publishes a copy of the list
//! that they take under RCU ([`snapshot`], `bind/rcu_arc.rs`), so an ioctl, a fault or the dmem
//! controller's reclaim finds its providers without a lock or an allocation. A provider that left
//! the list is gone from what new readers see once its change returns (a grace period later);
//! readers that took it before keep it alive until they drop their copy. Adoption is re-checked
//! whenever userspace lists providers, so a CMB that appears (hotplug) is adopted and one whose
//! driver went away is dropped: p2pdma revoked it.

use crate::{
    bind_sysfs::{self, ProviderDir},
    dmem,
    managed::Managed,
    pci_p2p,
    provider::{Kind, Provider},
    provider_ids::ProviderIds,
    rcu_arc::RcuArc,
    stats::Stats,
};
use kernel::{
    pci,
    prelude::*,
    sync::{aref::ARef, Arc},
    time::{delay::fsleep, Delta},
};

/// The list and the ids in use.
pub struct Registry {
    list: KVec<Arc<Provider>>,
    /// Ids of listed providers, and of providers whose sysfs directory is still being removed.
    ids: ProviderIds,
    /// Devices whose driver is unbinding: their p2pdma memory is being revoked and must not be
    /// adopted again before the driver is gone (between the unbind notification and the driver's
    /// `remove`, the pool exists).
    unbinding: KVec<ARef<pci::Device>>,
    /// The sysfs directory of each listed provider.
    dirs: KVec<(u32, ProviderDir)>,
    /// dmem regions of providers whose last reference went in a dmem reclaim callback, where they
    /// could not be unregistered (that waits for the callbacks); dropped by the next registration,
    /// unregistration or module exit.
    parked: KVec<dmem::Region>,
}

impl Registry {
    const fn new() -> Self {
        Self {
            list: KVec::new(),
            ids: ProviderIds::new(),
            unbinding: KVec::new(),
            dirs: KVec::new(),
            parked: KVec::new(),
        }
    }
}

kernel::sync::global_lock! {
    // SAFETY: Initialised by `init()`, which module init calls before anything else in p2pmm runs.
    unsafe(uninit) static PROVIDERS: Mutex<Registry> = Registry::new();
}

/// What readers see of `Registry::list`: a copy published under the lock at every change.
static LISTED: RcuArc<KVec<Arc<Provider>>> = RcuArc::new();

/// A copy of `list`, with `add` at its end, for [`LISTED`].
fn copy_of(
    list: &[Arc<Provider>],
    add: Option<&Arc<Provider>>,
) -> Result<Arc<KVec<Arc<Provider>>>> {
    let mut out = KVec::with_capacity(list.len() + 1, GFP_KERNEL)?;
    for p in Iterator::chain(list.iter(), add) {
        out.push(p.clone(), GFP_KERNEL)?;
    }
    Ok(Arc::new(out, GFP_KERNEL)?)
}

/// Publishes `reg.list` after a provider left it: short of memory, tries again 10 ms later (the
/// provider must leave the readers' view too). Waits for a grace period.
fn publish_removal(reg: &Registry) {
    loop {
        match copy_of(&reg.list, None) {
            Ok(copy) => return LISTED.replace(Some(copy)),
            Err(_) => fsleep(Delta::from_millis(10)),
        }
    }
}

/// Initialises the registry.
///
/// # Safety
///
/// Must be called exactly once, from module init, before any other function of this file.
pub unsafe fn init() {
    // SAFETY: Called once before first use, as the caller promises.
    unsafe { PROVIDERS.init() };
}

/// Registers a static provider of `capacity` bytes on `pdev`.
pub fn register_static(
    adopted: bool,
    pdev: ARef<pci::Device>,
    capacity: u64,
) -> Result<Arc<Provider>> {
    let region = dmem::Region::register(capacity, &Provider::region_name(&pdev, Kind::Static)?)?;
    register(Provider::new(
        0,
        adopted,
        pdev,
        capacity,
        None,
        Stats::new()?,
        region,
    )?)
}

/// Registers a managed provider of `managed` memory on `pdev`, counting into `stats` (which
/// `managed` shares); the dmem controller calls `reclaim` to evict a cgroup's pages there.
pub fn register_managed(
    pdev: ARef<pci::Device>,
    managed: Managed,
    stats: Arc<Stats>,
    reclaim: dmem::Reclaim,
) -> Result<Arc<Provider>> {
    let capacity = managed.capacity();
    let region = dmem::Region::register_with(
        capacity,
        &Provider::region_name(&pdev, Kind::Managed)?,
        Some(reclaim),
    )?;
    register(Provider::new(
        0,
        false,
        pdev,
        capacity,
        Some(managed),
        stats,
        region,
    )?)
}

/// Gives `p` the next id and lists it.
fn register(mut p: Provider) -> Result<Arc<Provider>> {
    drop_parked();
    let (kind, adopted) = (p.kind, p.adopted);
    // The id first, so that the provider's `Arc` is made outside the lock: a provider that is
    // dropped (when that fails, or when it is refused below) unregisters its dmem region, which
    // waits for the controller's reclaim callbacks, and one that drops a provider's last
    // reference takes this lock to park its region (dmem_reclaim.rs).
    let id = PROVIDERS.lock().ids.take().ok_or(ENOSPC)?;
    p.id = id;
    if let Some(r) = &p.region {
        r.set_key(id);
    }
    if let Some(g) = &p.gate {
        g.set_id(id);
    }
    let p = match Arc::new(p, GFP_KERNEL) {
        Ok(p) => p,
        Err(e) => {
            PROVIDERS.lock().ids.put(id);
            return Err(e.into());
        }
    };
    let mut reg = PROVIDERS.lock();
    let refused = if kind == Kind::Static
        && reg
            .list
            .iter()
            .any(|q| q.kind == Kind::Static && is_same(&q.pdev, &p.pdev))
    {
        // p2pdma keeps one pool per device: a second static provider on it would count the same
        // memory twice.
        Some(EEXIST)
    } else if adopted && reg.unbinding.iter().any(|d| is_same(d, &p.pdev)) {
        // Being revoked: adopting it again would hand out memory that is about to go.
        Some(EBUSY)
    } else if reg.dirs.reserve(1, GFP_KERNEL).is_err() || reg.list.reserve(1, GFP_KERNEL).is_err() {
        Some(ENOMEM)
    } else {
        match copy_of(&reg.list, Some(&p)) {
            Ok(copy) => {
                // Within the capacity reserved above.
                let _ = reg.list.push_within_capacity(p.clone());
                LISTED.replace(Some(copy));
                None
            }
            Err(e) => Some(e),
        }
    };
    if let Some(e) = refused {
        reg.ids.put(id);
        // The lock goes before the provider does.
        drop(reg);
        return Err(e);
    }
    // Static memory is also mapped through the directory's `allocate` file, found by device name
    // too.
    let static_on = (kind == Kind::Static).then(|| p.device_name());
    match bind_sysfs::add_provider(id, static_on) {
        // Within the capacity reserved above.
        Ok(dir) => drop(reg.dirs.push_within_capacity((id, dir))),
        // The provider works without its sysfs directory; say so rather than refuse it.
        Err(e) => pr_warn!("provider {}: no sysfs directory ({:?})\n", id, e),
    }
    let what = match (kind, adopted) {
        (Kind::Static, false) => "static",
        (Kind::Static, true) => "static (adopted from p2pdma)",
        (Kind::Managed, _) => "managed",
    };
    pr_info!(
        "provider {} registered: {} MiB of {} memory on {}\n",
        id,
        p.capacity_bytes() >> 20,
        what,
        p.device_name()
    );
    Ok(p)
}

/// Removes provider `id` (its device is going away). A managed provider's memory is evicted to
/// system memory when the last user lets go of it: here, after the registry lock is dropped, unless
/// an ioctl still uses it.
pub fn unregister(id: u32) {
    let (gone, dir) = {
        let mut reg = PROVIDERS.lock();
        let i = reg.list.iter().position(|p| p.id == id);
        let d = reg.dirs.iter().position(|(i, _)| *i == id);
        let gone = i.and_then(|i| reg.list.remove(i).ok());
        if gone.is_some() {
            publish_removal(&reg);
        }
        (gone, d.and_then(|d| reg.dirs.remove(d).ok()))
    };
    // Removing the directory waits for its readers: outside the lock, which only changes take
    // (readers find their provider in the published copy).
    drop(dir);
    if gone.is_some() {
        pr_info!("provider {} unregistered\n", id);
        // Only now, with its directory gone, may a new provider take the id.
        PROVIDERS.lock().ids.put(id);
    }
    drop(gone);
    drop_parked();
}

/// Keeps `r` for [`drop_parked`]: its provider's last reference went where it cannot be
/// unregistered (`dmem_reclaim.rs`).
pub fn park_region(r: dmem::Region) {
    let mut reg = PROVIDERS.lock();
    // Reserved first: a failed push would drop `r` here, which would deadlock.
    if reg.parked.reserve(1, GFP_KERNEL).is_err() {
        // A region that stays registered is the lesser harm.
        pr_err!("a dmem region stays registered: no memory to park it\n");
        core::mem::forget(r);
        return;
    }
    // Within the capacity reserved above.
    let _ = reg
        .parked
        .push_within_capacity(r)
        .map_err(core::mem::forget);
}

/// Unregisters the regions [`park_region`] kept.
fn drop_parked() {
    let parked = core::mem::replace(&mut PROVIDERS.lock().parked, KVec::new());
    drop(parked);
}

/// The provider with `id`.
pub fn get(id: u32) -> Option<Arc<Provider>> {
    snapshot().iter().find(|p| p.id == id).cloned()
}

/// The static provider on `pdev`, if it has one (p2pdma keeps one pool per device, so one at most).
pub fn static_on(pdev: &pci::Device) -> Option<Arc<Provider>> {
    snapshot()
        .iter()
        .find(|p| p.kind == Kind::Static && is_same(&p.pdev, pdev))
        .cloned()
}

/// The providers listed when it was taken, in the order they were listed: what [`snapshot`]
/// returns, a slice of them.
pub struct Providers(Option<Arc<KVec<Arc<Provider>>>>);

impl core::ops::Deref for Providers {
    type Target = [Arc<Provider>];

    fn deref(&self) -> &[Arc<Provider>] {
        self.0.as_deref().map_or(&[], |list| list)
    }
}

/// Every provider listed now, without the registry lock (an RCU read of the last copy published).
pub fn snapshot() -> Providers {
    Providers(LISTED.read())
}

/// Adopts every p2pdma provider not yet known and forgets adopted ones whose memory is gone.
pub fn sync_adopted() -> Result {
    let mut stale = KVec::<u32>::new();
    for p in PROVIDERS.lock().list.iter() {
        if p.adopted && pci_p2p::p2p_memory(&p.pdev).is_none() {
            stale.push(p.id, GFP_KERNEL)?;
        }
    }
    for id in stale {
        unregister(id);
    }
    let mut found: KVec<(ARef<pci::Device>, u64)> = KVec::new();
    let mut err = Ok(());
    pci_p2p::for_each(|pdev| {
        let Some((size, _)) = pci_p2p::p2p_memory(pdev) else {
            return;
        };
        let known = PROVIDERS
            .lock()
            .list
            .iter()
            .any(|p| p.kind == Kind::Static && is_same(&p.pdev, pdev));
        if !known && err.is_ok() {
            err = found
                .push((pdev.into(), size), GFP_KERNEL)
                .map_err(Error::from);
        }
    });
    err?;
    for (pdev, size) in found {
        // Lost a race with another adopter or with the owning driver's own registration: already
        // known.
        match register_static(true, pdev, size) {
            Err(e) if e != EEXIST && e != EBUSY => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

fn is_same(a: &pci::Device, b: &pci::Device) -> bool {
    core::ptr::eq(a, b)
}

/// Revokes every static provider on `pdev` before its driver unbinds: forgets it (no new mappings),
/// then unmaps what userspace mapped of it, so p2pdma's teardown does not wait for those mappings.
/// The memory's own driver (vaccel, or nvme for a CMB) goes on to unregister it from p2pdma.
pub struct RevokeOnUnbind;

impl pci_p2p::UnbindWatcher for RevokeOnUnbind {
    fn unbinding(pdev: &pci::Device) {
        let mut gone = KVec::new();
        let mut warned = false;
        loop {
            let mut reg = PROVIDERS.lock();
            // The device's memory goes whatever else fails, so the revocation cannot be skipped
            // (its mappings would outlive the BAR): short of memory, try again a moment later,
            // without the lock.
            if gone.reserve(reg.list.len(), GFP_KERNEL).is_err()
                || reg.unbinding.push(pdev.into(), GFP_KERNEL).is_err()
            {
                drop(reg);
                if !warned {
                    pr_warn!(
                        "revoking {}: short of memory, retrying\n",
                        pci_p2p::name(pdev)
                    );
                    warned = true;
                }
                fsleep(Delta::from_millis(10));
                continue;
            }
            let mut i = 0;
            while i < reg.list.len() {
                if reg.list[i].kind == Kind::Static && is_same(&reg.list[i].pdev, pdev) {
                    if let Ok(p) = reg.list.remove(i) {
                        // Within the capacity reserved above.
                        let _ = gone.push_within_capacity(p);
                    }
                } else {
                    i += 1;
                }
            }
            if !gone.is_empty() {
                // No new mapping from here on: readers no longer find the provider.
                publish_removal(&reg);
            }
            break;
        }
        for p in gone.iter() {
            pr_info!(
                "provider {} revoked: {} is unbinding\n",
                p.id,
                p.device_name()
            );
            crate::trace::revoke(p.id, p.device_name());
            let dir = {
                let mut reg = PROVIDERS.lock();
                let d = reg.dirs.iter().position(|(i, _)| *i == p.id);
                d.and_then(|d| reg.dirs.remove(d).ok())
            };
            drop(dir);
            // With its directory gone, a new provider may take the id (in its turn).
            PROVIDERS.lock().ids.put(p.id);
            // Unmaps every mapping of the provider and gives back their memory and charges.
            if let Some(g) = &p.gate {
                g.revoke();
            }
            // Charges of mappings the gate did not know (none today): the mappings hold no device
            // memory any more, so neither do their cgroups.
            if let Some(r) = &p.region {
                r.revoke_vmas();
            }
        }
    }

    fn unbound(pdev: &pci::Device) {
        PROVIDERS.lock().unbinding.retain(|d| !is_same(d, pdev));
    }
}

/// Empties the registry when dropped (module exit): providers still listed (adopted ones) let go of
/// their devices and their sysfs directories go. The registry is a static that is never dropped, so
/// every vector's buffer is taken here too, even an empty one's: `unbinding` keeps the capacity of
/// its last unbind (kmemleak found that buffer after every unload of a module that had seen one).
pub struct ClearOnDrop;

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        let (list, dirs, unbinding) = {
            let mut reg = PROVIDERS.lock();
            LISTED.replace(None);
            (
                core::mem::replace(&mut reg.list, KVec::new()),
                core::mem::replace(&mut reg.dirs, KVec::new()),
                core::mem::replace(&mut reg.unbinding, KVec::new()),
            )
        };
        drop_parked();
        drop(unbinding);
        drop(dirs);
        drop(list);
    }
}
