// SPDX-License-Identifier: GPL-2.0

//! p2pmm_vaccel: a virtual accelerator on QEMU's `ivshmem-plain` device, whose BAR 2 plays the
//! accelerator's VRAM, and p2pmm's example of a Rust driver that uses p2pmm as any driver does.
//!
//! On probe, the first `static_mb` MiB of the BAR (16 by default) become a *static* provider
//! (registered with p2pdma, so peers reach it by PCI bus address or not at all, as p2pdma decides),
//! and the rest of the BAR, in whole 2 MiB chunks, a *managed* provider: device-private pages whose
//! data lives in the BAR, which p2pmm evicts when it is full. `managed_mb` overrides the managed
//! size (the tests make it small to oversubscribe it); a split that does not fit the BAR fails the
//! probe with `EINVAL` and says why, and a managed part that fails to register leaves the device
//! bound with its static part. The managed range is p2pdma memory of the device as well, all of it
//! allocated to the managed provider (its P2P window), so that a peer such as an NVMe can DMA to a
//! managed page by bus address (`P2PMM_IOC_BLKIO`). Both go away with the device: unbinding drops
//! the registrations, the managed pages are evicted to system memory, and p2pdma revokes the static
//! memory.
//!
//! It is a module of its own, `p2pmm_vaccel.ko`, a user of p2pmm and not a part of it: it registers
//! its memory through `include/linux/p2pmm.h`, the C API `p2pmm.ko` exports to every driver
//! (namespace `P2PMM`), by way of the Rust binding `include/rust/p2pmm.rs`; it compiles no source
//! of `mm/`.

use kernel::{device::Core, pci, prelude::*};

#[path = "../../include/rust/p2pmm.rs"]
pub mod p2pmm;

pub mod bar_split;

kernel::module_pci_driver! {
    type: VaccelDriver,
    name: "p2pmm_vaccel",
    authors: ["The p2pmm developers"],
    description: "Virtual accelerator (QEMU ivshmem-plain) offering its BAR through p2pmm",
    license: "GPL",
    imports_ns: ["P2PMM"],
    params: {
        static_mb: u32 {
            default: 16,
            description: "MiB at the start of each vaccel BAR offered as static (p2pdma) memory",
        },
        managed_mb: u32 {
            default: 0,
            description: "MiB of each vaccel BAR, after the static part, offered as managed \
                (evictable) memory (0: the rest of the BAR)",
        },
    },
}

/// The BAR of `ivshmem-plain` that maps the shared memory (BAR 0 holds registers, BAR 1 MSI-X).
const VRAM_BAR: u32 = 2;

/// One bound vaccel device: its providers, unregistered when it unbinds (managed first, so its
/// pages go back to system memory while the static memory is still there).
pub struct Vaccel {
    _managed: Option<p2pmm::Registration>,
    _static: p2pmm::Registration,
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
            module_parameters::static_mb.value(),
            module_parameters::managed_mb.value(),
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
        let static_mem = p2pmm::Registration::new_static(pdev, VRAM_BAR, static_len, 0)
            .inspect_err(|e| {
                dev_err!(
                    pdev,
                    "vaccel: static memory of BAR {} failed: {:?}\n",
                    VRAM_BAR,
                    e
                );
            })?;
        // A managed part that cannot be registered (memory for its struct pages, say) leaves the
        // static part usable: the device binds with what it could offer, and the log says why.
        let managed = if managed_len > 0 {
            p2pmm::Registration::new_managed(pdev, VRAM_BAR, managed_len, static_len)
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
            static_mem.id(),
            managed.as_ref().map_or(0, |_| managed_len >> 20)
        );
        Ok(Vaccel {
            _managed: managed,
            _static: static_mem,
        })
    }
}
