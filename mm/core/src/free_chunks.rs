// SPDX-License-Identifier: GPL-2.0

//! The free slots of a managed provider, kept per 2 MiB chunk.
//!
//! A provider's slots are grouped in chunks of [`CHUNK_SLOTS`] consecutive slots: 2 MiB of 4 KiB
//! pages, the size of a PMD folio. Each chunk has a header of 16 bytes (0.03 B per slot): how many
//! of its slots are free, the first of them (the others follow through a link the caller keeps in
//! each free slot, [`FreeChunks::initial_link`]), and its place in one of two lists: chunks whose
//! every slot is free (*whole*), and chunks with some free (*partial*). A page takes a slot of a
//! partial chunk first and breaks a whole chunk only when no partial one is left, so whole chunks
//! stay whole for moves that want 2 MiB at once ([`FreeChunks::take_chunk`]). The last chunk of a
//! provider whose size is not a multiple of 2 MiB is never whole.
//!
//! Everything is allocated in [`FreeChunks::new`]; the rest works in place, under the caller's
//! lock.

use crate::kalloc::{self, AllocError, BigVec};

/// Slots per chunk: 2 MiB of 4 KiB pages.
pub const CHUNK_SLOTS: u32 = 512;

/// No slot, no chunk: the end of a list.
pub const NONE: u32 = u32::MAX;

/// Which list a chunk is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum List {
    /// Every slot free.
    Whole,
    /// Some slots free.
    Partial,
    /// No slot free: on no list.
    Full,
}

/// A chunk's header.
#[derive(Debug, Clone, Copy)]
struct Head {
    free: u32,
    first: u32,
    prev: u32,
    next: u32,
}

/// The free slots of `len` slots, by chunk.
pub struct FreeChunks {
    heads: BigVec<Head>,
    whole: u32,
    partial: u32,
    free: u32,
    whole_chunks: u32,
}

impl FreeChunks {
    /// `len` free slots. Slot `i` must start with [`Self::initial_link`]`(i, len)` as its link.
    pub fn new(len: u32) -> Result<FreeChunks, AllocError> {
        if len == NONE {
            return Err(AllocError);
        }
        let n = len.div_ceil(CHUNK_SLOTS);
        let mut heads = kalloc::try_big_with_capacity(n as usize)?;
        for c in 0..n {
            let head = Head {
                free: chunk_len(c, len),
                first: c * CHUNK_SLOTS,
                prev: NONE,
                next: NONE,
            };
            // Within the capacity reserved above.
            kalloc::big_push_within_capacity(&mut heads, head);
        }
        let mut me = FreeChunks {
            heads,
            whole: NONE,
            partial: NONE,
            free: len,
            whole_chunks: 0,
        };
        // Pushed in reverse, so the lists run in slot order.
        for c in (0..n).rev() {
            let list = me.list_of(c);
            me.link(c, list);
        }
        Ok(me)
    }

    /// The link a free slot `i` of `len` starts with: the next slot of its chunk, or [`NONE`].
    pub fn initial_link(i: u32, len: u32) -> u32 {
        let next = i + 1;
        if next % CHUNK_SLOTS == 0 || next >= len {
            NONE
        } else {
            next
        }
    }

    /// Free slots in all.
    pub fn free(&self) -> u32 {
        self.free
    }

    /// Chunks whose every slot is free: how many 2 MiB moves [`Self::take_chunk`] can serve.
    pub fn whole_chunks(&self) -> u32 {
        self.whole_chunks
    }

    /// Bytes held on the heap.
    pub fn heap_bytes(&self) -> usize {
        self.heads.capacity() * size_of::<Head>()
    }

    /// Takes a free slot, of a partial chunk if there is one; `link_of(slot)` reads the link the
    /// caller keeps in a free slot. `None` when no slot is free.
    pub fn take(&mut self, link_of: impl Fn(u32) -> u32) -> Option<u32> {
        let c = if self.partial != NONE {
            self.partial
        } else {
            self.whole
        };
        if c == NONE {
            return None;
        }
        let before = self.list_of(c);
        let h = &mut self.heads[c as usize];
        let slot = h.first;
        h.first = link_of(slot);
        h.free -= 1;
        self.free -= 1;
        self.relist(c, before);
        Some(slot)
    }

    /// Takes every slot of a whole chunk and returns the first (a multiple of [`CHUNK_SLOTS`]);
    /// `None` when no chunk is whole.
    pub fn take_chunk(&mut self) -> Option<u32> {
        let c = self.whole;
        if c == NONE {
            return None;
        }
        self.unlink(c, List::Whole);
        let h = &mut self.heads[c as usize];
        h.free = 0;
        h.first = NONE;
        self.free -= CHUNK_SLOTS;
        Some(c * CHUNK_SLOTS)
    }

