// SPDX-License-Identifier: GPL-2.0

//! Userspace mappings of static (p2pdma) memory, and their revocation.
//!
//! A mapping gets its memory whole when it is made ([`map`]), but a page is mapped into the process
//! only when it is first touched, by the fault handler, behind the provider's [`Gate`]. Revoking
//! the provider ([`Gate::revoke`]) shuts the gate (waiting for a fault that is mapping a page),
//! then unmaps every mapping made through it and gives their memory back: a later access raises
//! `SIGBUS`, and p2pdma's teardown waits for nothing of theirs. So a mapping set up while the
//! provider is revoked maps nothing it could keep (`static_map_glue.c` says why inserting the pages
//! at `mmap` could not be made safe).
//!
//! A range of a mapping can be exported as a dma-buf ([`export_dmabuf`]) that holds its memory
//! like the mapping does; revoking the provider revokes the dma-buf first, and waits until every
//! importer unmapped it (`static_dmabuf_glue.c`).

use crate::dmem::Region;
use crate::ffi::{
    p2pmm_static_dmabuf_export, p2pmm_static_gate_new, p2pmm_static_gate_put,
    p2pmm_static_gate_revoke, p2pmm_static_gate_set_id, p2pmm_static_mmap,
};
use crate::pci_p2p;
use core::ptr::NonNull;
use kernel::{
    error::to_result,
    ffi::{c_int, c_void},
    mm::virt::VmaNew,
    pci,
    prelude::*,
    uaccess::UserPtr,
};

/// The revoke gate of one static provider: open until [`Gate::revoke`].
///
/// # Invariants
///
/// `ptr` is a live `struct p2pmm_static_gate` on which this value holds one reference.
///
/// # Examples
///
/// A gate shuts once, and a second revocation finds nothing more to do.
///
/// ```
/// use crate::static_map::Gate;
///
/// let gate = Gate::new()?;
/// gate.set_id(1);
/// gate.revoke();
/// gate.revoke();
/// # Ok::<(), Error>(())
/// ```
pub struct Gate {
    ptr: NonNull<c_void>,
}

// SAFETY: The glue's gate is used from any thread under its own locks.
unsafe impl Send for Gate {}
// SAFETY: See `Send`.
unsafe impl Sync for Gate {}

impl Gate {
    /// An open gate.
    pub fn new() -> Result<Self> {
        // SAFETY: Plain allocation; a non-null result carries one reference, now ours.
        let ptr = NonNull::new(unsafe { p2pmm_static_gate_new() }).ok_or(ENOMEM)?;
        Ok(Self { ptr })
    }

    /// Tells the gate its provider's id, which names the dma-bufs exported through it.
    pub fn set_id(&self, id: u32) {
        // SAFETY: `ptr` is live (type invariant); the id is a plain value the glue stores.
        unsafe { p2pmm_static_gate_set_id(self.ptr.as_ptr(), id) }
    }

    /// Shuts the gate: waits for a fault that is mapping a page, revokes the dma-bufs exported
    /// from its mappings (waiting until their importers unmapped them), unmaps every mapping made
    /// through the gate and gives their memory and dmem charges back. New mappings and exports fail
    /// with `ENODEV`.
    pub fn revoke(&self) {
        // SAFETY: `ptr` is live (type invariant); the call sleeps, which a revocation may.
        unsafe { p2pmm_static_gate_revoke(self.ptr.as_ptr()) }
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        // SAFETY: We own one reference (type invariant); mappings hold their own.
        unsafe { p2pmm_static_gate_put(self.ptr.as_ptr()) }
    }
}

/// Sets up `vma` (a new shared mapping; `EINVAL` for a private one) as static memory of `pdev`
/// behind `gate`: memory of its length is allocated now (`ENOMEM` when the pool has no room,
/// `ENODEV` when it has no pool any more or the gate is shut) and charged to the caller's cgroup in
/// `region` (`ENOMEM` over its `dmem.max`); its pages are mapped as they are touched. With
/// `own_file` the mapping moves to a file of its own, for a mapping of a sysfs file: kernfs
/// cannot wrap the `vm_ops->close` that gives the memory back, and leaves a mapping whose file
/// changed alone (as it does for `shmem_zero_setup()`).
pub fn map(
    pdev: &pci::Device,
    gate: &Gate,
    region: Option<&Region>,
    vma: &VmaNew,
    own_file: bool,
) -> Result {
    let region = region.map_or(core::ptr::null_mut(), Region::as_raw);
    // SAFETY: `pdev` is live (we hold a reference), `gate` is live (type invariant), `region` is
    // null or a live region; `vma` is a VMA being set up by `mmap`, with the mmap lock held, whose
    // flags, `vm_ops`, private data and file are ours to set until `mmap` returns.
    to_result(unsafe {
        p2pmm_static_mmap(
            pci_p2p::raw(pdev),
            gate.ptr.as_ptr(),
            region,
            vma.as_ptr().cast(),
            own_file,
        )
    })
}

/// Exports `len` bytes at `addr` of the calling process's static memory as a dma-buf and stores
/// its new file descriptor (close-on-exec with `cloexec`) at `fd_out`, a user address; the
/// descriptor is installed only once it is stored (`EFAULT` otherwise, and nothing installed). The
/// range must be page-aligned (the caller checks it) and lie in one writable VMA of a static
/// mapping: `ENOMEM` if part of it is not mapped, `EINVAL` if it spans VMAs, `EOPNOTSUPP` for
/// memory that is not static memory, `EACCES` for a read-only mapping, `ENODEV` once the provider
/// is revoked.
pub fn export_dmabuf(addr: usize, len: usize, cloexec: bool, fd_out: UserPtr) -> Result {
    // SAFETY: Plain values and a user address, which the glue writes with `put_user()` (checked);
    // it looks the range up in the caller's address space under its mmap lock and takes its own
    // references on what it keeps.
    to_result(unsafe {
        p2pmm_static_dmabuf_export(addr, len, cloexec, fd_out.as_mut_ptr().cast::<c_int>())
    })
}
