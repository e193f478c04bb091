// SPDX-License-Identifier: GPL-2.0

//! Provider ids: 1 to [`MAX_PROVIDERS`] - 1, so that any provider fits a [`ProviderSet`] (advice
//! names providers in one 64-bit set), handed out in turn.
//!
//! An id is free again once its provider left the registry, but it is handed out only when the
//! turn comes back to it: after an unbind, the old id usually keeps answering `ENODEV` (and a
//! rebind gets other ids) for a while, but not when it is next in turn (after a wrap, a rebind can
//! get its old ids back). Without reuse, 63 registrations over the life of the module (a device
//! rebound that often) would exhaust the ids advice can name.
//!
//! [`ProviderSet`]: crate::advice::ProviderSet

use crate::location::MAX_PROVIDERS;

/// The ids in use and where the turn is.
#[derive(Debug)]
pub struct ProviderIds {
    in_use: u64,
    last: u16,
}

impl ProviderIds {
    /// No id in use; the first one handed out is 1.
    pub const fn new() -> ProviderIds {
        ProviderIds { in_use: 0, last: 0 }
    }

    /// The next free id after the last one handed out (wrapping past the largest), or `None` when
    /// all [`MAX_PROVIDERS`] - 1 are in use.
    pub fn take(&mut self) -> Option<u32> {
        let n = MAX_PROVIDERS - 1;
        for step in 1..=n {
            let id = (self.last + step - 1) % n + 1;
            if self.in_use & (1 << id) == 0 {
                self.in_use |= 1 << id;
                self.last = id;
                return Some(u32::from(id));
            }
        }
        None
    }

    /// `id` is free again (its provider left the registry); ids not handed out are ignored.
    pub fn put(&mut self, id: u32) {
        if let Ok(id) = u16::try_from(id) {
            if id > 0 && id < MAX_PROVIDERS {
                self.in_use &= !(1 << id);
            }
        }
    }
}

impl Default for ProviderIds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::ProviderId;
    use proptest::prelude::*;

    #[test]
    fn ids_come_in_turn_and_a_freed_one_waits_for_its_turn() {
        let mut ids = ProviderIds::new();
        assert_eq!(
            (ids.take(), ids.take(), ids.take()),
            (Some(1), Some(2), Some(3))
        );
        ids.put(2);
        // 2 is free, but the turn is at 4.
        assert_eq!(ids.take(), Some(4));
        for want in 5..=63 {
            assert_eq!(ids.take(), Some(want));
        }
        // Wrapped: 1 and 3 are in use, 2 is the one free id.
        assert_eq!(ids.take(), Some(2));
        assert_eq!(ids.take(), None);
        ids.put(40);
        ids.put(0);
        ids.put(64);
        ids.put(u32::MAX);
        assert_eq!((ids.take(), ids.take()), (Some(40), None));
    }

    proptest! {
        /// Whatever the registrations and removals, an id handed out is free, fits a provider set,
        /// and is never one of the ids in use.
        #[test]
        fn ids_are_unique_and_fit_a_provider_set(
            ops in prop::collection::vec(any::<(bool, u8)>(), 0..400),
        ) {
            let mut ids = ProviderIds::new();
            let mut live: alloc::vec::Vec<u32> = alloc::vec::Vec::new();
            for (take, pick) in ops {
                if take {
                    match ids.take() {
                        Some(id) => {
                            prop_assert!(!live.contains(&id));
                            prop_assert!(ProviderId::new(id as u16).is_ok() && id > 0);
                            live.push(id);
                        }
                        None => prop_assert_eq!(live.len(), 63),
                    }
                } else if !live.is_empty() {
                    let id = live.swap_remove(usize::from(pick) % live.len());
                    ids.put(id);
                }
            }
        }
    }
}
