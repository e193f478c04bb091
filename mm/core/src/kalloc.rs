// SPDX-License-Identifier: GPL-2.0

//! Fallible growable arrays for the core, on the kernel's allocator in the module and `alloc` on
//! the host.
//!
//! The kernel's `KVec` takes GFP flags on every call that may allocate and has no infallible
//! `push`; the host's `Vec` aborts on allocation failure unless asked with `try_reserve`. The core
//! therefore calls these helpers for every operation that may allocate, so the same source is
//! fallible in both builds. Calls that never allocate (`len`, `truncate`, `pop`, `clear`, indexing
//! and slice methods through `Deref`) have the same signature on both and are made directly.
//!
//! All allocations here may sleep (`GFP_KERNEL`): the core allocates only on ioctl and fault paths,
//! never under a spinlock (see `eviction.rs` for the parts that must not allocate at all).
//!
//! `KVec` is kmalloc-backed, so one array is limited to `KMALLOC_MAX_SIZE` (4 MiB on x86-64). The
//! core keeps its arrays small (e.g. `range_index.rs` splits its entries into blocks). Per-page
//! state of a provider is stored in pieces of one page each (`slot_table.rs`); the index of those
//! pieces still grows with the provider, so it is a [`BigVec`]: `KVVec` in the module, which falls
//! back to vmalloc when kmalloc cannot give it in one piece.

#[cfg(MODULE)]
use kernel::alloc::flags::GFP_KERNEL;
#[cfg(MODULE)]
pub use kernel::alloc::{AllocError, KVVec as BigVec, KVec as Vec};

#[cfg(not(MODULE))]
pub use alloc::vec::Vec;

/// An array that may grow past what kmalloc gives in one piece (`KVVec` in the module).
#[cfg(not(MODULE))]
pub type BigVec<T> = Vec<T>;

/// The allocation failed (`ENOMEM`).
#[cfg(not(MODULE))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocError;

/// Returns an empty array with room for `n` elements.
pub fn try_with_capacity<T>(n: usize) -> Result<Vec<T>, AllocError> {
    #[cfg(MODULE)]
    {
        Vec::with_capacity(n, GFP_KERNEL)
    }
    #[cfg(not(MODULE))]
    {
        let mut v = Vec::new();
        v.try_reserve_exact(n).map_err(|_| AllocError)?;
        Ok(v)
    }
}

/// Returns an array of `n` copies of `value`, allocated once.
pub fn try_from_elem<T: Clone>(value: T, n: usize) -> Result<Vec<T>, AllocError> {
    #[cfg(MODULE)]
    {
        Vec::from_elem(value, n, GFP_KERNEL)
    }
    #[cfg(not(MODULE))]
    {
        let mut v = try_with_capacity(n)?;
        // Within the capacity just reserved: no further allocation.
        v.resize(n, value);
        Ok(v)
    }
}

/// Returns an empty [`BigVec`] with room for `n` elements.
pub fn try_big_with_capacity<T>(n: usize) -> Result<BigVec<T>, AllocError> {
    #[cfg(MODULE)]
    {
        BigVec::with_capacity(n, GFP_KERNEL)
    }
    #[cfg(not(MODULE))]
    {
        try_with_capacity(n)
    }
}

/// Appends `x` to a [`BigVec`] if it has room for it, never allocating; `false` when it is full.
pub fn big_push_within_capacity<T>(v: &mut BigVec<T>, x: T) -> bool {
    #[cfg(MODULE)]
    {
        v.push_within_capacity(x).is_ok()
    }
    #[cfg(not(MODULE))]
    {
        push_within_capacity(v, x)
    }
}

/// Appends `x`, growing the array if it is full.
pub fn try_push<T>(v: &mut Vec<T>, x: T) -> Result<(), AllocError> {
    #[cfg(MODULE)]
    {
        v.push(x, GFP_KERNEL)
    }
    #[cfg(not(MODULE))]
    {
        v.try_reserve(1).map_err(|_| AllocError)?;
        v.push(x);
        Ok(())
    }
}

/// Appends `x` if the array has room for it, never allocating; `false` (and `x` dropped) when it is
/// full.
pub fn push_within_capacity<T>(v: &mut Vec<T>, x: T) -> bool {
    #[cfg(MODULE)]
    {
        v.push_within_capacity(x).is_ok()
    }
    #[cfg(not(MODULE))]
    {
        if v.len() == v.capacity() {
            return false;
        }
        v.push(x);
        true
    }
}

/// Inserts `x` at `index`, shifting the elements after it, growing the array if it is full.
///
/// An `index` past the end is a caller bug; it is reported as [`AllocError`] rather than a panic,
/// and the array is left unchanged.
pub fn try_insert<T>(v: &mut Vec<T>, index: usize, x: T) -> Result<(), AllocError> {
    if index > v.len() {
        return Err(AllocError);
    }
    #[cfg(MODULE)]
    {
        // KVec has no allocating insert: make room first, then insert within the capacity (which
        // cannot fail now that the index is checked and one free element is reserved).
        v.reserve(1, GFP_KERNEL)?;
        v.insert_within_capacity(index, x).map_err(|_| AllocError)
    }
    #[cfg(not(MODULE))]
    {
        v.try_reserve(1).map_err(|_| AllocError)?;
        v.insert(index, x);
        Ok(())
    }
}

/// Appends a copy of every element of `s`, growing the array if needed.
pub fn try_extend_from_slice<T: Clone>(v: &mut Vec<T>, s: &[T]) -> Result<(), AllocError> {
    #[cfg(MODULE)]
    {
        v.extend_from_slice(s, GFP_KERNEL)
    }
    #[cfg(not(MODULE))]
    {
        v.try_reserve(s.len()).map_err(|_| AllocError)?;
        v.extend_from_slice(s);
        Ok(())
    }
}

/// Removes and returns the element at `index`, shifting the elements after it; `None` if out of
/// range.
pub fn remove<T>(v: &mut Vec<T>, index: usize) -> Option<T> {
    #[cfg(MODULE)]
    {
        v.remove(index).ok()
    }
    #[cfg(not(MODULE))]
    {
        if index < v.len() {
            Some(v.remove(index))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_behave_like_vec() {
        let mut v: Vec<u32> = try_with_capacity(4).unwrap();
        assert!(v.capacity() >= 4);
        try_push(&mut v, 1).unwrap();
        try_push(&mut v, 3).unwrap();
        try_insert(&mut v, 1, 2).unwrap();
        try_insert(&mut v, 3, 4).unwrap();
        try_extend_from_slice(&mut v, &[5, 6]).unwrap();
        assert_eq!(v.as_slice(), &[1, 2, 3, 4, 5, 6]);
        assert_eq!(remove(&mut v, 0), Some(1));
        assert_eq!(remove(&mut v, 9), None);
        assert_eq!(v.as_slice(), &[2, 3, 4, 5, 6]);
        assert_eq!(try_from_elem(7u8, 3).unwrap().as_slice(), &[7, 7, 7]);
    }

    #[test]
    fn insert_past_the_end_is_an_error_not_a_panic() {
        let mut v: Vec<u32> = Vec::new();
        assert_eq!(try_insert(&mut v, 1, 0), Err(AllocError));
        assert!(v.is_empty());
    }

    #[test]
    fn absurd_capacity_is_an_error_not_an_abort() {
        assert_eq!(
            try_with_capacity::<u64>(usize::MAX / 4).err(),
            Some(AllocError)
        );
    }
}
