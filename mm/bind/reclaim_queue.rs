// SPDX-License-Identifier: GPL-2.0

//! The workqueue background reclaim runs on (`reclaim.rs`): `p2pmm_reclaim`, unbound and
//! `WQ_MEM_RECLAIM`, created by the C glue (`p2pmm_glue.c`: `kernel::workqueue` can queue work on a
//! workqueue but not create one) when [`ReclaimQueue::new`] runs at module init, and destroyed,
//! after the work queued on it, when the [`ReclaimQueue`] is dropped at module exit.
//!
//! The module drops it after its drivers have unregistered their providers (other modules'
//! providers went when those modules did), so no work is queued on it after that; [`queue`] says
//! `None` before and after.

use crate::ffi::{p2pmm_reclaim_wq, p2pmm_reclaim_wq_create, p2pmm_reclaim_wq_destroy};
use kernel::{error::to_result, prelude::*, workqueue::Queue};

/// p2pmm's reclaim workqueue; destroyed (after the work in progress) when dropped.
///
/// # Examples
///
/// Kept in the module's state, and dropped after the drivers whose providers queue work on it
/// (compile-only: there is one reclaim queue, which p2pmm.ko creates at init; the glue keeps it in
/// a global that a second one would overwrite).
///
/// ```no_run
/// use crate::reclaim_queue::{self, ReclaimQueue};
///
/// let q = ReclaimQueue::new()?;
/// assert!(reclaim_queue::queue().is_some());
/// drop(q);
/// assert!(reclaim_queue::queue().is_none());
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// The glue's workqueue exists while this does.
pub struct ReclaimQueue(());

impl ReclaimQueue {
    /// Creates the workqueue (module init, once).
    pub fn new() -> Result<Self> {
        // SAFETY: Creates the one workqueue; `Drop` destroys it. Module init calls this once.
        to_result(unsafe { p2pmm_reclaim_wq_create() })?;
        // INVARIANT: created above.
        Ok(Self(()))
    }
}

impl Drop for ReclaimQueue {
    fn drop(&mut self) {
        // SAFETY: The workqueue exists (type invariant); no provider of p2pmm's is left to queue
        // work on it (see the file comment), and destroying waits for the work already queued.
        unsafe { p2pmm_reclaim_wq_destroy() };
    }
}

/// The reclaim workqueue, `None` outside the module's lifetime (before init, after exit).
pub fn queue() -> Option<&'static Queue> {
    // SAFETY: No arguments; reads the glue's pointer.
    let wq = unsafe { p2pmm_reclaim_wq() };
    if wq.is_null() {
        return None;
    }
    // SAFETY: A live workqueue, which stays so while any provider can queue work on it (see the
    // file comment: it is destroyed only after every managed provider is gone).
    Some(unsafe { Queue::from_raw(wq.cast()) })
}
