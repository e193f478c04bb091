// SPDX-License-Identifier: GPL-2.0

//! Copy engines: a device that copies memory to memory, lent by its driver to a managed provider
//! (`struct p2pmm_copy_engine` and `p2pmm_set_copy_engine()` of `include/linux/p2pmm.h`), so pages
//! moving between two P2P windows cross the bus once, by DMA, instead of through a CPU.
//!
//! A migration collects its BAR-to-BAR copies in a [`Batch`] while core mm has the pages isolated
//! and locked, and has them done at once before it maps the new pages: by the engine of the
//! destination memory, else by the engine of the source, else (or when the engine fails or cannot
//! reach both windows) by the CPU. Nothing is lost when an engine fails: the sources stay isolated
//! until the migration ends, and the CPU copies the whole run again.
//!
//! Lock order: mmap lock -> page locks (the migration's) -> [`EngineSlot`]'s mutex. The mutex
//! is held across the engine's copy, so taking an engine back ([`EngineSlot::set`]) waits for a
//! copy in progress.

use crate::ffi::{
    p2pmm_bar_copy_bar, p2pmm_engine_copy, p2pmm_engine_dev_name, p2pmm_engine_valid,
    p2pmm_trace_copy,
};
use crate::lock_class::lock_class;
use crate::pci_p2p;
use core::fmt::{self, Write};
use core::ptr::NonNull;
use kernel::{ffi::c_void, pci, prelude::*, str::CStr, sync::Mutex};

/// Pages an engine is given at once (the API's promise to drivers).
const ENGINE_BATCH: usize = 256;

/// A driver's `struct p2pmm_copy_engine`.
///
/// # Invariants
///
/// `ptr` points to a `struct p2pmm_copy_engine` with a device and a copy function, valid while an
/// [`EngineSlot`] holds this value (its lender promised so when it set it).
struct CopyEngine {
    ptr: NonNull<c_void>,
}

// SAFETY: The engine is a driver's object that any thread may call (the API's contract: one copy
// at a time, which the slot's mutex ensures).
unsafe impl Send for CopyEngine {}

/// The copy engine lent to one device memory, if any.
///
/// # Examples
///
/// A memory without an engine: a batch run through it is copied by the CPU (compile-only: a
/// batch needs two BAR windows).
///
/// ```no_run
/// use crate::copy_engine::{Batch, EngineSlot};
/// use kernel::{pci, prelude::*};
///
/// fn copy_by_cpu(slot: &EngineSlot, batch: &mut Batch<'_>, to: &pci::Device) -> Result {
///     assert!(!slot.is_set());
///     let (by_engine, _by_cpu) = batch.flush(to);
///     assert_eq!(by_engine, 0);
///     Ok(())
/// }
/// # Ok::<(), Error>(())
/// ```
#[pin_data]
pub struct EngineSlot {
    #[pin]
    engine: Mutex<Option<CopyEngine>>,
}

impl EngineSlot {
    /// An empty slot.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            engine <- {
                let (name, key) = lock_class!("p2pmm_copy_engine");
                Mutex::new(None, name, key)
            },
        })
    }

    /// Lends `engine` to the memory (null: takes the engine back), after waiting for the copy in
    /// progress. `EINVAL` if the engine has no device or no copy function.
    ///
    /// # Safety
    ///
    /// `engine` is null or a `struct p2pmm_copy_engine` that stays valid until the next `set` on
    /// this slot returns or the slot is dropped.
    pub unsafe fn set(&self, engine: *mut c_void) -> Result {
        let new = match NonNull::new(engine) {
            None => None,
            Some(ptr) => {
                // SAFETY: A valid engine (the caller's promise).
                if !unsafe { p2pmm_engine_valid(ptr.as_ptr()) } {
                    return Err(EINVAL);
                }
                Some(CopyEngine { ptr })
            }
        };
        *self.engine.lock() = new;
        Ok(())
    }

    /// Takes the engine back, after waiting for the copy in progress: from then on the CPU copies.
    pub fn take_back(&self) {
        *self.engine.lock() = None;
    }

    /// Whether an engine is lent.
    pub fn is_set(&self) -> bool {
        self.engine.lock().is_some()
    }

    /// Writes the name of the engine's device, or `none`, and a newline.
    pub fn write_name(&self, out: &mut impl Write) -> fmt::Result {
        let engine = self.engine.lock();
        match engine.as_ref() {
            None => writeln!(out, "none"),
            Some(e) => {
                // SAFETY: The engine is valid while the slot holds it (type invariant), and its
                // device's name while the device is (the engine's device outlives the engine).
                let name = unsafe { CStr::from_char_ptr(p2pmm_engine_dev_name(e.ptr.as_ptr())) };
                writeln!(out, "{}", name.to_str().unwrap_or("?"))
            }
        }
    }
}

/// One BAR-to-BAR page copy of a [`Batch`].
#[derive(Clone, Copy)]
struct PageCopy {
    dst_io: *mut c_void,
    src_io: *mut c_void,
    /// The P2P window pages of both sides, when both memories have one.
    pages: Option<(*mut c_void, *mut c_void)>,
}

