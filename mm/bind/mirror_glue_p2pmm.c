// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmm.ko's copy of the mirror glue: kbuild links an object into one module only, and both p2pmm.ko and
 * p2pmm_mirror.ko use the mirror bindings (mm/bind/), so each module compiles mirror_glue.c on its own.
 */
#include "mirror_glue.c"
