// SPDX-License-Identifier: GPL-2.0

//! `P2PMM_IOC_PROVIDERS`: the request's rules and the byte image of each `struct
//! p2pmm_provider_info`.

use crate::errno::Errno;
use crate::extensible::{get_u32, get_u64, put_u32, put_u64};
use crate::pci_name::put_name;

/// `sizeof(struct p2pmm_providers)` this kernel knows, and its first published size.
pub const SIZE: usize = 24;
/// `P2PMM_PROVIDERS_SIZE_VER0`.
pub const SIZE_VER0: usize = 24;
/// `sizeof(struct p2pmm_provider_info)` this kernel knows (`P2PMM_PROVIDER_INFO_SIZE_VER0`).
pub const INFO_SIZE: usize = 96;
/// Largest entry stride accepted (a sanity bound, like `extensible::MAX_SIZE`).
pub const MAX_INFO_SIZE: usize = 4096;

/// Field offsets of `struct p2pmm_providers`.
pub mod offset {
    /// `size`.
    pub const SIZE: usize = 0;
    /// `flags`.
    pub const FLAGS: usize = 4;
    /// `count`.
    pub const COUNT: usize = 8;
    /// `entry_size`.
    pub const ENTRY_SIZE: usize = 12;
    /// `entries`.
    pub const ENTRIES: usize = 16;
}

/// Field offsets of `struct p2pmm_provider_info`.
pub mod info_offset {
    /// `id`.
    pub const ID: usize = 0;
    /// `kind`.
    pub const KIND: usize = 4;
    /// `flags`.
    pub const FLAGS: usize = 8;
    /// `device[32]`.
    pub const DEVICE: usize = 16;
    /// `capacity`.
    pub const CAPACITY: usize = 48;
    /// `used`.
    pub const USED: usize = 56;
    /// `evictions`.
    pub const EVICTIONS: usize = 64;
    /// `migrated_in`.
    pub const MIGRATED_IN: usize = 72;
    /// `migrated_out`.
    pub const MIGRATED_OUT: usize = 80;
    /// `invalidations`.
    pub const INVALIDATIONS: usize = 88;
}

/// `P2PMM_PROVIDER_STATIC`.
pub const KIND_STATIC: u32 = 1;
/// `P2PMM_PROVIDER_MANAGED`.
pub const KIND_MANAGED: u32 = 2;
/// `P2PMM_PROVIDER_F_ADOPTED`.
pub const FLAG_ADOPTED: u32 = 1 << 0;

/// A checked `P2PMM_IOC_PROVIDERS` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListRequest {
    /// Entries the user array has room for.
    pub room: usize,
    /// The user's entry stride.
    pub stride: usize,
    /// User address of the array.
    pub entries: u64,
}

impl ListRequest {
    /// Checks the request: flags must be 0; with room for entries, the stride must be at least the
    /// first published entry size (`EINVAL`), at most [`MAX_INFO_SIZE`] (`E2BIG`), and the array
    /// must not wrap (`EINVAL`).
    pub fn decode(request: &[u8; SIZE]) -> Result<Self, Errno> {
        if get_u32(request, offset::FLAGS) != 0 {
            return Err(Errno::Inval);
        }
        let room = get_u32(request, offset::COUNT) as usize;
        let stride = get_u32(request, offset::ENTRY_SIZE) as usize;
        let entries = get_u64(request, offset::ENTRIES);
        if room > 0 {
            if stride < INFO_SIZE {
                return Err(Errno::Inval);
            }
            if stride > MAX_INFO_SIZE {
                return Err(Errno::TooBig);
            }
            let bytes = (room as u64)
                .checked_mul(stride as u64)
                .ok_or(Errno::Inval)?;
            entries.checked_add(bytes).ok_or(Errno::Inval)?;
        }
        Ok(Self {
            room,
            stride,
            entries,
        })
    }

    /// The reply: the request with the provider count and the kernel's entry size filled in.
    pub fn reply(request: &[u8; SIZE], total: usize) -> [u8; SIZE] {
        let mut reply = *request;
        put_u32(&mut reply, offset::COUNT, total as u32);
        put_u32(&mut reply, offset::ENTRY_SIZE, INFO_SIZE as u32);
        reply
    }

