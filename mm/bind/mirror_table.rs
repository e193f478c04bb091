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
//!
//! A PMD-sized mapping (a THP, or a large device folio) is one entry, keyed by its first page: mapping and
//! invalidating 2 MiB costs one node, not 512. Entries never overlap; an invalidation that touches part of a
//! large entry drops all of it (the device faults the rest back in).

use crate::{
    devmem::PMD_ORDER,
    exclusive::ExclusivePage,
    hmm::{FaultedPfns, HmmPfn, PageKind},
};
use kernel::{
    bindings,
    ffi::{c_ulong, c_void},
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
};

extern "C" {
    fn p2pmm_copy_from_page(dst: *mut c_void, page: *mut c_void);
    fn p2pmm_copy_to_page(page: *mut c_void, src: *const c_void);
    fn p2pmm_page_is_device_private(page: *mut c_void) -> bool;
    fn p2pmm_devpage_backing(dpage: *mut c_void) -> *mut c_void;
    fn p2pmm_nth_page(page: *mut c_void, n: c_ulong) -> *mut c_void;
    fn p2pmm_nth_page_back(page: *mut c_void, n: c_ulong) -> *mut c_void;
}

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;
/// Pages of a PMD-sized mapping.
const LARGE: usize = 1 << PMD_ORDER;

/// How the device may access a mapped page.
///
/// # Examples
///
/// A read fault of untouched memory maps the shared zero page: the device may read it but not write it. A
/// write fault gives every page a page of its own, writable. (The device and its notifier are as in
/// [`MirrorTable`]'s example.)
///
/// ```
/// use crate::{
///     hmm::{fault_and_commit, HmmRange, Request, RequestFlag},
///     kunit_mm::TestMapping,
///     mirror_table::{Access, MirrorTable, NodeReserve},
/// #   notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// # struct Device;
/// # impl InvalidateHandler for Device {
/// #     type State = MirrorTable;
/// #     fn invalidate(&self, inv: &Invalidation<'_>, table: &mut MirrorTable) {
/// #         table.unmap_range(inv.start(), inv.end());
/// #     }
/// # }
/// let map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// # let mm = map.mm()?;
/// # let n = KBox::pin_init(
/// #     IntervalNotifier::new(&mm, map.addr(), map.len(), Device, MirrorTable::new()),
/// #     GFP_KERNEL,
/// # )?;
/// let mut reserve = NodeReserve::new(4)?;
/// // `map_with(request)` faults the whole mapping and maps it into the table.
/// let mut map_with = |request: Request| -> Result {
///     reserve.top_up(4)?;
///     let mut range = HmmRange::new(&n, map.addr(), map.end(), request, 0)?;
///     fault_and_commit(&mut range, false, 16, |t, pfns| t.map(pfns, &mut reserve))
/// };
/// map_with(RequestFlag::Fault.into())?;
/// let page = KVec::from_elem(0xffu8, PAGE_SIZE, GFP_KERNEL)?;
/// let mut back = KVec::from_elem(0xffu8, PAGE_SIZE, GFP_KERNEL)?;
/// {
///     let mut table = n.lock();
///     assert_eq!(table.access(map.addr()), Some(Access::Read));
///     assert_eq!(table.write(map.addr(), &page), 0);
///     assert_eq!(table.read(map.addr(), &mut back), 1);
///     assert!(back.iter().all(|&b| b == 0));
///     // Dropping part of the mapping leaves the rest.
///     table.unmap_range(map.addr() + PAGE_SIZE, map.addr() + 3 * PAGE_SIZE);
///     assert_eq!(table.len(), 2);
///     assert_eq!(table.access(map.addr() + PAGE_SIZE), None);
///     assert_eq!(table.access(map.addr() + 3 * PAGE_SIZE), Some(Access::Read));
///     assert!(!table.any_atomic(map.addr(), map.end()));
/// }
///
/// map_with(RequestFlag::Fault | RequestFlag::Write)?;
/// let mut table = n.lock();
/// assert_eq!(table.len(), 4);
/// assert!((0..4).all(|i| table.access(map.addr() + i * PAGE_SIZE) == Some(Access::Write)));
/// assert_eq!(table.write(map.addr(), &page), 1);
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write.
    Write,
    /// Exclusive (atomic) access: the CPU's mapping was replaced by a device-exclusive entry.
    Atomic,
}

