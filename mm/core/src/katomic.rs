// SPDX-License-Identifier: GPL-2.0

//! The atomics of the core: `core`'s normally, loom's when the loom models run (`--cfg loom`).
//!
//! The kernel prefers its own `kernel::sync::atomic` (LKMM) over Rust's atomics, mainly so that
//! code mixing Rust and C accesses to one variable follows one memory model. The core's only atomic
//! is a slot's claim word (`slot_claim.rs`): one 32-bit word, accessed only from Rust, only through
//! compare-and-swap with acquire/release ordering. Rust's and the kernel's models agree on that
//! pattern (both compile it to a plain `lock cmpxchg` on x86-64 and an acquire/release CAS on
//! arm64), and `core`'s atomics are what loom can stand in for, so the model checked on the host is
//! the code that runs in the module.

#[cfg(not(loom))]
pub use core::sync::atomic::{AtomicU32, Ordering};

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicU32, Ordering};
