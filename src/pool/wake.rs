//! When benched and disabled keys come back: a min-queue of `(time, key)` in two tiers.
//!
//! A pool of 100,000 keys may hold 90,000 long benches. In one binary heap, every short
//! bench pushed bubbles through ~17 cache-cold levels and every pop sinks through as many.
//! Here wake-ups due within [`NEAR_MS`] of the last refresh go to a small `near` heap and
//! the rest to `far`; the earliest is the smaller of the two tops, so the split changes
//! only the cost, never the order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Wake-ups due this soon after the pool's clock go to the small heap.
pub const NEAR_MS: u64 = 1_000;

/// A min-queue of `(time, key)` wake-ups, possibly stale (the pool checks on pop).
///
/// ```
/// use keypool::pool::wake::Wakeups;
/// let mut w = Wakeups::default();
/// w.push(90_000, 1); // far
/// w.push(5, 2); // near
/// assert_eq!(w.peek(), Some((5, 2)));
/// w.pop();
/// assert_eq!(w.peek(), Some((90_000, 1)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct Wakeups {
    near: BinaryHeap<Reverse<(u64, u32)>>,
    far: BinaryHeap<Reverse<(u64, u32)>>,
    now: u64,
}

impl Wakeups {
    /// The pool's clock moved to `now` (only decides which tier new wake-ups go to).
    pub fn set_now(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    /// Adds a wake-up of `key` at `t`.
    pub fn push(&mut self, t: u64, key: u32) {
        if t <= self.now.saturating_add(NEAR_MS) {
            self.near.push(Reverse((t, key)));
        } else {
            self.far.push(Reverse((t, key)));
        }
    }

    /// The earliest wake-up (ties: the lower key, as one heap would give).
    pub fn peek(&self) -> Option<(u64, u32)> {
        match (self.near.peek(), self.far.peek()) {
            (Some(&Reverse(a)), Some(&Reverse(b))) => Some(a.min(b)),
            (Some(&Reverse(a)), None) | (None, Some(&Reverse(a))) => Some(a),
            (None, None) => None,
        }
    }

    /// Removes the earliest wake-up.
    pub fn pop(&mut self) -> Option<(u64, u32)> {
        let near_first = match (self.near.peek(), self.far.peek()) {
            (Some(a), Some(b)) => a >= b,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let top = if near_first {
            self.near.pop()
        } else {
            self.far.pop()
        };
        top.map(|Reverse(x)| x)
    }

    /// Every wake-up, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.near.iter().chain(self.far.iter()).map(|&Reverse(x)| x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the clock does, the two tiers pop in the order one heap would.
        #[test]
        fn pops_in_heap_order(ops in proptest::collection::vec((0u8..3, 0u64..5_000, 0u32..50), 0..200)) {
            let mut w = Wakeups::default();
            let mut one: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::new();
            for (op, t, k) in ops {
                match op {
                    0 => {
                        w.push(t, k);
                        one.push(Reverse((t, k)));
                    }
                    1 => prop_assert_eq!(w.pop(), one.pop().map(|Reverse(x)| x)),
                    _ => w.set_now(t),
                }
                prop_assert_eq!(w.peek(), one.peek().map(|&Reverse(x)| x));
            }
        }
    }
}