/// One mapping of the table: `1 << order` pages from `page`.
///
/// # Invariants
///
/// `page` is the first of `1 << order` physically contiguous valid `struct page`s for as long as the entry is in
/// a table (see the module comment).
struct Entry {
    page: *mut bindings::page,
    access: Access,
    order: u32,
}

impl Entry {
    /// Page `offset` of the mapping.
    fn page(&self, offset: usize) -> *mut c_void {
        // SAFETY: `offset < 1 << order` (callers only pass offsets inside the entry); the pages are contiguous.
        unsafe { p2pmm_nth_page(self.page.cast(), offset as c_ulong) }
    }
}

// SAFETY: An entry is only a record of a page pointer; it is accessed under the notifier's lock only.
unsafe impl Send for Entry {}

/// Nodes reserved ahead of inserting into a [`MirrorTable`] under its lock.
///
/// # Examples
///
/// Without reserved nodes nothing can be inserted: the table never allocates under its lock. (The device and
/// its notifier are as in [`MirrorTable`]'s example.)
///
/// ```
/// use crate::{
///     hmm::{fault_and_commit, HmmRange, RequestFlag},
///     kunit_mm::TestMapping,
///     mirror_table::{MirrorTable, NodeReserve},
/// #   notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// # struct Device;
/// # impl InvalidateHandler for Device {
/// #     type State = MirrorTable;
/// #     fn invalidate(&self, inv: &Invalidation<'_>, table: &mut MirrorTable) {
/// #         table.unmap_range(inv.start(), inv.end());
/// #     }
/// # }
/// let map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// # let mm = map.mm()?;
/// # let n = KBox::pin_init(
/// #     IntervalNotifier::new(&mm, map.addr(), map.len(), Device, MirrorTable::new()),
/// #     GFP_KERNEL,
/// # )?;
/// let write = RequestFlag::Fault | RequestFlag::Write;
/// let mut range = HmmRange::new(&n, map.addr(), map.end(), write, 0)?;
/// let mut none = NodeReserve::new(0)?;
/// let mapped = fault_and_commit(&mut range, false, 16, |t, pfns| t.map(pfns, &mut none));
/// assert_eq!(mapped, Err(ENOMEM));
/// assert!(n.lock().is_empty());
///
/// // Topping up allocates only what is missing; a mapping uses one node per page (or per PMD).
/// let mut reserve = NodeReserve::new(1)?;
/// reserve.top_up(4)?;
/// fault_and_commit(&mut range, false, 16, |t, pfns| t.map(pfns, &mut reserve))?;
/// assert_eq!(n.lock().len(), 4);
/// # Ok::<(), Error>(())
/// ```
pub struct NodeReserve(KVec<RBTreeNodeReservation<usize, Entry>>);

impl NodeReserve {
    /// Reserves room for `n` new entries (call without the lock held).
    pub fn new(n: usize) -> Result<Self> {
        let mut reserve = Self(KVec::new());
        reserve.top_up(n)?;
        Ok(reserve)
    }

