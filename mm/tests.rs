// SPDX-License-Identifier: GPL-2.0

//! KUnit suite of p2pmm.ko, run when the module loads (KTAP in dmesg).
//!
//! These check the module's own code as it was compiled for the kernel: the portable core against
//! the C uAPI header, and the mapping of its errors to kernel errnos.

use kernel::prelude::*;

#[kunit_tests(p2pmm)]
mod p2pmm_kunit {
    use crate::{
        errno::Errno, extensible::CopyPlan, ioctl_cmd::Command, route, uapi_advise as ua,
        uapi_blkio as ub, uapi_dmabuf as ud, uapi_layout::UapiFact as F, uapi_layout::UapiFacts,
        uapi_layout::UapiLayout, uapi_migrate as um, uapi_providers as up, uapi_route as ur,
        version,
    };
    use kernel::error::{code, Error};
    use kernel::pr_err;

    #[test]
    fn version_struct_layout_matches_c_header() {
        let c = UapiLayout::from_c_header();
        assert_eq!(c.version_size as usize, version::SIZE);
        assert_eq!(c.version_size_ver0 as usize, version::SIZE_VER0);
        assert_eq!(c.off_size as usize, version::offset::SIZE);
        assert_eq!(c.off_flags as usize, version::offset::FLAGS);
        assert_eq!(c.off_version as usize, version::offset::VERSION);
        assert_eq!(c.off_reserved as usize, version::offset::RESERVED);
        assert_eq!(c.off_features as usize, version::offset::FEATURES);
    }

    #[test]
    fn constants_match_c_header() {
        let c = UapiLayout::from_c_header();
        assert_eq!(c.uapi_version, version::UAPI_VERSION);
        assert_eq!(c.feature_version, version::FEATURE_VERSION);
        assert_eq!(c.ioc_magic, crate::ioctl_cmd::IOC_MAGIC);
    }

    #[test]
    fn c_ioctl_number_decodes_to_version() {
        let c = UapiLayout::from_c_header();
        assert_eq!(Command::decode(c.ioc_version), Ok(Command::Version));
        assert_eq!(Command::Version.encode(version::SIZE), c.ioc_version);
        // The same command from a userspace whose struct grew still reaches VERSION.
        assert_eq!(
            Command::decode(Command::Version.encode(version::SIZE + 8)),
            Ok(Command::Version)
        );
    }

