//! The Aho–Corasick automaton of the phrase lists, built directly as a dense table over byte
//! classes. The phrase matcher re-lays it out; what it needs is the complete transition
//! function and, per state, every phrase that ends there.
//!
//! Built here rather than with a general-purpose DFA builder: that one works over the whole
//! byte alphabet and took ~40 million instructions and ~20 MB at start-up (10–40 ms, a tenth
//! of classifying 200,000 lines), where the trie and its failure links over a few dozen byte
//! classes take well under a millisecond.

/// The automaton: state 0 is the start, and states are numbered breadth-first;
/// `next[state * classes + class]` is the state entered on a byte of that class;
/// `ends[state]` lists the patterns (by index) that end on entering the state, its own and
/// those of its proper suffixes.
pub(crate) struct Automaton {
    pub(crate) classes: usize,
    pub(crate) next: Vec<u32>,
    pub(crate) ends: Vec<Vec<u32>>,
}

const NONE: u32 = u32::MAX;

impl Automaton {
    /// The automaton of `patterns`, each a string of byte classes below `classes`. Matches
    /// overlap: every occurrence of every pattern ends at some state that lists it.
    ///
    /// # Panics
    ///
    /// If a pattern holds a class not below `classes` (the callers build both from the same
    /// phrase lists).
    pub(crate) fn new(patterns: &[Vec<u8>], classes: usize) -> Automaton {
        let mut next = vec![NONE; classes];
        let mut ends: Vec<Vec<u32>> = vec![Vec::new()];
        // The trie.
        for (id, p) in patterns.iter().enumerate() {
            let mut s = 0usize;
            for &c in p {
                let slot = s * classes + usize::from(c);
                assert!(usize::from(c) < classes, "a pattern class out of range");
                if next[slot] == NONE {
                    next[slot] = u32::try_from(ends.len()).expect("under 2^32 states");
                    next.resize(next.len() + classes, NONE);
                    ends.push(Vec::new());
                }
                s = next[slot] as usize;
            }
            ends[s].push(u32::try_from(id).expect("under 2^32 patterns"));
        }
        // Failure links breadth-first: a state's missing transitions are its failure state's,
        // which is shallower and so already complete.
        let mut fail = vec![0u32; ends.len()];
        let mut queue = std::collections::VecDeque::new();
        for slot in &mut next[..classes] {
            match *slot {
                NONE => *slot = 0,
                child => queue.push_back(child),
            }
        }
        let mut order = vec![0u32];
        while let Some(s) = queue.pop_front() {
            order.push(s);
            let s = s as usize;
            let f = fail[s] as usize;
            if f != s {
                let inherited = ends[f].clone();
                ends[s].extend(inherited);
            }
            for c in 0..classes {
                let slot = s * classes + c;
                let via_fail = next[f * classes + c];
                match next[slot] {
                    NONE => next[slot] = via_fail,
                    child => {
                        fail[child as usize] = via_fail;
                        queue.push_back(child);
                    }
                }
            }
        }
        // States renumbered breadth-first: the shallow states a walk over ordinary text keeps
        // returning to sit together at the top of the table, in the fastest cache.
        let mut new_of = vec![0u32; ends.len()];
        for (new, &old) in order.iter().enumerate() {
            new_of[old as usize] = u32::try_from(new).expect("under 2^32 states");
        }
        let mut renumbered = vec![0u32; next.len()];
        for (new, &old) in order.iter().enumerate() {
            let (from, to) = (old as usize * classes, new * classes);
            for c in 0..classes {
                renumbered[to + c] = new_of[next[from + c] as usize];
            }
        }
        let mut ends: Vec<Option<Vec<u32>>> = ends.into_iter().map(Some).collect();
        let ends = order
            .iter()
            .map(|&old| ends[old as usize].take().unwrap_or_default())
            .collect();
        Automaton {
            classes,
            next: renumbered,
            ends,
        }
    }

    /// The number of states.
    pub(crate) fn states(&self) -> usize {
        self.ends.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (pattern, end) pair a walk reports.
    fn walk(a: &Automaton, hay: &[u8]) -> Vec<(u32, usize)> {
        let mut s = 0usize;
        let mut found = Vec::new();
        for (i, &c) in hay.iter().enumerate() {
            s = a.next[s * a.classes + usize::from(c)] as usize;
            found.extend(a.ends[s].iter().map(|&p| (p, i + 1)));
        }
        found.sort_unstable();
        found
    }

    fn naive(patterns: &[Vec<u8>], hay: &[u8]) -> Vec<(u32, usize)> {
        let mut found = Vec::new();
        for (id, p) in patterns.iter().enumerate() {
            for end in p.len()..=hay.len() {
                if !p.is_empty() && hay[end - p.len()..end] == p[..] {
                    found.push((id as u32, end));
                }
            }
        }
        found.sort_unstable();
        found
    }

    #[test]
    fn overlapping_and_nested_patterns_are_all_found() {
        // "he", "she", "his", "hers" over classes a=0 … : the textbook case, in class codes.
        let enc = |s: &str| s.bytes().map(|b| b - b'a').collect::<Vec<u8>>();
        let pats = vec![enc("he"), enc("she"), enc("his"), enc("hers"), enc("e")];
        let a = Automaton::new(&pats, 26);
        let hay = enc("ushershishe");
        assert_eq!(walk(&a, &hay), naive(&pats, &hay));
        assert!(walk(&a, &hay).contains(&(3, 6)), "hers ends at 6");
    }

    proptest::proptest! {
        #[test]
        fn a_walk_finds_what_a_naive_search_finds(
            pats in proptest::collection::vec(proptest::collection::vec(0u8..4, 1..6), 1..12),
            hay in proptest::collection::vec(0u8..5, 0..80),
        ) {
            let a = Automaton::new(&pats, 5);
            proptest::prop_assert_eq!(walk(&a, &hay), naive(&pats, &hay));
        }
    }
}
