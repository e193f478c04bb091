// SPDX-License-Identifier: GPL-2.0

//! An [`Arc`] that readers take under RCU while a writer replaces it: the read side of data that
//! changes rarely (the list of providers, `registry.rs`) takes no lock and allocates nothing.
//!
//! A reader loads the pointer inside an RCU read-side critical section and takes a reference of
//! its own before leaving it; a writer swaps the pointer, waits for a grace period
//! (`synchronize_rcu()`) and only then drops the reference the cell held. Any reader that could
//! have loaded the old pointer has by then either taken its reference or not loaded it at all, so
//! the old value lives exactly as long as its last reader needs it. Replacing sleeps (the grace
//! period): writers run in process context. The grace period is an expedited one: writers are rare
//! (a provider registering or going away) and an unbind waits for them, while a normal grace period
//! took hundreds of milliseconds in the test VM (the hot-unplug test's revocation went from 451 to
//! 1201 ms, p50); expediting costs the other CPUs an interrupt each, once per change.

use kernel::{
    bindings,
    sync::{
        atomic::{ordering, Atomic},
        rcu, Arc, ArcBorrow,
    },
};

/// A cell holding an optional [`Arc<T>`] that [`RcuArc::read`] takes without a lock.
///
/// # Examples
///
/// ```
/// use crate::rcu_arc::RcuArc;
/// use kernel::sync::Arc;
///
/// let cell = RcuArc::<u32>::new();
/// assert!(cell.read().is_none());
/// cell.replace(Some(Arc::new(1, GFP_KERNEL)?));
/// let one = cell.read().ok_or(EINVAL)?;
/// cell.replace(Some(Arc::new(2, GFP_KERNEL)?));
/// // The reader keeps what it took; new readers see the new value.
/// assert_eq!((*one, cell.read().map(|v| *v)), (1, Some(2)));
/// cell.replace(None);
/// assert!(cell.read().is_none());
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `ptr` is null or comes from [`Arc::into_raw`] of an `Arc<T>` whose reference the cell owns.
/// A pointer swapped out of `ptr` is released only after an RCU grace period that started after
/// the swap.
pub struct RcuArc<T: Send + Sync> {
    ptr: Atomic<*mut T>,
}

// SAFETY: The cell hands out `Arc<T>`s to any thread and drops them on any thread; `T: Send +
// Sync`, as `Arc<T>` needs to be `Send` and `Sync`.
unsafe impl<T: Send + Sync> Send for RcuArc<T> {}
// SAFETY: As above; the pointer is accessed only atomically.
unsafe impl<T: Send + Sync> Sync for RcuArc<T> {}

impl<T: Send + Sync> RcuArc<T> {
    /// An empty cell.
    pub const fn new() -> Self {
        // INVARIANT: Null.
        Self {
            ptr: Atomic::new(core::ptr::null_mut()),
        }
    }

    /// The value now, with a reference of the caller's; `None` if the cell is empty.
    pub fn read(&self) -> Option<Arc<T>> {
        let _guard = rcu::read_lock();
        // Acquire: what the writer initialised before publishing is visible.
        let p = self.ptr.load(ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` came from `Arc::into_raw` and the cell's reference is released only after a
        // grace period that started after `p` was swapped out (type invariant): this read-side
        // critical section, which loaded `p`, holds that grace period off, so the `Arc` is alive
        // until the guard goes, after the new reference below is taken.
        let borrowed = unsafe { ArcBorrow::from_raw(p) };
        Some(borrowed.into())
    }

    /// Makes `new` the value (`None`: empty) and drops the old one once no reader can still be
    /// taking it. Sleeps: process context only.
    pub fn replace(&self, new: Option<Arc<T>>) {
        let p = new.map_or(core::ptr::null_mut(), |a| Arc::into_raw(a).cast_mut());
        // Full: the new value is published (release) and the old one read (acquire) in one step,
        // so concurrent writers each get a distinct old pointer.
        // INVARIANT: `p` is null or from `Arc::into_raw`; the old pointer is released below,
        // after a grace period.
        let old = self.ptr.xchg(p, ordering::Full);
        if old.is_null() {
            return;
        }
        // SAFETY: `synchronize_rcu_expedited()` has no memory-safety requirement (like
        // `rcu::synchronize_rcu()`, which wraps its normal sibling); it sleeps, which callers allow
        // (process context, as documented above).
        unsafe { bindings::synchronize_rcu_expedited() };
        // SAFETY: `old` came from `Arc::into_raw` and its reference was the cell's (type
        // invariant); it is out of the cell, and the grace period has passed, so every reader
        // that loaded it has taken a reference of its own.
        drop(unsafe { Arc::from_raw(old) });
    }
}

impl<T: Send + Sync> Default for RcuArc<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Send + Sync> Drop for RcuArc<T> {
    fn drop(&mut self) {
        // No reader can hold a borrow of the cell while it is dropped; readers that took a value
        // hold their own references.
        let p = self.ptr.load(ordering::Relaxed);
        if !p.is_null() {
            // SAFETY: From `Arc::into_raw`, the cell's reference (type invariant).
            drop(unsafe { Arc::from_raw(p) });
        }
    }
}
