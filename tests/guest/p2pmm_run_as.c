// SPDX-License-Identifier: GPL-2.0
/*
 * p2pmm-run-as UID GID GROUP PROGRAM [ARG...]: runs PROGRAM as user UID, group GID, with GROUP as its one
 * supplementary group (the owner group of /dev/p2pmm, as a udev rule sets it), without any capability. The guest
 * has no passwd database or su, so the kselftest suite runs its unprivileged cases through this.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	gid_t group;

	if (argc < 5) {
		fprintf(stderr, "usage: %s UID GID GROUP PROGRAM [ARG...]\n", argv[0]);
		return 2;
	}
	group = (gid_t)atoi(argv[3]);
	if (setgroups(1, &group) || setgid((gid_t)atoi(argv[2])) || setuid((uid_t)atoi(argv[1]))) {
		perror("p2pmm-run-as: dropping privileges");
		return 2;
	}
	if (!getuid() || !geteuid()) {
		fprintf(stderr, "p2pmm-run-as: still root\n");
		return 2;
	}
	execv(argv[4], argv + 4);
	perror("p2pmm-run-as: exec");
	return 2;
}