/// The BAR-to-BAR copies of one migration into one device memory, done together by
/// [`Batch::flush`].
///
/// # Invariants
///
/// Every entry's addresses are one page of BAR windows (and their p2pdma pages), valid until the
/// batch is flushed or dropped; `engines[i]` is the slot whose engine copies entry `i`.
pub struct Batch<'a> {
    copies: KVec<PageCopy>,
    engines: KVec<Option<&'a EngineSlot>>,
}

impl<'a> Batch<'a> {
    /// A batch with room for `pages` copies (pushing never allocates).
    pub fn with_capacity(pages: usize) -> Result<Self> {
        Ok(Self {
            copies: KVec::with_capacity(pages, GFP_KERNEL)?,
            engines: KVec::with_capacity(pages, GFP_KERNEL)?,
        })
    }

    /// Adds a copy of one page, `src_io` to `dst_io`, by `engine`'s engine if it has one when the
    /// batch is flushed and `pages` (the P2P window pages of `dst_io` and `src_io`) are known;
    /// `ENOMEM` when the batch is full.
    ///
    /// # Safety
    ///
    /// `dst_io` and `src_io` are one page each of mapped BAR windows, and `pages` their p2pdma
    /// pages, all valid until the batch is flushed or dropped; nothing else writes `dst_io` before
    /// then.
    pub unsafe fn push(
        &mut self,
        dst_io: *mut c_void,
        src_io: *mut c_void,
        pages: Option<(*mut c_void, *mut c_void)>,
        engine: Option<&'a EngineSlot>,
    ) -> Result {
        self.engines
            .push_within_capacity(engine)
            .map_err(|_| ENOMEM)?;
        let copy = PageCopy {
            dst_io,
            src_io,
            pages,
        };
        self.copies.push_within_capacity(copy).map_err(|_| {
            self.engines.pop();
            ENOMEM
        })
    }

    /// Does every copy (into memory of device `to`, for the `p2pmm_copy` tracepoint) and empties
    /// the batch: each run of copies that share an engine by that engine, 256 at a time, and the
    /// rest, and any run the engine fails, by the CPU. Returns how many pages each copied.
    pub fn flush(&mut self, to: &pci::Device) -> (usize, usize) {
        let (mut by_engine, mut by_cpu) = (0, 0);
        let mut i = 0;
        while i < self.copies.len() {
            let slot = self.engines[i];
            let windows = self.copies[i].pages.is_some();
            let mut end = i + 1;
            while end < self.copies.len()
                && end - i < ENGINE_BATCH
                && ptr_eq(self.engines[end], slot)
                && self.copies[end].pages.is_some() == windows
            {
                end += 1;
            }
            let n = end - i;
            let guard = slot.filter(|_| windows).map(|s| s.engine.lock());
            let engine = guard.as_ref().and_then(|g| g.as_ref());
            let by = match engine {
                Some(e) if self.engine_copy(e, i..end) => e.ptr.as_ptr().cast_const(),
                _ => {
                    for c in &self.copies[i..end] {
                        // SAFETY: One page each of live BAR windows (type invariant).
                        unsafe { p2pmm_bar_copy_bar(c.dst_io, c.src_io) };
                    }
                    core::ptr::null()
                }
            };
            if by.is_null() {
                by_cpu += n;
            } else {
                by_engine += n;
            }
            // SAFETY: `to` is a live device; `by` is null (the CPU) or the engine, valid while its
            // slot's lock (`guard`) is held.
            unsafe { p2pmm_trace_copy(pci_p2p::raw(to), by, n as u32) };
            drop(guard);
            i = end;
        }
        self.copies.clear();
        self.engines.clear();
        (by_engine, by_cpu)
    }

    /// Has `engine` copy the entries of `run` (at most 256, all with P2P window pages); whether it
    /// did (`false` also when memory for the request is short: the CPU copies then).
    fn engine_copy(&self, engine: &CopyEngine, run: core::ops::Range<usize>) -> bool {
        let n = run.len();
        let (Ok(mut dst), Ok(mut src)) = (
            KVec::with_capacity(n, GFP_KERNEL),
            KVec::with_capacity(n, GFP_KERNEL),
        ) else {
            return false;
        };
        for c in &self.copies[run] {
            let Some((d, s)) = c.pages else { return false };
            // Within the capacity reserved above.
            let _ = dst.push_within_capacity(d);
            let _ = src.push_within_capacity(s);
        }
        // SAFETY: The engine is valid while its slot holds it (type invariant; the caller holds the
        // slot's lock); the pages are p2pdma pages of live windows (type invariant), `n` of each.
        let ret = unsafe {
            p2pmm_engine_copy(
                engine.ptr.as_ptr(),
                dst.as_mut_ptr(),
                src.as_mut_ptr(),
                n as u32,
            )
        };
        ret == 0
    }
}

fn ptr_eq(a: Option<&EngineSlot>, b: Option<&EngineSlot>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => core::ptr::eq(a, b),
        (None, None) => true,
        _ => false,
    }
}
