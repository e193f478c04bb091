// SPDX-License-Identifier: GPL-2.0

//! Every C glue function the Rust side of p2pmm calls, declared once. The C side is the `*_glue.c`
//! file next to the binding that uses each function (`mm/bind/`, `mm/p2pmm_glue.c`,
//! `mm/trace_glue.c`); the rules for calling one are in that binding. `struct pci_dev`, `struct
//! page` and the like are `void *` here: they hold zero-sized arrays that rustc's FFI-safety lint
//! rejects, and the bindings cast to and from their own types.
//!
//! The declarations are `pub`: Rust drivers on this crate reach the glue through the bindings'
//! generic and inlined code (Kbuild exports each function), and each is documented where it is
//! defined and where it is used, as `kernel::bindings` is.
#![allow(missing_docs)]

use kernel::ffi::{c_char, c_int, c_ulong, c_void};

extern "C" {
    // bar_devmem.rs
    pub fn p2pmm_devmem_add(
        pgmap: *mut c_void,
        size: c_ulong,
        ops: *const c_void,
        owner: *mut c_void,
        first_pfn: *mut c_ulong,
    ) -> i32;
    pub fn p2pmm_devmem_remove(pgmap: *mut c_void);
    pub fn p2pmm_page_pgmap(page: *mut c_void) -> *mut c_void;
    pub fn p2pmm_page_to_pfn(page: *mut c_void) -> c_ulong;
    pub fn p2pmm_pfn_to_page(pfn: c_ulong) -> *mut c_void;
    pub fn p2pmm_folio_page(folio: *mut c_void) -> *mut c_void;
    pub fn p2pmm_devpage_init(dpage: *mut c_void, backing: *mut c_void, order: u32);
    pub fn p2pmm_vmf_page(vmf: *mut c_void) -> *mut c_void;
    pub fn p2pmm_vmf_vma(vmf: *mut c_void) -> *mut c_void;
    pub fn p2pmm_vmf_address(vmf: *mut c_void) -> c_ulong;
    pub fn p2pmm_vm_fault_oom() -> u32;
    pub fn p2pmm_vm_fault_sigbus() -> u32;
    pub fn p2pmm_bar_map(pdev: *mut c_void, bar: c_int, offset: u64, len: u64) -> *mut c_void;
    pub fn p2pmm_bar_unmap(pdev: *mut c_void, addr: *mut c_void);
    pub fn p2pmm_bar_copy_from_page(dst: *mut c_void, src: *mut c_void);
    pub fn p2pmm_bar_zero(dst: *mut c_void);
    pub fn p2pmm_bar_copy_to_page(dst: *mut c_void, src: *mut c_void);
    pub fn p2pmm_bar_copy_bar(dst: *mut c_void, src: *mut c_void);
    pub fn p2pmm_devpage_folio(pfn: c_ulong, order: *mut u32) -> c_ulong;
    pub fn p2pmm_alloc_page_locked(order: u32) -> *mut c_void;
    pub fn p2pmm_p2p_window_alloc(
        pdev: *mut c_void,
        bar: c_int,
        size: u64,
        offset: u64,
        err: *mut c_int,
    ) -> *mut c_void;
    pub fn p2pmm_p2p_window_free(pdev: *mut c_void, kaddr: *mut c_void, size: u64);
    pub fn p2pmm_kaddr_page(kaddr: *mut c_void) -> *mut c_void;
    // block_io.rs
    pub fn p2pmm_bdev_check(file: *mut c_void, to_device: bool) -> i32;
    pub fn p2pmm_bdev_block_size(file: *mut c_void) -> u32;
    pub fn p2pmm_bdev_bytes(file: *mut c_void) -> u64;
    pub fn p2pmm_bdev_p2pdma(file: *mut c_void) -> bool;
    pub fn p2pmm_bdev_pci_dev(file: *mut c_void) -> *mut c_void;
    pub fn p2pmm_bdev_prepare(file: *mut c_void, pos: u64, len: u64, to_device: bool) -> i32;
    pub fn p2pmm_bdev_finish(file: *mut c_void, pos: u64, len: u64, to_device: bool);
    pub fn p2pmm_bio_batch_new(file: *mut c_void, to_device: bool, pos: u64) -> *mut c_void;
    pub fn p2pmm_bio_batch_add(batch: *mut c_void, page: *mut c_void, off: u32, len: u32) -> i32;
    pub fn p2pmm_bio_batch_finish(batch: *mut c_void) -> i32;
    pub fn p2pmm_bounce_alloc() -> *mut c_void;
    pub fn p2pmm_bounce_free(page: *mut c_void);
    pub fn p2pmm_page_dirty(page: *mut c_void);
    pub fn p2pmm_noio_save() -> u32;
    pub fn p2pmm_noio_restore(flags: u32);
    pub fn p2pmm_fence_new() -> *mut c_void;
    pub fn p2pmm_fence_free(fence: *mut c_void);
    pub fn p2pmm_fence_arm(fence: *mut c_void);
    pub fn p2pmm_fence_signal(fence: *mut c_void);
    pub fn p2pmm_fence_wait(fence: *mut c_void, report_ms: u32, late: *mut u64) -> u64;
    // devmem.rs
    pub fn p2pmm_devpage_backing(dpage: *mut c_void) -> *mut c_void;
    pub fn p2pmm_devpage_clear(dpage: *mut c_void);
    pub fn p2pmm_copy_page(dst: *mut c_void, src: *mut c_void);
    pub fn p2pmm_alloc_backing(order: u32) -> *mut c_void;
    pub fn p2pmm_free_pages(page: *mut c_void, order: u32);
    pub fn p2pmm_page_folio_order(page: *mut c_void) -> u32;
    pub fn p2pmm_devmem_split_backing(head: *mut c_void, tail: *mut c_void);
    pub fn p2pmm_vmf_has_pte(vmf: *mut c_void) -> bool;
    // dmem.rs
    pub fn p2pmm_dmem_register(
        size: u64,
        name: *const c_char,
        hook: *mut c_void,
        err: *mut c_int,
    ) -> *mut c_void;
    pub fn p2pmm_dmem_unregister(r: *mut c_void);
    pub fn p2pmm_dmem_try_charge(
        r: *mut c_void,
        size: u64,
        pool: *mut *mut c_void,
        limit: *mut *mut c_void,
    ) -> c_int;
    pub fn p2pmm_dmem_uncharge(pool: *mut c_void, size: u64);
    pub fn p2pmm_dmem_pool_put(pool: *mut c_void);
    pub fn p2pmm_dmem_evict_valuable(
        limit: *mut c_void,
        test: *mut c_void,
        ignore_low: bool,
        hit_low: *mut bool,
    ) -> bool;
    pub fn p2pmm_dmem_current_group() -> u64;
    pub fn p2pmm_dmem_revoke_vmas(r: *mut c_void);
    // exclusive.rs
    pub fn p2pmm_make_device_exclusive(
        mm: *mut c_void,
        addr: usize,
        owner: *mut c_void,
        folio: *mut *mut c_void,
    ) -> *mut c_void;
    pub fn p2pmm_folio_unlock_put(folio: *mut c_void);
    // hmm.rs
    pub fn p2pmm_hmm_range_fault(
        sub: *mut c_void,
        seq: c_ulong,
        start: c_ulong,
        end: c_ulong,
        pfns: *mut c_ulong,
        default_flags: c_ulong,
        owner: *mut c_void,
    ) -> i32;
    pub fn p2pmm_hmm_range_fault_unlocked(
        sub: *mut c_void,
        seq: *mut c_ulong,
        start: c_ulong,
        end: c_ulong,
        pfns: *mut c_ulong,
        default_flags: c_ulong,
        owner: *mut c_void,
        timeout_ms: c_ulong,
    ) -> i32;
    pub fn p2pmm_hmm_pfn_to_page(hmm_pfn: c_ulong) -> *mut c_void;
    pub fn p2pmm_hmm_pfn_to_map_order(hmm_pfn: c_ulong) -> u32;
    pub fn p2pmm_page_is_zero(page: *mut c_void) -> bool;
    pub fn p2pmm_page_is_device_private(page: *mut c_void) -> bool;
    pub fn p2pmm_page_pgmap_owner(page: *mut c_void) -> *mut c_void;
    pub fn p2pmm_pmd_order() -> u32;
    pub fn p2pmm_pud_order() -> u32;
    // kunit_mm.rs
    pub fn p2pmm_kunit_mmap(len: c_ulong, writable: bool, err: *mut c_int) -> c_ulong;
    pub fn p2pmm_kunit_munmap(addr: c_ulong, len: c_ulong) -> c_int;
    pub fn p2pmm_kunit_skip(reason: *const c_char);
    // migrate.rs
    pub fn p2pmm_migrate_alloc(npages: c_ulong) -> *mut c_void;
    pub fn p2pmm_migrate_free(m: *mut c_void);
    pub fn p2pmm_migrate_src(m: *mut c_void) -> *mut c_ulong;
    pub fn p2pmm_migrate_dst(m: *mut c_void) -> *mut c_ulong;
    pub fn p2pmm_migrate_vma_setup(
        m: *mut c_void,
        vma: *mut c_void,
        start: c_ulong,
        end: c_ulong,
        owner: *mut c_void,
        flags: c_ulong,
        fault_page: *mut c_void,
    ) -> i32;
    pub fn p2pmm_migrate_vma_pages(m: *mut c_void);
    pub fn p2pmm_migrate_vma_finalize(m: *mut c_void);
    pub fn p2pmm_migrate_device_range(
        src: *mut c_ulong,
        start_pfn: c_ulong,
        npages: c_ulong,
    ) -> i32;
    pub fn p2pmm_migrate_device_pfns(src: *mut c_ulong, npages: c_ulong) -> i32;
    pub fn p2pmm_migrate_device_pages(src: *mut c_ulong, dst: *mut c_ulong, npages: c_ulong);
    pub fn p2pmm_migrate_device_finalize(src: *mut c_ulong, dst: *mut c_ulong, npages: c_ulong);
    pub fn p2pmm_alloc_page_vma_locked(vma: *mut c_void, addr: c_ulong, order: u32) -> *mut c_void;
    pub fn p2pmm_unlock_free_pages(page: *mut c_void, order: u32);
    pub fn p2pmm_migrate_select_system() -> c_ulong;
    pub fn p2pmm_migrate_select_device_private() -> c_ulong;
    pub fn p2pmm_migrate_select_compound() -> c_ulong;
    pub fn p2pmm_nth_page(page: *mut c_void, n: c_ulong) -> *mut c_void;
    pub fn p2pmm_clear_page(page: *mut c_void);
    // mirror_table.rs
    pub fn p2pmm_copy_from_page(dst: *mut c_void, page: *mut c_void);
    pub fn p2pmm_copy_to_page(page: *mut c_void, src: *const c_void);
    pub fn p2pmm_nth_page_back(page: *mut c_void, n: c_ulong) -> *mut c_void;
    pub fn p2pmm_get_page(page: *mut c_void);
    pub fn p2pmm_put_page(page: *mut c_void);
    pub fn p2pmm_copy_page_to_user(dst: *mut c_void, page: *mut c_void) -> c_ulong;
    // notifier.rs
    pub fn p2pmm_range_blockable(range: *const c_void) -> bool;
    pub fn p2pmm_interval_set_seq(sub: *mut c_void, cur_seq: c_ulong);
    pub fn p2pmm_interval_read_retry(sub: *mut c_void, seq: c_ulong) -> bool;
    pub fn p2pmm_trace_invalidate_start(
        start: c_ulong,
        end: c_ulong,
        event: u32,
        owner: c_ulong,
        two_pass: bool,
    );
    pub fn p2pmm_trace_invalidate_finish(start: c_ulong, end: c_ulong, deferred: bool);
    // pci_p2p.rs
    pub fn p2pmm_p2p_add_resource(pdev: *mut c_void, bar: c_int, size: u64, offset: u64) -> c_int;
    pub fn p2pmm_p2p_publish(pdev: *mut c_void, publish: bool);
    pub fn p2pmm_p2p_has_mem(pdev: *mut c_void, size: *mut u64, avail: *mut u64) -> bool;
    pub fn p2pmm_p2p_route(provider: *mut c_void, client: *mut c_void, out: *mut c_void);
    pub fn p2pmm_pci_get(domain: u32, bus: u32, devfn: u32) -> *mut c_void;
    pub fn p2pmm_pci_next(from: *mut c_void) -> *mut c_void;
    pub fn p2pmm_pci_owns_p2pdma_pfn(pdev: *mut c_void, pfn: usize) -> bool;
    pub fn p2pmm_pid_mm(nr: c_int, err: *mut c_int) -> *mut c_void;
    pub fn p2pmm_current_tgid() -> c_int;
    pub fn p2pmm_p2p_watch_unbind(
        unbinding: unsafe extern "C" fn(*mut c_void),
        unbound: unsafe extern "C" fn(*mut c_void),
    ) -> c_int;
    pub fn p2pmm_p2p_unwatch_unbind();
    pub fn p2pmm_pci_name(pdev: *mut c_void) -> *const c_char;
    // reclaim.rs
    pub fn p2pmm_reclaim_wq_create() -> c_int;
    pub fn p2pmm_reclaim_wq_destroy();
    pub fn p2pmm_reclaim_wq() -> *mut c_void;
    // sysfs.rs
    pub fn p2pmm_sysfs_init(
        provider_show: unsafe extern "C" fn(u32, u32, *mut c_char) -> isize,
        provider_store: unsafe extern "C" fn(u32, u32, *const c_char, usize) -> isize,
        routes_show: unsafe extern "C" fn(*mut c_char) -> isize,
        provider_mmap: unsafe extern "C" fn(u32, *mut c_void) -> c_int,
    ) -> c_int;
    pub fn p2pmm_sysfs_exit();
    pub fn p2pmm_sysfs_add_provider(id: u32, device: *const c_char, managed: bool) -> *mut c_void;
    pub fn p2pmm_sysfs_remove_provider(k: *mut c_void);
    // trace.rs
    pub fn p2pmm_trace_migrate(target: u32, start: usize, end: usize, migrated: u64, evicted: u64);
    pub fn p2pmm_trace_evict(provider: u32, to: u32, picked: u32, evicted: u32);
    pub fn p2pmm_trace_evict_cgroup(provider: u32, cgroup: u64, pages: u32);
    pub fn p2pmm_trace_reclaim(provider: u32, free_before: u32, free_after: u32, evicted: u64);
    pub fn p2pmm_trace_thrash(provider: u32, start: u64, moves: u32, backoff_us: u64);
    pub fn p2pmm_trace_route(
        provider: u32,
        client: *const c_char,
        verdict: u32,
        plan: u32,
        reason: u32,
        distance: i32,
    );
    pub fn p2pmm_trace_revoke(provider: u32, device: *const c_char);
    pub fn p2pmm_trace_blkio(
        to_device: bool,
        pos: u64,
        len: u64,
        p2p: u64,
        system: u64,
        bounce: u64,
        retries: u64,
    );
    pub fn p2pmm_trace_copy(to: *mut c_void, engine: *const c_void, pages: u32);
    // static_map.rs
    pub fn p2pmm_static_gate_new() -> *mut c_void;
    pub fn p2pmm_static_gate_set_id(gate: *mut c_void, id: u32);
    pub fn p2pmm_static_gate_revoke(gate: *mut c_void);
    pub fn p2pmm_static_gate_put(gate: *mut c_void);
    pub fn p2pmm_static_mmap(
        pdev: *mut c_void,
        gate: *mut c_void,
        region: *mut c_void,
        vma: *mut c_void,
        own_file: bool,
    ) -> c_int;
    pub fn p2pmm_static_dmabuf_export(
        addr: c_ulong,
        len: usize,
        cloexec: bool,
        fd_out: *mut c_int,
    ) -> c_int;
    // managed_dmabuf.rs
    pub fn p2pmm_mbuf_gate_new(
        pdev: *mut c_void,
        mem: *const c_void,
        ops: *const c_void,
    ) -> *mut c_void;
    pub fn p2pmm_mbuf_gate_revoke(gate: *mut c_void);
    pub fn p2pmm_mbuf_gate_put(gate: *mut c_void);
    pub fn p2pmm_mbuf_export(
        gate: *mut c_void,
        id: u32,
        slots: *const u32,
        n: u32,
        cloexec: bool,
        fd_out: *mut c_int,
    ) -> c_int;
    pub fn p2pmm_mbuf_evict(gate: *mut c_void, want: u64, skipped_pinned: *mut u64) -> u64;
    // copy_engine.rs
    pub fn p2pmm_engine_valid(engine: *const c_void) -> bool;
    pub fn p2pmm_engine_dev_name(engine: *const c_void) -> *const c_char;
    pub fn p2pmm_engine_copy(
        engine: *mut c_void,
        dst: *mut *mut c_void,
        src: *mut *mut c_void,
        n: u32,
    ) -> c_int;
    // dma_mirror.rs
    pub fn p2pmm_dma_pages_alloc(dev: *mut c_void, n: u32, write: bool) -> *mut c_void;
    pub fn p2pmm_dma_pages_map(
        p: *mut c_void,
        pages: *mut *mut c_void,
        n: u32,
        addrs: *mut u64,
        routes: *mut u8,
    ) -> c_int;
    pub fn p2pmm_dma_pages_free(p: *mut c_void);
    pub fn p2pmm_dev_pci_get(dev: *mut c_void) -> *mut c_void;
    pub fn p2pmm_importer_call_invalidate_start(
        imp: *mut c_void,
        start: c_ulong,
        end: c_ulong,
    ) -> bool;
    pub fn p2pmm_importer_call_invalidate_finish(imp: *mut c_void, start: c_ulong, end: c_ulong);
    // uapi_layout.rs
    pub fn p2pmm_glue_uapi_layout(out: *mut c_void);
    pub fn p2pmm_glue_uapi_facts(out: *mut u64, n: u32) -> u32;
}
