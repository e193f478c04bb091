// SPDX-License-Identifier: GPL-2.0

//! The kernel's device memory cgroup controller (`kernel/cgroup/dmem.c`): regions, charges and
//! eviction protection, as TTM uses them.
//!
//! Each provider registers a [`Region`] named after its device (`p2pmm/<pci name>/static` or
//! `.../managed`); an administrator limits and protects a cgroup's use of it through `dmem.max`,
//! `dmem.min` and `dmem.low`, and reads it in `dmem.current`. A [`Charge`] is memory charged to
//! the caller's cgroup in a region; it is uncharged when dropped. Static mappings are charged for
//! their whole length when they are made (`static_map.rs`); managed pages one at a time, kept in
//! [`PageCharges`] per cgroup.
//!
//! Without `CONFIG_CGROUP_DMEM` there are no regions ([`Region::register`] gives `None`) and
//! nothing is charged.

use crate::ffi::{
    p2pmm_dmem_current_group, p2pmm_dmem_evict_valuable, p2pmm_dmem_pool_put, p2pmm_dmem_register,
    p2pmm_dmem_revoke_vmas, p2pmm_dmem_try_charge, p2pmm_dmem_uncharge, p2pmm_dmem_unregister,
};
use core::{mem::ManuallyDrop, ptr::NonNull};
use kernel::{
    error::to_result,
    ffi::{c_int, c_void},
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

const PAGE_SIZE: u64 = kernel::page::PAGE_SIZE as u64;

/// A dmem cgroup region.
///
/// # Invariants
///
/// `ptr` is a live region of the glue (`struct p2pmm_dmem_region`), owned by this value, whose
/// reclaim callbacks (if any) get `hook`.
pub struct Region {
    ptr: NonNull<c_void>,
    hook: Option<KBox<ReclaimHook>>,
}

/// What an administrator lowering a cgroup's `dmem.max` below its usage in a region calls:
/// `reclaim(key, limit, bytes)` should free at least `bytes` of the cgroup's (`limit`'s) memory in
/// the region, and fail with `ENOSPC` when it can free nothing. `key` is what
/// [`Region::set_key`] said.
pub type Reclaim = fn(u32, &Limit, u64) -> Result;

/// The reclaim callback of a region and the key it is called with.
struct ReclaimHook {
    reclaim: Reclaim,
    key: Atomic<u32>,
}

/// The dmem controller's reclaim callback of a region registered with a [`Reclaim`] (by the C
/// glue's `p2pmm_dmem_reclaim`, in the context of the process that wrote `dmem.max`).
///
/// # Safety
///
/// `hook` is the `ReclaimHook` of a live [`Region`] (the controller drains callbacks before the
/// region's unregistration returns); `pool` is a pool the controller keeps alive for the call.
#[no_mangle]
unsafe extern "C" fn p2pmm_rs_dmem_reclaim(
    pool: *mut c_void,
    bytes: u64,
    hook: *mut c_void,
) -> c_int {
    let Some(pool) = NonNull::new(pool) else {
        return ENOSPC.to_errno();
    };
    // SAFETY: `hook` is the region's hook, alive during the call (the function's safety rules).
    let hook = unsafe { &*hook.cast::<ReclaimHook>() };
    // INVARIANT: Not an owned reference: the controller lends the pool for the call, so the
    // `Limit` is never dropped.
    let limit = ManuallyDrop::new(Limit { pool });
    match (hook.reclaim)(hook.key.load(Relaxed), &limit, bytes) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

// SAFETY: The region is a refcounted kernel object whose functions may be called from any thread.
unsafe impl Send for Region {}
// SAFETY: Every function taking `&Region` is safe to call concurrently (dmem.c locks inside).
unsafe impl Sync for Region {}

/// A dmem cgroup, by its id: the inode number of its directory, never reused (0 when the kernel
/// has no dmem controller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group(u64);

impl Group {
    /// The cgroup id.
    pub fn id(self) -> u64 {
        self.0
    }
}

/// The caller's dmem cgroup.
pub fn current_group() -> Group {
    // SAFETY: Plain call on the current task.
    Group(unsafe { p2pmm_dmem_current_group() })
}

impl Region {
    /// Registers region `name` of `size` bytes; `None` when the kernel has no dmem controller.
    ///
    /// # Examples
    ///
    /// ```
    /// use crate::dmem::Region;
    ///
    /// let Some(r) = Region::register(1 << 20, c"p2pmm/doctest/static")? else {
    ///     return Ok(());
    /// };
    /// let c = r.try_charge(4096).map_err(|_| EAGAIN)?;
    /// assert_eq!(c.bytes(), 4096);
    /// // Uncharged when dropped; a charge may outlive its region.
    /// drop(r);
    /// drop(c);
    /// Ok::<(), Error>(())
    /// ```
    pub fn register(size: u64, name: &CStr) -> Result<Option<Region>> {
        Self::register_with(size, name, None)
    }

    /// [`Region::register`], with `reclaim` called when an administrator lowers a cgroup's
    /// `dmem.max` below what it holds in the region (else the controller only stops new charges).
    pub fn register_with(
        size: u64,
        name: &CStr,
        reclaim: Option<Reclaim>,
    ) -> Result<Option<Region>> {
        let hook = match reclaim {
            Some(reclaim) => Some(KBox::new(
                ReclaimHook {
                    reclaim,
                    key: Atomic::new(0),
                },
                GFP_KERNEL,
            )?),
            None => None,
        };
        let hook_ptr = hook.as_ref().map_or(core::ptr::null_mut(), |h| {
            core::ptr::from_ref::<ReclaimHook>(h).cast_mut().cast()
        });
        let mut err = 0;
        // SAFETY: `name` is a NUL-terminated string that the glue copies; `hook_ptr` is null or a
        // hook that the region we return owns and frees only after unregistering.
        let r = unsafe { p2pmm_dmem_register(size, name.as_char_ptr(), hook_ptr, &mut err) };
        to_result(err)?;
        // INVARIANT: A non-null result is a new region that we own, calling back with `hook`.
        Ok(NonNull::new(r).map(|ptr| Region { ptr, hook }))
    }

    /// The key the region's [`Reclaim`] callback gets from now on.
    pub fn set_key(&self, key: u32) {
        if let Some(h) = &self.hook {
            h.key.store(key, Relaxed);
        }
    }

    /// Charges `bytes` to the caller's cgroup. Over a limit, [`ChargeError::Limited`] names the
    /// cgroup whose limit it is, for the caller to evict from.
    pub fn try_charge(&self, bytes: u64) -> core::result::Result<Charge, ChargeError> {
        let group = current_group();
        let mut pool = core::ptr::null_mut();
        let mut limit = core::ptr::null_mut();
        // SAFETY: `self.ptr` is live (type invariant); the out pointers are valid.
        let ret = unsafe { p2pmm_dmem_try_charge(self.ptr.as_ptr(), bytes, &mut pool, &mut limit) };
        if ret == EAGAIN.to_errno() {
            // INVARIANT: dmem gave us a reference on the limiting pool, if any.
            return Err(ChargeError::Limited(
                NonNull::new(limit).map(|pool| Limit { pool }),
            ));
        }
        to_result(ret).map_err(ChargeError::Failed)?;
        match NonNull::new(pool) {
            // INVARIANT: A successful charge of `bytes` holds one reference on `pool`.
            Some(pool) => Ok(Charge { pool, bytes, group }),
            None => Err(ChargeError::Failed(EINVAL)),
        }
    }

    /// The region for the static-mapping glue (`static_map.rs`), which charges mappings to it.
    pub(crate) fn as_raw(&self) -> *mut c_void {
        self.ptr.as_ptr().cast()
    }

    /// Uncharges every static mapping of this region (its memory is revoked or gone).
    pub fn revoke_vmas(&self) {
        // SAFETY: `self.ptr` is live (type invariant).
        unsafe { p2pmm_dmem_revoke_vmas(self.ptr.as_ptr()) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `self.ptr` is live and ours (type invariant); nothing uses it after this. The
        // controller drains reclaim callbacks before this returns, so `hook` (dropped after this
        // function) is no longer in use then.
        unsafe { p2pmm_dmem_unregister(self.ptr.as_ptr()) }
    }
}

/// Why a charge failed.
pub enum ChargeError {
    /// Over the `dmem.max` of this cgroup (`None`: of one the controller does not name).
    Limited(Option<Limit>),
    /// Anything else (no memory for the controller's bookkeeping, a region going away).
    Failed(Error),
}

/// The cgroup whose `dmem.max` a charge hit, or that the controller asks a [`Reclaim`] to free
/// memory of.
///
/// # Invariants
///
/// Holds one reference on the pool `pool`, except the one a reclaim callback lends (inside a
/// `ManuallyDrop`, never dropped).
pub struct Limit {
    pool: NonNull<c_void>,
}

// SAFETY: A pool reference may be dropped and used on any thread.
unsafe impl Send for Limit {}
// SAFETY: The functions taking `&Limit` only read through dmem.c's own synchronisation.
unsafe impl Sync for Limit {}

impl Drop for Limit {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant).
        unsafe { p2pmm_dmem_pool_put(self.pool.as_ptr()) }
    }
}

/// Memory charged to a cgroup in a region.
///
/// # Invariants
///
/// `bytes` are charged to `pool`, with one reference on it that this value owns.
pub struct Charge {
    pool: NonNull<c_void>,
    bytes: u64,
    group: Group,
}

// SAFETY: A charge may be uncharged from any thread and context.
unsafe impl Send for Charge {}
// SAFETY: `&Charge` only reads plain fields.
unsafe impl Sync for Charge {}

impl Charge {
    /// The bytes charged.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The cgroup charged.
    pub fn group(&self) -> Group {
        self.group
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        // SAFETY: `bytes` are charged to `pool` with a reference we own (type invariant).
        unsafe { p2pmm_dmem_uncharge(self.pool.as_ptr(), self.bytes) }
    }
}

/// Pages charged one at a time to one cgroup in one region (a managed provider's pages of one
/// tenant).
///
/// # Invariants
///
/// `pages` pages are charged to `pool`, each with its own reference, all owned by this value;
/// `pages > 0` except transiently inside a method.
pub struct PageCharges {
    pool: NonNull<c_void>,
    pages: u32,
    group: Group,
}

// SAFETY: As for `Charge`.
unsafe impl Send for PageCharges {}
// SAFETY: As for `Charge`.
unsafe impl Sync for PageCharges {}

impl PageCharges {
    /// The charges of one page, `c` (which must be of one page: else it is handed back).
    pub fn new(c: Charge) -> core::result::Result<PageCharges, Charge> {
        if c.bytes != PAGE_SIZE {
            return Err(c);
        }
        let c = core::mem::ManuallyDrop::new(c);
        // INVARIANT: The page charge and its reference move from `c`, which is not dropped.
        Ok(PageCharges {
            pool: c.pool,
            pages: 1,
            group: c.group,
        })
    }

    /// Adds the charge of one page, `c`, if it is of this cgroup and region (else hands it back).
    pub fn add(&mut self, c: Charge) -> core::result::Result<(), Charge> {
        if c.pool != self.pool || c.bytes != PAGE_SIZE || self.pages == u32::MAX {
            return Err(c);
        }
        // INVARIANT: The page charge and its reference move from `c`, which is not dropped.
        core::mem::forget(c);
        self.pages += 1;
        Ok(())
    }

    /// Uncharges one page; returns `false` once none is left (and `self` should be dropped).
    pub fn release_one(&mut self) -> bool {
        if self.pages == 0 {
            return false;
        }
        self.pages -= 1;
        // SAFETY: One page was charged to `pool` with a reference of its own (type invariant).
        unsafe { p2pmm_dmem_uncharge(self.pool.as_ptr(), PAGE_SIZE) };
        self.pages > 0
    }

    /// The pages charged.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// The cgroup charged.
    pub fn group(&self) -> Group {
        self.group
    }

    /// Whether these pages may be evicted: when the cgroup's limit `limit` was hit, only pages
    /// below it; otherwise (`None`) unless the cgroup is within its `dmem.min`, or within its
    /// `dmem.low` when `ignore_low` is false (then `hit_low` is set: a second pass ignoring `low`
    /// may find more).
    pub fn evictable(&self, limit: Option<&Limit>, ignore_low: bool, hit_low: &mut bool) -> bool {
        let limit = limit.map_or(core::ptr::null_mut(), |l| l.pool.as_ptr());
        // SAFETY: `self.pool` and `limit` (if not null) are live pools we hold references on.
        unsafe { p2pmm_dmem_evict_valuable(limit, self.pool.as_ptr(), ignore_low, hit_low) }
    }
}

impl Drop for PageCharges {
    fn drop(&mut self) {
        while self.release_one() {}
    }
}
