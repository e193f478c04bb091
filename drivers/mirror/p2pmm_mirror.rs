// SPDX-License-Identifier: GPL-2.0

//! p2pmm_mirror: a test importer that mirrors process address spaces through p2pmm's mirror
//! bindings.
//!
//! It implements the upstream test_hmm uAPI (`/dev/hmm_dmirror0`, `/dev/hmm_dmirror1`,
//! `HMM_DMIRROR_*`), so the unmodified upstream `hmm-tests` measures it against upstream's C
//! driver. It must not be loaded together with `test_hmm` (same node names). Devices 2 and 3
//! (upstream's DEVICE_COHERENT ones) do not exist, as upstream without special-purpose memory.
//!
//! It is a user of p2pmm, not a part: it compiles no p2pmm source. The HMM, migration,
//! device-memory and notifier bindings it drives are p2pmm.ko's own (the `p2pmm` crate, whose
//! symbols p2pmm.ko exports in namespace `P2PMM`; Kbuild hands this crate p2pmm's metadata), so
//! p2pmm.ko must be loaded first.

use kernel::{
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    mm::virt::VmaNew,
    page::Page,
    prelude::*,
};

pub mod dmirror;
pub mod fail_next;
mod uapi;

module! {
    type: MirrorModule,
    name: "p2pmm_mirror",
    authors: ["The p2pmm developers"],
    description: "p2pmm test mirror device (upstream test_hmm uAPI)",
    license: "GPL",
    imports_ns: ["P2PMM"],
}

/// Identities of the two devices' memory (`pgmap_owner` / `dev_private_owner`): the addresses of
/// these bytes.
static OWNERS: [u8; 2] = [0, 1];

/// `/dev/hmm_dmirror<ID>`.
pub struct MirrorDevice<const ID: usize>;

#[vtable]
impl<const ID: usize> MiscDevice for MirrorDevice<ID> {
    type Ptr = Pin<KBox<dmirror::Dmirror>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr> {
        let task = kernel::current!();
        let mm = task.mm().ok_or(EINVAL)?;
        let owner = core::ptr::from_ref(&OWNERS[ID]) as usize;
        let init = dmirror::Dmirror::new(mm, owner)?;
        KBox::pin_init(init, GFP_KERNEL)
    }

    fn ioctl(me: Pin<&dmirror::Dmirror>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        me.ioctl(cmd, arg)?;
        Ok(0)
    }

    fn mmap(_me: Pin<&dmirror::Dmirror>, _file: &File, vma: &VmaNew) -> Result {
        // As upstream: back the mapping with fresh zeroed pages (a VM_MIXEDMAP VMA the device can
        // mirror).
        let vma = vma.set_mixedmap();
        let mut addr = vma.start();
        while addr < vma.end() {
            let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
            vma.vm_insert_page(addr, &page)?;
            addr += kernel::page::PAGE_SIZE;
        }
        Ok(())
    }
}

/// The module: the two mirror devices.
#[pin_data]
pub struct MirrorModule {
    #[pin]
    dev0: MiscDeviceRegistration<MirrorDevice<0>>,
    #[pin]
    dev1: MiscDeviceRegistration<MirrorDevice<1>>,
}

impl kernel::InPlaceModule for MirrorModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            dev0 <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"hmm_dmirror0" }),
            dev1 <- MiscDeviceRegistration::register(MiscDeviceOptions { name: c"hmm_dmirror1" }),
        })
    }
}
