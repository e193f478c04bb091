// SPDX-License-Identifier: GPL-2.0

//! `/dev/p2pmm`: the misc device userspace opens, and its ioctl dispatch.
//!
//! The node is created with mode 0600 (the misc core's default when no mode is given): the device node's
//! permissions are the gate to the uAPI.

use crate::{
    ioctl_cmd::Command, pci_p2p, registry, uapi_providers, uapi_route, user_struct::UserStruct,
    version,
};
use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    prelude::*,
    uaccess::{UserPtr, UserSlice},
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
            Command::Providers => providers_ioctl(arg)?,
            Command::Route => route_ioctl(arg)?,
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

/// `P2PMM_IOC_PROVIDERS`: copies one `struct p2pmm_provider_info` per provider (as many as fit) and the count.
fn providers_ioctl(arg: UserPtr) -> Result {
    let request = UserStruct::<{ uapi_providers::SIZE }>::read(arg, uapi_providers::SIZE_VER0)?;
    let list = uapi_providers::ListRequest::decode(&request.bytes)?;
    registry::sync_adopted()?;
    let providers = registry::snapshot()?;
    let mut total = 0usize;
    for p in providers.iter() {
        // A provider revoked since the snapshot is skipped: userspace never sees memory that is gone.
        let Some(info) = p.info() else { continue };
        if total < list.room {
            let at = list.entries as usize + total * list.stride;
            let mut w = UserSlice::new(UserPtr::from_addr(at), list.stride).writer();
            w.write_slice(&info[..list.copy_len()])?;
            // A newer userspace's longer entry: zero what this kernel does not know.
            let zeros = [0u8; 64];
            let mut left = list.stride - list.copy_len();
            while left > 0 {
                let n = left.min(zeros.len());
                w.write_slice(&zeros[..n])?;
                left -= n;
            }
        }
        total += 1;
    }
    let reply = uapi_providers::ListRequest::reply(&request.bytes, total);
    request.write_back(&reply)
}

/// `P2PMM_IOC_ROUTE`: how a PCI device reaches a provider, as p2pdma decides it, and p2pmm's plan.
fn route_ioctl(arg: UserPtr) -> Result {
    let request = UserStruct::<{ uapi_route::SIZE }>::read(arg, uapi_route::SIZE_VER0)?;
    let q = uapi_route::RouteRequest::decode(&request.bytes)?;
    let provider = registry::get(q.provider).ok_or(ENODEV)?;
    let client = pci_p2p::find(q.client).ok_or(ENODEV)?;
    let facts = pci_p2p::route(&provider.pdev, &client);
    let answer = uapi_route::RouteAnswer::from_facts(
        facts.verdict,
        facts.distance,
        facts.common_bridge,
        facts.host_bridge,
    );
    let reply = answer.reply(&request.bytes);
    request.write_back(&reply)
}
