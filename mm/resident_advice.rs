// SPDX-License-Identifier: GPL-2.0

//! Advice carried to the pages of a range that are resident on managed providers now: pins,
//! `PREFERRED_LOCATION` and `ACCESSED_BY` become per-slot attributes of each provider's eviction
//! policy (`core/src/eviction.rs`). Pages that arrive later take the advice when they land
//! (`migration.rs`); the advice itself is the process's (`space.rs`).

use crate::{errno::Errno, location::ProviderId, provider::Provider, residency::walk};
use kernel::{mm::MmWithUser, prelude::*, sync::Arc};

/// Pins (or unpins) every page of `[start, end)` now resident on a managed provider: a pinned page
/// is never picked to make room. Returns the number of resident pages seen.
pub fn set_pinned(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
    pin: bool,
) -> Result<u64> {
    let mut n = 0;
    walk(mm, start, end, all, |_, _, resident| {
        let Some((p, slot)) = resident else { return };
        let Some(m) = p.managed() else { return };
        m.set_slot_pinned(slot, pin);
        n += 1;
    })?;
    Ok(n)
}

/// Adds `provider` to (`add`) or removes it from the devices advised to access every page of
/// `[start, end)` now resident on a managed provider; later arrivals take the advice when they
/// land.
///
/// `ENOSPC` if a provider's pages already carry as many distinct sets of accessing devices as it
/// can tell apart (`eviction::ATTR_SETS`, counted with the tenants of its pages); the pages walked
/// before keep the new advice.
pub fn set_accessed_by(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
    provider: ProviderId,
    add: bool,
) -> Result {
    let mut refused = Ok(());
    walk(mm, start, end, all, |_, _, resident| {
        if let Some((p, slot)) = resident {
            if let Some(m) = p.managed() {
                let mut clock = m.clock();
                let set = clock.accessed_by(slot);
                let set = if add {
                    set.with(provider)
                } else {
                    set.without(provider)
                };
                if let Err(e) = clock.set_accessed_by(slot, set) {
                    refused = Err(Error::from(Errno::from(e)));
                }
            }
        }
    })?;
    refused
}

/// Marks every page of `[start, end)` now resident on a managed provider as preferring it (or not):
/// the policy evicts such pages last. `preferred` is the provider the range prefers, if any.
pub fn set_preferred(
    mm: &MmWithUser,
    start: usize,
    end: usize,
    all: &[Arc<Provider>],
    preferred: Option<u32>,
) -> Result {
    walk(mm, start, end, all, |_, _, resident| {
        if let Some((p, slot)) = resident {
            if let Some(m) = p.managed() {
                let _ = m.clock().set_preferred(slot, preferred == Some(p.id));
            }
        }
    })
}
