// SPDX-License-Identifier: GPL-2.0

//! Where a page can live: system RAM or the memory of one registered provider.

use crate::errno::Errno;

/// How many providers p2pmm tracks at once: a set of providers is one `u64` bitmap (see
/// `advice.rs`).
pub const MAX_PROVIDERS: u16 = 64;

/// A registered provider of device memory, by its small index.
///
/// Indices stay below [`MAX_PROVIDERS`] so that sets of providers fit in one word; the subsystem
/// hands them out at registration and the uAPI names providers by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProviderId(u16);

impl ProviderId {
    /// Validates a provider index (as userspace passes it): `EINVAL` if it is [`MAX_PROVIDERS`] or
    /// more.
    pub const fn new(raw: u16) -> Result<ProviderId, Errno> {
        if raw < MAX_PROVIDERS {
            Ok(ProviderId(raw))
        } else {
            Err(Errno::Inval)
        }
    }

    /// The index as userspace sees it.
    pub const fn raw(self) -> u16 {
        self.0
    }

    /// The index, for arrays and bitmaps.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The home of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Location {
    /// Ordinary system RAM, managed by core mm.
    System,
    /// The memory of a provider.
    Provider(ProviderId),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_ids_stay_below_the_bitmap_width() {
        assert_eq!(ProviderId::new(0).map(ProviderId::raw), Ok(0));
        assert_eq!(ProviderId::new(63).map(ProviderId::index), Ok(63));
        assert_eq!(ProviderId::new(64), Err(Errno::Inval));
        assert_eq!(ProviderId::new(u16::MAX), Err(Errno::Inval));
    }
}
