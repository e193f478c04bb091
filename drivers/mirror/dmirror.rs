// SPDX-License-Identifier: GPL-2.0

//! One open file of `/dev/hmm_dmirrorN`: a simulated device that mirrors the opener's address
//! space.
//!
//! Behaves as upstream `lib/test_hmm.c` does for its device-private devices, built on p2pmm's
//! mirror bindings: the device page table is a [`MirrorTable`] inside an [`IntervalNotifier`] over
//! the whole address space.
//!
//! Lock order: `bounce` mutex -> mmap lock -> folio lock (exclusive pages, pages under migration)
//! -> the notifier's state lock; mmap lock -> `devmem` (chunk list) mutex -> a chunk's free-list
//! spinlock. The state lock and the `devmem` mutex are never held together. `bounce` (device writes
//! only) is held across user copies and faults (which may take the mmap lock and run
//! invalidations), never taken under any other lock. Reads copy held pages
//! ([`p2pmm::mirror_table::HeldPage`]) to user memory with no lock held.

use crate::{
    fail_next::FailNext,
    uapi::{self, prot, Cmd},
};
use kernel::{
    mm::Mm,
    new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
    uaccess::UserPtr,
};
use p2pmm::{
    devmem::{Backing, DevPage, DevmemChunk},
    exclusive::ExclusiveSession,
    hmm::{fault_and_commit, pmd_order, pud_order, HmmRange, PageKind, Request, RequestFlag},
    migrate::{for_each_vma_piece, MigrateVma, Select},
    mirror_table::{HeldPage, MirrorTable, NodeReserve},
    notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// Pages faulted per `hmm_range_fault()` call, as upstream (bounds the PFN array).
const FAULT_CHUNK_PAGES: usize = 64;

/// How often a fault is retried after racing an invalidation before the device gives up with
/// `EBUSY`. This is the device's policy: core mm never spins on our behalf.
const FAULT_RETRIES: u32 = 10_000;

/// Pages copied per lock hold by device reads and writes: the bounce buffer between the device page
/// table and user memory has this size whatever the request's (upstream allocates, and so zeroes or
/// faults, all of it).
const BOUNCE_PAGES: usize = 32;

/// Pages migrated per `migrate_vma` call (one PMD's worth of PTEs, as upstream).
const MIGRATE_CHUNK_PAGES: usize = 512;

/// The invalidate side of the mirror: drop the device's mappings of the range.
///
/// Unlike upstream, invalidations caused by this device's own migrations are not ignored: the
/// device page table then never holds a page that a migration moved, and the migration maps the new
/// pages itself.
pub struct MirrorHandler;

/// Two passes, as a device with asynchronous teardown would use them: the first pass drops the
/// mappings (the simulated device has nothing to wait for afterwards), the second pass exercises
/// the batching and the per-invalidation record of core mm's two-pass protocol under every upstream
/// test.
impl InvalidateHandler for MirrorHandler {
    type State = MirrorTable;

    const TWO_PASS: bool = true;

    fn invalidate(&self, inv: &Invalidation<'_>, table: &mut MirrorTable) {
        table.unmap_range(inv.start(), inv.end());
    }

    fn invalidate_start(&self, inv: &Invalidation<'_>, table: &mut MirrorTable) -> bool {
        table.unmap_range(inv.start(), inv.end());
        true
    }
}

/// A snapshot only needs the sequence number bumped: any invalidation voids the whole snapshot.
struct SnapshotHandler;

impl InvalidateHandler for SnapshotHandler {
    type State = ();

    fn invalidate(&self, _inv: &Invalidation<'_>, _state: &mut ()) {}
}

/// The per-open state of a mirror device.
#[pin_data]
pub struct Dmirror {
    #[pin]
    notifier: IntervalNotifier<MirrorHandler>,
    /// This device's memory, grown a chunk at a time; dropped (evicted) after the notifier is gone.
    #[pin]
    devmem: Mutex<KVec<Pin<KBox<DevmemChunk>>>>,
    /// The window between user memory and the device page table for device writes: allocated (and
    /// zeroed) once per open file rather than per request. (Reads hold the pages and copy them
    /// straight out.)
    #[pin]
    bounce: Mutex<KVec<u8>>,
    /// `HMM_DMIRROR_FLAG_FAIL_ALLOC`: the next large allocation (device or system side) fails.
    fail: Arc<FailNext>,
    owner: usize,
}

impl Dmirror {
    /// Mirrors the whole address space of `mm` for the device identified by `owner`.
    pub fn new(mm: &Mm, owner: usize) -> Result<impl PinInit<Self, Error> + '_> {
        let length = usize::MAX & !(PAGE_SIZE - 1);
        let fail = FailNext::new()?;
        let bounce = KVec::from_elem(0u8, BOUNCE_PAGES * PAGE_SIZE, GFP_KERNEL)?;
        Ok(try_pin_init!(Self {
            notifier <- IntervalNotifier::new(mm, 0, length, MirrorHandler, MirrorTable::new()),
            devmem <- new_mutex!(KVec::new(), "p2pmm_mirror_devmem"),
            bounce <- new_mutex!(bounce, "p2pmm_mirror_bounce"),
            fail,
            owner,
        }))
    }

    /// Handles one `HMM_DMIRROR_*` ioctl.
    pub fn ioctl(&self, cmd_nr: u32, arg: usize) -> Result {
        let arg = UserPtr::from_addr(arg);
        let mut cmd = Cmd::read(arg)?;
        let (start, end) = cmd.range()?;
        cmd.cpages = 0;
        cmd.faults = 0;
        match cmd_nr {
            uapi::READ => self.read(&mut cmd, start, end, false)?,
            uapi::READ_UNLOCKED => self.read(&mut cmd, start, end, true)?,
            uapi::WRITE => self.write(&mut cmd, start, end)?,
            uapi::SNAPSHOT => self.snapshot(&mut cmd, start, end)?,
            uapi::EXCLUSIVE => self.exclusive(&mut cmd, start, end)?,
            uapi::CHECK_EXCLUSIVE => {
                if self.notifier.lock().any_atomic(start, end) {
                    return Err(EPERM);
                }
            }
            uapi::MIGRATE_TO_DEV => self.migrate_to_device(&mut cmd, start, end)?,
            uapi::MIGRATE_TO_SYS => self.migrate_to_system(&mut cmd, start, end)?,
            uapi::RELEASE => self.release()?,
            uapi::FLAGS => self.set_flags(cmd.npages)?,
            _ => return Err(ENOTTY),
        }
        cmd.write(arg)
    }

    /// Faults `[start, end)` into the device page table (`write`: writable), retrying races per our
    /// policy.
    fn fault(&self, start: usize, end: usize, write: bool, unlocked: bool) -> Result {
        let request = if write {
            RequestFlag::Fault | RequestFlag::Write
        } else {
            Request::from(RequestFlag::Fault)
        };
        let mut reserve = NodeReserve::new(0)?;
        let mut addr = start;
        while addr < end {
            let next = end.min(addr + FAULT_CHUNK_PAGES * PAGE_SIZE);
            let mut range = HmmRange::new(&self.notifier, addr, next, request, self.owner)?;
            reserve.top_up((next - addr) / PAGE_SIZE)?;
            fault_and_commit(&mut range, unlocked, FAULT_RETRIES, |table, pfns| {
                table.map(pfns, &mut reserve)
            })?;
            addr = next;
        }
        Ok(())
    }

    /// Calls `f(addr, window)` for `[start, end)` one bounce window at a time (at most
    /// [`BOUNCE_PAGES`]).
    fn windows(
        &self,
        start: usize,
        end: usize,
        mut f: impl FnMut(usize, &mut [u8]) -> Result,
    ) -> Result {
        let mut bounce = self.bounce.lock();
        let mut addr = start;
        while addr < end {
            let next = end.min(addr + bounce.len());
            f(addr, &mut bounce[..next - addr])?;
            addr = next;
        }
        Ok(())
    }

    /// Runs `step(table, done)` under the table's lock, each time from page `done` of the `n` pages
    /// at `addr` (`step` returns how many more it managed: a table read or write), until all `n`
    /// are done. When a page is missing, the whole rest of the request (up to `end`) is faulted at
    /// once, so a request counts one fault, as upstream counts them in `faults`.
    fn fault_until_done(
        &self,
        cmd: &mut Cmd,
        (start, addr, end): (usize, usize, usize),
        n: usize,
        write: bool,
        unlocked: bool,
        mut step: impl FnMut(&mut MirrorTable, usize) -> usize,
    ) -> Result {
        let mut done = 0;
        loop {
            done += step(&mut self.notifier.lock(), done);
            cmd.cpages = ((addr - start) / PAGE_SIZE + done) as u64;
            if done == n {
                return Ok(());
            }
            self.fault(addr + done * PAGE_SIZE, end, write, unlocked)?;
            cmd.faults += 1;
        }
    }

    /// Copies held pages to the user buffer at `dst`, one page each, releasing them.
    fn copy_out(held: &mut [Option<HeldPage>], dst: usize) -> Result {
        for (k, page) in held.iter_mut().enumerate() {
            if let Some(page) = page.take() {
                page.copy_to_user(UserPtr::from_addr(dst + k * PAGE_SIZE))?;
            }
        }
        Ok(())
    }

    /// Returns what the device maps of `[start, end)` without faulting (after a migration or
    /// exclusive access, for the caller to verify): `ENOENT` if some page is not mapped, before
    /// anything is copied.
    ///
    /// The pages are held under the lock and copied straight to the user buffer after it (no bounce
    /// copy), a window of [`BOUNCE_PAGES`] at a time.
    fn read_back(&self, cmd: &mut Cmd, start: usize, end: usize) -> Result {
        let npages = (end - start) / PAGE_SIZE;
        let mapped = self.notifier.lock().mapped_prefix(start, end);
        if mapped != npages {
            cmd.cpages = mapped as u64;
            return Err(ENOENT);
        }
        let base = cmd.ptr as usize;
        let mut held: [Option<HeldPage>; BOUNCE_PAGES] = [const { None }; BOUNCE_PAGES];
        let mut addr = start;
        while addr < end {
            let n = ((end - addr) / PAGE_SIZE).min(BOUNCE_PAGES);
            let got = self.notifier.lock().hold(addr, &mut held[..n]);
            cmd.cpages = ((addr - start) / PAGE_SIZE + got) as u64;
            // Unmapped since the check: an invalidation raced with the copy.
            if got != n {
                return Err(ENOENT);
            }
            Self::copy_out(&mut held[..n], base + (addr - start))?;
            addr += n * PAGE_SIZE;
        }
        Ok(())
    }

    /// Device read: copy what the device maps, faulting in what it does not (held pages, as
    /// [`Self::read_back`]).
    fn read(&self, cmd: &mut Cmd, start: usize, end: usize, unlocked: bool) -> Result {
        let base = cmd.ptr as usize;
        let mut held: [Option<HeldPage>; BOUNCE_PAGES] = [const { None }; BOUNCE_PAGES];
        let mut addr = start;
        while addr < end {
            let n = ((end - addr) / PAGE_SIZE).min(BOUNCE_PAGES);
            let window = &mut held[..n];
            self.fault_until_done(cmd, (start, addr, end), n, false, unlocked, |t, done| {
                t.hold(addr + done * PAGE_SIZE, &mut window[done..])
            })?;
            Self::copy_out(window, base + (addr - start))?;
            addr += n * PAGE_SIZE;
        }
        Ok(())
    }

    /// Device write: store into what the device maps writable, faulting for write what it does not.
    fn write(&self, cmd: &mut Cmd, start: usize, end: usize) -> Result {
        let mut input = cmd.buffer(end - start).reader();
        self.windows(start, end, |addr, window| {
            input.read_slice(window)?;
            let n = window.len() / PAGE_SIZE;
            self.fault_until_done(cmd, (start, addr, end), n, true, false, |t, done| {
                t.write(addr + done * PAGE_SIZE, &window[done * PAGE_SIZE..])
            })
        })
    }

    /// What the CPU page tables map, without faulting anything in, one `HMM_DMIRROR_PROT_*` byte
    /// per page.
    fn snapshot(&self, cmd: &mut Cmd, start: usize, end: usize) -> Result {
        let mm = self.notifier.mm().ok_or(EINVAL)?;
        let mut out = cmd.buffer(end - start).writer();
        let mut perm = [0u8; FAULT_CHUNK_PAGES];
        let mut addr = start;
        while addr < end {
            let next = end.min(addr + FAULT_CHUNK_PAGES * PAGE_SIZE);
            let n = (next - addr) / PAGE_SIZE;
            // A notifier of its own over just this range sees invalidations even where others
            // overlap.
            let watch = KBox::pin_init(
                IntervalNotifier::new(&mm, addr, next - addr, SnapshotHandler, ()),
                GFP_KERNEL,
            )?;
            let mut range = HmmRange::new(&watch, addr, next, Request::SNAPSHOT, self.owner)?;
            fault_and_commit(&mut range, false, FAULT_RETRIES, |(), pfns| {
                for (i, (_, pfn)) in pfns.iter().enumerate() {
                    perm[i] = self.prot_byte(pfn);
                }
                Ok(())
            })?;
            out.write_slice(&perm[..n])?;
            cmd.cpages += n as u64;
            addr = next;
        }
        Ok(())
    }

    fn prot_byte(&self, pfn: p2pmm::hmm::HmmPfn) -> u8 {
        let mut p = match pfn.kind(self.owner) {
            PageKind::Error => return prot::ERROR,
            PageKind::None => return prot::NONE,
            PageKind::DevicePrivateLocal => prot::DEV_PRIVATE_LOCAL,
            PageKind::DevicePrivateRemote => prot::DEV_PRIVATE_REMOTE,
            PageKind::Zero => prot::ZERO,
            PageKind::System => prot::NONE,
        };
        p |= if pfn.is_writable() {
            prot::WRITE
        } else {
            prot::READ
        };
        let order = pfn.map_order();
        if order == pmd_order() {
            p |= prot::PMD;
        } else if order == pud_order() {
            p |= prot::PUD;
        }
        p
    }

    /// Takes the pages for exclusive (atomic) device access, then returns their data like a read.
    fn exclusive(&self, cmd: &mut Cmd, start: usize, end: usize) -> Result {
        let mm = self.notifier.mm().ok_or(EINVAL)?;
        {
            let session = ExclusiveSession::new(&mm);
            let mut addr = start;
            let mut reserve = NodeReserve::new(1)?;
            while addr < end {
                reserve.top_up(1)?;
                let page = session.make_exclusive(addr, 0)?;
                self.notifier.lock().map_exclusive(&page, &mut reserve)?;
                addr += PAGE_SIZE;
            }
        }
        self.read_back(cmd, start, end)
    }

    /// `FLAGS`: the upstream uAPI passes the flags in `npages`; only `HMM_DMIRROR_FLAG_FAIL_ALLOC`
    /// exists.
    fn set_flags(&self, flags: u64) -> Result {
        if flags & !uapi::FLAG_FAIL_ALLOC != 0 {
            return Err(EINVAL);
        }
        if flags & uapi::FLAG_FAIL_ALLOC != 0 {
            self.fail.arm();
        }
        Ok(())
    }

    /// A free folio of `order` of this device's memory, mapping a new chunk when all are full;
    /// `None` when an injected failure makes this large allocation fail.
    fn alloc_devpage(&self, order: u32) -> Result<Option<DevPage>> {
        if order > 0 && self.fail.take() {
            return Ok(None);
        }
        // One backing folio, whichever chunk has room (as upstream: never allocate and free one per
        // full chunk).
        let Some(mut backing) = Backing::new(order) else {
            return if order > 0 { Ok(None) } else { Err(ENOMEM) };
        };
        let mut chunks = self.devmem.lock();
        for chunk in chunks.iter() {
            match chunk.take(backing) {
                Ok(page) => return Ok(Some(page)),
                Err(b) => backing = b,
            }
        }
        let chunk = KBox::pin_init(
            DevmemChunk::new(self.owner, order > 0, self.fail.clone()),
            GFP_KERNEL,
        )?;
        let page = chunk.take(backing).ok();
        chunks.push(chunk, GFP_KERNEL)?;
        Ok(page)
    }

    /// Calls `step` for each piece of `[start, end)` within one VMA, at most
    /// [`MIGRATE_CHUNK_PAGES`] long.
    fn for_each_vma_piece(
        &self,
        start: usize,
        end: usize,
        step: impl FnMut(&kernel::mm::virt::VmaRef, usize, usize) -> Result,
    ) -> Result {
        let mm = self.notifier.mm().ok_or(EINVAL)?;
        for_each_vma_piece(&mm, start, end, MIGRATE_CHUNK_PAGES, step)
    }

    /// `MIGRATE_TO_DEV`: move system pages of the range into device memory and map them, then
    /// return the data as the device sees it (`ENOENT` if some page did not move, e.g. shared
    /// memory).
    fn migrate_to_device(&self, cmd: &mut Cmd, start: usize, end: usize) -> Result {
        self.for_each_vma_piece(start, end, |vma, a, b| {
            let mut m = MigrateVma::setup(vma, a, b, self.owner, Select::System, true)?;
            m.to_device(|order| self.alloc_devpage(order))?;
            m.pages();
            m.finalize();
            Ok(())
        })?;
        self.map_device_local(start, end)?;
        self.read_back(cmd, start, end)
    }

    /// Maps into the device page table every page of `[start, end)` that lives in this device's
    /// memory, from a non-faulting walk. (The migration's own invalidation cleared the range: it
    /// cannot tell the pages it moves from the device's pages it leaves alone.)
    fn map_device_local(&self, start: usize, end: usize) -> Result {
        let mut reserve = NodeReserve::new(0)?;
        let mut addr = start;
        while addr < end {
            let next = end.min(addr + FAULT_CHUNK_PAGES * PAGE_SIZE);
            let mut range =
                HmmRange::new(&self.notifier, addr, next, Request::SNAPSHOT, self.owner)?;
            reserve.top_up((next - addr) / PAGE_SIZE)?;
            fault_and_commit(&mut range, false, FAULT_RETRIES, |table, pfns| {
                table.map_device_local(pfns, self.owner, &mut reserve)
            })?;
            addr = next;
        }
        Ok(())
    }

    /// `MIGRATE_TO_SYS`: move this device's pages of the range back to system memory.
    fn migrate_to_system(&self, cmd: &mut Cmd, start: usize, end: usize) -> Result {
        let mut moved = 0;
        self.for_each_vma_piece(start, end, |vma, a, b| {
            let mut m = MigrateVma::setup(vma, a, b, self.owner, Select::DevicePrivate, true)?;
            m.to_ram(|| !self.fail.take())?;
            m.pages();
            moved += m.migrated();
            m.finalize();
            Ok(())
        })?;
        cmd.cpages = moved as u64;
        Ok(())
    }

    /// `RELEASE`: evict all of this device's memory to system memory.
    fn release(&self) -> Result {
        for chunk in self.devmem.lock().iter() {
            chunk.evict()?;
        }
        Ok(())
    }
}
