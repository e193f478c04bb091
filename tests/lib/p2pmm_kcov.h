/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel coverage of p2pmm.ko's own code, for a test that wants to say how much of it its calls reached (the uAPI
 * fuzzer). The test kernel has CONFIG_KCOV without KCOV_INSTRUMENT_ALL, and Kbuild instruments p2pmm.ko's objects
 * only (Rust and C), so a thread that enables /sys/kernel/debug/kcov (Documentation/dev-tools/kcov.rst) records
 * the basic blocks of p2pmm.ko its system calls run, and nothing else.
 *
 * Each thread opens its own kcov handle (p2pmm_kcov_start()) and drains its buffer after each call
 * (p2pmm_kcov_drain()) into a bitmap shared by all threads, one bit per byte of p2pmm.ko's text (a block is named
 * by the address its callback returns to). p2pmm_kcov_report() maps the blocks to the module's functions
 * (/proc/kallsyms) and those to the file they come from: the crate-root module in a Rust symbol's v0 mangling
 * (`_RNvNtCs<hash>_5p2pmm7managed...` is mm/managed.rs; the binding files sit at the crate root too), "C glue"
 * for the C functions.
 */
#ifndef P2PMM_TESTS_P2PMM_KCOV_H
#define P2PMM_TESTS_P2PMM_KCOV_H

#include <ctype.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kcov.h>

#include "p2pmm_kallsyms.h"

#define P2PMM_KCOV_WORDS (1 << 18) /* per thread: plenty for the blocks of one call */
#define P2PMM_KCOV_MAX_FUNCS 20000

struct p2pmm_kcov_fn {
	unsigned long addr;
	char file[48]; /* p2pmm_kcov_file_of() its name */
};

static inline void p2pmm_kcov_file_of(const char *sym, char *out, size_t len);

/* p2pmm.ko's text, its functions (sorted by address) and the blocks reached so far. */
static struct {
	unsigned long lo, hi;
	int nfn;
	struct p2pmm_kcov_fn *fn;
	unsigned char *seen; /* (hi - lo) bits */
} p2pmm_kcov;

struct p2pmm_kcov_thread {
	int fd;
	unsigned long *cover;
};

