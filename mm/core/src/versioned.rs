// SPDX-License-Identifier: GPL-2.0

//! Copy, change, swap if unchanged: how to change state that lives behind a lock under which
//! nothing may allocate.
//!
//! The advice of an open `/dev/p2pmm` (`mm/space.rs`) lives behind an `mmu_interval_notifier`'s
//! lock, which core mm takes inside `invalidate_range_start`; reclaim can get there, so nothing may
//! allocate while holding it. Unmaps change the state in place under the lock without allocating
//! ([`Versioned::invalidate`]); every other change is made by [`update`] in lock sections that only
//! read or swap, with the allocation between them:
//!
//! 1. Size a buffer (under the lock: `room`), allocate it (outside).
//! 2. Copy the state into the buffer and read its generation (under the lock: `copy`, which can
//!    only fill the buffer's spare capacity through a [`FixedBuf`]; if the state grew in between it
//!    does not fit, and the next attempt is sized again).
//! 3. Build the new state from the copy and apply the change (outside the lock: `change`, which may
//!    allocate).
//! 4. Swap the new state in if the generation is still the one of the copy, bumping it (under the
//!    lock, which only moves the value); otherwise something changed the state in between, the new
//!    state is thrown away and the update starts over from 2. The old (or rejected) state is freed
//!    after the lock is released.
//!
//! Every change bumps the generation, so a swap never overwrites a change it did not see: an unmap
//! that lands between the copy and the swap is never undone by it, and neither is a concurrent
//! update. After `attempts` lost races the update gives up with [`UpdateError::Raced`] (`EAGAIN`).
//!
//! The closures that run under the lock get only `&` to the state and a buffer that cannot grow,
//! and they return plain values; whatever allocates (the buffer, the new state) or frees (the old
//! state) happens in this file, and outside the lock. `tests/loom_versioned.rs` checks the protocol
//! under every interleaving of an update with an unmap and with a second update, on the real
//! [`crate::advice::AdviceMap`].

use crate::kalloc::{self, AllocError, Vec};

/// A lock and the state it protects: the kernel's notifier lock, a loom mutex in the model, a cell
/// in unit tests.
pub trait LockedState {
    /// What the lock protects.
    type State;

    /// Runs `f` with the lock held. `f` must not allocate (the protocol's closures are the only
    /// callers).
    fn with<R>(&self, f: impl FnOnce(&mut Self::State) -> R) -> R;
}

/// State that changes only by in-place invalidation or by a swap, with a generation count that each
/// bumps.
///
/// The fields are private so nothing can change the state behind the generation's back.
pub struct Versioned<M> {
    map: M,
    generation: u64,
}

impl<M> Versioned<M> {
    /// `map` at generation 0.
    pub const fn new(map: M) -> Self {
        Versioned { map, generation: 0 }
    }

    /// The current state.
    pub fn map(&self) -> &M {
        &self.map
    }

    /// The number of changes made so far (wrapping, compared only for equality).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Changes the state in place, under the lock (an unmap): `forget` must not allocate. Bumps the
    /// generation, so an update whose copy predates this call starts over instead of swapping this
    /// change away.
    pub fn invalidate<R>(&mut self, forget: impl FnOnce(&mut M) -> R) -> R {
        let r = forget(&mut self.map);
        self.generation = self.generation.wrapping_add(1);
        r
    }
}

/// A buffer that takes what fits in its spare capacity and never grows: what the copying closure
/// fills under the lock.
pub struct FixedBuf<'a, T> {
    out: &'a mut Vec<T>,
}

impl<'a, T> FixedBuf<'a, T> {
    /// Appends to `out` within its current capacity.
    pub fn new(out: &'a mut Vec<T>) -> Self {
        FixedBuf { out }
    }

    /// Appends `x` if there is room, never allocating; `false` (and `x` dropped) when the buffer is
    /// full.
    pub fn push(&mut self, x: T) -> bool {
        kalloc::push_within_capacity(self.out, x)
    }

    /// The number of elements in the buffer.
    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Whether the buffer holds no element.
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    /// How many more elements fit.
    pub fn spare(&self) -> usize {
        self.out.capacity() - self.out.len()
    }
}

/// A copy taken under the lock, and the generation it was taken at.
pub struct Snapshot<T> {
    /// What the copying closure put in the buffer.
    pub items: Vec<T>,
    /// The generation of the state when it was copied.
    pub generation: u64,
}

/// Why [`snapshot`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyError {
    /// The buffer could not be allocated (`ENOMEM`).
    NoMemory,
    /// The state kept outgrowing the buffer for every attempt (`EAGAIN`).
    Raced,
}

