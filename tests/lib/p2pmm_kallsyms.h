/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest-side reader of /proc/kallsyms for the tests that need kernel addresses (fault injection's stack filters in
 * p2pmm_failnth_test, KCOV's function table in p2pmm_kcov.h). Lines are read whole: a Rust symbol's mangled name
 * can be hundreds of bytes, and a fixed buffer would hand back the rest of such a line as if it were a line of its
 * own ("...ct_pfnss_0E0EB1X_3sumjEB2W_\t[p2pmm]" parses as address 0xc, type 't'). Header-only.
 */
#ifndef P2PMM_TESTS_P2PMM_KALLSYMS_H
#define P2PMM_TESTS_P2PMM_KALLSYMS_H

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One symbol: its address, type letter, name and module ("" for the kernel itself). */
struct p2pmm_ksym {
	unsigned long addr;
	char type;
	const char *name;
	const char *module;
};

/* The open /proc/kallsyms and the buffer of its current line. */
struct p2pmm_kallsyms {
	FILE *f;
	char *line;
	size_t cap;
};

static inline int p2pmm_kallsyms_open(struct p2pmm_kallsyms *k)
{
	k->line = NULL;
	k->cap = 0;
	k->f = fopen("/proc/kallsyms", "r");
	return k->f ? 0 : -1;
}

static inline void p2pmm_kallsyms_close(struct p2pmm_kallsyms *k)
{
	if (k->f)
		fclose(k->f);
	free(k->line);
	k->f = NULL;
	k->line = NULL;
}

/*
 * The next symbol, valid until the next call: 1, or 0 at the end. A line that is not
 * "<16 hex digits> <type> <name>[\t[<module>]]" is skipped.
 */
static inline int p2pmm_kallsyms_next(struct p2pmm_kallsyms *k, struct p2pmm_ksym *s)
{
	ssize_t n;

	while ((n = getline(&k->line, &k->cap, k->f)) > 0) {
		char *p = k->line, *end, *tab;

		if (p[n - 1] == '\n')
			p[--n] = 0;
		if (n < 20 || p[16] != ' ' || p[18] != ' ')
			continue;
		s->addr = strtoul(p, &end, 16);
		if (end != p + 16 || !isalpha((unsigned char)p[17]))
			continue;
		s->type = p[17];
		s->name = p + 19;
		s->module = "";
		tab = strchr(p + 19, '\t');
		if (tab) {
			*tab = 0;
			s->module = tab + 1;
		}
		return 1;
	}
	return 0;
}

/* Whether @s is a text symbol of module @mod ("p2pmm" matches "[p2pmm]" only). */
static inline int p2pmm_ksym_text_of(const struct p2pmm_ksym *s, const char *mod)
{
	size_t len = strlen(mod);

	return (s->type == 't' || s->type == 'T') && s->module[0] == '[' && !strncmp(s->module + 1, mod, len) &&
	       s->module[len + 1] == ']';
}

#endif /* P2PMM_TESTS_P2PMM_KALLSYMS_H */
