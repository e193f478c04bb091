// SPDX-License-Identifier: GPL-2.0

//! `P2PMM_IOC_ADVISE`: madvise-like advice on a range of the caller's memory, checked before it is
//! applied.

use crate::advice::{AdviceChange, AdviceFlags};
use crate::errno::Errno;
use crate::extensible::{get_u32, get_u64};
use crate::location::{Location, ProviderId};
use crate::uapi_migrate::{UserRange, LOCATION_SYSTEM};

/// `sizeof(struct p2pmm_advise)` and its first published size.
pub const SIZE: usize = 32;
/// `P2PMM_ADVISE_SIZE_VER0`.
pub const SIZE_VER0: usize = 32;

/// Field offsets of `struct p2pmm_advise`.
pub mod offset {
    /// `flags`.
    pub const FLAGS: usize = 4;
    /// `addr`.
    pub const ADDR: usize = 8;
    /// `length`.
    pub const LENGTH: usize = 16;
    /// `advice`.
    pub const ADVICE: usize = 24;
    /// `location`.
    pub const LOCATION: usize = 28;
}

/// `P2PMM_ADV_*` values.
pub mod adv {
    /// Prefer a location (a provider id or `P2PMM_LOCATION_SYSTEM`).
    pub const PREFERRED_LOCATION: u32 = 1;
    /// Forget the preferred location.
    pub const UNSET_PREFERRED_LOCATION: u32 = 2;
    /// A provider's device accesses the range.
    pub const ACCESSED_BY: u32 = 3;
    /// Forget an accessed-by provider.
    pub const UNSET_ACCESSED_BY: u32 = 4;
    /// The range is mostly read.
    pub const READ_MOSTLY: u32 = 5;
    /// Forget read-mostly.
    pub const UNSET_READ_MOSTLY: u32 = 6;
    /// Never evict the range's pages from a provider to make room.
    pub const PIN: u32 = 7;
    /// Forget the pin.
    pub const UNPIN: u32 = 8;
}

/// A checked `P2PMM_IOC_ADVISE` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdviseRequest {
    /// The range.
    pub range: UserRange,
    /// The change.
    pub change: AdviceChange,
    /// The provider the advice names (the kernel checks it exists: `ENODEV`).
    pub provider: Option<u32>,
}

fn provider_id(raw: u32) -> Result<ProviderId, Errno> {
    ProviderId::new(u16::try_from(raw).map_err(|_| Errno::Inval)?)
}