    /// Makes sure room for `n` new entries is reserved, allocating only what is missing: nodes left over from an
    /// earlier insertion (a PMD mapping uses one node for 512 pages) are kept for the next one.
    pub fn top_up(&mut self, n: usize) -> Result {
        while self.0.len() < n {
            self.0
                .push(RBTreeNodeReservation::new(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(())
    }
}

/// The device page table, keyed by the virtual page number of each mapping's first page.
///
/// # Examples
///
/// A simulated device mirrors an anonymous mapping: it faults it in for writing, reads what the CPU wrote,
/// writes what the CPU then reads (both map the same pages), and loses everything when the mapping goes.
///
/// ```
/// use crate::{
///     hmm::{fault_and_commit, HmmRange, RequestFlag},
///     kunit_mm::TestMapping,
///     mirror_table::{Access, MirrorTable, NodeReserve},
///     notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::page::PAGE_SIZE;
///
/// // The device drops its mappings of whatever core mm invalidates.
/// struct Device;
///
/// impl InvalidateHandler for Device {
///     type State = MirrorTable;
///
///     fn invalidate(&self, inv: &Invalidation<'_>, table: &mut MirrorTable) {
///         table.unmap_range(inv.start(), inv.end());
///     }
/// }
///
/// let mut map = TestMapping::anonymous(4 * PAGE_SIZE)?;
/// for i in 0..4u8 {
///     map.write(usize::from(i) * PAGE_SIZE, &[0x10 + i; 16])?;
/// }
/// let mm = map.mm()?;
/// let n = KBox::pin_init(
///     IntervalNotifier::new(&mm, map.addr(), map.len(), Device, MirrorTable::new()),
///     GFP_KERNEL,
/// )?;
/// assert!(n.lock().is_empty());
///
/// // Reserve nodes first, then fault and map under the lock.
/// let mut reserve = NodeReserve::new(4)?;
/// let write = RequestFlag::Fault | RequestFlag::Write;
/// let mut range = HmmRange::new(&n, map.addr(), map.end(), write, 0)?;
/// fault_and_commit(&mut range, false, 16, |table, pfns| table.map(pfns, &mut reserve))?;
///
/// let mut buf = KVec::from_elem(0u8, 4 * PAGE_SIZE, GFP_KERNEL)?;
/// {
///     let mut table = n.lock();
///     assert_eq!(table.len(), 4);
///     assert_eq!(table.access(map.addr() + 3 * PAGE_SIZE), Some(Access::Write));
///     assert_eq!(table.access(map.end()), None);
///     assert_eq!(table.read(map.addr(), &mut buf), 4);
///     assert_eq!(&buf[2 * PAGE_SIZE..2 * PAGE_SIZE + 16], &[0x12; 16]);
///     buf[PAGE_SIZE..2 * PAGE_SIZE].fill(0xd0);
///     assert_eq!(table.write(map.addr() + PAGE_SIZE, &buf[PAGE_SIZE..2 * PAGE_SIZE]), 1);
/// }
/// // The CPU sees the device's write (outside the lock: a CPU access may invalidate).
/// let mut cpu = [0u8; 16];
/// map.read(PAGE_SIZE + 100, &mut cpu)?;
/// assert_eq!(cpu, [0xd0; 16]);
///
/// // munmap: core mm invalidates the range, the handler empties the device page table.
/// map.unmap()?;
/// assert!(n.lock().is_empty());
/// assert_eq!(n.lock().read(map.addr(), &mut buf), 0);
/// # Ok::<(), Error>(())
/// ```
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

    /// The entry mapping `vpn` and the offset of `vpn` inside it.
    fn find(&self, vpn: usize) -> Option<(&Entry, usize)> {
        if let Some(e) = self.tree.get(&vpn) {
            return Some((e, 0));
        }
        let head = vpn & !(LARGE - 1);
        match self.tree.get(&head) {
            Some(e) if head != vpn && e.order > 0 => Some((e, vpn - head)),
            _ => None,
        }
    }

    /// Drops every mapping that covers a page of `[first, last)` (virtual page numbers).
    fn unmap_vpns(&mut self, first: usize, last: usize) {
        // A large entry that starts before `first` and covers it.
        let head = first & !(LARGE - 1);
        if head != first && self.tree.get(&head).is_some_and(|e| e.order > 0) {
            self.tree.remove(&head);
        }
        let mut cursor = self.tree.cursor_lower_bound_mut(&first);
        while let Some(c) = cursor {
            if *c.current().0 >= last {
                break;
            }
            cursor = c.remove_current().0;
        }
    }

    fn insert(&mut self, vpn: usize, entry: Entry, reserve: &mut NodeReserve) -> Result {
        // Keep entries disjoint: drop whatever the new mapping overlaps (it replaces it).
        self.unmap_vpns(vpn, vpn + (1 << entry.order));
        let node = reserve.0.pop().ok_or(ENOMEM)?;
        self.tree.insert(node.into_node(vpn, entry));
        Ok(())
    }

    /// Maps the entries of a committed walk that `wanted` selects, one node per PMD-sized mapping.
    /// `resolve` gives the page the device accesses for a walked page.
    ///
    /// A page the CPU maps with a PMD maps its whole PMD-sized folio: the walk proved the PMD current (committed
    /// under the lock), so the device maps all of it as one entry even when the walk covered only part of it (a
    /// fault chunk is smaller than a PMD), and a later walk of another part finds it mapped already.
    fn map_walk(
        &mut self,
        pfns: &FaultedPfns<'_>,
        reserve: &mut NodeReserve,
        wanted: impl Fn(HmmPfn) -> bool,
        resolve: impl Fn(*mut bindings::page) -> *mut bindings::page,
    ) -> Result {
        let mut covered_until = 0;
        for (addr, pfn) in pfns.iter() {
            let vpn = addr / PAGE_SIZE;
            if vpn < covered_until || !wanted(pfn) {
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
            let (vpn, page, order) = if pfn.map_order() == PMD_ORDER {
                let head = vpn & !(LARGE - 1);
                covered_until = head + LARGE;
                // SAFETY: `page` is page `vpn - head` of the PMD-mapped folio (the walk realigned it), so stepping
                // back stays inside the folio.
                let first = unsafe { p2pmm_nth_page_back(page.cast(), (vpn - head) as c_ulong) };
                (head, first.cast::<bindings::page>(), PMD_ORDER)
            } else {
                (vpn, page, 0)
            };
            let page = resolve(page);
            if let Some(e) = self.tree.get(&vpn) {
                if e.page == page && e.order == order && e.access == access {
                    continue;
                }
            }
            // INVARIANT: the pages are valid now (committed walk under the lock), contiguous for a PMD mapping,
            // and the invalidation that precedes any free or move of them clears the entry.
            let entry = Entry {
                page,
                access,
                order,
            };
            self.insert(vpn, entry, reserve)?;
        }
        Ok(())
    }

    /// Maps every valid page of a committed fault: writable pages as [`Access::Write`], others as
    /// [`Access::Read`]. Pages that are not valid (a snapshot's holes) are left unmapped.
    pub fn map(&mut self, pfns: &FaultedPfns<'_>, reserve: &mut NodeReserve) -> Result {
        self.map_walk(
            pfns,
            reserve,
            |_| true,
            |page| {
                // A device-private page of a simulated device (ours: others are faulted back to RAM by the
                // walk) keeps its data in its backing system page: that is what the device accesses.
                // SAFETY: `page` is live (committed fault, lock held).
                if unsafe { p2pmm_page_is_device_private(page.cast()) } {
                    // SAFETY: As above; pages of simulated device memory always have a backing page.
                    unsafe { p2pmm_devpage_backing(page.cast()) }.cast()
                } else {
                    page
                }
            },
        )
    }

    /// Maps only the pages of a committed snapshot that live in this device's own memory (`owner`): after a
    /// migration to the device, this maps what moved and what was already there, and nothing else.
    pub fn map_device_local(
        &mut self,
        pfns: &FaultedPfns<'_>,
        owner: usize,
        reserve: &mut NodeReserve,
    ) -> Result {
        self.map_walk(
            pfns,
            reserve,
            |pfn| pfn.kind(owner) == PageKind::DevicePrivateLocal,
            // SAFETY: A live device page of ours (committed snapshot, lock held); simulated device pages keep
            // their data in a backing system page.
            |page| unsafe { p2pmm_devpage_backing(page.cast()) }.cast(),
        )
    }

    /// Maps a page the device now holds exclusively ([`Access::Atomic`]).
    pub fn map_exclusive(&mut self, page: &ExclusivePage<'_>, reserve: &mut NodeReserve) -> Result {
        // INVARIANT: while exclusive the CPU cannot map the page; giving exclusivity back invalidates the range.
        let entry = Entry {
            page: page.raw_page(),
            access: Access::Atomic,
            order: 0,
        };
        self.insert(page.addr() / PAGE_SIZE, entry, reserve)
    }

    /// Drops every mapping in `[start, end)`.
    pub fn unmap_range(&mut self, start: usize, end: usize) {
        self.unmap_vpns(start / PAGE_SIZE, end.div_ceil(PAGE_SIZE));
    }

    /// How the page at `addr` is mapped, if it is.
    pub fn access(&self, addr: usize) -> Option<Access> {
        self.find(addr / PAGE_SIZE).map(|(e, _)| e.access)
    }

    /// How many pages of `[start, end)`, from `start` on, are mapped (up to the first that is not).
    pub fn mapped_prefix(&self, start: usize, end: usize) -> usize {
        let (first, last) = (start / PAGE_SIZE, end.div_ceil(PAGE_SIZE));
        let mut vpn = first;
        while vpn < last {
            let Some((e, offset)) = self.find(vpn) else {
                break;
            };
            // The rest of this entry is mapped too.
            vpn += (1usize << e.order) - offset;
        }
        vpn.min(last) - first
    }

    /// Whether any page of `[start, end)` is mapped [`Access::Atomic`].
    pub fn any_atomic(&self, start: usize, end: usize) -> bool {
        (start / PAGE_SIZE..end.div_ceil(PAGE_SIZE))
            .any(|vpn| matches!(self.find(vpn), Some((e, _)) if e.access == Access::Atomic))
    }

    /// Device read: copies the pages from `addr` on into `dst` (a whole number of pages), stopping at the first
    /// unmapped one. Returns the number of pages copied.
    pub fn read(&self, addr: usize, dst: &mut [u8]) -> usize {
        let npages = dst.len() / PAGE_SIZE;
        let mut done = 0;
        while done < npages {
            let Some((e, offset)) = self.find(addr / PAGE_SIZE + done) else {
                break;
            };
            // One lookup per entry: a large entry's pages follow each other.
            let n = ((1usize << e.order) - offset).min(npages - done);
            for (k, chunk) in dst[done * PAGE_SIZE..(done + n) * PAGE_SIZE]
                .chunks_exact_mut(PAGE_SIZE)
                .enumerate()
            {
                // SAFETY: The entry's pages are valid while in the table (type invariant of `Entry`); one page.
                unsafe { p2pmm_copy_from_page(chunk.as_mut_ptr().cast(), e.page(offset + k)) };
            }
            done += n;
        }
        done
    }

    /// Device write: copies `src` (a whole number of pages) to the pages from `addr` on, stopping at the first
    /// page not mapped [`Access::Write`]. Returns the number of pages written.
    pub fn write(&mut self, addr: usize, src: &[u8]) -> usize {
        let npages = src.len() / PAGE_SIZE;
        let mut done = 0;
        while done < npages {
            let e = match self.find(addr / PAGE_SIZE + done) {
                Some((e, offset)) if e.access == Access::Write => (e, offset),
                _ => break,
            };
            let (e, offset) = e;
            let n = ((1usize << e.order) - offset).min(npages - done);
            for (k, chunk) in src[done * PAGE_SIZE..(done + n) * PAGE_SIZE]
                .chunks_exact(PAGE_SIZE)
                .enumerate()
            {
                // SAFETY: The entry's pages stay valid while in the table (`Entry` invariant); writable; one page.
                unsafe { p2pmm_copy_to_page(e.page(offset + k), chunk.as_ptr().cast()) };
            }
            done += n;
        }
        done
    }

    /// Number of mapped pages.
    pub fn len(&self) -> usize {
        self.tree.values().map(|e| 1usize << e.order).sum()
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}
