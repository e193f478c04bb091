#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Host suite: cargo test of the portable core, and the lints (rustfmt of host and module code, clippy).
# Each step prints `P2PMM-HOST <step> rc=<rc>` for scripts/report.py; output goes to stdout.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
export CARGO_TERM_COLOR=never

step() {
	local name=$1
	shift
	echo "== $name: $*"
	"$@" 2>&1
	echo "P2PMM-HOST $name rc=$?"
}

step test cargo test --workspace --locked
# The doctest generator (scripts/doctest_gen.py) on small crates: rustdoc's rules, line mapping, refusals.
step test python3 scripts/doctest_gen_test.py
# The summary of `make test` (scripts/report.py) on small logs (tests/report): what fails a run, and what does not.
step test python3 scripts/report_test.py
step test python3 scripts/bench_report_test.py
step test python3 scripts/import_cycles_test.py
# The loom model (mm/core/tests/loom_versioned.rs: the advice update protocol) needs the whole crate built with
# `--cfg loom`, so it gets its own target directory and does not invalidate the normal build. Named `test` so
# scripts/report.py counts it (one `test result:` line per model file) and a build failure with the other host
# tests.
step test env RUSTFLAGS="--cfg loom" cargo test --release --locked -p p2pmm-core --target-dir target/loom --test loom_versioned
step fmt cargo fmt --all --check
# The module's own files (mm/*.rs) are not part of the cargo workspace: check them with the same settings.
step fmt-module rustfmt --check --edition 2021 --config-path rustfmt.toml $(find mm -name '*.rs' -not -path '*/target/*' -not -name doctests_generated.rs)
# Layers: no module of a crate imports one that imports it back (scripts/import_cycles.py).
step layers python3 scripts/import_cycles.py mm/p2pmm.rs mm/core/src/lib.rs drivers/mirror/p2pmm_mirror.rs drivers/vaccel/vaccel.rs
# Drivers are users, not parts: none compiles or links a p2pmm source (scripts/drivers_are_users.sh).
step layers bash scripts/drivers_are_users.sh
step clippy cargo clippy --workspace --all-targets --locked -- -D warnings
exit 0
