// SPDX-License-Identifier: GPL-2.0

//! A simulated device's page table: which CPU page each mirrored virtual page maps to, and with what access.
//!
//! Test importers (the mirror driver) have no hardware page table; this is theirs. It lives inside an
//! [`crate::notifier::IntervalNotifier`]'s state, so it is only touched under the notifier's lock, and new entries
//! come only from a committed fault ([`FaultedPfns`]) or an exclusive page. It holds no page references: the
//! notifier protocol clears an entry (under the same lock) before core mm can free or move the page, exactly as
//! `lib/test_hmm.c` relies on.
//!
//! Insertion never allocates: nodes are reserved with [`NodeReserve`] before the lock is taken, because the lock
//! is also taken inside core mm's invalidation, where reclaim must not recurse.

use crate::{
    exclusive::ExclusivePage,
    hmm::{FaultedPfns, PageKind},
};
use kernel::{
    bindings,
    ffi::c_void,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
};

extern "C" {
    fn p2pmm_copy_from_page(dst: *mut c_void, page: *mut c_void);
    fn p2pmm_copy_to_page(page: *mut c_void, src: *const c_void);
    fn p2pmm_page_is_device_private(page: *mut c_void) -> bool;
    fn p2pmm_devpage_backing(dpage: *mut c_void) -> *mut c_void;
}

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;

/// How the device may access a mapped page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write.
    Write,
    /// Exclusive (atomic) access: the CPU's mapping was replaced by a device-exclusive entry.
    Atomic,
}

/// One mapping of the table.
///
/// # Invariants
///
/// `page` is a valid `struct page` for as long as the entry is in a table (see the module comment).
struct Entry {
    page: *mut bindings::page,
    access: Access,
}

// SAFETY: An entry is only a record of a page pointer; it is accessed under the notifier's lock only.
unsafe impl Send for Entry {}

/// Nodes reserved ahead of inserting into a [`MirrorTable`] under its lock.
pub struct NodeReserve(KVec<RBTreeNodeReservation<usize, Entry>>);

impl NodeReserve {
    /// Reserves room for `n` new entries (call without the lock held).
    pub fn new(n: usize) -> Result<Self> {
        let mut v = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            v.push(RBTreeNodeReservation::new(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(Self(v))
    }
}

/// The device page table, keyed by virtual page number.
#[derive(Default)]
pub struct MirrorTable {
    tree: RBTree<usize, Entry>,
}

impl MirrorTable {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            tree: RBTree::new(),
        }
    }

    fn insert(&mut self, vpn: usize, entry: Entry, reserve: &mut NodeReserve) -> Result {
        if let Some(old) = self.tree.get_mut(&vpn) {
            *old = entry;
            return Ok(());
        }
        let node = reserve.0.pop().ok_or(ENOMEM)?;
        self.tree.insert(node.into_node(vpn, entry));
        Ok(())
    }

    /// Maps every valid page of a committed fault: writable pages as [`Access::Write`], others as
    /// [`Access::Read`]. Pages that are not valid (a snapshot's holes) are left unmapped.
    pub fn map(&mut self, pfns: &FaultedPfns<'_>, reserve: &mut NodeReserve) -> Result {
        for (addr, pfn) in pfns.iter() {
            let Some(mut page) = pfn.raw_page() else {
                continue;
            };
            // A device-private page of a simulated device (ours: others are faulted back to RAM by the walk)
            // keeps its data in its backing system page: that is what the device accesses.
            // SAFETY: `page` is live (committed fault, lock held).
            if unsafe { p2pmm_page_is_device_private(page.cast()) } {
                // SAFETY: As above; device pages of simulated memory always have a backing page.
                page = unsafe { p2pmm_devpage_backing(page.cast()) }.cast();
            }
            let access = if pfn.is_writable() {
                Access::Write
            } else {
                Access::Read
            };
            // INVARIANT: the page is valid now (committed fault under the lock) and the entry is cleared by the
            // invalidation that precedes any free or move of it.
            self.insert(addr / PAGE_SIZE, Entry { page, access }, reserve)?;
        }
        Ok(())
    }