    /// How many bytes of each entry to write: the smaller of the two sizes (a longer user entry's
    /// tail is zeroed).
    pub fn copy_len(&self) -> usize {
        self.stride.min(INFO_SIZE)
    }
}

/// What userspace learns about one provider.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProviderInfo<'a> {
    /// Provider id.
    pub id: u32,
    /// `KIND_*`.
    pub kind: u32,
    /// `FLAG_*`.
    pub flags: u32,
    /// PCI name of the device.
    pub device: &'a [u8],
    /// Bytes offered.
    pub capacity: u64,
    /// Bytes in use.
    pub used: u64,
    /// Pages evicted.
    pub evictions: u64,
    /// Pages migrated in.
    pub migrated_in: u64,
    /// Pages migrated out.
    pub migrated_out: u64,
    /// Invalidations caused.
    pub invalidations: u64,
}

impl ProviderInfo<'_> {
    /// The entry's byte image.
    pub fn encode(&self) -> [u8; INFO_SIZE] {
        let mut b = [0u8; INFO_SIZE];
        put_u32(&mut b, info_offset::ID, self.id);
        put_u32(&mut b, info_offset::KIND, self.kind);
        put_u32(&mut b, info_offset::FLAGS, self.flags);
        put_name(
            &mut b[info_offset::DEVICE..info_offset::DEVICE + 32],
            self.device,
        );
        put_u64(&mut b, info_offset::CAPACITY, self.capacity);
        put_u64(&mut b, info_offset::USED, self.used);
        put_u64(&mut b, info_offset::EVICTIONS, self.evictions);
        put_u64(&mut b, info_offset::MIGRATED_IN, self.migrated_in);
        put_u64(&mut b, info_offset::MIGRATED_OUT, self.migrated_out);
        put_u64(&mut b, info_offset::INVALIDATIONS, self.invalidations);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(flags: u32, count: u32, entry_size: u32, entries: u64) -> [u8; SIZE] {
        let mut r = [0u8; SIZE];
        put_u32(&mut r, offset::SIZE, SIZE as u32);
        put_u32(&mut r, offset::FLAGS, flags);
        put_u32(&mut r, offset::COUNT, count);
        put_u32(&mut r, offset::ENTRY_SIZE, entry_size);
        put_u64(&mut r, offset::ENTRIES, entries);
        r
    }

    #[test]
    fn count_only_needs_no_array() {
        let r = ListRequest::decode(&req(0, 0, 0, 0)).unwrap();
        assert_eq!(r.room, 0);
        let reply = ListRequest::reply(&req(0, 0, 0, 0), 3);
        assert_eq!(get_u32(&reply, offset::COUNT), 3);
        assert_eq!(get_u32(&reply, offset::ENTRY_SIZE), INFO_SIZE as u32);
    }

    #[test]
    fn bad_requests() {
        assert_eq!(ListRequest::decode(&req(1, 0, 0, 0)), Err(Errno::Inval));
        assert_eq!(
            ListRequest::decode(&req(0, 1, 95, 0x1000)),
            Err(Errno::Inval)
        );
        assert_eq!(
            ListRequest::decode(&req(0, 1, 8192, 0x1000)),
            Err(Errno::TooBig)
        );
        assert_eq!(
            ListRequest::decode(&req(0, 2, 96, u64::MAX - 100)),
            Err(Errno::Inval)
        );
    }

    #[test]
    fn larger_user_entries_get_the_known_prefix() {
        let r = ListRequest::decode(&req(0, 4, 128, 0x1000)).unwrap();
        assert_eq!((r.stride, r.copy_len()), (128, INFO_SIZE));
    }

    #[test]
    fn info_layout() {
        let info = ProviderInfo {
            id: 7,
            kind: KIND_MANAGED,
            device: b"0000:04:00.0",
            capacity: 1 << 20,
            invalidations: 9,
            ..Default::default()
        };
        let b = info.encode();
        assert_eq!(get_u32(&b, info_offset::ID), 7);
        assert_eq!(get_u32(&b, info_offset::KIND), KIND_MANAGED);
        assert_eq!(&b[16..29], b"0000:04:00.0\0");
        assert_eq!(get_u64(&b, info_offset::CAPACITY), 1 << 20);
        assert_eq!(get_u64(&b, info_offset::INVALIDATIONS), 9);
    }
}
