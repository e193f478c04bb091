// SPDX-License-Identifier: GPL-2.0

//! The values of `/sys/kernel/p2pmm/` (see `bind/sysfs.rs` for the files, and
//! `Documentation/ABI/testing/sysfs-kernel-p2pmm` for what they mean).

use crate::{
    bind_sysfs::{Attr, PageWriter, SysfsSource},
    debugfs::{kind_name, write_routes},
    registry,
};
use core::fmt::Write;
use kernel::{
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
        };
        written.map_err(|_| EOVERFLOW)
    }

    fn routes(out: &mut PageWriter<'_>) -> Result {
        let all = registry::snapshot()?;
        // A table longer than a page is cut at a line: sysfs cannot say more.
        let _ = write_routes(&all, out);
        Ok(())
    }
}
