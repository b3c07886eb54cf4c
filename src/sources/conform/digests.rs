//! The set of a load's key digests.
//!
//! A month of a big source holds millions of keys, so the set outgrows the
//! caches and every insert waits on memory (a cache miss per row was 5% of a
//! 100k-customer year's load, its regrowth 4% more). This set is one flat
//! table of 16-byte slots probed linearly, so a batch's digests can have
//! their slots fetched a few rows ahead ([`DigestSet::prefetch`]) and the
//! waits overlap; hashbrown's set has no way to ask for a slot's address.

/// A set of 128-bit digests. Digests are uniform hashes already, so a
/// digest's low bits are its home slot.
#[derive(Default)]
pub(super) struct DigestSet {
    /// A power of two of slots (or none); 0 marks a free slot, so the
    /// digest 0 itself is kept aside in `zero`.
    slots: Vec<u128>,
    /// Used slots.
    used: usize,
    zero: bool,
}

/// The first table's slots.
const MIN_SLOTS: usize = 1 << 10;

/// The table doubles past this share of slots used (in tenths): at 7/10 an
/// insert probes ~6 slots at worst (1.5 cache lines), 2-3 on average.
const MAX_LOAD_TENTHS: usize = 7;

impl DigestSet {
    pub fn len(&self) -> usize {
        self.used + usize::from(self.zero)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    fn home(&self, d: u128) -> usize {
        (d as u64 as usize) & (self.slots.len() - 1)
    }

    /// Room for `more` digests without growing (so a batch's prefetches
    /// stay valid while it is inserted).
    pub fn reserve(&mut self, more: usize) {
        let need = self.used + more;
        if self.slots.len() * MAX_LOAD_TENTHS >= need * 10 && !self.slots.is_empty() {
            return;
        }
        let mut n = self.slots.len().max(MIN_SLOTS);
        while n * MAX_LOAD_TENTHS < need * 10 {
            n *= 2;
        }
        // Zeroed by writing, not `vec![0; n]`: calloc's fresh pages would
        // map the shared zero page on the first probe's read, and the first
        // write would then fault again and flush every core's TLB (loads took
        // 20% longer, measured).
        #[allow(clippy::slow_vector_initialization)]
        let table = {
            let mut t = Vec::with_capacity(n);
            t.resize(n, 0);
            t
        };
        let old = std::mem::replace(&mut self.slots, table);
        for d in old.into_iter().filter(|&d| d != 0) {
            let (i, _) = self.probe(d);
            self.slots[i] = d;
        }
    }

    /// `d`'s slot in a non-empty table: where it is (true), or the free
    /// slot that ends its run, where it would go (false).
    #[inline]
    fn probe(&self, d: u128) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(d);
        loop {
            match self.slots[i] {
                0 => return (i, false),
                s if s == d => return (i, true),
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// Ask the CPU for `d`'s home slot, to be inserted a few rows later. A
    /// hint only: it changes no result.
    #[inline]
    pub fn prefetch(&self, d: u128) {
        #[cfg(target_arch = "x86_64")]
        if !self.slots.is_empty() {
            use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
            let slot = self.slots[self.home(d)..].as_ptr();
            // SAFETY: a prefetch reads nothing the program sees and never
            // faults; the address is inside the table anyway.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(slot.cast()) };
        }
    }

    /// Add `d`; false when it was already in.
    #[inline]
    pub fn insert(&mut self, d: u128) -> bool {
        if d == 0 {
            return !std::mem::replace(&mut self.zero, true);
        }
        self.reserve(1);
        let (i, found) = self.probe(d);
        if !found {
            self.slots[i] = d;
            self.used += 1;
        }
        !found
    }

    #[cfg(test)]
    pub fn contains(&self, d: u128) -> bool {
        if d == 0 {
            return self.zero;
        }
        self.find(d).is_some()
    }

    fn find(&self, d: u128) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        match self.probe(d) {
            (i, true) => Some(i),
            _ => None,
        }
    }

    /// Take `d` out; false when it was not in. The digests after it in its
    /// run move back into the gap, so every digest stays reachable from its
    /// home slot without tombstones.
    pub fn remove(&mut self, d: u128) -> bool {
        if d == 0 {
            return std::mem::replace(&mut self.zero, false);
        }
        let Some(mut gap) = self.find(d) else {
            return false;
        };
        let mask = self.slots.len() - 1;
        self.slots[gap] = 0;
        self.used -= 1;
        let mut j = gap;
        loop {
            j = (j + 1) & mask;
            let s = self.slots[j];
            if s == 0 {
                return true;
            }
            let home = self.home(s);
            // `s` stays when its home lies cyclically in (gap, j]: moving
            // it to the gap would put it before its home.
            let stays = if gap <= j {
                gap < home && home <= j
            } else {
                gap < home || home <= j
            };
            if !stays {
                self.slots[gap] = s;
                self.slots[j] = 0;
                gap = j;
            }
        }
    }

    /// Forget every digest (the table is kept for the next file's).
    pub fn clear(&mut self) {
        self.slots.fill(0);
        self.used = 0;
        self.zero = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Random inserts and removals, checked against the standard library's
    /// set after every step; digests with few distinct low bits crowd a few
    /// home slots, so runs wrap around the table's end and removals shift
    /// long runs.
    #[test]
    fn agrees_with_a_plain_set() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        for crowd in [u64::MAX, 0xff, 0x3, 0] {
            let (mut set, mut plain) = (DigestSet::default(), HashSet::new());
            for step in 0..20_000 {
                // Low bits squeezed; high bits keep the digests apart.
                let d = (u128::from(next()) << 64) | u128::from(next() & crowd);
                let d = if step % 97 == 0 { 0 } else { d };
                match next() % 3 {
                    0 if !plain.is_empty() => {
                        // Remove one inserted before (or a digest never in).
                        let victim = if next() % 4 == 0 {
                            d ^ 1
                        } else {
                            *plain.iter().next().expect("not empty")
                        };
                        assert_eq!(
                            set.remove(victim),
                            plain.remove(&victim),
                            "remove {victim:x}"
                        );
                    }
                    _ => assert_eq!(set.insert(d), plain.insert(d), "insert {d:x}"),
                }
                assert_eq!(set.len(), plain.len());
                if step % 1000 == 0 {
                    for &d in &plain {
                        assert!(set.contains(d), "lost {d:x} at step {step}");
                    }
                }
            }
            for &d in &plain {
                assert!(set.contains(d));
            }
            set.clear();
            assert!(set.is_empty() && !set.contains(0));
            assert!(plain.iter().all(|&d| !set.contains(d)));
        }
    }

    /// A run that wraps past the table's last slot, then a removal at its
    /// start: the wrapped digests move back and stay findable.
    #[test]
    fn removal_in_a_run_that_wraps() {
        let mut set = DigestSet::default();
        set.reserve(1);
        let n = set.slots.len() as u128;
        let last = n - 1;
        // Four digests homed at the last slot, two at slot 0.
        let at = |home: u128, k: u128| (k << 64) | home;
        let ds = [
            at(last, 1),
            at(last, 2),
            at(last, 3),
            at(0, 4),
            at(last, 5),
            at(0, 6),
        ];
        for d in ds {
            assert!(set.insert(d));
        }
        assert!(set.remove(ds[0]));
        assert!(set.remove(ds[3]));
        for d in [ds[1], ds[2], ds[4], ds[5]] {
            assert!(set.contains(d), "{d:x}");
        }
        assert!(!set.contains(ds[0]) && !set.contains(ds[3]));
        assert_eq!(set.len(), 4);
    }
}
