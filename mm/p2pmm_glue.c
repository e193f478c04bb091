// SPDX-License-Identifier: GPL-2.0
/*
 * C glue of p2pmm.ko; see p2pmm_glue.h for why each function exists.
 */
#include <linux/build_bug.h>
#include <linux/stddef.h>
#include <linux/workqueue.h>
#include <uapi/linux/p2pmm.h>

#include "p2pmm_glue.h"

/* The header's VER0 constant must describe the struct it ships with. */
static_assert(sizeof(struct p2pmm_version) == P2PMM_VERSION_SIZE_VER0);

void p2pmm_glue_uapi_layout(struct p2pmm_uapi_layout *out)
{
	*out = (struct p2pmm_uapi_layout){
		.version_size = sizeof(struct p2pmm_version),
		.version_size_ver0 = P2PMM_VERSION_SIZE_VER0,
		.off_size = offsetof(struct p2pmm_version, size),
		.off_flags = offsetof(struct p2pmm_version, flags),
		.off_version = offsetof(struct p2pmm_version, version),
		.off_reserved = offsetof(struct p2pmm_version, __reserved),
		.off_features = offsetof(struct p2pmm_version, features),
		.ioc_version = P2PMM_IOC_VERSION,
		.uapi_version = P2PMM_UAPI_VERSION,
		.ioc_magic = P2PMM_IOC_MAGIC,
		.feature_version = P2PMM_FEATURE_VERSION,
	};
}

#define FACT(name, value) [P2PMM_FACT_##name] = (value)

