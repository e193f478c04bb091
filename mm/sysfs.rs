// SPDX-License-Identifier: GPL-2.0

//! The values of `/sys/kernel/p2pmm/` (see `bind/sysfs.rs` for the files, and
//! `Documentation/ABI/testing/sysfs-kernel-p2pmm` for what they mean).

use crate::{
    bind_sysfs::{Attr, PageWriter, SysfsSource},
    debugfs::{kind_name, write_routes},
    pci_p2p, registry, static_map,
};
use core::fmt::Write;
use kernel::{
    mm::virt::VmaNew,
    page::PAGE_SIZE,
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

/// Values from the provider registry.
pub struct FromRegistry;

impl SysfsSource for FromRegistry {
    fn provider_attr(id: u32, attr: Attr, out: &mut PageWriter<'_>) -> Result {
        let p = registry::get(id).ok_or(ENODEV)?;
        let (capacity, used) = p.usage().ok_or(ENODEV)?;
        let load = |a: &Atomic<u64>| a.load(Relaxed);
        let s = &p.stats;
        let written = match attr {
            Attr::Kind => writeln!(out, "{}", kind_name(&p)),
            Attr::Device => writeln!(out, "{}", p.device_str()),
            Attr::Capacity => writeln!(out, "{capacity}"),
            Attr::Used => writeln!(out, "{used}"),
            Attr::Evictions => writeln!(out, "{}", load(&s.evictions)),
            Attr::MigratedIn => writeln!(out, "{}", load(&s.migrated_in)),
            Attr::MigratedOut => writeln!(out, "{}", load(&s.migrated_out)),
            Attr::Invalidations => writeln!(out, "{}", load(&s.invalidations)),
            Attr::CopiedByEngine => writeln!(out, "{}", load(&s.copied_by_engine)),
            Attr::CopiedByCpu => writeln!(out, "{}", load(&s.copied_by_cpu)),
            Attr::CopyEngine => match p.managed() {
                Some(m) => m.memory().engine().write_name(out),
                None => writeln!(out, "none"),
            },
            Attr::EvictionsBackground => writeln!(out, "{}", load(&s.evictions_background)),
            Attr::WatermarkLow | Attr::WatermarkHigh => {
                let w = p.managed().ok_or(ENODEV)?.watermarks();
                let pages = if attr == Attr::WatermarkLow {
                    w.low()
                } else {
                    w.high()
                };
                writeln!(out, "{}", u64::from(pages) * PAGE_SIZE as u64)
            }
            Attr::ThrashMoves => writeln!(out, "{}", p.managed().ok_or(ENODEV)?.thrash_moves()),
            Attr::ThrashTrips => writeln!(out, "{}", load(&s.thrash_trips)),
            Attr::ThrashHeld => writeln!(out, "{}", load(&s.thrash_held)),
            Attr::EvictionsSkippedPinned => {
                writeln!(out, "{}", load(&s.evictions_skipped_pinned))
            }
        };
        written.map_err(|_| EOVERFLOW)
    }

    /// `watermark_low` and `watermark_high` of a managed provider: a number of bytes (decimal,
    /// rounded down to pages, a trailing newline allowed), `EINVAL` for anything else or an order
    /// the watermarks cannot have (see `Managed::set_watermark`). `thrash_moves`: a number of
    /// moves, `EINVAL` for anything else or more than 2^32 - 1.
    fn provider_store(id: u32, attr: Attr, value: &[u8]) -> Result {
        let text = core::str::from_utf8(value).map_err(|_| EINVAL)?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let n = text.parse::<u64>().map_err(|_| EINVAL)?;
        let p = registry::get(id).ok_or(ENODEV)?;
        let m = p.managed().ok_or(ENODEV)?;
        match attr {
            Attr::WatermarkLow => m.set_watermark(true, n),
            Attr::WatermarkHigh => m.set_watermark(false, n),
            Attr::ThrashMoves => {
                m.set_thrash_moves(u32::try_from(n).map_err(|_| EINVAL)?);
                Ok(())
            }
            _ => Err(EACCES),
        }
    }

    /// `providers/<id>/allocate`: new memory of static provider `id`, mapped at offset 0 (as
    /// p2pdma's `p2pmem/allocate`), so tools that map a file at offset 0 for their buffers can use
    /// it. Like a mapping of `/dev/p2pmm` at `P2PMM_MMAP_OFFSET(id)`: shared only, zeroed, given
    /// back on munmap; the file goes when the provider does, and kernfs then unmaps it everywhere.
    fn map(id: u32, vma: &VmaNew) -> Result {
        if pci_p2p::mmap_offset(vma) != 0 {
            return Err(EINVAL);
        }
        let p = registry::get(id).ok_or(ENODEV)?;
        let gate = p.gate.as_ref().ok_or(EINVAL)?;
        // As a mapping of /dev/p2pmm (mm/chardev.rs), moved to a file of its own, since kernfs
        // cannot tell p2pmm when it closes.
        static_map::map(&p.pdev, gate, p.region.as_ref(), vma, true)
    }

    fn routes(out: &mut PageWriter<'_>) -> Result {
        let all = registry::snapshot();
        // A table longer than a page is cut at a line: sysfs cannot say more.
        let _ = write_routes(&all, out);
        Ok(())
    }
}
