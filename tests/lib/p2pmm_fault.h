/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Guest-side helper for the kselftests that check a revoked mapping faults (p2pmm_revoke_test.c,
 * p2pmm_sample_driver_test.c): whether reading an address raises SIGBUS or SIGSEGV. Header-only.
 */
#ifndef P2PMM_TESTS_P2PMM_FAULT_H
#define P2PMM_TESTS_P2PMM_FAULT_H

#include <setjmp.h>
#include <signal.h>
#include <stdint.h>

static sigjmp_buf p2pmm_fault_jmp;

static inline void p2pmm_fault_handler(int sig)
{
	siglongjmp(p2pmm_fault_jmp, sig);
}

/* The signal reading `p` raises (SIGBUS, SIGSEGV), or 0 if the read works. */
static inline int p2pmm_read_faults(volatile uint8_t *p)
{
	struct sigaction sa = { .sa_handler = p2pmm_fault_handler }, old_bus, old_segv;
	int sig;

	sigaction(SIGBUS, &sa, &old_bus);
	sigaction(SIGSEGV, &sa, &old_segv);
	sig = sigsetjmp(p2pmm_fault_jmp, 1);
	if (!sig)
		(void)*p;
	sigaction(SIGBUS, &old_bus, NULL);
	sigaction(SIGSEGV, &old_segv, NULL);
	return sig;
}

#endif /* P2PMM_TESTS_P2PMM_FAULT_H */