    /// Gives back `slot` (taken, not free; below the length): returns the link the caller stores
    /// in it.
    pub fn put(&mut self, slot: u32) -> u32 {
        let c = slot / CHUNK_SLOTS;
        let before = self.list_of(c);
        let h = &mut self.heads[c as usize];
        let link = h.first;
        h.first = slot;
        h.free += 1;
        self.free += 1;
        self.relist(c, before);
        link
    }

    fn list_of(&self, c: u32) -> List {
        let free = self.heads[c as usize].free;
        if free == 0 {
            List::Full
        } else if free == CHUNK_SLOTS {
            List::Whole
        } else {
            List::Partial
        }
    }

    /// Moves chunk `c`, which was on `before`, to the list its free count now says.
    fn relist(&mut self, c: u32, before: List) {
        let after = self.list_of(c);
        if after != before {
            self.unlink(c, before);
            self.link(c, after);
        }
    }

    fn list_head(&mut self, list: List) -> Option<&mut u32> {
        match list {
            List::Whole => Some(&mut self.whole),
            List::Partial => Some(&mut self.partial),
            List::Full => None,
        }
    }

    fn link(&mut self, c: u32, list: List) {
        if list == List::Whole {
            self.whole_chunks += 1;
        }
        let Some(head) = self.list_head(list) else {
            return;
        };
        let next = core::mem::replace(head, c);
        if next != NONE {
            self.heads[next as usize].prev = c;
        }
        let h = &mut self.heads[c as usize];
        h.prev = NONE;
        h.next = next;
    }

    fn unlink(&mut self, c: u32, list: List) {
        // A full chunk is on no list: its links are stale.
        if list == List::Full {
            return;
        }
        if list == List::Whole {
            self.whole_chunks -= 1;
        }
        let Head { prev, next, .. } = self.heads[c as usize];
        if prev != NONE {
            self.heads[prev as usize].next = next;
        } else if let Some(head) = self.list_head(list) {
            *head = next;
        }
        if next != NONE {
            self.heads[next as usize].prev = prev;
        }
    }
}

