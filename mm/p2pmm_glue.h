/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue of p2pmm.ko: kernel facilities that `kernel::bindings` does not reach from an out-of-tree module.
 * Every function here is declared again, with the same layout, in the Rust binding file named beside it.
 */
#ifndef P2PMM_GLUE_H
#define P2PMM_GLUE_H

#include <linux/types.h>

/*
 * The uAPI as the C compiler sees include/uapi/linux/p2pmm.h: sizes, offsets and constants, so the module's
 * KUnit suite can prove the Rust side (mm/core/src/version.rs) agrees with the header. Rust: mm/uapi_layout.rs.
 */
struct p2pmm_uapi_layout {
	u32 version_size;
	u32 version_size_ver0;
	u32 off_size;
	u32 off_flags;
	u32 off_version;
	u32 off_reserved;
	u32 off_features;
	u32 ioc_version;
	u32 uapi_version;
	u32 ioc_magic;
	u64 feature_version;
};

void p2pmm_glue_uapi_layout(struct p2pmm_uapi_layout *out);

/*
 * The rest of the header, one fact per slot, in the order of enum p2pmm_uapi_fact (mirrored by `UapiFact` in
 * mm/uapi_layout.rs): sizes, offsets, ioctl numbers and constants of the providers, route, migrate and query uAPI.
 */
enum p2pmm_uapi_fact {
	P2PMM_FACT_PROVIDERS_SIZE,
	P2PMM_FACT_PROVIDERS_SIZE_VER0,
	P2PMM_FACT_PROVIDERS_OFF_FLAGS,
	P2PMM_FACT_PROVIDERS_OFF_COUNT,
	P2PMM_FACT_PROVIDERS_OFF_ENTRY_SIZE,
	P2PMM_FACT_PROVIDERS_OFF_ENTRIES,
	P2PMM_FACT_INFO_SIZE,
	P2PMM_FACT_INFO_SIZE_VER0,
	P2PMM_FACT_INFO_OFF_KIND,
	P2PMM_FACT_INFO_OFF_FLAGS,
	P2PMM_FACT_INFO_OFF_DEVICE,
	P2PMM_FACT_INFO_OFF_CAPACITY,
	P2PMM_FACT_INFO_OFF_USED,
	P2PMM_FACT_INFO_OFF_EVICTIONS,
	P2PMM_FACT_INFO_OFF_MIGRATED_IN,
	P2PMM_FACT_INFO_OFF_MIGRATED_OUT,
	P2PMM_FACT_INFO_OFF_INVALIDATIONS,
	P2PMM_FACT_ROUTE_SIZE,
	P2PMM_FACT_ROUTE_SIZE_VER0,
	P2PMM_FACT_ROUTE_OFF_PROVIDER,
	P2PMM_FACT_ROUTE_OFF_CLIENT,
	P2PMM_FACT_ROUTE_OFF_VERDICT,
	P2PMM_FACT_ROUTE_OFF_PLAN,
	P2PMM_FACT_ROUTE_OFF_REASON,
	P2PMM_FACT_ROUTE_OFF_DISTANCE,
	P2PMM_FACT_ROUTE_OFF_HOST_BRIDGE,
	P2PMM_FACT_ROUTE_OFF_RESERVED2,
	P2PMM_FACT_MIGRATE_SIZE,
	P2PMM_FACT_MIGRATE_SIZE_VER0,
	P2PMM_FACT_MIGRATE_OFF_ADDR,
	P2PMM_FACT_MIGRATE_OFF_LENGTH,
	P2PMM_FACT_MIGRATE_OFF_TARGET,
	P2PMM_FACT_MIGRATE_OFF_MIGRATED,
	P2PMM_FACT_MIGRATE_OFF_EVICTED,
	P2PMM_FACT_QUERY_SIZE,
	P2PMM_FACT_QUERY_SIZE_VER0,
	P2PMM_FACT_QUERY_OFF_ADDR,
	P2PMM_FACT_QUERY_OFF_LENGTH,
	P2PMM_FACT_QUERY_OFF_LOCATIONS,
	P2PMM_FACT_IOC_PROVIDERS,
	P2PMM_FACT_IOC_ROUTE,
	P2PMM_FACT_IOC_MIGRATE,
	P2PMM_FACT_IOC_QUERY,
	P2PMM_FACT_FEATURES_ALL,
	P2PMM_FACT_KIND_STATIC,
	P2PMM_FACT_KIND_MANAGED,
	P2PMM_FACT_FLAG_ADOPTED,
	P2PMM_FACT_LOCATION_SYSTEM,
	P2PMM_FACT_LOCATION_NONE,
	P2PMM_FACT_PLAN_DIRECT,
	P2PMM_FACT_PLAN_BOUNCE,
	P2PMM_FACT_PLAN_REFUSED,
	P2PMM_FACT_ADVISE_SIZE,
	P2PMM_FACT_ADVISE_SIZE_VER0,
	P2PMM_FACT_ADVISE_OFF_ADVICE,
	P2PMM_FACT_ADVISE_OFF_LOCATION,
	P2PMM_FACT_IOC_ADVISE,
	P2PMM_FACT_ADV_PIN,
	P2PMM_FACT_ADV_UNPIN,
	P2PMM_FACT_MMAP_OFFSET_7,
	P2PMM_FACT_BLKIO_SIZE,
	P2PMM_FACT_BLKIO_SIZE_VER0,
	P2PMM_FACT_BLKIO_OFF_FD,
	P2PMM_FACT_BLKIO_OFF_ADDR,
	P2PMM_FACT_BLKIO_OFF_LENGTH,
	P2PMM_FACT_BLKIO_OFF_OFFSET,
	P2PMM_FACT_BLKIO_OFF_BYTES_P2P,
	P2PMM_FACT_BLKIO_OFF_BYTES_SYSTEM,
	P2PMM_FACT_BLKIO_OFF_BYTES_BOUNCE,
	P2PMM_FACT_BLKIO_OFF_RETRIES,
	P2PMM_FACT_BLKIO_WRITE,
	P2PMM_FACT_IOC_BLKIO,
	P2PMM_FACT_DMABUF_SIZE,
	P2PMM_FACT_DMABUF_SIZE_VER0,
	P2PMM_FACT_DMABUF_OFF_ADDR,
	P2PMM_FACT_DMABUF_OFF_LENGTH,
	P2PMM_FACT_DMABUF_OFF_FD,
	P2PMM_FACT_DMABUF_OFF_PROVIDER,
	P2PMM_FACT_DMABUF_CLOEXEC,
	P2PMM_FACT_DMABUF_MANAGED,
	P2PMM_FACT_IOC_DMABUF,
	P2PMM_FACT_COUNT,
};

