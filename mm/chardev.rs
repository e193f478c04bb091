// SPDX-License-Identifier: GPL-2.0

//! `/dev/p2pmm`: the misc device userspace opens, and its ioctl dispatch.
//!
//! The node is created with mode 0600 (the misc core's default when no mode is given): the device
//! node's permissions are the gate to the uAPI.

use crate::{
    blkio, dmabuf_alloc,
    ioctl_cmd::Command,
    migration::{self, Moved},
    pci_p2p, registry,
    residency::{self, Placement},
    space::Space,
    static_map, trace,
    uapi_advise::{self as ua, AdviseRequest},
    uapi_blkio::{self as ub, BlkioRequest},
    uapi_dmabuf::{self as ud, DmabufRequest, DmabufSource},
    uapi_migrate::{self as um, MigrateRequest, QueryRequest, Target},
    uapi_providers, uapi_route,
    user_struct::UserStruct,
    version,
};
use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    mm::virt::VmaNew,
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

/// One open file of `/dev/p2pmm`: see [`Space`].
pub struct P2pmmFile;

#[vtable]
impl MiscDevice for P2pmmFile {
    type Ptr = Pin<KBox<Space>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Space>>> {
        let task = kernel::current!();
        // A kernel thread has no address space to manage.
        let mm = task.mm().ok_or(EINVAL)?;
        KBox::pin_init(Space::new(mm), GFP_KERNEL)
    }

    /// Maps static memory: the offset names the provider (`P2PMM_MMAP_OFFSET(id)`), the length how
    /// much of it.
    fn mmap(_me: Pin<&Space>, _file: &File, vma: &VmaNew) -> Result {
        let id = um::provider_of_mmap_offset(pci_p2p::mmap_offset(vma))?;
        if (vma.end() - vma.start()) as u64 > um::MMAP_WINDOW {
            // One provider's window of file offsets; a longer mapping would reach into the next
            // id's.
            return Err(EINVAL);
        }
        let provider = registry::get(id).ok_or(ENODEV)?;
        let gate = provider.gate.as_ref().ok_or(EINVAL)?;
        // Managed memory (no gate) is reached by migrating to it, not by mapping it. A provider
        // revoked meanwhile is gone from the registry (ENODEV) or its gate is shut (ENODEV too);
        // one that is revoked after this maps nothing it could keep (`static_map.rs`).
        static_map::map(&provider.pdev, gate, provider.region.as_ref(), vma, false)
    }

