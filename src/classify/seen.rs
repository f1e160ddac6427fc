//! Which keys a one-pass object reader (`chunk`, `envelope`) has met. A repeated key makes it
//! give up: the general reader keeps the first value, and a one-pass reader cannot go back.

use serde::de;

/// The keys met so far in one JSON object (a few at most: the readers accept short lists).
#[derive(Default)]
pub(super) struct Seen<'a> {
    keys: [&'a str; 12],
    n: usize,
}

impl<'a> Seen<'a> {
    /// Notes `key`; an error when it was met before (or the object has too many keys).
    pub(super) fn first<E: de::Error>(&mut self, key: &'a str) -> Result<(), E> {
        if self.has(key) || self.n == self.keys.len() {
            return Err(E::custom("a repeated key: read by the general reader"));
        }
        self.keys[self.n] = key;
        self.n += 1;
        Ok(())
    }

    /// Whether `key` was met.
    pub(super) fn has(&self, key: &str) -> bool {
        self.keys[..self.n].contains(&key)
    }
}
