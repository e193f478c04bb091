// SPDX-License-Identifier: GPL-2.0

//! QEMU's `edu` device as the accelerator's copy engine: a DMA master with a 4 KiB buffer, which
//! copies a page by two DMAs, into its buffer and out of it (the device's specification:
//! `docs/specs/edu.rst` in QEMU). vaccel drives one only when it is told to
//! (`driver_override`), so that the C sample keeps the one of the default VM otherwise.

use crate::p2pmm::{CopyEngine, CopyPage};
use kernel::{
    io::Io,
    new_mutex, pci,
    prelude::*,
    sync::Mutex,
    time::{delay::fsleep, Delta},
};

/// `edu`'s PCI ids.
pub const VENDOR: u16 = 0x1234;
/// `edu`'s PCI ids.
pub const DEVICE: u16 = 0x11e8;

/// Bytes of BAR 0 the engine uses: registers up to the DMA command.
pub const BAR_LEN: usize = 0x100;
const IDENT: usize = 0x00;
const DMA_SRC: usize = 0x80;
const DMA_DST: usize = 0x88;
const DMA_CNT: usize = 0x90;
const DMA_CMD: usize = 0x98;
const DMA_RUN: u64 = 1 << 0;
/// Direction: from the device's buffer to memory (else from memory into the buffer).
const DMA_TO_MEMORY: u64 = 1 << 1;
/// The device's buffer, as a DMA address of its own.
const DMA_BUF: u64 = 0x40000;
/// Polls of a DMA's end, 1 ms apart: QEMU's edu ends each DMA on a timer (100 ms).
const DMA_POLLS: u32 = 2000;

/// One bound `edu`.
#[pin_data]
pub struct Edu<'bound> {
    bar: pci::Bar<'bound, BAR_LEN>,
    /// One copy at a time: the device has one buffer.
    #[pin]
    busy: Mutex<()>,
}

impl<'bound> Edu<'bound> {
    /// The engine of `bar`, `edu`'s BAR 0, if the device says it is one (its identification
    /// register; `ENODEV` otherwise).
    pub fn new(bar: pci::Bar<'bound, BAR_LEN>) -> Result<impl PinInit<Self, Error> + 'bound> {
        if bar.read32(IDENT) & 0xff != 0xed {
            return Err(ENODEV);
        }
        Ok(try_pin_init!(Self {
            bar,
            busy <- new_mutex!((), "p2pmm_vaccel_edu"),
        }))
    }

    /// One DMA of a page between the device's buffer and `addr`, and its end. The registers are
    /// 64 bits wide, wider than the alignment the kernel's `Bar` promises at compile time, so each
    /// access checks it when it runs (the BAR is page aligned: it never fails).
    fn dma(&self, addr: u64, to_memory: bool) -> Result {
        let bar = &self.bar;
        bar.try_write64(if to_memory { DMA_BUF } else { addr }, DMA_SRC)?;
        bar.try_write64(if to_memory { addr } else { DMA_BUF }, DMA_DST)?;
        bar.try_write64(kernel::page::PAGE_SIZE as u64, DMA_CNT)?;
        bar.try_write64(DMA_RUN | if to_memory { DMA_TO_MEMORY } else { 0 }, DMA_CMD)?;
        for _ in 0..DMA_POLLS {
            if bar.try_read64(DMA_CMD)? & DMA_RUN == 0 {
                return Ok(());
            }
            fsleep(Delta::from_millis(1));
        }
        Err(ETIMEDOUT)
    }
}

impl CopyEngine for Edu<'_> {
    fn copy(&self, pages: &[CopyPage]) -> Result {
        let _busy = self.busy.lock();
        for page in pages {
            self.dma(page.src, false)?;
            self.dma(page.dst, true)?;
        }
        Ok(())
    }
}
