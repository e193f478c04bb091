// SPDX-License-Identifier: GPL-2.0

//! `/sys/kernel/debug/p2pmm/`: what p2pmm holds right now, for people and bug reports.
//!
//! - `providers`: every provider with its counters (the same figures as `P2PMM_IOC_PROVIDERS`);
//! - `routes`: the plan for every (provider, client device) pair of p2pmm's devices, with reasons;
//! - `slots`: every managed provider's slots that hold a page: state, pins, preference, age;
//! - `blkio`: bytes `P2PMM_IOC_BLKIO` moved by path, and how invalidations waited for its I/O.
//!
//! The format is for reading, not a stable ABI (that is what the ioctls and sysfs are for).

use crate::{
    advice::ProviderSet,
    blkio::TOTALS,
    block_io::WAITS,
    eviction::SlotInfo,
    managed::Managed,
    provider::{Kind, Provider},
    registry, route,
    tenants::TenantInfo,
};
use core::fmt::{self, Formatter};
use kernel::{
    debugfs::{Dir, File},
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
};

/// The directory and its files, removed when dropped.
pub struct Debugfs {
    _files: KVec<Pin<KBox<File<()>>>>,
    _dir: Dir,
}

impl Debugfs {
    /// Creates `/sys/kernel/debug/p2pmm/` (silently absent if debugfs is).
    pub fn new() -> Result<Self> {
        let dir = Dir::new(c"p2pmm");
        let mut files = KVec::with_capacity(4, GFP_KERNEL)?;
        files.push(
            KBox::pin_init(
                dir.read_callback_file(c"providers", (), &providers),
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
        files.push(
            KBox::pin_init(dir.read_callback_file(c"routes", (), &routes), GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        files.push(
            KBox::pin_init(dir.read_callback_file(c"slots", (), &slots), GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        files.push(
            KBox::pin_init(dir.read_callback_file(c"blkio", (), &blkio), GFP_KERNEL)?,
            GFP_KERNEL,
        )?;
        Ok(Self {
            _files: files,
            _dir: dir,
        })
    }
}

/// The kind as tools print it: `static`, `adopted` or `managed`.
pub fn kind_name(p: &Provider) -> &'static str {
    match (p.kind, p.adopted) {
        (Kind::Static, false) => "static",
        (Kind::Static, true) => "adopted",
        (Kind::Managed, _) => "managed",
    }
}

fn providers(_: &(), f: &mut Formatter<'_>) -> fmt::Result {
    let all = registry::snapshot();
    writeln!(
        f,
        "{:>3}  {:<8} {:<13} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "id", "kind", "device", "capacity", "used", "evicted", "in", "out", "invalid"
    )?;
    for p in all.iter() {
        let Some((capacity, used)) = p.usage() else {
            continue;
        };
        let s = &p.stats;
        let load = |a: &Atomic<u64>| a.load(Relaxed);
        writeln!(
            f,
            "{:>3}  {:<8} {:<13} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}",
            p.id,
            kind_name(p),
            p.device_str(),
            capacity,
            used,
            load(&s.evictions),
            load(&s.migrated_in),
            load(&s.migrated_out),
            load(&s.invalidations)
        )?;
    }
    Ok(())
}

fn plan_name(plan: u32) -> &'static str {
    match plan {
        route::PLAN_DIRECT => "direct",
        route::PLAN_BOUNCE => "bounce",
        _ => "refused",
    }
}

fn routes(_: &(), f: &mut Formatter<'_>) -> fmt::Result {
    let all = registry::snapshot();
    write_routes(&all, f)
}

/// Writes one line per (provider, client device) pair: verdict (distance), plan, reason, and where
/// the verdict came from (`dma-map`: the DMA API mapped a page of the provider's pool for the
/// client; `distance`: no page to probe with).
pub fn write_routes(all: &[Arc<Provider>], f: &mut impl fmt::Write) -> fmt::Result {
    writeln!(
        f,
        "provider -> client: verdict (distance), plan, reason, verdict source"
    )?;
    for p in all.iter() {
        for q in all.iter() {
            if q.id != p.id && core::ptr::eq::<kernel::pci::Device>(&*q.pdev, &*p.pdev) {
                // One line per client device is enough.
                continue;
            }
            let (a, probed) = p.route_and_source(&q.pdev);
            let verdict = match a.verdict {
                1 => "bus-address",
                2 => "host-bridge",
                _ => "not-supported",
            };
            writeln!(
                f,
                "{:>3} {} -> {}: {} ({}), {}, {}, {}",
                p.id,
                p.device_str(),
                q.device_str(),
                verdict,
                a.distance,
                plan_name(a.plan),
                route::reason_name(a.reason),
                if probed { "dma-map" } else { "distance" }
            )?;
        }
    }
    Ok(())
}

fn slots(_: &(), f: &mut Formatter<'_>) -> fmt::Result {
    let all = registry::snapshot();
    for p in all.iter() {
        let Some(m) = p.managed() else { continue };
        dump_slots(p, m, f)?;
    }
    Ok(())
}

/// Slots listed per provider: a provider of many GiB has millions, the header counts them all.
const LISTED_SLOTS: usize = 4096;

fn dump_slots(p: &Provider, m: &Managed, f: &mut Formatter<'_>) -> fmt::Result {
    let (hand, now) = (m.hand(), m.now());
    let (used, whole, bytes) = m.slot_summary();
    let slots = m.memory().slots();
    // Hundredths of a byte per slot, without floating point.
    let centi = (bytes * 100).checked_div(slots).unwrap_or(0);
    writeln!(
        f,
        concat!(
            "provider {} ({}): {} of {} slots in use, {} whole 2 MiB chunks free, hand at {}, ",
            "bookkeeping {} bytes ({}.{:02} B/slot)"
        ),
        p.id,
        p.device_str(),
        used,
        slots,
        whole,
        hand,
        bytes,
        centi / 100,
        centi % 100
    )?;
    // Copied out in batches under the clock's lock, printed after it is dropped.
    let blank = SlotInfo {
        state: "",
        pins: 0,
        preferred: false,
        referenced: false,
        occupied_at: 0,
        accessed_by: ProviderSet::EMPTY,
        tenant: 0,
    };
    // The cgroups its pages are charged to (numbered per provider; the slots name them).
    let mut tenants = [TenantInfo::default(); 16];
    let n = m.tenant_infos(&mut tenants);
    for t in &tenants[..n] {
        writeln!(
            f,
            "  tenant {} (cgroup {}): {} pages charged, {} evicted",
            t.tenant, t.cgroup, t.pages, t.evicted
        )?;
    }
    let mut batch = [(0u32, blank); 32];
    let (mut first, mut listed) = (0u32, 0usize);
    loop {
        let n = m.slot_infos(first, &mut batch);
        if n == 0 {
            break;
        }
        first += n as u32;
        for (slot, i) in batch[..n].iter().filter(|(_, i)| i.state != "free") {
            listed += 1;
            if listed > LISTED_SLOTS {
                continue;
            }
            writeln!(
                f,
                concat!(
                    "  slot {:>6} {:<9} pins={} preferred={} referenced={} age_ms={} ",
                    "accessed_by={:#x} tenant={}"
                ),
                slot,
                i.state,
                i.pins,
                u8::from(i.preferred),
                u8::from(i.referenced),
                i.age(now) / 1000,
                i.accessed_by.bits(),
                i.tenant
            )?;
        }
    }
    if listed > LISTED_SLOTS {
        writeln!(f, "  ... {} more slots in use", listed - LISTED_SLOTS)?;
    }
    Ok(())
}

fn blkio(_: &(), f: &mut Formatter<'_>) -> fmt::Result {
    let t = &TOTALS;
    writeln!(f, "transfers {}", t.transfers.load(Relaxed))?;
    writeln!(f, "bytes_p2p {}", t.p2p.load(Relaxed))?;
    writeln!(f, "bytes_system {}", t.system.load(Relaxed))?;
    writeln!(f, "bytes_bounce {}", t.bounce.load(Relaxed))?;
    writeln!(f, "retries {}", t.retries.load(Relaxed))?;
    let w = &WAITS;
    writeln!(f, "invalidation_waits {}", w.waits.load(Relaxed))?;
    writeln!(f, "invalidation_wait_ns {}", w.waited_ns.load(Relaxed))?;
    writeln!(
        f,
        "invalidation_wait_max_ns {}",
        w.max_wait_ns.load(Relaxed)
    )?;
    writeln!(f, "invalidation_wait_late_s {}", w.late.load(Relaxed))?;
    writeln!(f, "invalidation_refused {}", w.refused.load(Relaxed))
}
