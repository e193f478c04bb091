// SPDX-License-Identifier: GPL-2.0

//! `/dev/p2pmm`: the misc device userspace opens, and its ioctl dispatch.
//!
//! The node is created with mode 0600 (the misc core's default when no mode is given): the device node's
//! permissions are the gate to the uAPI.

use crate::{ioctl_cmd::Command, user_struct::UserStruct, version};
use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    prelude::*,
    uaccess::UserPtr,
};

/// One open file of `/dev/p2pmm`. It carries no state yet; later uAPI (advice, placement) hangs off it.
pub struct P2pmmFile;

#[vtable]
impl MiscDevice for P2pmmFile {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        Ok(KBox::new(P2pmmFile, GFP_KERNEL)?)
    }

    fn ioctl(_me: &P2pmmFile, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let arg = UserPtr::from_addr(arg);
        match Command::decode(cmd)? {
            Command::Version => version_ioctl(arg)?,
        }
        Ok(0)
    }
}

/// `P2PMM_IOC_VERSION`.
fn version_ioctl(arg: UserPtr) -> Result {
    let request = UserStruct::<{ version::SIZE }>::read(arg, version::SIZE_VER0)?;
    let reply = version::answer(&request.bytes)?;
    request.write_back(&reply)
}
