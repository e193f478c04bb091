// SPDX-License-Identifier: GPL-2.0

//! `P2PMM_IOC_MIGRATE` and `P2PMM_IOC_QUERY`: the address-range requests, checked before anything
//! moves.

use crate::errno::Errno;
use crate::extensible::{get_u32, get_u64, put_u64};

/// The page size the uAPI's alignment rules use (p2pmm supports 4 KiB-page architectures).
pub const PAGE_SIZE: u64 = 4096;

/// `P2PMM_LOCATION_SYSTEM`: system memory.
pub const LOCATION_SYSTEM: u32 = 0;
/// `P2PMM_LOCATION_NONE`: a query's answer for a page that is not populated (or not p2pmm's).
pub const LOCATION_NONE: u32 = u32::MAX;

/// Bytes of file offsets each provider's static memory owns (`P2PMM_MMAP_OFFSET(id + 1) -
/// P2PMM_MMAP_OFFSET(id)`): the most one mapping may be.
pub const MMAP_WINDOW: u64 = 1 << 32;

/// `P2PMM_MMAP_OFFSET(id)`: the mmap offset that maps static memory of provider `id`.
pub const fn mmap_offset(id: u32) -> u64 {
    (id as u64) << 32
}

/// The provider an mmap offset names: `EINVAL` unless it is exactly `P2PMM_MMAP_OFFSET(id)` for
/// some id > 0.
pub fn provider_of_mmap_offset(offset: u64) -> Result<u32, Errno> {
    let id = (offset >> 32) as u32;
    if offset & 0xffff_ffff != 0 || id == 0 {
        return Err(Errno::Inval);
    }
    Ok(id)
}

/// `sizeof(struct p2pmm_migrate)` and its first published size.
pub const MIGRATE_SIZE: usize = 48;
/// `P2PMM_MIGRATE_SIZE_VER0`.
pub const MIGRATE_SIZE_VER0: usize = 48;
/// `sizeof(struct p2pmm_query)` this kernel knows (`P2PMM_QUERY_SIZE_VER1`, with `pid`).
pub const QUERY_SIZE: usize = 40;
/// `P2PMM_QUERY_SIZE_VER0`.
pub const QUERY_SIZE_VER0: usize = 32;

/// Field offsets of `struct p2pmm_migrate`.
pub mod migrate_offset {
    /// `flags`.
    pub const FLAGS: usize = 4;
    /// `addr`.
    pub const ADDR: usize = 8;
    /// `length`.
    pub const LENGTH: usize = 16;
    /// `target`.
    pub const TARGET: usize = 24;
    /// `__reserved`.
    pub const RESERVED: usize = 28;
    /// `migrated`.
    pub const MIGRATED: usize = 32;
    /// `evicted`.
    pub const EVICTED: usize = 40;
}

/// Field offsets of `struct p2pmm_query`.
pub mod query_offset {
    /// `flags`.
    pub const FLAGS: usize = 4;
    /// `addr`.
    pub const ADDR: usize = 8;
    /// `length`.
    pub const LENGTH: usize = 16;
    /// `locations`.
    pub const LOCATIONS: usize = 24;
    /// `pid` (uAPI version 3).
    pub const PID: usize = 32;
    /// `__reserved`.
    pub const RESERVED: usize = 36;
}

/// A page-aligned, non-empty user address range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserRange {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

impl UserRange {
    /// Checks `addr`/`length` as madvise(2) does: unaligned start, empty, unaligned length or a
    /// wrap is `EINVAL`.
    pub fn new(addr: u64, length: u64) -> Result<Self, Errno> {
        if addr % PAGE_SIZE != 0 || length == 0 || length % PAGE_SIZE != 0 {
            return Err(Errno::Inval);
        }
        let end = addr.checked_add(length).ok_or(Errno::Inval)?;
        Ok(Self { start: addr, end })
    }

    /// Number of pages.
    pub fn pages(&self) -> u64 {
        (self.end - self.start) / PAGE_SIZE
    }
}

/// Where a migration goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// System memory.
    System,
    /// The provider with this id (must be a managed one; the kernel checks).
    Provider(u32),
}

/// A checked `P2PMM_IOC_MIGRATE` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MigrateRequest {
    /// The range.
    pub range: UserRange,
    /// The destination.
    pub target: Target,
}

impl MigrateRequest {
    /// Checks flags and reserved fields (`EINVAL`) and the range; output fields are ignored.
    pub fn decode(r: &[u8; MIGRATE_SIZE]) -> Result<Self, Errno> {
        if get_u32(r, migrate_offset::FLAGS) != 0 || get_u32(r, migrate_offset::RESERVED) != 0 {
            return Err(Errno::Inval);
        }
        let range = UserRange::new(
            get_u64(r, migrate_offset::ADDR),
            get_u64(r, migrate_offset::LENGTH),
        )?;
        let target = match get_u32(r, migrate_offset::TARGET) {
            LOCATION_SYSTEM => Target::System,
            LOCATION_NONE => return Err(Errno::Inval),
            id => Target::Provider(id),
        };
        Ok(Self { range, target })
    }