impl From<AllocError> for CopyError {
    fn from(_: AllocError) -> Self {
        CopyError::NoMemory
    }
}

/// Why [`update`] failed; the state is unchanged by it in every case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateError<E> {
    /// The buffer could not be allocated (`ENOMEM`).
    NoMemory,
    /// Every attempt lost a race: the state changed between its copy and its swap, or outgrew its
    /// buffer (`EAGAIN`).
    Raced,
    /// The change failed (on the copy).
    Change(E),
}

impl<E> From<AllocError> for UpdateError<E> {
    fn from(_: AllocError) -> Self {
        UpdateError::NoMemory
    }
}

impl<E> From<CopyError> for UpdateError<E> {
    fn from(e: CopyError) -> Self {
        match e {
            CopyError::NoMemory => UpdateError::NoMemory,
            CopyError::Raced => UpdateError::Raced,
        }
    }
}

/// One copying lock section into `buf` (emptied and, if too small for `room`, reallocated outside
/// the lock first): the generation copied at, or the room the state needs now.
fn copy_once<L, M, T>(
    lock: &L,
    buf: &mut Vec<T>,
    room: usize,
    room_of: &impl Fn(&M) -> usize,
    copy: &impl Fn(&M, &mut FixedBuf<'_, T>) -> bool,
) -> Result<Result<u64, usize>, AllocError>
where
    L: LockedState<State = Versioned<M>>,
{
    buf.clear();
    if buf.capacity() < room {
        // The old buffer is freed here, outside the lock.
        *buf = kalloc::try_with_capacity(room)?;
    }
    Ok(lock.with(|s| {
        if copy(&s.map, &mut FixedBuf::new(buf)) {
            Ok(s.generation)
        } else {
            Err(room_of(&s.map))
        }
    }))
}

/// Copies the state out of the lock: `room` tells under the lock how many items a copy needs,
/// `copy` fills a buffer of that many (under the lock, returning `false` if they do not fit). Gives
/// up with [`CopyError::Raced`] after `attempts` copies that did not fit.
pub fn snapshot<L, M, T>(
    lock: &L,
    attempts: u32,
    room: impl Fn(&M) -> usize,
    copy: impl Fn(&M, &mut FixedBuf<'_, T>) -> bool,
) -> Result<Snapshot<T>, CopyError>
where
    L: LockedState<State = Versioned<M>>,
{
    let mut need = lock.with(|s| room(&s.map));
    let mut items = Vec::new();
    for _ in 0..attempts {
        match copy_once(lock, &mut items, need, &room, &copy)? {
            Ok(generation) => return Ok(Snapshot { items, generation }),
            Err(n) => need = n,
        }
    }
    Err(CopyError::Raced)
}

/// Replaces the state with `change` of a copy of it, unless the state changed in between (then
/// starts over).
///
/// `room` and `copy` take the copy as for [`snapshot`] (under the lock, without allocating);
/// `change` builds the new state from the copied items outside the lock (it may allocate; its error
/// ends the update). An attempt is lost when the copy does not fit or when the generation moved
/// before the swap; after `attempts` lost attempts the update fails with [`UpdateError::Raced`],
/// leaving the state as the other changes made it.
pub fn update<L, M, T, E>(
    lock: &L,
    attempts: u32,
    room: impl Fn(&M) -> usize,
    copy: impl Fn(&M, &mut FixedBuf<'_, T>) -> bool,
    mut change: impl FnMut(&[T]) -> Result<M, E>,
) -> Result<(), UpdateError<E>>
where
    L: LockedState<State = Versioned<M>>,
{
    let mut need = lock.with(|s| room(&s.map));
    let mut items = Vec::new();
    for _ in 0..attempts {
        let generation = match copy_once(lock, &mut items, need, &room, &copy)? {
            Ok(generation) => generation,
            Err(n) => {
                need = n;
                continue;
            }
        };
        let new = change(&items).map_err(UpdateError::Change)?;
        let swapped = lock.with(|s| {
            if s.generation == generation {
                s.generation = s.generation.wrapping_add(1);
                Ok(core::mem::replace(&mut s.map, new))
            } else {
                // Handed back to be freed outside the lock, with the room the next copy needs.
                Err((new, room(&s.map)))
            }
        });
        // The old state, or the rejected new one, is freed here: outside the lock.
        match swapped {
            Ok(old) => {
                drop(old);
                return Ok(());
            }
            Err((rejected, n)) => {
                drop(rejected);
                need = n;
            }
        }
    }
    Err(UpdateError::Raced)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use core::cell::{Cell, RefCell};
    use std::boxed::Box;
    use std::rc::Rc;
    use std::vec::Vec as StdVec;

    /// A set of numbers that checks it is never freed under the lock.
    struct Set {
        items: StdVec<u32>,
        locked: Rc<Cell<bool>>,
    }

    impl Drop for Set {
        fn drop(&mut self) {
            assert!(!self.locked.get(), "state freed under the lock");
        }
    }

    type Hook = Box<dyn FnMut(u32, &mut Versioned<Set>)>;

    /// A "lock" that counts its sections and, before section `n` (from 1), runs `hook(n, state)`:
    /// another thread that got the lock just before.
    struct Locked {
        state: RefCell<Versioned<Set>>,
        locked: Rc<Cell<bool>>,
        sections: Cell<u32>,
        hook: RefCell<Option<Hook>>,
    }

    impl LockedState for Locked {
        type State = Versioned<Set>;

        fn with<R>(&self, f: impl FnOnce(&mut Versioned<Set>) -> R) -> R {
            let n = self.sections.get() + 1;
            self.sections.set(n);
            let mut state = self.state.borrow_mut();
            if let Some(hook) = self.hook.borrow_mut().as_mut() {
                hook(n, &mut state);
            }
            assert!(!self.locked.replace(true), "lock taken twice");
            let r = f(&mut state);
            self.locked.set(false);
            r
        }
    }

    impl Locked {
        fn new(items: &[u32]) -> Self {
            let locked = Rc::new(Cell::new(false));
            Locked {
                state: RefCell::new(Versioned::new(Set {
                    items: items.into(),
                    locked: locked.clone(),
                })),
                locked,
                sections: Cell::new(0),
                hook: RefCell::new(None),
            }
        }

        fn hook(&self, f: impl FnMut(u32, &mut Versioned<Set>) + 'static) {
            *self.hook.borrow_mut() = Some(Box::new(f));
        }

        fn items(&self) -> StdVec<u32> {
            self.state.borrow().map().items.clone()
        }

        fn generation(&self) -> u64 {
            self.state.borrow().generation()
        }

        fn set(&self, items: &[u32]) -> Set {
            Set {
                items: items.into(),
                locked: self.locked.clone(),
            }
        }

        /// Adds `x` as an update, counting the calls of `change` (each checks it runs outside the
        /// lock).
        fn add(&self, x: u32, attempts: u32, calls: &Cell<u32>) -> Result<(), UpdateError<()>> {
            update(
                self,
                attempts,
                |m: &Set| m.items.len(),
                |m: &Set, out: &mut FixedBuf<'_, u32>| m.items.iter().all(|&i| out.push(i)),
                |items: &[u32]| {
                    assert!(!self.locked.get(), "change under the lock");
                    calls.set(calls.get() + 1);
                    let mut v = StdVec::from(items);
                    v.push(x);
                    Ok(self.set(&v))
                },
            )
        }
    }

    /// An unmap: drops `x` in place and bumps the generation.
    fn forget(s: &mut Versioned<Set>, x: u32) {
        s.invalidate(|m| m.items.retain(|&i| i != x));
    }

    #[test]
    fn uncontended_update_takes_three_sections_and_one_generation() {
        let l = Locked::new(&[1, 2]);
        let calls = Cell::new(0);
        l.add(3, 1, &calls).unwrap();
        assert_eq!(l.items(), [1, 2, 3]);
        assert_eq!(l.generation(), 1);
        // Sizing, copying, swapping.
        assert_eq!(l.sections.get(), 3);
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn an_unmap_before_the_swap_is_kept_and_the_update_redone() {
        let l = Locked::new(&[1, 2]);
        l.hook(|n, s| {
            if n == 3 {
                forget(s, 1);
            }
        });
        let calls = Cell::new(0);
        l.add(3, 2, &calls).unwrap();
        // Without the generation check the swap would have brought 1 back.
        assert_eq!(l.items(), [2, 3]);
        assert_eq!(l.generation(), 2);
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn retries_run_out_with_raced_and_the_state_as_the_unmaps_left_it() {
        let l = Locked::new(&[1, 2, 3, 4]);
        // An unmap lands before every swap (sections 3, 5, 7: after sizing, each attempt copies
        // then swaps).
        l.hook(|n, s| {
            if n % 2 == 1 && n > 1 {
                forget(s, n / 2);
            }
        });
        let calls = Cell::new(0);
        assert_eq!(l.add(9, 3, &calls), Err(UpdateError::Raced));
        assert_eq!(calls.get(), 3);
        assert_eq!(l.items(), [4]);
        assert_eq!(l.generation(), 3);
        assert_eq!(l.sections.get(), 7);
    }

    #[test]
    fn no_attempts_is_raced_without_calling_change() {
        let l = Locked::new(&[1]);
        let calls = Cell::new(0);
        assert_eq!(l.add(2, 0, &calls), Err(UpdateError::Raced));
        assert_eq!(calls.get(), 0);
        assert_eq!(l.items(), [1]);
        assert_eq!(
            snapshot(
                &l,
                0,
                |m: &Set| m.items.len(),
                |_, _: &mut FixedBuf<'_, u32>| true
            )
            .err(),
            Some(CopyError::Raced)
        );
    }

    #[test]
    fn a_state_that_outgrew_its_buffer_is_copied_again() {
        let l = Locked::new(&[1]);
        // Between sizing (one item) and copying, the state grows by 20.
        l.hook(|n, s| {
            if n == 2 {
                s.map.items.extend(2..22);
            }
        });
        let calls = Cell::new(0);
        l.add(4, 2, &calls).unwrap();
        assert_eq!(l.items(), (1..22).chain([4]).collect::<StdVec<_>>());
        assert_eq!(calls.get(), 1);
        // Sizing, a copy that did not fit (and sized again), a copy, the swap.
        assert_eq!(l.sections.get(), 4);
        // Growing behind the generation's back (only the test can) is not a change the swap would
        // notice.
        assert_eq!(l.generation(), 1);
    }

    #[test]
    fn outgrowing_every_buffer_runs_out_of_attempts() {
        let l = Locked::new(&[]);
        l.hook(|_, s| s.map.items.extend(0..20));
        let calls = Cell::new(0);
        assert_eq!(l.add(0, 4, &calls), Err(UpdateError::Raced));
        assert_eq!(calls.get(), 0);
        let got = snapshot(
            &l,
            3,
            |m: &Set| m.items.len(),
            |m: &Set, out: &mut FixedBuf<'_, u32>| m.items.iter().all(|&i| out.push(i)),
        );
        assert_eq!(got.err(), Some(CopyError::Raced));
    }

    #[test]
    fn a_failed_change_leaves_the_state_alone() {
        let l = Locked::new(&[1]);
        let r: Result<(), UpdateError<&str>> = update(
            &l,
            5,
            |m: &Set| m.items.len(),
            |m: &Set, out: &mut FixedBuf<'_, u32>| m.items.iter().all(|&i| out.push(i)),
            |_| Err("no"),
        );
        assert_eq!(r, Err(UpdateError::Change("no")));
        assert_eq!(l.items(), [1]);
        assert_eq!(l.generation(), 0);
        // Sizing and copying; no swap.
        assert_eq!(l.sections.get(), 2);
    }

    #[test]
    fn an_unallocatable_buffer_is_no_memory() {
        let l = Locked::new(&[1]);
        let r: Result<(), UpdateError<()>> = update(
            &l,
            5,
            |_: &Set| usize::MAX / 8,
            |_, _: &mut FixedBuf<'_, u64>| true,
            |_| unreachable!(),
        );
        assert_eq!(r, Err(UpdateError::NoMemory));
        let s = snapshot(
            &l,
            5,
            |_: &Set| usize::MAX / 8,
            |_, _: &mut FixedBuf<'_, u64>| true,
        );
        assert_eq!(s.err(), Some(CopyError::NoMemory));
        assert_eq!(l.generation(), 0);
    }

    #[test]
    fn snapshot_copies_a_range_with_its_generation() {
        let l = Locked::new(&[1, 5, 7, 9]);
        l.state.borrow_mut().invalidate(|_| ());
        let s = snapshot(
            &l,
            1,
            |m: &Set| m.items.len(),
            |m: &Set, out: &mut FixedBuf<'_, u32>| {
                m.items
                    .iter()
                    .filter(|&&i| (4..8).contains(&i))
                    .all(|&i| out.push(i))
            },
        )
        .unwrap();
        assert_eq!(s.items, [5, 7]);
        assert_eq!(s.generation, 1);
    }

    #[test]
    fn fixed_buf_never_grows() {
        let mut v: Vec<u32> = kalloc::try_with_capacity(2).unwrap();
        let cap = v.capacity();
        let mut b = FixedBuf::new(&mut v);
        assert!(b.is_empty());
        let mut pushed = 0;
        while b.push(pushed) {
            pushed += 1;
        }
        assert_eq!(b.len(), cap);
        assert_eq!(b.spare(), 0);
        assert_eq!(v.capacity(), cap);
        assert_eq!(v[..], (0..pushed).collect::<StdVec<_>>()[..]);
    }
}