static const u64 p2pmm_facts[P2PMM_FACT_COUNT] = {
	FACT(PROVIDERS_SIZE, sizeof(struct p2pmm_providers)),
	FACT(PROVIDERS_SIZE_VER0, P2PMM_PROVIDERS_SIZE_VER0),
	FACT(PROVIDERS_OFF_FLAGS, offsetof(struct p2pmm_providers, flags)),
	FACT(PROVIDERS_OFF_COUNT, offsetof(struct p2pmm_providers, count)),
	FACT(PROVIDERS_OFF_ENTRY_SIZE, offsetof(struct p2pmm_providers, entry_size)),
	FACT(PROVIDERS_OFF_ENTRIES, offsetof(struct p2pmm_providers, entries)),
	FACT(INFO_SIZE, sizeof(struct p2pmm_provider_info)),
	FACT(INFO_SIZE_VER0, P2PMM_PROVIDER_INFO_SIZE_VER0),
	FACT(INFO_OFF_KIND, offsetof(struct p2pmm_provider_info, kind)),
	FACT(INFO_OFF_FLAGS, offsetof(struct p2pmm_provider_info, flags)),
	FACT(INFO_OFF_DEVICE, offsetof(struct p2pmm_provider_info, device)),
	FACT(INFO_OFF_CAPACITY, offsetof(struct p2pmm_provider_info, capacity)),
	FACT(INFO_OFF_USED, offsetof(struct p2pmm_provider_info, used)),
	FACT(INFO_OFF_EVICTIONS, offsetof(struct p2pmm_provider_info, evictions)),
	FACT(INFO_OFF_MIGRATED_IN, offsetof(struct p2pmm_provider_info, migrated_in)),
	FACT(INFO_OFF_MIGRATED_OUT, offsetof(struct p2pmm_provider_info, migrated_out)),
	FACT(INFO_OFF_INVALIDATIONS, offsetof(struct p2pmm_provider_info, invalidations)),
	FACT(ROUTE_SIZE, sizeof(struct p2pmm_route)),
	FACT(ROUTE_SIZE_VER0, P2PMM_ROUTE_SIZE_VER0),
	FACT(ROUTE_OFF_PROVIDER, offsetof(struct p2pmm_route, provider)),
	FACT(ROUTE_OFF_CLIENT, offsetof(struct p2pmm_route, client)),
	FACT(ROUTE_OFF_VERDICT, offsetof(struct p2pmm_route, verdict)),
	FACT(ROUTE_OFF_PLAN, offsetof(struct p2pmm_route, plan)),
	FACT(ROUTE_OFF_REASON, offsetof(struct p2pmm_route, reason)),
	FACT(ROUTE_OFF_DISTANCE, offsetof(struct p2pmm_route, distance)),
	FACT(ROUTE_OFF_HOST_BRIDGE, offsetof(struct p2pmm_route, host_bridge)),
	FACT(ROUTE_OFF_RESERVED2, offsetof(struct p2pmm_route, __reserved2)),
	FACT(MIGRATE_SIZE, sizeof(struct p2pmm_migrate)),
	FACT(MIGRATE_SIZE_VER0, P2PMM_MIGRATE_SIZE_VER0),
	FACT(MIGRATE_OFF_ADDR, offsetof(struct p2pmm_migrate, addr)),
	FACT(MIGRATE_OFF_LENGTH, offsetof(struct p2pmm_migrate, length)),
	FACT(MIGRATE_OFF_TARGET, offsetof(struct p2pmm_migrate, target)),
	FACT(MIGRATE_OFF_MIGRATED, offsetof(struct p2pmm_migrate, migrated)),
	FACT(MIGRATE_OFF_EVICTED, offsetof(struct p2pmm_migrate, evicted)),
	FACT(QUERY_SIZE, sizeof(struct p2pmm_query)),
	FACT(QUERY_SIZE_VER0, P2PMM_QUERY_SIZE_VER0),
	FACT(QUERY_OFF_ADDR, offsetof(struct p2pmm_query, addr)),
	FACT(QUERY_OFF_LENGTH, offsetof(struct p2pmm_query, length)),
	FACT(QUERY_OFF_LOCATIONS, offsetof(struct p2pmm_query, locations)),
	FACT(IOC_PROVIDERS, P2PMM_IOC_PROVIDERS),
	FACT(IOC_ROUTE, P2PMM_IOC_ROUTE),
	FACT(IOC_MIGRATE, P2PMM_IOC_MIGRATE),
	FACT(IOC_QUERY, P2PMM_IOC_QUERY),
	FACT(FEATURES_ALL, P2PMM_FEATURE_VERSION | P2PMM_FEATURE_PROVIDERS | P2PMM_FEATURE_MIGRATE |
				   P2PMM_FEATURE_ADVISE | P2PMM_FEATURE_STATIC_MMAP | P2PMM_FEATURE_BLKIO |
				   P2PMM_FEATURE_DMABUF | P2PMM_FEATURE_DMABUF_MANAGED),
	FACT(MMAP_OFFSET_7, P2PMM_MMAP_OFFSET(7)),
	FACT(BLKIO_SIZE, sizeof(struct p2pmm_blkio)),
	FACT(BLKIO_SIZE_VER0, P2PMM_BLKIO_SIZE_VER0),
	FACT(BLKIO_OFF_FD, offsetof(struct p2pmm_blkio, fd)),
	FACT(BLKIO_OFF_ADDR, offsetof(struct p2pmm_blkio, addr)),
	FACT(BLKIO_OFF_LENGTH, offsetof(struct p2pmm_blkio, length)),
	FACT(BLKIO_OFF_OFFSET, offsetof(struct p2pmm_blkio, offset)),
	FACT(BLKIO_OFF_BYTES_P2P, offsetof(struct p2pmm_blkio, bytes_p2p)),
	FACT(BLKIO_OFF_BYTES_SYSTEM, offsetof(struct p2pmm_blkio, bytes_system)),
	FACT(BLKIO_OFF_BYTES_BOUNCE, offsetof(struct p2pmm_blkio, bytes_bounce)),
	FACT(BLKIO_OFF_RETRIES, offsetof(struct p2pmm_blkio, retries)),
	FACT(BLKIO_WRITE, P2PMM_BLKIO_WRITE),
	FACT(IOC_BLKIO, P2PMM_IOC_BLKIO),
	FACT(DMABUF_SIZE, sizeof(struct p2pmm_dmabuf)),
	FACT(DMABUF_SIZE_VER0, P2PMM_DMABUF_SIZE_VER0),
	FACT(DMABUF_OFF_ADDR, offsetof(struct p2pmm_dmabuf, addr)),
	FACT(DMABUF_OFF_LENGTH, offsetof(struct p2pmm_dmabuf, length)),
	FACT(DMABUF_OFF_FD, offsetof(struct p2pmm_dmabuf, fd)),
	FACT(DMABUF_OFF_PROVIDER, offsetof(struct p2pmm_dmabuf, provider)),
	FACT(DMABUF_CLOEXEC, P2PMM_DMABUF_CLOEXEC),
	FACT(DMABUF_MANAGED, P2PMM_DMABUF_MANAGED),
	FACT(IOC_DMABUF, P2PMM_IOC_DMABUF),
	FACT(ADVISE_SIZE, sizeof(struct p2pmm_advise)),
	FACT(ADVISE_SIZE_VER0, P2PMM_ADVISE_SIZE_VER0),
	FACT(ADVISE_OFF_ADVICE, offsetof(struct p2pmm_advise, advice)),
	FACT(ADVISE_OFF_LOCATION, offsetof(struct p2pmm_advise, location)),
	FACT(IOC_ADVISE, P2PMM_IOC_ADVISE),
	FACT(ADV_PIN, P2PMM_ADV_PIN),
	FACT(ADV_UNPIN, P2PMM_ADV_UNPIN),
	FACT(KIND_STATIC, P2PMM_PROVIDER_STATIC),
	FACT(KIND_MANAGED, P2PMM_PROVIDER_MANAGED),
	FACT(FLAG_ADOPTED, P2PMM_PROVIDER_F_ADOPTED),
	FACT(LOCATION_SYSTEM, P2PMM_LOCATION_SYSTEM),
	FACT(LOCATION_NONE, P2PMM_LOCATION_NONE),
	FACT(PLAN_DIRECT, P2PMM_PLAN_DIRECT),
	FACT(PLAN_BOUNCE, P2PMM_PLAN_BOUNCE),
	FACT(PLAN_REFUSED, P2PMM_PLAN_REFUSED),
};

u32 p2pmm_glue_uapi_facts(u64 *out, u32 n)
{
	for (u32 i = 0; i < n && i < P2PMM_FACT_COUNT; i++)
		out[i] = p2pmm_facts[i];
	return P2PMM_FACT_COUNT;
}

static struct workqueue_struct *p2pmm_reclaim_wq_ptr;

/* Unbound: a reclaim copies pages and sleeps; WQ_MEM_RECLAIM: it frees device memory others wait for. */
int p2pmm_reclaim_wq_create(void)
{
	p2pmm_reclaim_wq_ptr = alloc_workqueue("p2pmm_reclaim", WQ_UNBOUND | WQ_MEM_RECLAIM, 0);
	return p2pmm_reclaim_wq_ptr ? 0 : -ENOMEM;
}

void p2pmm_reclaim_wq_destroy(void)
{
	struct workqueue_struct *wq = p2pmm_reclaim_wq_ptr;

	WRITE_ONCE(p2pmm_reclaim_wq_ptr, NULL);
	destroy_workqueue(wq);
}

struct workqueue_struct *p2pmm_reclaim_wq(void)
{
	return READ_ONCE(p2pmm_reclaim_wq_ptr);
}
