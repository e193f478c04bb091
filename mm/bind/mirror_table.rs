// SPDX-License-Identifier: GPL-2.0

//! A simulated device's page table: which CPU page each mirrored virtual page maps to, and with
//! what access.
//!
//! Test importers (the mirror driver) have no hardware page table; this is theirs. It lives inside
//! an [`crate::notifier::IntervalNotifier`]'s state, so it is only touched under the notifier's
//! lock, and new entries come only from a committed fault ([`FaultedPfns`]), a device-local
//! snapshot or an exclusive page. Its entries hold no page references: the notifier protocol clears
//! an entry (under the same lock) before core mm can free or move the page, exactly as
//! `lib/test_hmm.c` relies on. Only a [`HeldPage`], taken under the lock to copy a page out after
//! it, holds a reference, and only until the copy is done.
//!
//! Insertion never allocates: nodes are reserved with [`NodeReserve`] before the lock is taken,
//! because the lock is also taken inside core mm's invalidation, where reclaim must not recurse.
//!
//! Two trees hold the mappings. Small pages live in blocks of [`BLOCK`] consecutive virtual pages,
//! one node per block (as an XArray leaf holds 64 entries), so mapping or invalidating 4 KiB pages
//! costs one allocation per 64 pages, not one per page. A PMD-sized mapping (a THP, or a large
//! device folio) is one entry of the other tree, keyed by its first page: mapping and invalidating
//! 2 MiB costs one node, not 512. Mappings never overlap; an invalidation that touches part of a
//! large mapping drops all of it (the device faults the rest back in).

use crate::ffi::{
    p2pmm_copy_from_page, p2pmm_copy_page_to_user, p2pmm_copy_to_page, p2pmm_devpage_backing,
    p2pmm_get_page, p2pmm_nth_page, p2pmm_nth_page_back, p2pmm_page_is_device_private,
    p2pmm_put_page,
};
use crate::{
    dev_page::PMD_ORDER,
    exclusive::ExclusivePage,
    hmm::{FaultedPfns, HmmPfn, PageKind},
};
use kernel::{
    bindings,
    ffi::{c_ulong, c_void},
    prelude::*,
    rbtree::{CursorMut, RBTree, RBTreeNodeReservation},
};

const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;
/// Pages of a PMD-sized mapping.
const LARGE: usize = 1 << PMD_ORDER;
/// Virtual pages per node of the small-page tree (a PMD is a whole number of blocks).
const BLOCK: usize = 64;

/// How the device may access a mapped page.
///
/// # Examples
///
/// A read fault of untouched memory maps the shared zero page: the device may read it but not write
/// it. A write fault gives every page a page of its own, writable. (The device and its notifier are
/// as in [`MirrorTable`]'s example.)
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
    Read = 1,
    /// Read and write.
    Write = 2,
    /// Exclusive (atomic) access: the CPU's mapping was replaced by a device-exclusive entry.
    Atomic = 3,
}

/// One mapping of the table as a lookup reports it: `1 << order` pages from `page`.
///
/// # Invariants
///
/// `page` is the first of `1 << order` physically contiguous valid `struct page`s while the table
/// it was read from holds it (see the module comment); an `Entry` never outlives the lookup's
/// borrow of the table.
#[derive(Clone, Copy)]
struct Entry {
    page: *mut bindings::page,
    access: Access,
    order: u32,
}

impl Entry {
    /// Page `offset` of the mapping.
    fn page(&self, offset: usize) -> *mut c_void {
        // SAFETY: `offset < 1 << order` (callers only pass offsets inside the entry); the pages are
        // contiguous.
        unsafe { p2pmm_nth_page(self.page.cast(), offset as c_ulong) }
    }
}

/// A mapped page packed in one word: the `struct page` pointer (at least 8-byte aligned, so its two
/// low bits are zero) or-ed with the [`Access`] code; 0 for no mapping. A small page's own page, or
/// a large mapping's first.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Slot(usize);

impl Slot {
    const EMPTY: Self = Slot(0);

    fn new(page: *mut bindings::page, access: Access) -> Self {
        Slot(page.expose_provenance() | access as usize)
    }