    fn ioctl(me: Pin<&Space>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let arg = UserPtr::from_addr(arg);
        match Command::decode(cmd)? {
            Command::Version => version_ioctl(arg)?,
            Command::Providers => providers_ioctl(arg)?,
            Command::Route => route_ioctl(arg)?,
            Command::Migrate => migrate_ioctl(&me, arg)?,
            Command::Advise => advise_ioctl(&me, arg)?,
            Command::Query => query_ioctl(arg)?,
            Command::Blkio => blkio_ioctl(&me, arg)?,
            Command::Dmabuf => dmabuf_ioctl(arg)?,
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

/// `P2PMM_IOC_PROVIDERS`: copies one `struct p2pmm_provider_info` per provider (as many as fit) and
/// the count.
fn providers_ioctl(arg: UserPtr) -> Result {
    let request = UserStruct::<{ uapi_providers::SIZE }>::read(arg, uapi_providers::SIZE_VER0)?;
    let list = uapi_providers::ListRequest::decode(&request.bytes)?;
    registry::sync_adopted()?;
    let providers = registry::snapshot();
    let mut total = 0usize;
    for p in providers.iter() {
        // A provider revoked since the snapshot is skipped: userspace never sees memory that is
        // gone.
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
    let answer = provider.route_to(&client);
    trace::route(
        provider.id,
        pci_p2p::name(&client),
        answer.verdict,
        answer.plan,
        answer.reason,
        answer.distance,
    );
    let reply = answer.reply(&request.bytes);
    request.write_back(&reply)
}

/// `P2PMM_IOC_ADVISE`: advice on a range of the caller's memory.
fn advise_ioctl(space: &Space, arg: UserPtr) -> Result {
    let request = UserStruct::<{ ua::SIZE }>::read(arg, ua::SIZE_VER0)?;
    let req = AdviseRequest::decode(&request.bytes)?;
    let task = kernel::current!();
    let mm = task.mm().ok_or(EINVAL)?;
    let all = registry::snapshot();
    space.advise(mm, &req, &all)
}

/// `P2PMM_IOC_MIGRATE`: moves a range of the caller's memory to system memory or a managed
/// provider.
fn migrate_ioctl(space: &Space, arg: UserPtr) -> Result {
    let request = UserStruct::<{ um::MIGRATE_SIZE }>::read(arg, um::MIGRATE_SIZE_VER0)?;
    let m = MigrateRequest::decode(&request.bytes)?;
    let task = kernel::current!();
    let mm = task.mm().ok_or(EINVAL)?;
    let (start, end) = (m.range.start as usize, m.range.end as usize);
    residency::ensure_mapped(mm, start, end)?;
    let all = registry::snapshot();
    let done = match m.target {
        Target::System => Moved {
            migrated: migration::migrate_to_system(mm, start, end, &all)?,
            evicted: 0,
        },
        Target::Provider(id) => {
            let target = all.iter().find(|p| p.id == id).ok_or(ENODEV)?;
            if target.managed().is_none() {
                // Static memory is allocated (mapped from its BAR), never migrated to.
                return Err(EINVAL);
            }
            // Advice given through this file, and the file's thrash detection, apply if it was
            // opened in the caller's address space.
            let (advice, thrash) = if space.is_own(mm) {
                (space.advice_over(start, end)?, Some(space.thrash_watch()))
            } else {
                (KVec::new(), None)
            };
            migration::migrate_to_provider(mm, start, end, target, &all, &advice, thrash.as_ref())?
        }
    };
    let reply = MigrateRequest::reply(&request.bytes, done.migrated, done.evicted);
    request.write_back(&reply)
}

/// `P2PMM_IOC_BLKIO`: a block device's DMA to or from a range of the caller's memory.
fn blkio_ioctl(space: &Space, arg: UserPtr) -> Result {
    let request = UserStruct::<{ ub::SIZE }>::read(arg, ub::SIZE_VER0)?;
    let req = BlkioRequest::decode(&request.bytes)?;
    let task = kernel::current!();
    let mm = task.mm().ok_or(EINVAL)?;
    let all = registry::snapshot();
    // Advice given through this file places the pages first, if it was opened in the caller's
    // address space.
    let (start, end) = (req.addr as usize, (req.addr + req.length) as usize);
    let advice = if space.is_own(mm) {
        space.advice_over(start, end)?
    } else {
        KVec::new()
    };
    let done = blkio::transfer(mm, &req, &all, &advice, space.route_memo())?;
    let reply = BlkioRequest::reply(&request.bytes, &done);
    request.write_back(&reply)
}

/// `P2PMM_IOC_DMABUF`: exports a range of the caller's static memory as a dma-buf, or allocates
/// managed memory as one; the new descriptor is the only output, written by the export before the
/// descriptor is installed.
fn dmabuf_ioctl(arg: UserPtr) -> Result {
    let request = UserStruct::<{ ud::SIZE }>::read(arg, ud::SIZE_VER0)?;
    let req = DmabufRequest::decode(&request.bytes)?;
    let fd_out = arg.wrapping_byte_add(ud::offset::FD);
    match req.source {
        DmabufSource::Static(range) => {
            let (start, len) = (range.start as usize, (range.end - range.start) as usize);
            static_map::export_dmabuf(start, len, req.cloexec, fd_out)
        }
        DmabufSource::Managed { provider, length } => {
            let all = registry::snapshot();
            let target = all.iter().find(|p| p.id == provider).ok_or(ENODEV)?;
            let len = usize::try_from(length).map_err(|_| ENOSPC)?;
            dmabuf_alloc::alloc(target, &all, len, req.cloexec, fd_out)
        }
    }
}

/// `P2PMM_IOC_QUERY`: writes where each page of a range of a process's memory is (the caller's by
/// default; another's with `CAP_SYS_PTRACE` or by its tracer).
fn query_ioctl(arg: UserPtr) -> Result {
    let request = UserStruct::<{ um::QUERY_SIZE }>::read(arg, um::QUERY_SIZE_VER0)?;
    let q = QueryRequest::decode(&request.bytes)?;
    let task = kernel::current!();
    let other = if q.pid == 0 || q.pid == pci_p2p::caller_pid() {
        None
    } else {
        Some(pci_p2p::pid_mm(q.pid)?)
    };
    let mm = match &other {
        Some(mm) => mm,
        None => task.mm().ok_or(EINVAL)?,
    };
    let (start, end) = (q.range.start as usize, q.range.end as usize);
    residency::ensure_mapped(mm, start, end)?;
    let all = registry::snapshot();
    let total = (end - start) / PAGE_SIZE;
    let mut out = UserSlice::new(UserPtr::from_addr(q.locations as usize), total * 4).writer();
    let chunk = residency::QUERY_CHUNK_PAGES;
    let mut places = KVec::from_elem(Placement::None, chunk, GFP_KERNEL)?;
    let mut bytes = KVec::from_elem(0u8, chunk * 4, GFP_KERNEL)?;
    let mut addr = start;
    while addr < end {
        let next = end.min(addr + chunk * PAGE_SIZE);
        let n = (next - addr) / PAGE_SIZE;
        residency::query(mm, addr, next, &all, &mut places[..n])?;
        for (i, p) in places[..n].iter().enumerate() {
            let v = match *p {
                Placement::None => um::LOCATION_NONE,
                Placement::System => um::LOCATION_SYSTEM,
                Placement::Provider(id) => id,
            };
            bytes[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        out.write_slice(&bytes[..n * 4])?;
        addr = next;
    }
    Ok(())
}

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;
