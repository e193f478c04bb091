// SPDX-License-Identifier: GPL-2.0

//! KUnit suite of p2pmm.ko, run when the module loads (KTAP in dmesg).
//!
//! These check the module's own code as it was compiled for the kernel: the portable core against the C uAPI
//! header, and the mapping of its errors to kernel errnos.

use kernel::prelude::*;

#[kunit_tests(p2pmm)]
mod p2pmm_kunit {
    use crate::{
        errno::Errno, extensible::CopyPlan, ioctl_cmd::Command, uapi_layout::UapiLayout, version,
    };
    use kernel::error::{code, Error};

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

    #[test]
    fn core_errnos_map_to_kernel_errnos() {
        assert_eq!(Error::from(Errno::Inval), code::EINVAL);
        assert_eq!(Error::from(Errno::Fault), code::EFAULT);
        assert_eq!(Error::from(Errno::TooBig), code::E2BIG);
        assert_eq!(Error::from(Errno::NoTty), code::ENOTTY);
        for e in [Errno::Inval, Errno::Fault, Errno::TooBig, Errno::NoTty] {
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