    /// The reply with the counts filled in.
    pub fn reply(r: &[u8; MIGRATE_SIZE], migrated: u64, evicted: u64) -> [u8; MIGRATE_SIZE] {
        let mut out = *r;
        put_u64(&mut out, migrate_offset::MIGRATED, migrated);
        put_u64(&mut out, migrate_offset::EVICTED, evicted);
        out
    }
}

/// A checked `P2PMM_IOC_QUERY` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryRequest {
    /// The range.
    pub range: UserRange,
    /// User address of the `u32` array, one entry per page.
    pub locations: u64,
    /// The process to look at (0: the caller).
    pub pid: u32,
}

impl QueryRequest {
    /// Checks flags (`EINVAL`), the range, and that the output array does not wrap (`EINVAL`).
    pub fn decode(r: &[u8; QUERY_SIZE]) -> Result<Self, Errno> {
        if get_u32(r, query_offset::FLAGS) != 0 || get_u32(r, query_offset::RESERVED) != 0 {
            return Err(Errno::Inval);
        }
        let range = UserRange::new(
            get_u64(r, query_offset::ADDR),
            get_u64(r, query_offset::LENGTH),
        )?;
        let locations = get_u64(r, query_offset::LOCATIONS);
        locations
            .checked_add(range.pages() * 4)
            .ok_or(Errno::Inval)?;
        Ok(Self {
            range,
            locations,
            pid: get_u32(r, query_offset::PID),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extensible::put_u32;

    fn migrate(
        flags: u32,
        addr: u64,
        length: u64,
        target: u32,
        reserved: u32,
    ) -> [u8; MIGRATE_SIZE] {
        let mut r = [0u8; MIGRATE_SIZE];
        put_u32(&mut r, 0, MIGRATE_SIZE as u32);
        put_u32(&mut r, migrate_offset::FLAGS, flags);
        put_u64(&mut r, migrate_offset::ADDR, addr);
        put_u64(&mut r, migrate_offset::LENGTH, length);
        put_u32(&mut r, migrate_offset::TARGET, target);
        put_u32(&mut r, migrate_offset::RESERVED, reserved);
        r
    }

    #[test]
    fn good_requests() {
        let m = MigrateRequest::decode(&migrate(0, 0x10000, 0x2000, 3, 0)).unwrap();
        assert_eq!(
            m.range,
            UserRange {
                start: 0x10000,
                end: 0x12000
            }
        );
        assert_eq!(m.target, Target::Provider(3));
        let m = MigrateRequest::decode(&migrate(0, 0x10000, 0x1000, 0, 0)).unwrap();
        assert_eq!(m.target, Target::System);
    }

    #[test]
    fn bad_ranges_and_fields_are_einval() {
        for (flags, addr, length, target, reserved) in [
            (1, 0x10000, 0x1000, 0, 0),
            (0, 0x10001, 0x1000, 0, 0),
            (0, 0x10000, 0x1001, 0, 0),
            (0, 0x10000, 0, 0, 0),
            (0, !0xfff, 0x2000, 0, 0),
            (0, 0x10000, 0x1000, u32::MAX, 0),
            (0, 0x10000, 0x1000, 0, 1),
        ] {
            assert_eq!(
                MigrateRequest::decode(&migrate(flags, addr, length, target, reserved)),
                Err(Errno::Inval)
            );
        }
    }

    #[test]
    fn reply_counts() {
        let r = MigrateRequest::reply(&migrate(0, 0x10000, 0x1000, 0, 0), 5, 2);
        assert_eq!(get_u64(&r, migrate_offset::MIGRATED), 5);
        assert_eq!(get_u64(&r, migrate_offset::EVICTED), 2);
    }

    #[test]
    fn mmap_offsets() {
        assert_eq!(provider_of_mmap_offset(mmap_offset(3)), Ok(3));
        assert_eq!(provider_of_mmap_offset(0), Err(Errno::Inval));
        assert_eq!(
            provider_of_mmap_offset(mmap_offset(3) + 4096),
            Err(Errno::Inval)
        );
    }

    #[test]
    fn query_checks() {
        let mut q = [0u8; QUERY_SIZE];
        put_u64(&mut q, query_offset::ADDR, 0x10000);
        put_u64(&mut q, query_offset::LENGTH, 0x4000);
        put_u64(&mut q, query_offset::LOCATIONS, 0x5000);
        let d = QueryRequest::decode(&q).unwrap();
        assert_eq!((d.range.pages(), d.locations), (4, 0x5000));
        put_u64(&mut q, query_offset::LOCATIONS, u64::MAX - 8);
        assert_eq!(QueryRequest::decode(&q), Err(Errno::Inval));
        put_u64(&mut q, query_offset::LOCATIONS, 0x5000);
        put_u32(&mut q, query_offset::PID, 42);
        assert_eq!(QueryRequest::decode(&q).map(|d| d.pid), Ok(42));
        put_u32(&mut q, query_offset::RESERVED, 1);
        assert_eq!(QueryRequest::decode(&q), Err(Errno::Inval));
        put_u32(&mut q, query_offset::RESERVED, 0);
        put_u32(&mut q, query_offset::FLAGS, 2);
        assert_eq!(QueryRequest::decode(&q), Err(Errno::Inval));
    }
}