impl AdviseRequest {
    /// Checks the request: flags 0, a valid range, a known advice (`EINVAL` otherwise); a location
    /// only where the advice takes one (`EINVAL` for one given elsewhere); provider ids as bit
    /// positions of a 64-provider set. `(UNSET_)READ_MOSTLY`, well formed, is `EOPNOTSUPP`: p2pmm
    /// does not duplicate pages.
    pub fn decode(r: &[u8; SIZE]) -> Result<Self, Errno> {
        if get_u32(r, offset::FLAGS) != 0 {
            return Err(Errno::Inval);
        }
        let range = UserRange::new(get_u64(r, offset::ADDR), get_u64(r, offset::LENGTH))?;
        let location = get_u32(r, offset::LOCATION);
        let needs_provider = |raw: u32| -> Result<ProviderId, Errno> {
            if raw == LOCATION_SYSTEM {
                return Err(Errno::Inval);
            }
            provider_id(raw)
        };
        let (change, provider) = match get_u32(r, offset::ADVICE) {
            adv::PREFERRED_LOCATION if location == LOCATION_SYSTEM => {
                (AdviceChange::SetPreferred(Location::System), None)
            }
            adv::PREFERRED_LOCATION => {
                let p = provider_id(location)?;
                (
                    AdviceChange::SetPreferred(Location::Provider(p)),
                    Some(location),
                )
            }
            adv::ACCESSED_BY => (
                AdviceChange::SetAccessedBy(needs_provider(location)?),
                Some(location),
            ),
            adv::UNSET_ACCESSED_BY => (
                AdviceChange::ClearAccessedBy(needs_provider(location)?),
                Some(location),
            ),
            a => {
                if location != 0 {
                    return Err(Errno::Inval);
                }
                let change = match a {
                    adv::UNSET_PREFERRED_LOCATION => AdviceChange::ClearPreferred,
                    // No read duplication: advice that would be recorded and do nothing is refused.
                    adv::READ_MOSTLY | adv::UNSET_READ_MOSTLY => return Err(Errno::OpNotSupp),
                    adv::PIN => AdviceChange::SetFlags(AdviceFlags::PINNED),
                    adv::UNPIN => AdviceChange::ClearFlags(AdviceFlags::PINNED),
                    _ => return Err(Errno::Inval),
                };
                (change, None)
            }
        };
        Ok(Self {
            range,
            change,
            provider,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extensible::{put_u32, put_u64};

    fn req(flags: u32, advice: u32, location: u32) -> [u8; SIZE] {
        let mut r = [0u8; SIZE];
        put_u32(&mut r, 0, SIZE as u32);
        put_u32(&mut r, offset::FLAGS, flags);
        put_u64(&mut r, offset::ADDR, 0x10000);
        put_u64(&mut r, offset::LENGTH, 0x4000);
        put_u32(&mut r, offset::ADVICE, advice);
        put_u32(&mut r, offset::LOCATION, location);
        r
    }

    #[test]
    fn each_advice_decodes() {
        let p3 = ProviderId::new(3).unwrap();
        let cases = [
            (
                adv::PREFERRED_LOCATION,
                3,
                AdviceChange::SetPreferred(Location::Provider(p3)),
            ),
            (
                adv::PREFERRED_LOCATION,
                0,
                AdviceChange::SetPreferred(Location::System),
            ),
            (
                adv::UNSET_PREFERRED_LOCATION,
                0,
                AdviceChange::ClearPreferred,
            ),
            (adv::ACCESSED_BY, 3, AdviceChange::SetAccessedBy(p3)),
            (adv::UNSET_ACCESSED_BY, 3, AdviceChange::ClearAccessedBy(p3)),
            (adv::PIN, 0, AdviceChange::SetFlags(AdviceFlags::PINNED)),
            (adv::UNPIN, 0, AdviceChange::ClearFlags(AdviceFlags::PINNED)),
        ];
        for (a, loc, change) in cases {
            let d = AdviseRequest::decode(&req(0, a, loc)).unwrap();
            assert_eq!(d.change, change, "advice {a}");
            assert_eq!(
                d.range,
                UserRange {
                    start: 0x10000,
                    end: 0x14000
                }
            );
        }
    }

    #[test]
    fn bad_advice_is_einval() {
        for (flags, a, loc) in [
            (1, adv::PIN, 0),
            (0, 0, 0),
            (0, 9, 0),
            (0, u32::MAX, 0),
            (0, adv::PIN, 3),
            (0, adv::ACCESSED_BY, 0),
            (0, adv::ACCESSED_BY, 64),
            (0, adv::PREFERRED_LOCATION, 0x1_0000),
        ] {
            assert_eq!(
                AdviseRequest::decode(&req(flags, a, loc)),
                Err(Errno::Inval),
                "{a} {loc}"
            );
        }
    }

    #[test]
    fn read_mostly_is_refused_not_recorded() {
        for a in [adv::READ_MOSTLY, adv::UNSET_READ_MOSTLY] {
            assert_eq!(AdviseRequest::decode(&req(0, a, 0)), Err(Errno::OpNotSupp));
            // A malformed request is still EINVAL first.
            assert_eq!(AdviseRequest::decode(&req(1, a, 0)), Err(Errno::Inval));
            assert_eq!(AdviseRequest::decode(&req(0, a, 3)), Err(Errno::Inval));
        }
    }
}