    /// Every struct, ioctl number and constant the portable core decodes, against the C header.
    #[test]
    fn newer_structs_match_c_header() {
        let c = UapiFacts::from_c_header();
        assert_eq!(c.c_count(), F::Count as u32);
        let checks: [(F, u64); 81] = [
            (F::ProvidersSize, up::SIZE as u64),
            (F::ProvidersSizeVer0, up::SIZE_VER0 as u64),
            (F::ProvidersOffFlags, up::offset::FLAGS as u64),
            (F::ProvidersOffCount, up::offset::COUNT as u64),
            (F::ProvidersOffEntrySize, up::offset::ENTRY_SIZE as u64),
            (F::ProvidersOffEntries, up::offset::ENTRIES as u64),
            (F::InfoSize, up::INFO_SIZE as u64),
            (F::InfoSizeVer0, up::INFO_SIZE as u64),
            (F::InfoOffKind, up::info_offset::KIND as u64),
            (F::InfoOffFlags, up::info_offset::FLAGS as u64),
            (F::InfoOffDevice, up::info_offset::DEVICE as u64),
            (F::InfoOffCapacity, up::info_offset::CAPACITY as u64),
            (F::InfoOffUsed, up::info_offset::USED as u64),
            (F::InfoOffEvictions, up::info_offset::EVICTIONS as u64),
            (F::InfoOffMigratedIn, up::info_offset::MIGRATED_IN as u64),
            (F::InfoOffMigratedOut, up::info_offset::MIGRATED_OUT as u64),
            (
                F::InfoOffInvalidations,
                up::info_offset::INVALIDATIONS as u64,
            ),
            (F::RouteSize, ur::SIZE as u64),
            (F::RouteSizeVer0, ur::SIZE_VER0 as u64),
            (F::RouteOffProvider, ur::offset::PROVIDER as u64),
            (F::RouteOffClient, ur::offset::CLIENT as u64),
            (F::RouteOffVerdict, ur::offset::VERDICT as u64),
            (F::RouteOffPlan, ur::offset::PLAN as u64),
            (F::RouteOffReason, ur::offset::REASON as u64),
            (F::RouteOffDistance, ur::offset::DISTANCE as u64),
            (F::RouteOffHostBridge, ur::offset::HOST_BRIDGE as u64),
            (F::RouteOffReserved2, ur::offset::RESERVED2 as u64),
            (F::MigrateSize, um::MIGRATE_SIZE as u64),
            (F::MigrateSizeVer0, um::MIGRATE_SIZE_VER0 as u64),
            (F::MigrateOffAddr, um::migrate_offset::ADDR as u64),
            (F::MigrateOffLength, um::migrate_offset::LENGTH as u64),
            (F::MigrateOffTarget, um::migrate_offset::TARGET as u64),
            (F::MigrateOffMigrated, um::migrate_offset::MIGRATED as u64),
            (F::MigrateOffEvicted, um::migrate_offset::EVICTED as u64),
            (F::QuerySize, um::QUERY_SIZE as u64),
            (F::QuerySizeVer0, um::QUERY_SIZE_VER0 as u64),
            (F::QueryOffAddr, um::query_offset::ADDR as u64),
            (F::QueryOffLength, um::query_offset::LENGTH as u64),
            (F::QueryOffLocations, um::query_offset::LOCATIONS as u64),
            (
                F::IocProviders,
                u64::from(Command::Providers.encode(up::SIZE)),
            ),
            (F::IocRoute, u64::from(Command::Route.encode(ur::SIZE))),
            (
                F::IocMigrate,
                u64::from(Command::Migrate.encode(um::MIGRATE_SIZE)),
            ),
            (
                F::IocQuery,
                u64::from(Command::Query.encode(um::QUERY_SIZE)),
            ),
            (F::FeaturesAll, version::FEATURES),
            (F::KindStatic, u64::from(up::KIND_STATIC)),
            (F::KindManaged, u64::from(up::KIND_MANAGED)),
            (F::FlagAdopted, u64::from(up::FLAG_ADOPTED)),
            (F::LocationSystem, u64::from(um::LOCATION_SYSTEM)),
            (F::LocationNone, u64::from(um::LOCATION_NONE)),
            (F::PlanDirect, u64::from(route::PLAN_DIRECT)),
            (F::PlanBounce, u64::from(route::PLAN_BOUNCE)),
            (F::PlanRefused, u64::from(route::PLAN_REFUSED)),
            (F::AdviseSize, ua::SIZE as u64),
            (F::AdviseSizeVer0, ua::SIZE_VER0 as u64),
            (F::AdviseOffAdvice, ua::offset::ADVICE as u64),
            (F::AdviseOffLocation, ua::offset::LOCATION as u64),
            (F::IocAdvise, u64::from(Command::Advise.encode(ua::SIZE))),
            (F::AdvPin, u64::from(ua::adv::PIN)),
            (F::AdvUnpin, u64::from(ua::adv::UNPIN)),
            (F::MmapOffset7, um::mmap_offset(7)),
            (F::BlkioSize, ub::SIZE as u64),
            (F::BlkioSizeVer0, ub::SIZE_VER0 as u64),
            (F::BlkioOffFd, ub::offset::FD as u64),
            (F::BlkioOffAddr, ub::offset::ADDR as u64),
            (F::BlkioOffLength, ub::offset::LENGTH as u64),
            (F::BlkioOffOffset, ub::offset::OFFSET as u64),
            (F::BlkioOffBytesP2p, ub::offset::BYTES_P2P as u64),
            (F::BlkioOffBytesSystem, ub::offset::BYTES_SYSTEM as u64),
            (F::BlkioOffBytesBounce, ub::offset::BYTES_BOUNCE as u64),
            (F::BlkioOffRetries, ub::offset::RETRIES as u64),
            (F::BlkioWrite, u64::from(ub::FLAG_WRITE)),
            (F::IocBlkio, u64::from(Command::Blkio.encode(ub::SIZE))),
            (F::DmabufSize, ud::SIZE as u64),
            (F::DmabufSizeVer0, ud::SIZE_VER0 as u64),
            (F::DmabufOffAddr, ud::offset::ADDR as u64),
            (F::DmabufOffLength, ud::offset::LENGTH as u64),
            (F::DmabufOffFd, ud::offset::FD as u64),
            (F::DmabufOffProvider, ud::offset::PROVIDER as u64),
            (F::DmabufCloexec, u64::from(ud::FLAG_CLOEXEC)),
            (F::DmabufManaged, u64::from(ud::FLAG_MANAGED)),
            (F::IocDmabuf, u64::from(Command::Dmabuf.encode(ud::SIZE))),
        ];
        for (fact, rust) in checks {
            if c.get(fact) != rust {
                pr_err!(
                    "uapi mismatch: {:?}: C {} Rust {}\n",
                    fact,
                    c.get(fact),
                    rust
                );
            }
            assert_eq!(c.get(fact), rust);
        }
    }

    #[test]
    fn core_errnos_map_to_kernel_errnos() {
        assert_eq!(Error::from(Errno::Inval), code::EINVAL);
        assert_eq!(Error::from(Errno::Fault), code::EFAULT);
        assert_eq!(Error::from(Errno::TooBig), code::E2BIG);
        assert_eq!(Error::from(Errno::NoTty), code::ENOTTY);
        assert_eq!(Error::from(Errno::OpNotSupp), code::EOPNOTSUPP);
        for e in [
            Errno::Inval,
            Errno::Fault,
            Errno::TooBig,
            Errno::NoTty,
            Errno::NoDev,
            Errno::NoMem,
            Errno::Busy,
            Errno::OpNotSupp,
            Errno::BadF,
            Errno::NoSpc,
        ] {
            assert_eq!(Error::from(e).to_errno(), -e.to_raw());
        }
    }

    #[test]
    fn size_rules_hold_in_the_kernel_build() {
        assert_eq!(
            CopyPlan::new(
                version::SIZE_VER0 as u32 - 1,
                version::SIZE_VER0,
                version::SIZE
            ),
            Err(Errno::Inval)
        );
        let plan = CopyPlan::new(100, version::SIZE_VER0, version::SIZE);
        assert_eq!(
            plan.map(|p| (p.copy_len, p.tail_len)),
            Ok((version::SIZE, 76))
        );
    }
}
