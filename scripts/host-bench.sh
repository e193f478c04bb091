#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Host benchmarks of the portable core (called by `make bench`): prints each table as the example prints it.
# Figures only: nothing here passes or fails on speed. Runs on the host with cargo, no VM.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
export CARGO_TERM_COLOR=never
# Built first, so compiler output does not interleave with the table.
cargo build --release --locked --quiet -p p2pmm-core --example range_index_bench --example clock_bench
echo "== host bench: range_index (mm/core/examples/range_index_bench.rs)"
cargo run --release --locked --quiet -p p2pmm-core --example range_index_bench
echo "== host bench: eviction clock (mm/core/examples/clock_bench.rs)"
cargo run --release --locked --quiet -p p2pmm-core --example clock_bench