    /// Maps only the pages of a committed snapshot that live in this device's own memory (`owner`): after a
    /// migration to the device, this maps what moved and what was already there, and nothing else.
    pub fn map_device_local(
        &mut self,
        pfns: &FaultedPfns<'_>,
        owner: usize,
        reserve: &mut NodeReserve,
    ) -> Result {
        for (addr, pfn) in pfns.iter() {
            if pfn.kind(owner) != PageKind::DevicePrivateLocal {
                continue;
            }
            let Some(page) = pfn.raw_page() else {
                continue;
            };
            let access = if pfn.is_writable() {
                Access::Write
            } else {
                Access::Read
            };
            // SAFETY: `page` is a live device page of ours (committed snapshot, lock held); simulated device
            // pages keep their data in a backing system page.
            let backing = unsafe { p2pmm_devpage_backing(page.cast()) }.cast();
            // INVARIANT: the backing page lives as long as the device page, whose migration or eviction
            // invalidates this address first.
            self.insert(
                addr / PAGE_SIZE,
                Entry {
                    page: backing,
                    access,
                },
                reserve,
            )?;
        }
        Ok(())
    }

    /// Maps a page the device now holds exclusively ([`Access::Atomic`]).
    pub fn map_exclusive(&mut self, page: &ExclusivePage<'_>, reserve: &mut NodeReserve) -> Result {
        let entry = Entry {
            page: page.raw_page(),
            access: Access::Atomic,
        };
        // INVARIANT: while exclusive the CPU cannot map the page; giving exclusivity back invalidates the range.
        self.insert(page.addr() / PAGE_SIZE, entry, reserve)
    }

    /// Drops every mapping in `[start, end)`.
    pub fn unmap_range(&mut self, start: usize, end: usize) {
        let (first, last) = (start / PAGE_SIZE, end.div_ceil(PAGE_SIZE));
        let mut cursor = self.tree.cursor_lower_bound_mut(&first);
        while let Some(c) = cursor {
            if *c.current().0 >= last {
                break;
            }
            cursor = c.remove_current().0;
        }
    }

    /// How the page at `addr` is mapped, if it is.
    pub fn access(&self, addr: usize) -> Option<Access> {
        self.tree.get(&(addr / PAGE_SIZE)).map(|e| e.access)
    }

    /// Whether any page of `[start, end)` is mapped [`Access::Atomic`].
    pub fn any_atomic(&self, start: usize, end: usize) -> bool {
        (start / PAGE_SIZE..end.div_ceil(PAGE_SIZE))
            .any(|vpn| matches!(self.tree.get(&vpn), Some(e) if e.access == Access::Atomic))
    }

    /// Device read: copies the pages from `addr` on into `dst` (a whole number of pages), stopping at the first
    /// unmapped one. Returns the number of pages copied.
    pub fn read(&self, addr: usize, dst: &mut [u8]) -> usize {
        let mut done = 0;
        for chunk in dst.chunks_exact_mut(PAGE_SIZE) {
            let Some(e) = self.tree.get(&(addr / PAGE_SIZE + done)) else {
                break;
            };
            // SAFETY: `e.page` is valid while in the table (type invariant of `Entry`); `chunk` is one page.
            unsafe { p2pmm_copy_from_page(chunk.as_mut_ptr().cast(), e.page.cast()) };
            done += 1;
        }
        done
    }

    /// Device write: copies `src` (a whole number of pages) to the pages from `addr` on, stopping at the first
    /// page not mapped [`Access::Write`]. Returns the number of pages written.
    pub fn write(&mut self, addr: usize, src: &[u8]) -> usize {
        let mut done = 0;
        for chunk in src.chunks_exact(PAGE_SIZE) {
            match self.tree.get(&(addr / PAGE_SIZE + done)) {
                Some(e) if e.access == Access::Write => {
                    // SAFETY: `e.page` is valid while in the table (type invariant of `Entry`) and mapped
                    // writable; `chunk` is one page.
                    unsafe { p2pmm_copy_to_page(e.page.cast(), chunk.as_ptr().cast()) };
                }
                _ => break,
            }
            done += 1;
        }
        done
    }

    /// Number of mapped pages.
    pub fn len(&self) -> usize {
        self.tree.iter().count()
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}
