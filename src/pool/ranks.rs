//! A set of priority ranks as a two-level bitmap: find-next-set-bit in a word, and one summary
//! bit per 64-rank word, so a scan skips 4,096 empty ranks at a time.

/// Ranks `0..n` in a two-level bitmap.
///
/// ```
/// use keypool::pool::ranks::RankSet;
/// let mut s = RankSet::new(10_000);
/// s.insert(9_000);
/// s.insert(42);
/// assert_eq!(s.first(0, 10_000, |_| false), Some(42));
/// assert_eq!(s.first(0, 10_000, |r| r == 42), Some(9_000));
/// s.remove(42);
/// assert_eq!(s.first(43, 9_000, |_| false), None);
/// ```
#[derive(Debug, Clone)]
pub struct RankSet {
    bits: Vec<u64>,
    summary: Vec<u64>,
    len: usize,
}

impl RankSet {
    /// An empty set for ranks `0..n`.
    pub fn new(n: usize) -> Self {
        RankSet {
            bits: vec![0; n.div_ceil(64)],
            summary: vec![0; n.div_ceil(64).div_ceil(64)],
            len: 0,
        }
    }

    /// Number of ranks in the set.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the set holds no rank.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds rank `r` (no-op when present).
    pub fn insert(&mut self, r: u32) {
        let r = r as usize;
        let bit = 1u64 << (r % 64);
        if self.bits[r / 64] & bit == 0 {
            self.bits[r / 64] |= bit;
            self.summary[r / 4096] |= 1 << (r / 64 % 64);
            self.len += 1;
        }
    }

    /// Removes rank `r` (no-op when absent).
    pub fn remove(&mut self, r: u32) {
        let r = r as usize;
        let bit = 1u64 << (r % 64);
        if self.bits[r / 64] & bit != 0 {
            self.bits[r / 64] &= !bit;
            if self.bits[r / 64] == 0 {
                self.summary[r / 4096] &= !(1 << (r / 64 % 64));
            }
            self.len -= 1;
        }
    }

    /// The lowest rank in `from..end` for which `skip` is false.
    pub fn first(&self, mut from: u32, end: u32, skip: impl Fn(u32) -> bool) -> Option<u32> {
        while from < end {
            let w = (from / 64) as usize;
            let word = *self.bits.get(w)? & (!0u64 << (from % 64));
            if word == 0 {
                from = self.next_word(w + 1)? as u32 * 64;
                continue;
            }
            let r = w as u32 * 64 + word.trailing_zeros();
            if r >= end {
                return None;
            }
            if !skip(r) {
                return Some(r);
            }
            from = r + 1;
        }
        None
    }

    /// The first word of `bits` at or after `w` with a bit set.
    fn next_word(&self, w: usize) -> Option<usize> {
        let mut sw = w / 64;
        let mut word = *self.summary.get(sw)? & (!0u64 << (w % 64));
        loop {
            if word != 0 {
                return Some(sw * 64 + word.trailing_zeros() as usize);
            }
            sw += 1;
            word = *self.summary.get(sw)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// Behaves as an ordered set of ranks, across word and summary boundaries.
        #[test]
        fn matches_an_ordered_set(
            ops in proptest::collection::vec((any::<bool>(), 0u32..9_000), 0..300),
            from in 0u32..9_000,
            end in 0u32..9_001,
            banned in 0u32..9_000,
        ) {
            let mut s = RankSet::new(9_000);
            let mut model = BTreeSet::new();
            for (add, r) in ops {
                if add {
                    s.insert(r);
                    model.insert(r);
                } else {
                    s.remove(r);
                    model.remove(&r);
                }
                prop_assert_eq!(s.len(), model.len());
            }
            let want = model.range(from..end.max(from)).copied().find(|&r| r != banned);
            prop_assert_eq!(s.first(from, end, |r| r == banned), want);
        }
    }
}
