// SPDX-License-Identifier: GPL-2.0
/*
 * Exports p2pmm.ko's binding layer to the Rust drivers built on it (Kbuild explains why): the Rust symbols of the
 * binding modules and the crate's instances of other crates' generics, and every C glue function the bindings call,
 * in namespace P2PMM. The list is generated from the objects by nm, as rust/exports.c does for the kernel crate; the
 * declared type is a placeholder, as there.
 */
#include <linux/export.h>

#define P2PMM_EXPORT(sym)	\
	extern int sym;		\
	EXPORT_SYMBOL_NS_GPL(sym, "P2PMM")

#include "rust_exports_generated.h"
