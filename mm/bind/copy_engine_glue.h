/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C glue for mm/bind/copy_engine.rs: a driver's copy engine (struct p2pmm_copy_engine of include/linux/p2pmm.h)
 * copying pages between two P2P windows. The rules for calling each function are in the Rust file.
 */
#ifndef P2PMM_COPY_ENGINE_GLUE_H
#define P2PMM_COPY_ENGINE_GLUE_H

#include <linux/types.h>

struct p2pmm_copy_engine;
struct page;

bool p2pmm_engine_valid(const struct p2pmm_copy_engine *engine);
const char *p2pmm_engine_dev_name(const struct p2pmm_copy_engine *engine);
int p2pmm_engine_copy(struct p2pmm_copy_engine *engine, struct page **dst, struct page **src, unsigned int n);

#endif /* P2PMM_COPY_ENGINE_GLUE_H */