    /// The mapping this slot records, `1 << order` pages long.
    fn entry(self, order: u32) -> Option<Entry> {
        if self == Self::EMPTY {
            return None;
        }
        let access = match self.0 & 3 {
            1 => Access::Read,
            2 => Access::Write,
            _ => Access::Atomic,
        };
        // INVARIANT: the slot was made from a valid page by `Slot::new` and is in the table (see
        // `MirrorTable`).
        Some(Entry {
            page: core::ptr::with_exposed_provenance_mut(self.0 & !3),
            access,
            order,
        })
    }
}

/// The small-page mappings of [`BLOCK`] consecutive virtual pages, `used` of them mapped.
struct Block {
    slots: [Slot; BLOCK],
    used: usize,
}

impl Block {
    const EMPTY: Self = Block {
        slots: [Slot::EMPTY; BLOCK],
        used: 0,
    };
}

/// A mapped page held past the table's lock ([`MirrorTable::hold`]): its reference keeps it from
/// being freed, so the device can copy it to user memory without the lock (a user copy may fault,
/// and a fault may invalidate, which takes the lock), and without copying it into a bounce buffer
/// first.
///
/// # Examples
///
/// The device reads a page the CPU wrote, into another user buffer, with the table unlocked for the
/// copy. (The device and its notifier are as in [`MirrorTable`]'s example.)
///
/// ```
/// use crate::{
///     hmm::{fault_and_commit, HmmRange, RequestFlag},
///     kunit_mm::TestMapping,
///     mirror_table::{HeldPage, MirrorTable, NodeReserve},
/// #   notifier::{IntervalNotifier, InvalidateHandler, Invalidation},
/// };
/// use kernel::{page::PAGE_SIZE, uaccess::UserPtr};
///
/// # struct Device;
/// # impl InvalidateHandler for Device {
/// #     type State = MirrorTable;
/// #     fn invalidate(&self, inv: &Invalidation<'_>, table: &mut MirrorTable) {
/// #         table.unmap_range(inv.start(), inv.end());
/// #     }
/// # }
/// let map = TestMapping::anonymous(2 * PAGE_SIZE)?;
/// let out = TestMapping::anonymous(2 * PAGE_SIZE)?;
/// map.write(PAGE_SIZE + 40, b"held")?;
/// # let mm = map.mm()?;
/// # let n = KBox::pin_init(
/// #     IntervalNotifier::new(&mm, map.addr(), map.len(), Device, MirrorTable::new()),
/// #     GFP_KERNEL,
/// # )?;
/// let mut range = HmmRange::new(&n, map.addr(), map.end(), RequestFlag::Fault.into(), 0)?;
/// let mut reserve = NodeReserve::new(2)?;
/// fault_and_commit(&mut range, false, 16, |t, pfns| t.map(pfns, &mut reserve))?;
///
/// let mut held: [Option<HeldPage>; 4] = [const { None }; 4];
/// // Only two pages are mapped: the hold stops there.
/// assert_eq!(n.lock().hold(map.addr(), &mut held), 2);
/// // The lock is dropped: the copy may fault on `out`.
/// if let Some(page) = &held[1] {
///     page.copy_to_user(UserPtr::from_addr(out.addr()))?;
/// }
/// let mut back = [0u8; 4];
/// out.read(40, &mut back)?;
/// assert_eq!(&back, b"held");
/// // A bad user address is an error, not a crash.
/// if let Some(page) = &held[0] {
///     assert_eq!(page.copy_to_user(UserPtr::from_addr(8)), Err(EFAULT));
/// }
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `page` is a `struct page` on which this value holds one reference (`get_page`), dropped with it.
pub struct HeldPage {
    page: *mut c_void,
}

impl HeldPage {
    /// Copies the page to user memory at `dst` (one page); `EFAULT` where it cannot be written.
    pub fn copy_to_user(&self, dst: kernel::uaccess::UserPtr) -> Result {
        // SAFETY: `page` is live while referenced (type invariant); the glue checks and copies to
        // `dst`, which may be any user address, and may sleep (no lock is held here by contract of
        // `hold`).
        let left = unsafe { p2pmm_copy_page_to_user(dst.as_mut_ptr(), self.page) };
        if left != 0 {
            return Err(EFAULT);
        }
        Ok(())
    }
}

