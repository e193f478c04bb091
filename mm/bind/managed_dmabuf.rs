// SPDX-License-Identifier: GPL-2.0

//! dma-bufs of managed memory: buffers that own slots of a managed provider, shared with other
//! drivers' devices, which p2pmm moves to system memory when it needs the room or when the memory
//! goes (`managed_dmabuf_glue.c` has the protocol, and why a buffer rather than a process's
//! range).
//!
//! A [`BufferGate`] belongs to one device memory ([`BufferMemory`]) and is revoked before that
//! memory goes: from then on no buffer reaches it.

use crate::ffi::{
    p2pmm_mbuf_evict, p2pmm_mbuf_export, p2pmm_mbuf_gate_new, p2pmm_mbuf_gate_put,
    p2pmm_mbuf_gate_revoke,
};
use crate::pci_p2p;
use core::ptr::NonNull;
use kernel::{
    error::to_result,
    ffi::{c_int, c_void},
    pci,
    prelude::*,
    uaccess::UserPtr,
};

/// What a [`BufferGate`] needs of the memory whose slots its buffers hold.
pub trait BufferMemory: Sync {
    /// The p2pdma page of the P2P window that holds `slot`'s data, or null (no window, no such
    /// slot).
    fn window_page(&self, slot: u32) -> *mut c_void;

    /// Copies `slot`'s data into `page`.
    ///
    /// # Safety
    ///
    /// `page` is a system page the caller owns; `slot` is one of this memory's slots.
    unsafe fn copy_out(&self, slot: u32, page: *mut c_void);

    /// `slot`, which a buffer held, is free again.
    fn give_back(&self, slot: u32);
}

/// `struct p2pmm_mbuf_mem_ops` of `managed_dmabuf_glue.h`.
#[repr(C)]
struct MemOps {
    window_page: unsafe extern "C" fn(*const c_void, u32) -> *mut c_void,
    copy_out: unsafe extern "C" fn(*const c_void, u32, *mut c_void),
    give_back: unsafe extern "C" fn(*const c_void, u32),
}

/// The operations of a gate over memory of type `M`.
struct Ops<M>(core::marker::PhantomData<M>);

impl<M: BufferMemory> Ops<M> {
    const OPS: MemOps = MemOps {
        window_page: Self::window_page,
        copy_out: Self::copy_out,
        give_back: Self::give_back,
    };

    /// # Safety
    ///
    /// `mem` is the `M` a gate was made for, live (its gate is not revoked).
    unsafe extern "C" fn window_page(mem: *const c_void, slot: u32) -> *mut c_void {
        // SAFETY: The caller's promise.
        unsafe { &*mem.cast::<M>() }.window_page(slot)
    }

    /// # Safety
    ///
    /// As for [`Self::window_page`]; `page` is a system page the caller owns and `slot` a slot of
    /// a buffer.
    unsafe extern "C" fn copy_out(mem: *const c_void, slot: u32, page: *mut c_void) {
        // SAFETY: The caller's promise.
        unsafe { (*mem.cast::<M>()).copy_out(slot, page) }
    }

    /// # Safety
    ///
    /// As for [`Self::window_page`].
    unsafe extern "C" fn give_back(mem: *const c_void, slot: u32) {
        // SAFETY: The caller's promise.
        unsafe { &*mem.cast::<M>() }.give_back(slot)
    }
}

/// The dma-bufs of one device memory, and their revocation.
///
/// # Invariants
///
/// `ptr` is a live `struct p2pmm_mbuf_gate` on which this value holds one reference, made for a
/// memory that stays live until the gate is revoked.
pub struct BufferGate {
    ptr: NonNull<c_void>,
}

// SAFETY: The glue's gate is used from any thread under its own locks.
unsafe impl Send for BufferGate {}
// SAFETY: See `Send`.
unsafe impl Sync for BufferGate {}

impl BufferGate {
    /// An open gate for the buffers of `mem`, memory of `pdev`.
    ///
    /// # Safety
    ///
    /// `mem` stays live, at the same address, until [`BufferGate::revoke`] has returned.
    pub unsafe fn new<M: BufferMemory>(pdev: &pci::Device, mem: *const M) -> Result<Self> {
        // SAFETY: `pdev` is live (the glue takes its own reference); `mem` as the caller promises;
        // the operations are a constant. A non-null result carries one reference, now ours.
        let ptr = unsafe {
            p2pmm_mbuf_gate_new(
                pci_p2p::raw(pdev),
                mem.cast(),
                core::ptr::from_ref(&Ops::<M>::OPS).cast(),
            )
        };
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }

    /// Exports `slots` as a dma-buf named after provider `id` and stores its new file descriptor
    /// (close-on-exec with `cloexec`) at `fd_out`, a user address; the descriptor is installed
    /// only once it is stored (`EFAULT` otherwise). On success the dma-buf owns the slots; on
    /// failure the caller still does.
    ///
    /// # Safety
    ///
    /// `slots` are distinct slots of the gate's memory, reserved by the caller and holding no page,
    /// their data zeroed.
    pub unsafe fn export(&self, id: u32, slots: &[u32], cloexec: bool, fd_out: UserPtr) -> Result {
        let n = u32::try_from(slots.len()).map_err(|_| EINVAL)?;
        // SAFETY: `ptr` is live (type invariant), the slots as the caller promises (the glue copies
        // them); `fd_out` is a user address the glue writes with `put_user()`.
        to_result(unsafe {
            p2pmm_mbuf_export(
                self.ptr.as_ptr(),
                id,
                slots.as_ptr(),
                n,
                cloexec,
                fd_out.as_mut_ptr().cast::<c_int>(),
            )
        })
    }

    /// Moves unpinned buffers to system memory, least recently mapped first, until `want` pages
    /// went or each was tried. Returns the pages moved and the pages of pinned buffers passed over.
    pub fn evict(&self, want: usize) -> (usize, u64) {
        let mut pinned = 0u64;
        // SAFETY: `ptr` is live (type invariant); the memory is live while the gate is not
        // revoked, and a revoked gate has no buffer left to evict.
        let moved = unsafe { p2pmm_mbuf_evict(self.ptr.as_ptr(), want as u64, &mut pinned) };
        (moved as usize, pinned)
    }

    /// Moves every buffer to system memory, pinned ones too, and waits until each importer has
    /// unmapped the memory; later buffers' releases leave it alone.
    pub fn revoke(&self) {
        // SAFETY: `ptr` is live (type invariant); the call sleeps, which a revocation may.
        unsafe { p2pmm_mbuf_gate_revoke(self.ptr.as_ptr()) }
    }
}

impl Drop for BufferGate {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant); buffers hold their own.
        unsafe { p2pmm_mbuf_gate_put(self.ptr.as_ptr()) }
    }
}
