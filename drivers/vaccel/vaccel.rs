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
//! vaccel also shows a Rust driver lending a copy engine ([`p2pmm::LentEngine`]): a QEMU `edu`
//! device bound to it (only by `driver_override`: it is not in the id table, so the C sample
//! keeps the default VM's) is lent to the managed memory of the vaccel in its slot, which then
//! moves pages to and from its peers by the `edu`'s DMA (`edu.rs`). Unbinding the `edu` takes it
//! back.
//!
//! Lock order: [`MEMORIES`] -> a [`p2pmm::LentEngine`]'s list of providers -> p2pmm's locks (its
//! copy engine mutex: lending and taking back wait for a copy in progress) -> the `edu`'s mutex
//! (held across its DMAs).
//!
//! It is a module of its own, `p2pmm_vaccel.ko`, a user of p2pmm and not a part of it: it registers
//! its memory through `include/linux/p2pmm.h`, the C API `p2pmm.ko` exports to every driver
//! (namespace `P2PMM`), by way of the Rust binding `include/rust/p2pmm.rs`; it compiles no source
//! of `mm/`.

use kernel::{
    device::Core,
    dma::{Device as _, DmaMask},
    pci,
    prelude::*,
    sync::aref::ARef,
};

#[path = "../../include/rust/p2pmm.rs"]
pub mod p2pmm;

pub mod bar_split;
pub mod edu;

kernel::sync::global_lock! {
    // SAFETY: Initialised by `VaccelModule::init` before it registers the driver: no probe comes
    // earlier.
    unsafe(uninit) static MEMORIES: Mutex<KVec<Memory>> = KVec::new();
}

/// A bound vaccel's managed provider, which an `edu` in its slot lends its engine to. Lock order:
/// [`MEMORIES`] -> the engine's list of providers -> p2pmm's locks.
struct Memory {
    pdev: ARef<pci::Device>,
    managed: u32,
}

/// The module: the driver, and the list of memories an engine may be lent to.
#[pin_data]
struct VaccelModule {
    #[pin]
    _driver: kernel::driver::Registration<pci::Adapter<VaccelDriver>>,
}

impl kernel::InPlaceModule for VaccelModule {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        // SAFETY: Once, before the driver is registered below.
        unsafe { MEMORIES.init() };
        try_pin_init!(Self {
            _driver <- kernel::driver::Registration::new(
                <Self as kernel::ModuleMetadata>::NAME,
                module,
            ),
        })
    }
}

module! {
    type: VaccelModule,
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

/// One bound device: a vaccel with its providers, or an `edu` with its engine.
pub enum Vaccel<'bound> {
    /// Its providers, unregistered when it unbinds (managed first, so its pages go back to system
    /// memory while the static memory is still there).
    Memory {
        /// Dropped first.
        managed: Option<p2pmm::Registration>,
        /// Dropped last.
        stat: p2pmm::Registration,
    },
    /// The copy engine, taken back from every provider when it unbinds.
    Engine(Pin<KBox<p2pmm::LentEngine<edu::Edu<'bound>>>>),
}

impl Drop for Vaccel<'_> {
    fn drop(&mut self) {
        if let Vaccel::Memory {
            managed: Some(m), ..
        } = self
        {
            // No engine is lent to it from now on; p2pmm forgets one lent before when it goes.
            let mut memories = MEMORIES.lock();
            memories.retain(|mem| mem.managed != m.id());
            // The last one gives the list's memory back: nothing frees the static at unload.
            if memories.is_empty() {
                *memories = KVec::new();
            }
        }
    }
}

/// Whether two functions are in one slot (bus and device number; `dev_id` is bus << 8 | devfn).
fn same_slot(a: &pci::Device, b: &pci::Device) -> bool {
    a.dev_id() >> 3 == b.dev_id() >> 3
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

impl VaccelDriver {
    /// Probes an `edu` (bound by `driver_override`) and lends its engine to the vaccels of its
    /// slot.
    fn probe_engine<'bound>(pdev: &'bound pci::Device<Core<'_>>) -> Result<Vaccel<'bound>> {
        pdev.enable_device_mem()?;
        // SAFETY: In probe, before the device does any DMA mapping or allocation.
        unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<64>())? };
        pdev.set_master();
        let bar = pdev.iomap_region_sized::<{ edu::BAR_LEN }>(0, c"p2pmm_vaccel")?;
        let engine = KBox::pin_init(
            p2pmm::LentEngine::new(pdev.as_ref(), edu::Edu::new(bar)?),
            GFP_KERNEL,
        )?;
        let memories = MEMORIES.lock();
        for mem in memories.iter().filter(|mem| same_slot(&mem.pdev, pdev)) {
            engine.as_ref().lend(&mem.pdev, mem.managed)?;
        }
        drop(memories);
        dev_info!(
            pdev,
            "vaccel: copy engine, lent to {} managed provider(s) of its slot\n",
            engine.lent()
        );
        Ok(Vaccel::Engine(engine))
    }
}

impl pci::Driver for VaccelDriver {
    type IdInfo = ();
    type Data<'bound> = Vaccel<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        // Not in the id table: bound only by `driver_override` (the PCI core then gives no id).
        if info.is_none() {
            let is_edu =
                pdev.vendor_id().as_raw() == edu::VENDOR && pdev.device_id() == edu::DEVICE;
            return if is_edu {
                Self::probe_engine(pdev)
            } else {
                Err(ENODEV)
            };
        }
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
        if let Some(m) = &managed {
            let pdev: &pci::Device = pdev;
            MEMORIES.lock().push(
                Memory {
                    pdev: pdev.into(),
                    managed: m.id(),
                },
                GFP_KERNEL,
            )?;
        }
        Ok(Vaccel::Memory {
            managed,
            stat: static_mem,
        })
    }
}