static int p2pmm_kcov_cmp(const void *a, const void *b)
{
	const struct p2pmm_kcov_fn *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/*
 * Reads p2pmm.ko's functions from /proc/kallsyms and allocates the bitmap. NULL, or what is missing (no KCOV in
 * this kernel, no symbol addresses).
 */
static inline const char *p2pmm_kcov_setup(void)
{
	struct p2pmm_kallsyms k;
	struct p2pmm_ksym sym;

	if (access("/sys/kernel/debug/kcov", F_OK))
		return "no /sys/kernel/debug/kcov (the kernel lacks CONFIG_KCOV)";
	if (p2pmm_kallsyms_open(&k))
		return "no /proc/kallsyms";
	p2pmm_kcov.fn = calloc(P2PMM_KCOV_MAX_FUNCS, sizeof(*p2pmm_kcov.fn));
	if (!p2pmm_kcov.fn) {
		p2pmm_kallsyms_close(&k);
		return "no memory for the symbol table";
	}
	p2pmm_kcov.lo = ~0UL;
	while (p2pmm_kallsyms_next(&k, &sym) && p2pmm_kcov.nfn < P2PMM_KCOV_MAX_FUNCS) {
		if (!p2pmm_ksym_text_of(&sym, "p2pmm") || !sym.addr)
			continue;
		p2pmm_kcov.fn[p2pmm_kcov.nfn].addr = sym.addr;
		p2pmm_kcov_file_of(sym.name, p2pmm_kcov.fn[p2pmm_kcov.nfn].file, sizeof(p2pmm_kcov.fn[0].file));
		p2pmm_kcov.nfn++;
		p2pmm_kcov.lo = sym.addr < p2pmm_kcov.lo ? sym.addr : p2pmm_kcov.lo;
		p2pmm_kcov.hi = sym.addr > p2pmm_kcov.hi ? sym.addr : p2pmm_kcov.hi;
	}
	p2pmm_kallsyms_close(&k);
	if (!p2pmm_kcov.nfn)
		return "no p2pmm.ko text symbols with addresses in /proc/kallsyms";
	/* The last function's length is unknown: 64 KiB covers it. */
	p2pmm_kcov.hi += 1 << 16;
	qsort(p2pmm_kcov.fn, p2pmm_kcov.nfn, sizeof(*p2pmm_kcov.fn), p2pmm_kcov_cmp);
	p2pmm_kcov.seen = calloc((p2pmm_kcov.hi - p2pmm_kcov.lo) / 8 + 1, 1);
	return p2pmm_kcov.seen ? NULL : "no memory for the coverage bitmap";
}

/* Starts collecting the calling thread's coverage: 0, or -1 (errno set). */
static inline int p2pmm_kcov_start(struct p2pmm_kcov_thread *t)
{
	t->cover = NULL;
	t->fd = open("/sys/kernel/debug/kcov", O_RDWR | O_CLOEXEC);
	if (t->fd < 0)
		return -1;
	if (ioctl(t->fd, KCOV_INIT_TRACE, P2PMM_KCOV_WORDS))
		return -1;
	t->cover = mmap(NULL, P2PMM_KCOV_WORDS * sizeof(unsigned long), PROT_READ | PROT_WRITE, MAP_SHARED, t->fd, 0);
	if (t->cover == MAP_FAILED) {
		t->cover = NULL;
		return -1;
	}
	if (ioctl(t->fd, KCOV_ENABLE, KCOV_TRACE_PC))
		return -1;
	__atomic_store_n(&t->cover[0], 0, __ATOMIC_RELAXED);
	return 0;
}

/* Moves the blocks the thread reached since the last drain into the shared bitmap. */
static inline void p2pmm_kcov_drain(struct p2pmm_kcov_thread *t)
{
	unsigned long n;

	if (!t->cover)
		return;
	n = __atomic_load_n(&t->cover[0], __ATOMIC_RELAXED);
	if (n > P2PMM_KCOV_WORDS - 1)
		n = P2PMM_KCOV_WORDS - 1;
	for (unsigned long i = 1; i <= n; i++) {
		unsigned long pc = t->cover[i];

		if (pc >= p2pmm_kcov.lo && pc < p2pmm_kcov.hi) {
			unsigned long bit = pc - p2pmm_kcov.lo;

			__atomic_fetch_or(&p2pmm_kcov.seen[bit / 8], (unsigned char)(1 << (bit % 8)), __ATOMIC_RELAXED);
		}
	}
	__atomic_store_n(&t->cover[0], 0, __ATOMIC_RELAXED);
}

static inline void p2pmm_kcov_stop(struct p2pmm_kcov_thread *t)
{
	if (t->fd < 0)
		return;
	p2pmm_kcov_drain(t);
	ioctl(t->fd, KCOV_DISABLE, 0);
	if (t->cover)
		munmap(t->cover, P2PMM_KCOV_WORDS * sizeof(unsigned long));
	close(t->fd);
	t->fd = -1;
}

/* The file a p2pmm.ko function comes from: the crate-root module of a v0-mangled Rust name, else "C glue". */
static inline void p2pmm_kcov_file_of(const char *sym, char *out, size_t len)
{
	const char *p = strstr(sym, "5p2pmm");
	int n;

	if (strncmp(sym, "_R", 2)) {
		snprintf(out, len, "C glue");
		return;
	}
	if (!p) {
		snprintf(out, len, "(other crates, instantiated here)");
		return;
	}
	/* A value (Nv) right at the crate: an item of the crate root (p2pmm.rs). */
	if (!strncmp(sym, "_RNvC", 5)) {
		snprintf(out, len, "p2pmm (crate root)");
		return;
	}
	p += strlen("5p2pmm");
	/* An optional disambiguator (s<base62>_) before the identifier. */
	if (*p == 's') {
		const char *u = strchr(p, '_');

		if (u)
			p = u + 1;
	}
	if (!isdigit((unsigned char)*p)) {
		snprintf(out, len, "(impls and instances)");
		return;
	}
	n = atoi(p);
	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '_')
		p++;
	snprintf(out, len, "%.*s", n < (int)len - 1 ? n : (int)len - 1, p);
}

/*
 * Prints, per file, how many of its functions the collected blocks reached, and a last line for the run's summary:
 * "P2PMM-SUMMARY <what>: kcov reached N blocks in F of T functions of p2pmm.ko". Returns the functions reached.
 */
static inline int p2pmm_kcov_report(const char *what)
{
	struct {
		char file[48];
		int fns, hit;
	} files[128];
	int nfiles = 0, hit_total = 0;
	long blocks = 0;

	for (int i = 0; i < p2pmm_kcov.nfn; i++) {
		unsigned long a = p2pmm_kcov.fn[i].addr;
		unsigned long b = i + 1 < p2pmm_kcov.nfn ? p2pmm_kcov.fn[i + 1].addr : p2pmm_kcov.hi;
		const char *file = p2pmm_kcov.fn[i].file;
		long reached = 0;
		int k;

		for (unsigned long pc = a; pc < b; pc++) {
			unsigned long bit = pc - p2pmm_kcov.lo;

			reached += (p2pmm_kcov.seen[bit / 8] >> (bit % 8)) & 1;
		}
		blocks += reached;
		hit_total += reached > 0;
		for (k = 0; k < nfiles && strcmp(files[k].file, file); k++)
			;
		if (k == nfiles) {
			if (nfiles == 128)
				continue;
			snprintf(files[nfiles].file, sizeof(files[0].file), "%s", file);
			files[nfiles].fns = files[nfiles].hit = 0;
			nfiles++;
		}
		files[k].fns++;
		files[k].hit += reached > 0;
	}
	printf("# kcov: functions of p2pmm.ko reached, per file (mm/<file>.rs, mm/bind/<file>.rs, mm/core/src/...)\n");
	for (int k = 0; k < nfiles; k++)
		printf("# kcov: %-36s %4d of %4d\n", files[k].file, files[k].hit, files[k].fns);
	printf("# P2PMM-SUMMARY %s: kcov reached %ld blocks in %d of %d functions of p2pmm.ko\n", what, blocks,
	       hit_total, p2pmm_kcov.nfn);
	return hit_total;
}

#endif /* P2PMM_TESTS_P2PMM_KCOV_H */
