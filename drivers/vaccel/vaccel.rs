// SPDX-License-Identifier: GPL-2.0

//! vaccel: a virtual accelerator on QEMU's `ivshmem-plain` device, whose BAR 2 plays the
//! accelerator's VRAM.
//!
//! On probe, the first `vaccel_static_mb` MiB of the BAR (16 by default) become a *static*
//! provider (registered with p2pdma, so peers reach it by PCI bus address or not at all, as p2pdma
//! decides), and the rest of the BAR, in whole 2 MiB chunks, a *managed* provider: device-private
//! pages whose data lives in the BAR, which p2pmm evicts when it is full. `vaccel_managed_mb`
//! overrides the managed size (the tests make it small to oversubscribe it); a split that does not
//! fit the BAR fails the probe with `EINVAL` and says why, and a managed part that fails to
//! register leaves the device bound with its static part. The
//! managed range is p2pdma memory of the device as well, all of it allocated to the managed
//! provider (its P2P window), so that a peer such as an NVMe can DMA to a managed page by bus
//! address (`P2PMM_IOC_BLKIO`). Both go away with the device: unbinding unregisters them, the
//! managed pages are evicted to system memory, and p2pdma revokes the static memory.
//!
//! The driver lives in `p2pmm.ko` (declared by `mm/p2pmm.rs`): an out-of-tree Rust module cannot
//! call another module's Rust API, so p2pmm's in-kernel drivers are linked with the subsystem they
//! use. It registers its memory through the same functions (`mm/export.rs`) that
//! `include/linux/p2pmm.h` exports to C drivers.

use crate::{bar_split, export, registry};
use kernel::{device::Core, pci, prelude::*};

/// The BAR of `ivshmem-plain` that maps the shared memory (BAR 0 holds registers, BAR 1 MSI-X).
const VRAM_BAR: u32 = 2;

/// One bound vaccel device: the ids of the providers it registered.
pub struct Vaccel {
    static_id: u32,
    managed_id: Option<u32>,
}

/// The driver.
pub struct VaccelDriver;

kernel::pci_device_table!(
    PCI_TABLE,
    <VaccelDriver as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_id(pci::Vendor::REDHAT_QUMRANET, 0x1110),
        ()
    )]
);

impl pci::Driver for VaccelDriver {
    type IdInfo = ();
    type Data<'bound> = Vaccel;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pdev.enable_device_mem()?;
        pdev.set_master();
        let bar_len = pdev.resource_len(VRAM_BAR)?;
        let (static_len, managed_len) = bar_split::split(
            bar_len,
            crate::module_parameters::vaccel_static_mb.value(),
            crate::module_parameters::vaccel_managed_mb.value(),
        )
        .map_err(|why| {
            dev_err!(
                pdev,
                "vaccel: {} MiB BAR {}: {}\n",
                bar_len >> 20,
                VRAM_BAR,
                why
            );
            EINVAL
        })?;
        let static_id =
            export::register_static(pdev, VRAM_BAR, static_len, 0).inspect_err(|e| {
                dev_err!(
                    pdev,
                    "vaccel: static memory of BAR {} failed: {:?}\n",
                    VRAM_BAR,
                    e
                );
            })?;
        // A managed part that cannot be registered (memory for its struct pages, say) leaves the
        // static part usable: the device binds with what it could offer, and the log says why.
        let managed_id = if managed_len > 0 {
            export::register_managed(pdev, VRAM_BAR, managed_len, static_len)
                .inspect_err(|e| {
                    dev_warn!(
                        pdev,
                        "vaccel: {} MiB of managed memory failed ({:?}); static memory only\n",
                        managed_len >> 20,
                        e
                    );
                })
                .ok()
        } else {
            None
        };
        dev_info!(
            pdev,
            "vaccel: {} MiB VRAM: {} MiB static (provider {}), {} MiB managed\n",
            bar_len >> 20,
            static_len >> 20,
            static_id,
            managed_id.map_or(0, |_| managed_len >> 20)
        );
        Ok(Vaccel {
            static_id,
            managed_id,
        })
    }
}

impl Drop for Vaccel {
    fn drop(&mut self) {
        if let Some(id) = self.managed_id {
            registry::unregister(id);
        }
        registry::unregister(self.static_id);
    }
}