/* Fills out[0..n) and returns P2PMM_FACT_COUNT, so Rust can check it knows as many facts as C. */
u32 p2pmm_glue_uapi_facts(u64 *out, u32 n);

/* Tracepoints (mm/trace_glue.c, Rust: mm/bind/trace.rs). */
void p2pmm_trace_migrate(u32 target, unsigned long start, unsigned long end, u64 migrated, u64 evicted);
void p2pmm_trace_evict(u32 provider, u32 to, u32 picked, u32 evicted);
void p2pmm_trace_evict_cgroup(u32 provider, u64 cgroup, u32 pages);
void p2pmm_trace_reclaim(u32 provider, u32 free_before, u32 free_after, u64 evicted);
void p2pmm_trace_thrash(u32 provider, u64 start, u32 moves, u64 backoff_us);
void p2pmm_trace_route(u32 provider, const char *client, u32 verdict, u32 plan, u32 reason, s32 distance);
void p2pmm_trace_revoke(u32 provider, const char *device);
void p2pmm_trace_blkio(bool to_device, u64 pos, u64 len, u64 p2p, u64 system, u64 bounce, u64 retries);
struct p2pmm_copy_engine;
struct pci_dev;
void p2pmm_trace_copy(struct pci_dev *to, const struct p2pmm_copy_engine *engine, u32 pages);

/*
 * The workqueue of background reclaim (Rust: mm/reclaim.rs): created at module init, destroyed (draining it) at
 * exit; NULL outside. The Rust `workqueue` module can queue on a workqueue but not create one.
 */
struct workqueue_struct;
int p2pmm_reclaim_wq_create(void);
void p2pmm_reclaim_wq_destroy(void);
struct workqueue_struct *p2pmm_reclaim_wq(void);

/* Implemented in Rust (mm/export.rs), exported through mm/p2pmm_export.c as include/linux/p2pmm.h. */
int p2pmm_rs_register_static(struct pci_dev *pdev, int bar, u64 size, u64 offset);
int p2pmm_rs_register_managed(struct pci_dev *pdev, int bar, u64 size, u64 offset);
int p2pmm_rs_unregister(struct pci_dev *pdev, u32 id);
int p2pmm_rs_set_copy_engine(struct pci_dev *pdev, u32 id, struct p2pmm_copy_engine *engine);
struct device;
struct mm_struct;
struct p2pmm_importer;
void *p2pmm_rs_importer_new(struct device *dev, struct mm_struct *mm, unsigned long start, unsigned long length,
			    struct p2pmm_importer *imp, int *err);
int p2pmm_rs_importer_map(void *rs, unsigned int flags, dma_addr_t *addrs, u8 *routes, unsigned long *seq);
bool p2pmm_rs_importer_retry(void *rs, unsigned long seq);
void p2pmm_rs_importer_drop(void *rs);

#endif /* P2PMM_GLUE_H */
