// SPDX-License-Identifier: GPL-2.0

//! Whom a managed provider's pages are charged to: one [`PageCharges`] per cgroup holding pages,
//! at most [`ATTR_SETS`] of them, numbered 1 to 255 ("tenants"; 0 is no one). A slot of the
//! provider's clock keeps its page's tenant (`eviction::Clock::alloc_slot_for`), and the page is
//! uncharged when the slot is released.
//!
//! The dmem controller decides what eviction may take ([`Tenants::evictable`]): a cgroup within
//! its `dmem.min` keeps its pages, one within its `dmem.low` keeps them while others can give, and
//! a cgroup over its `dmem.max` gives only its own.

use crate::{
    dmem::{Charge, Group, Limit, PageCharges},
    eviction::{TenantMask, ATTR_SETS},
};
use kernel::prelude::*;

/// The cgroups holding pages of one managed provider: entry `i` is tenant `i + 1`.
pub struct Tenants {
    entries: KVec<Option<PageCharges>>,
    /// Pages evicted from each tenant since its cgroup took the entry.
    evicted: KVec<u64>,
}

/// What a tenant holds, for debugfs.
#[derive(Debug, Clone, Copy, Default)]
pub struct TenantInfo {
    /// The tenant's number on this provider.
    pub tenant: u8,
    /// Its cgroup's id (the inode number of the cgroup's directory).
    pub cgroup: u64,
    /// Pages charged.
    pub pages: u32,
    /// Pages evicted since the cgroup took this tenant's entry.
    pub evicted: u64,
}

impl Tenants {
    /// No tenants, with room for [`ATTR_SETS`] (allocated now: tenants are added under a spinlock).
    pub fn new() -> Result<Self> {
        let mut entries = KVec::with_capacity(ATTR_SETS, GFP_KERNEL)?;
        for _ in 0..ATTR_SETS {
            entries.push(None, GFP_KERNEL)?;
        }
        Ok(Self {
            entries,
            evicted: KVec::from_elem(0, ATTR_SETS, GFP_KERNEL)?,
        })
    }

    /// Keeps `c`, the charge of one page, and returns its tenant; hands `c` back when
    /// [`ATTR_SETS`] other cgroups hold pages here.
    pub fn add(&mut self, c: Charge) -> core::result::Result<u8, Charge> {
        let mut c = c;
        let mut free = None;
        for (i, e) in self.entries.iter_mut().enumerate() {
            match e {
                Some(charges) => match charges.add(c) {
                    Ok(()) => return Ok(i as u8 + 1),
                    Err(back) => c = back,
                },
                None if free.is_none() => free = Some(i),
                None => {}
            }
        }
        let Some(i) = free else { return Err(c) };
        self.entries[i] = Some(PageCharges::new(c)?);
        self.evicted[i] = 0;
        Ok(i as u8 + 1)
    }

    /// Uncharges one page of `tenant` (0: no one, nothing to do).
    pub fn release(&mut self, tenant: u8) {
        let Some(e) = usize::from(tenant)
            .checked_sub(1)
            .and_then(|i| self.entries.get_mut(i))
        else {
            return;
        };
        if let Some(charges) = e {
            if !charges.release_one() {
                *e = None;
            }
        }
    }

    /// The cgroup of `tenant`, if it holds pages.
    pub fn group(&self, tenant: u8) -> Option<Group> {
        let i = usize::from(tenant).checked_sub(1)?;
        self.entries.get(i)?.as_ref().map(|c| c.group())
    }

    /// Counts `pages` evicted from `tenant`, if it is still `group`'s.
    pub fn count_evicted(&mut self, tenant: u8, group: Group, pages: u64) {
        if self.group(tenant) == Some(group) {
            self.evicted[usize::from(tenant) - 1] += pages;
        }
    }

    /// The tenants whose pages eviction may take, and whether a `dmem.low` kept some out (then a
    /// second call with `ignore_low` may give more). With `limit` (a charge hit that cgroup's
    /// `dmem.max`) only that cgroup's own pages, and those of its descendants; without, every
    /// cgroup's but those the controller protects, and the pages charged to no one.
    pub fn evictable(&self, limit: Option<&Limit>, ignore_low: bool) -> (TenantMask, bool) {
        let mut mask = TenantMask::NONE;
        if limit.is_none() {
            mask.insert(0);
        }
        let mut hit_low = false;
        for (i, e) in self.entries.iter().enumerate() {
            if let Some(charges) = e {
                if charges.evictable(limit, ignore_low, &mut hit_low) {
                    mask.insert(i as u8 + 1);
                }
            }
        }
        (mask, hit_low)
    }

    /// Every tenant holding pages, into `out`; returns how many.
    pub fn infos(&self, out: &mut [TenantInfo]) -> usize {
        let held = self
            .entries
            .iter()
            .zip(&self.evicted)
            .enumerate()
            .filter_map(|(i, (e, &ev))| {
                e.as_ref().map(|c| TenantInfo {
                    tenant: i as u8 + 1,
                    cgroup: c.group().id(),
                    pages: c.pages(),
                    evicted: ev,
                })
            });
        let mut n = 0;
        for (o, h) in out.iter_mut().zip(held) {
            *o = h;
            n += 1;
        }
        n
    }
}
