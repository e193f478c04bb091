#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Drivers are users of p2pmm, not parts (Documentation/p2pmm/providers.rst): no driver crate compiles a p2pmm
# source (a `#[path]` into mm/), no C driver includes a header of mm/, and no module but p2pmm.ko links an object
# of mm/. A Rust driver reaches p2pmm's
# bindings as the `p2pmm` crate (Kbuild), a C driver through include/linux/p2pmm.h. Prints what breaks the rule.
cd "$(dirname "$0")/.." || exit 1
rc=0
if grep -rnE '#\[path *= *"([^"]*/)?mm/' drivers; then
	echo "drivers_are_users: a driver compiles p2pmm sources (above)"
	rc=1
fi
if grep -rnE '^\s*#\s*include\s*"([^"]*/)?mm/' drivers; then
	echo "drivers_are_users: a C driver includes a p2pmm-internal header (above); include/linux/p2pmm.h is the door"
	rc=1
fi
if grep -nE '^[a-z0-9_]+-y[ :+]*=.*(^|[ =])mm/' Kbuild | grep -v '^[0-9]*:p2pmm-y'; then
	echo "drivers_are_users: a module other than p2pmm.ko links objects of mm/ (above)"
	rc=1
fi
[ $rc -eq 0 ] && echo "drivers_are_users: no driver compiles or links p2pmm sources"
exit $rc
