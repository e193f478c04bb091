// SPDX-License-Identifier: GPL-2.0

//! The placement state of one page, and the only transitions allowed between states.
//!
//! A page has exactly one home at any time; while it moves, the migration owns it and nobody else
//! may start another move or free it, so a racing second migration or a free during a copy is
//! refused here instead of corrupting the bookkeeping. Every transition returns the new state or an
//! error and leaves the caller's state untouched on error.

use crate::errno::Errno;
use crate::location::{Location, ProviderId};

/// Where a page is, as p2pmm tracks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    /// Never populated through p2pmm (or freed): core mm owns it, if it exists at all.
    Absent,
    /// In system RAM.
    System,
    /// In the memory of a provider.
    Resident(ProviderId),
    /// Being copied; `from` is `None` for a first-touch population of an absent page.
    Migrating {
        /// Where the page was; it goes back there on abort.
        from: Option<Location>,
        /// Where the page will be.
        to: Location,
    },
}

/// An illegal transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionError {
    /// The page is being migrated (`EBUSY`): finish or abort first.
    Busy,
    /// The page is not being migrated, so there is nothing to finish or abort (a caller bug,
    /// `EINVAL`).
    NotMigrating,
    /// The page already lives at the target (a no-op the caller should have skipped, `EINVAL`).
    AlreadyThere,
}

impl From<TransitionError> for Errno {
    fn from(e: TransitionError) -> Errno {
        match e {
            TransitionError::Busy => Errno::Busy,
            TransitionError::NotMigrating | TransitionError::AlreadyThere => Errno::Inval,
        }
    }
}

impl PageState {
    /// The state of a page at rest at `loc`.
    pub const fn at(loc: Location) -> PageState {
        match loc {
            Location::System => PageState::System,
            Location::Provider(p) => PageState::Resident(p),
        }
    }

    /// The page's home, or `None` when it is absent or in flight.
    pub const fn location(self) -> Option<Location> {
        match self {
            PageState::System => Some(Location::System),
            PageState::Resident(p) => Some(Location::Provider(p)),
            PageState::Absent | PageState::Migrating { .. } => None,
        }
    }

    /// Starts moving the page (or populating it, if absent) to `to`.
    pub fn begin_migrate(self, to: Location) -> Result<PageState, TransitionError> {
        let from = match self {
            PageState::Migrating { .. } => return Err(TransitionError::Busy),
            PageState::Absent => None,
            _ => self.location(),
        };
        if from == Some(to) {
            return Err(TransitionError::AlreadyThere);
        }
        Ok(PageState::Migrating { from, to })
    }

    /// The copy succeeded: the page now lives at the target.
    pub fn finish_migrate(self) -> Result<PageState, TransitionError> {
        match self {
            PageState::Migrating { to, .. } => Ok(PageState::at(to)),
            _ => Err(TransitionError::NotMigrating),
        }
    }

    /// The copy failed or was cancelled: the page stays where it was.
    pub fn abort_migrate(self) -> Result<PageState, TransitionError> {
        match self {
            PageState::Migrating { from: None, .. } => Ok(PageState::Absent),
            PageState::Migrating { from: Some(f), .. } => Ok(PageState::at(f)),
            _ => Err(TransitionError::NotMigrating),
        }
    }

    /// The page was unmapped or its range freed; refused while a migration owns it.
    pub fn free(self) -> Result<PageState, TransitionError> {
        match self {
            PageState::Migrating { .. } => Err(TransitionError::Busy),
            _ => Ok(PageState::Absent),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(n: u16) -> ProviderId {
        ProviderId::new(n).unwrap()
    }

    #[test]
    fn migrate_there_and_back() {
        let s = PageState::System;
        let m = s.begin_migrate(Location::Provider(p(1))).unwrap();
        assert_eq!(m.location(), None);
        let r = m.finish_migrate().unwrap();
        assert_eq!(r, PageState::Resident(p(1)));
        let back = r.begin_migrate(Location::System).unwrap();
        assert_eq!(back.finish_migrate(), Ok(PageState::System));
    }

    #[test]
    fn abort_returns_home_including_absent() {
        let to = Location::Provider(p(2));
        let m = PageState::Absent.begin_migrate(to).unwrap();
        assert_eq!(m, PageState::Migrating { from: None, to });
        assert_eq!(m.abort_migrate(), Ok(PageState::Absent));
        let m = PageState::Resident(p(1)).begin_migrate(to).unwrap();
        assert_eq!(m.abort_migrate(), Ok(PageState::Resident(p(1))));
    }

    #[test]
    fn illegal_transitions_are_errors() {
        let m = PageState::System
            .begin_migrate(Location::Provider(p(0)))
            .unwrap();
        assert_eq!(
            m.begin_migrate(Location::System),
            Err(TransitionError::Busy)
        );
        assert_eq!(m.free(), Err(TransitionError::Busy));
        for s in [
            PageState::Absent,
            PageState::System,
            PageState::Resident(p(3)),
        ] {
            assert_eq!(s.finish_migrate(), Err(TransitionError::NotMigrating));
            assert_eq!(s.abort_migrate(), Err(TransitionError::NotMigrating));
            assert_eq!(s.free(), Ok(PageState::Absent));
        }
        assert_eq!(
            PageState::System.begin_migrate(Location::System),
            Err(TransitionError::AlreadyThere)
        );
        assert_eq!(
            PageState::Resident(p(3)).begin_migrate(Location::Provider(p(3))),
            Err(TransitionError::AlreadyThere)
        );
    }
}