/// The number of slots of chunk `c` of `len`.
fn chunk_len(c: u32, len: u32) -> u32 {
    CHUNK_SLOTS.min(len - c * CHUNK_SLOTS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    /// Free chunks with the links kept in a plain array, as the clock keeps them in its slots.
    struct Model {
        chunks: FreeChunks,
        links: Vec<u32>,
        taken: Vec<bool>,
    }

    impl Model {
        fn new(len: u32) -> Model {
            Model {
                chunks: FreeChunks::new(len).unwrap(),
                links: (0..len).map(|i| FreeChunks::initial_link(i, len)).collect(),
                taken: (0..len).map(|_| false).collect(),
            }
        }

        fn take(&mut self) -> Option<u32> {
            let links = &self.links;
            let s = self.chunks.take(|i| links[i as usize])?;
            assert!(!self.taken[s as usize], "slot {s} handed out twice");
            self.taken[s as usize] = true;
            Some(s)
        }

        fn take_chunk(&mut self) -> Option<u32> {
            let first = self.chunks.take_chunk()?;
            for s in first..first + CHUNK_SLOTS {
                assert!(
                    !self.taken[s as usize],
                    "slot {s} of a whole chunk was taken"
                );
                self.taken[s as usize] = true;
            }
            Some(first)
        }

        fn put(&mut self, s: u32) {
            assert!(self.taken[s as usize]);
            self.taken[s as usize] = false;
            self.links[s as usize] = self.chunks.put(s);
        }

        fn chunk_free(&self, c: u32) -> usize {
            let len = self.taken.len() as u32;
            (c * CHUNK_SLOTS..c * CHUNK_SLOTS + chunk_len(c, len))
                .filter(|&s| !self.taken[s as usize])
                .count()
        }
    }

    #[test]
    fn a_fresh_provider_hands_out_slots_in_order() {
        // The short last chunk is partial, so it goes first; then the whole chunks, in order.
        let mut m = Model::new(2 * CHUNK_SLOTS + 3);
        for i in (2 * CHUNK_SLOTS..2 * CHUNK_SLOTS + 3).chain(0..2 * CHUNK_SLOTS) {
            assert_eq!(m.take(), Some(i));
        }
        assert_eq!(m.take(), None);
        assert_eq!(m.chunks.free(), 0);
    }

    #[test]
    fn pages_fill_a_partial_chunk_before_breaking_a_whole_one() {
        let mut m = Model::new(3 * CHUNK_SLOTS);
        assert_eq!(m.take(), Some(0));
        // Chunk 0 is partial: a 2 MiB move gets chunk 1 whole.
        assert_eq!(m.chunks.whole_chunks(), 2);
        assert_eq!(m.take_chunk(), Some(CHUNK_SLOTS));
        // Pages go on filling chunk 0, leaving chunk 2 whole.
        assert_eq!(m.take(), Some(1));
        m.put(0);
        assert_eq!(m.take(), Some(0));
        assert_eq!(m.chunks.whole_chunks(), 1);
        // A slot of chunk 1 given back makes it partial: pages go there first.
        m.put(CHUNK_SLOTS + 7);
        assert_eq!(m.take(), Some(CHUNK_SLOTS + 7));
        assert_eq!(m.take_chunk(), Some(2 * CHUNK_SLOTS));
        assert_eq!(m.take_chunk(), None);
    }

    #[test]
    fn a_chunk_given_back_slot_by_slot_is_whole_again() {
        let mut m = Model::new(2 * CHUNK_SLOTS);
        let first = m.take_chunk().unwrap();
        assert_eq!(m.chunks.whole_chunks(), 1);
        for s in (first..first + CHUNK_SLOTS).rev() {
            m.put(s);
        }
        assert_eq!(m.chunks.whole_chunks(), 2);
        assert_eq!(m.chunks.free(), 2 * CHUNK_SLOTS);
    }

    #[test]
    fn a_short_last_chunk_is_never_whole() {
        let mut m = Model::new(CHUNK_SLOTS + 10);
        assert_eq!(m.chunks.whole_chunks(), 1);
        assert_eq!(m.take_chunk(), Some(0));
        assert_eq!(m.take_chunk(), None);
        assert_eq!(m.take(), Some(CHUNK_SLOTS));
        assert!(FreeChunks::new(NONE).is_err());
        assert_eq!(Model::new(0).take(), None);
    }

    proptest! {
        /// Against a model of which slots are taken: no slot is handed out twice, a 2 MiB move
        /// succeeds exactly when some chunk is entirely free, a page takes a slot whenever one is
        /// free and never breaks a whole chunk while a partial one is left, and the counts agree.
        #[test]
        fn the_lists_agree_with_the_slots(
            chunks in 1u32..5,
            extra in 0u32..CHUNK_SLOTS,
            ops in proptest::collection::vec((0u8..10, any::<u32>()), 1..1000),
        ) {
            let len = chunks * CHUNK_SLOTS + extra;
            let mut m = Model::new(len);
            let nchunks = len.div_ceil(CHUNK_SLOTS);
            for (op, x) in ops {
                let is_whole = |m: &Model, c: u32| {
                    chunk_len(c, len) == CHUNK_SLOTS && m.chunk_free(c) == CHUNK_SLOTS as usize
                };
                let partial_exists = (0..nchunks).any(|c| m.chunk_free(c) > 0 && !is_whole(&m, c));
                let whole_exists = (0..nchunks).any(|c| is_whole(&m, c));
                let any_free = m.taken.iter().any(|t| !t);
                // Mostly pages, some given back, now and then 2 MiB: chunks fill up and empty.
                match op {
                    0..=5 => match m.take() {
                        Some(s) => {
                            let c = s / CHUNK_SLOTS;
                            // The slot's chunk had it free before: partial, unless none was.
                            let was_whole = chunk_len(c, len) == CHUNK_SLOTS
                                && m.chunk_free(c) == CHUNK_SLOTS as usize - 1;
                            prop_assert!(!(was_whole && partial_exists));
                        }
                        None => prop_assert!(!any_free),
                    },
                    6 => prop_assert_eq!(m.take_chunk().is_some(), whole_exists),
                    _ => {
                        let taken: Vec<u32> =
                            (0..len).filter(|&s| m.taken[s as usize]).collect();
                        if !taken.is_empty() {
                            m.put(taken[x as usize % taken.len()]);
                        }
                    }
                }
                let free = m.taken.iter().filter(|t| !**t).count() as u32;
                prop_assert_eq!(m.chunks.free(), free);
                let whole = (0..nchunks).filter(|&c| is_whole(&m, c)).count() as u32;
                prop_assert_eq!(m.chunks.whole_chunks(), whole);
                let (mut walked, mut c) = (0, m.chunks.whole);
                while c != NONE {
                    prop_assert!(is_whole(&m, c));
                    walked += 1;
                    c = m.chunks.heads[c as usize].next;
                }
                prop_assert_eq!(walked, whole);
                // And every chunk with some free slots but not whole is on the partial list, once.
                let partial = (0..nchunks)
                    .filter(|&c| m.chunk_free(c) > 0 && !is_whole(&m, c))
                    .count();
                let (mut walked, mut c, mut prev) = (0, m.chunks.partial, NONE);
                while c != NONE && walked <= partial {
                    prop_assert!(m.chunk_free(c) > 0 && !is_whole(&m, c));
                    prop_assert_eq!(m.chunks.heads[c as usize].prev, prev);
                    walked += 1;
                    prev = c;
                    c = m.chunks.heads[c as usize].next;
                }
                prop_assert_eq!(walked, partial);
            }
        }
    }
}