impl Drop for HeldPage {
    fn drop(&mut self) {
        // SAFETY: The reference taken in `MirrorTable::hold` (type invariant).
        unsafe { p2pmm_put_page(self.page) };
    }
}

/// Nodes reserved ahead of inserting into a [`MirrorTable`] under its lock.
///
/// # Examples
///
/// Without reserved nodes nothing can be inserted: the table never allocates under its lock. (The
/// device and its notifier are as in [`MirrorTable`]'s example.)
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
/// // Topping up allocates only what is missing; a mapping uses one node per 64-page block (or per
/// // PMD).
/// let mut reserve = NodeReserve::new(1)?;
/// reserve.top_up(4)?;
/// fault_and_commit(&mut range, false, 16, |t, pfns| t.map(pfns, &mut reserve))?;
/// assert_eq!(n.lock().len(), 4);
/// # Ok::<(), Error>(())
/// ```
pub struct NodeReserve {
    blocks: KVec<RBTreeNodeReservation<usize, Block>>,
    large: KVec<RBTreeNodeReservation<usize, Slot>>,
}

impl NodeReserve {
    /// Reserves room for mapping `n` consecutive pages (call without the lock held).
    pub fn new(n: usize) -> Result<Self> {
        let mut reserve = Self {
            blocks: KVec::new(),
            large: KVec::new(),
        };
        reserve.top_up(n)?;
        Ok(reserve)
    }

    /// Makes sure room for mapping `n` consecutive pages is reserved (a block for every 64 pages
    /// they may touch, a large node for every PMD), allocating only what is missing: nodes left
    /// over from an earlier insertion are kept for the next one.
    pub fn top_up(&mut self, n: usize) -> Result {
        if n == 0 {
            return Ok(());
        }
        while self.blocks.len() < n.div_ceil(BLOCK) + 1 {
            self.blocks
                .push(RBTreeNodeReservation::new(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        while self.large.len() < n / LARGE + 2 {
            self.large
                .push(RBTreeNodeReservation::new(GFP_KERNEL)?, GFP_KERNEL)?;
        }
        Ok(())
    }
}

/// Removes the node under `c` and moves on to the next one; `None` at the end of the tree (never
/// back to the previous node, where `remove_current` would leave the cursor).
fn remove_and_next<V>(c: CursorMut<'_, usize, V>) -> Option<CursorMut<'_, usize, V>> {
    let key = *c.current().0;
    c.remove_current().0.filter(|next| *next.current().0 > key)
}

/// The device page table, keyed by the virtual page number of each mapping's first page.
///
/// # Examples
///
/// A simulated device mirrors an anonymous mapping: it faults it in for writing, reads what the CPU
/// wrote, writes what the CPU then reads (both map the same pages), and loses everything when the
/// mapping goes.
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
    /// Small pages, by block number (`vpn / BLOCK`).
    blocks: RBTree<usize, Block>,
    /// PMD-sized mappings, by the virtual page number of their first page.
    large: RBTree<usize, Slot>,
}

impl MirrorTable {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            blocks: RBTree::new(),
            large: RBTree::new(),
        }
    }

    /// The mapping of `vpn` and the offset of `vpn` inside it.
    fn find(&self, vpn: usize) -> Option<(Entry, usize)> {
        let head = vpn & !(LARGE - 1);
        if let Some(e) = self.large.get(&head).and_then(|s| s.entry(PMD_ORDER)) {
            return Some((e, vpn - head));
        }
        let block = self.blocks.get(&(vpn / BLOCK))?;
        block.slots[vpn % BLOCK].entry(0).map(|e| (e, 0))
    }

    /// Drops every mapping that covers a page of `[first, last)` (virtual page numbers).
    fn unmap_vpns(&mut self, first: usize, last: usize) {
        if first >= last {
            return;
        }
        // Large mappings from the one that may cover `first` on.
        let mut cursor = self.large.cursor_lower_bound_mut(&(first & !(LARGE - 1)));
        while let Some(c) = cursor {
            if *c.current().0 >= last {
                break;
            }
            cursor = remove_and_next(c);
        }
        let last_block = (last - 1) / BLOCK;
        let mut cursor = self.blocks.cursor_lower_bound_mut(&(first / BLOCK));
        while let Some(mut c) = cursor {
            let (&b, block) = c.current_mut();
            if b > last_block {
                break;
            }
            let base = b * BLOCK;
            for slot in &mut block.slots[first.max(base) - base..last.min(base + BLOCK) - base] {
                if *slot != Slot::EMPTY {
                    *slot = Slot::EMPTY;
                    block.used -= 1;
                }
            }
            cursor = if block.used == 0 {
                remove_and_next(c)
            } else {
                c.move_next()
            };
        }
    }

    /// Maps one small page at `vpn`, replacing what covered it.
    fn insert_small(&mut self, vpn: usize, slot: Slot, reserve: &mut NodeReserve) -> Result {
        self.large.remove(&(vpn & !(LARGE - 1)));
        let b = vpn / BLOCK;
        if self.blocks.get(&b).is_none() {
            let node = reserve.blocks.pop().ok_or(ENOMEM)?;
            self.blocks.insert(node.into_node(b, Block::EMPTY));
        }
        let block = self.blocks.get_mut(&b).ok_or(ENOMEM)?;
        let old = core::mem::replace(&mut block.slots[vpn % BLOCK], slot);
        if old == Slot::EMPTY {
            block.used += 1;
        }
        Ok(())
    }

    /// Maps the PMD-sized mapping whose first page is `head` (aligned), replacing what it overlaps.
    fn insert_large(&mut self, head: usize, slot: Slot, reserve: &mut NodeReserve) -> Result {
        self.unmap_vpns(head, head + LARGE);
        let node = reserve.large.pop().ok_or(ENOMEM)?;
        self.large.insert(node.into_node(head, slot));
        Ok(())
    }

    /// Maps the entries of a committed walk that `wanted` selects, one node per PMD-sized mapping.
    /// `resolve` gives the page the device accesses for a walked page.
    ///
    /// A page the CPU maps with a PMD maps its whole PMD-sized folio: the walk proved the PMD
    /// current (committed under the lock), so the device maps all of it as one entry even when the
    /// walk covered only part of it (a fault chunk is smaller than a PMD), and a later walk of
    /// another part finds it mapped already.
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
                // SAFETY: `page` is page `vpn - head` of the PMD-mapped folio (the walk realigned
                // it), so stepping back stays inside the folio.
                let first = unsafe { p2pmm_nth_page_back(page.cast(), (vpn - head) as c_ulong) };
                (head, first.cast::<bindings::page>(), PMD_ORDER)
            } else {
                (vpn, page, 0)
            };
            // The pages are valid now (committed walk under the lock), contiguous for a PMD
            // mapping, and the invalidation that precedes any free or move of them clears the slot.
            let slot = Slot::new(resolve(page), access);
            if order == 0 {
                self.insert_small(vpn, slot, reserve)?;
            } else if self.large.get(&vpn) != Some(&slot) {
                self.insert_large(vpn, slot, reserve)?;
            }
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
                // A device-private page of a simulated device (ours: others are faulted back to RAM
                // by the walk) keeps its data in its backing system page: that is what the device
                // accesses. SAFETY: `page` is live (committed fault, lock held).
                if unsafe { p2pmm_page_is_device_private(page.cast()) } {
                    // SAFETY: As above; pages of simulated device memory always have a backing
                    // page.
                    unsafe { p2pmm_devpage_backing(page.cast()) }.cast()
                } else {
                    page
                }
            },
        )
    }

    /// Maps only the pages of a committed snapshot that live in this device's own memory (`owner`):
    /// after a migration to the device, this maps what moved and what was already there, and
    /// nothing else.
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
            // SAFETY: A live device page of ours (committed snapshot, lock held); simulated device
            // pages keep their data in a backing system page.
            |page| unsafe { p2pmm_devpage_backing(page.cast()) }.cast(),
        )
    }

    /// Maps a page the device now holds exclusively ([`Access::Atomic`]).
    pub fn map_exclusive(&mut self, page: &ExclusivePage<'_>, reserve: &mut NodeReserve) -> Result {
        // While exclusive the CPU cannot map the page; giving exclusivity back invalidates the
        // range.
        let slot = Slot::new(page.raw_page(), Access::Atomic);
        self.insert_small(page.addr() / PAGE_SIZE, slot, reserve)
    }

    /// Drops every mapping in `[start, end)`.
    ///
    /// # Examples
    ///
    /// Only the range goes, wherever it falls in the table's blocks of 64 pages: here the tail of a
    /// 160-page mapping, then everything from a block boundary on (the last blocks emptied), then a
    /// page at the front. (The device and its notifier are as in [`MirrorTable`]'s example.)
    ///
    /// ```
    /// use crate::{
    ///     hmm::{fault_and_commit, HmmRange, RequestFlag},
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
    /// let map = TestMapping::anonymous(160 * PAGE_SIZE)?;
    /// # let mm = map.mm()?;
    /// # let n = KBox::pin_init(
    /// #     IntervalNotifier::new(&mm, map.addr(), map.len(), Device, MirrorTable::new()),
    /// #     GFP_KERNEL,
    /// # )?;
    /// let write = RequestFlag::Fault | RequestFlag::Write;
    /// let mut range = HmmRange::new(&n, map.addr(), map.end(), write, 0)?;
    /// let mut reserve = NodeReserve::new(160)?;
    /// fault_and_commit(&mut range, false, 16, |t, pfns| t.map(pfns, &mut reserve))?;
    /// let page = |i: usize| map.addr() + i * PAGE_SIZE;
    ///
    /// let mut t = n.lock();
    /// assert_eq!(t.len(), 160);
    /// t.unmap_range(page(150), map.end());
    /// assert_eq!(t.len(), 150);
    /// // From a block boundary on (64 to 127 pages in): whole blocks go, the one before stays
    /// // whole.
    /// let boundary = 64 + (64 - (map.addr() / PAGE_SIZE) % 64) % 64;
    /// t.unmap_range(page(boundary), map.end());
    /// assert_eq!(t.len(), boundary);
    /// t.unmap_range(page(0), page(1));
    /// assert_eq!(t.len(), boundary - 1);
    /// assert_eq!(t.access(page(0)), None);
    /// assert_eq!(t.access(page(boundary - 1)), Some(Access::Write));
    /// assert_eq!(t.access(page(boundary)), None);
    /// assert_eq!(t.mapped_prefix(page(1), map.end()), boundary - 1);
    /// # Ok::<(), Error>(())
    /// ```
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

    /// Device read: copies the pages from `addr` on into `dst` (a whole number of pages), stopping
    /// at the first unmapped one. Returns the number of pages copied.
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
                // SAFETY: The entry's pages are valid while in the table (type invariant of
                // `Entry`); one page.
                unsafe { p2pmm_copy_from_page(chunk.as_mut_ptr().cast(), e.page(offset + k)) };
            }
            done += n;
        }
        done
    }

    /// Holds the pages mapped from `addr` on, one per element of `out`, stopping at the first
    /// unmapped one, so they can be copied out after the lock is dropped ([`HeldPage`]). Returns
    /// how many were held.
    pub fn hold(&self, addr: usize, out: &mut [Option<HeldPage>]) -> usize {
        let mut done = 0;
        while done < out.len() {
            let Some((e, offset)) = self.find(addr / PAGE_SIZE + done) else {
                break;
            };
            let n = ((1usize << e.order) - offset).min(out.len() - done);
            for (k, slot) in out[done..done + n].iter_mut().enumerate() {
                let page = e.page(offset + k);
                // SAFETY: The entry's pages are valid while in the table and the lock is held
                // (`Entry`).
                unsafe { p2pmm_get_page(page) };
                // INVARIANT: referenced just now.
                *slot = Some(HeldPage { page });
            }
            done += n;
        }
        done
    }

    /// Device write: copies `src` (a whole number of pages) to the pages from `addr` on, stopping
    /// at the first page not mapped [`Access::Write`]. Returns the number of pages written.
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
                // SAFETY: The entry's pages stay valid while in the table (`Entry` invariant);
                // writable; one page.
                unsafe { p2pmm_copy_to_page(e.page(offset + k), chunk.as_ptr().cast()) };
            }
            done += n;
        }
        done
    }

    /// Number of mapped pages.
    pub fn len(&self) -> usize {
        let small: usize = self.blocks.values().map(|b| b.used).sum();
        small + self.large.values().count() * LARGE
    }

    /// Whether nothing is mapped.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty() && self.large.is_empty()
    }
}
