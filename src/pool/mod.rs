//! One provider's pool of keys: their states and the selection index.
//!
//! Selection never scans the pool. Each strategy keeps only the index it reads: ready keys as
//! bits by priority rank (`fill_first`, `round_robin`), bitmaps by rank per use count
//! (`least_used`), or an index array (`random`); benched and disabled keys wait in two heaps
//! of wake-up times, near and far ([`wake::Wakeups`]). With 100,000 keys and most of them
//! benched, picking a key costs a word scan of the rank bits plus the keys this request
//! already tried.

use crate::class::Class;
use rand::Rng;
use ranks::RankSet;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use wake::Wakeups;

pub mod ranks;
pub mod wake;

/// A short fingerprint of a secret, safe to print: `fp:` and 8 hex digits of FNV-1a.
///
/// ```
/// let fp = keypool::pool::fingerprint("sk-live-abc");
/// assert!(fp.starts_with("fp:") && fp.len() == 11 && !fp.contains("abc"));
/// ```
pub fn fingerprint(secret: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in secret.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    format!("fp:{h:08x}")
}

/// How the next key is chosen, evaluated per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Priority order: the first ready key.
    #[default]
    FillFirst,
    /// Each request starts one key further along the priority order.
    RoundRobin,
    /// Fewest attempts started; ties by priority.
    LeastUsed,
    /// Uniformly among ready keys, from the seeded RNG.
    Random,
}

/// The state of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Selectable.
    Ready,
    /// Not selectable until `until` (virtual ms).
    Benched {
        /// When it is ready again.
        until: u64,
        /// The class that benched it.
        reason: Class,
    },
    /// Credential failed; a half-open probe is due at `probe_at` (`u64::MAX`: never).
    Disabled {
        /// When the next probe is due.
        probe_at: u64,
        /// The interval that led to `probe_at`, doubled after a failed probe.
        interval: u64,
    },
    /// A disabled key whose probe is due: selectable once, by one request.
    ProbeDue {
        /// The interval of the probe schedule.
        interval: u64,
    },
    /// A probe is in flight.
    Probing {
        /// The interval of the probe schedule.
        interval: u64,
    },
}

impl KeyState {
    /// A short label: `ready`, `benched`, `disabled` (probes included).
    pub fn label(&self) -> &'static str {
        match self {
            KeyState::Ready => "ready",
            KeyState::Benched { .. } => "benched",
            _ => "disabled",
        }
    }
}

/// A key as the pool knows it (the secret stays with the caller). Labels and group names are
/// shared strings: a pool, its engine's names and a world hold one copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolKey {
    /// Label shown in traces.
    pub label: Arc<str>,
    /// Lower comes first.
    pub priority: i64,
    /// Keys of one account share benches for quota and rate limits.
    pub group: Option<Arc<str>>,
}

/// A provider's pool.
///
/// ```
/// use keypool::pool::{Pool, PoolKey, SeedU64, Strategy};
/// use keypool::Class;
/// let keys = (0..3).map(|i| PoolKey { label: format!("k{i}").into(), priority: 0, group: None }).collect();
/// let mut pool = Pool::new(keys, Strategy::FillFirst);
/// let mut rng = rand_chacha::ChaCha8Rng::from_seed_u64(1);
/// assert_eq!(pool.select(0, &[], 0, &mut rng), Some(0));
/// pool.bench(0, 1_000, Class::RateLimit);
/// assert_eq!(pool.select(0, &[], 0, &mut rng), Some(1));
/// pool.refresh(1_000);
/// assert_eq!(pool.select(1_000, &[], 0, &mut rng), Some(0));
/// ```
#[derive(Debug, Clone)]
pub struct Pool {
    strategy: Strategy,
    keys: Vec<PoolKey>,
    rank: Vec<u32>,
    at_rank: Vec<u32>,
    state: Vec<KeyState>,
    uses: Vec<u64>,
    group_of: Vec<Option<u32>>,
    groups: Vec<Vec<u32>>,
    /// `least_used`: ready keys by use count, each count's keys by rank. Counts of ready
    /// keys stay within a few values (the least used is always taken), so this is a handful
    /// of bitmaps; an emptied one is kept in `spare` for the next count.
    by_uses: BTreeMap<u64, RankSet>,
    spare: Vec<RankSet>,
    /// `fill_first` and `round_robin`: ready keys by rank.
    ready_ranks: RankSet,
    ready_n: usize,
    /// Disabled keys whose half-open probe is due, by rank: chosen before any ready key.
    probes: BTreeSet<u32>,
    /// A bench that arrived while a probe was in flight: the key stays out until then.
    hold: Vec<(u64, Class)>,
    ready_list: Vec<u32>,
    ready_pos: Vec<u32>,
    wake: Wakeups,
    rr_cursor: u32,
    last_selected: Option<u32>,
    /// When false, `least_used` never counts uses (a mutant).
    pub count_uses: bool,
}

const ABSENT: u32 = u32::MAX;

/// Extension to build a ChaCha RNG from a u64 seed in doc examples and tests.
pub trait SeedU64 {
    /// A generator seeded with `seed`.
    fn from_seed_u64(seed: u64) -> Self;
}

impl SeedU64 for rand_chacha::ChaCha8Rng {
    fn from_seed_u64(seed: u64) -> Self {
        <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed)
    }
}

impl Pool {
    /// A pool with every key ready.
    pub fn new(keys: Vec<PoolKey>, strategy: Strategy) -> Self {
        let n = keys.len();
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&k| (keys[k as usize].priority, k));
        let mut rank = vec![0; n];
        for (r, &k) in order.iter().enumerate() {
            rank[k as usize] = r as u32;
        }
        let mut names: Vec<&str> = Vec::new();
        let mut group_of = vec![None; n];
        let mut groups: Vec<Vec<u32>> = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            if let Some(g) = &k.group {
                let gi = match names.iter().position(|x| *x == &**g) {
                    Some(p) => p,
                    None => {
                        names.push(g);
                        groups.push(Vec::new());
                        names.len() - 1
                    }
                };
                groups[gi].push(i as u32);
                group_of[i] = Some(gi as u32);
            }
        }
        let mut pool = Pool {
            strategy,
            rank,
            at_rank: order,
            state: vec![KeyState::Ready; n],
            uses: vec![0; n],
            group_of,
            groups,
            by_uses: BTreeMap::new(),
            spare: Vec::new(),
            ready_ranks: RankSet::new(
                if matches!(strategy, Strategy::FillFirst | Strategy::RoundRobin) {
                    n
                } else {
                    0
                },
            ),
            ready_n: 0,
            probes: BTreeSet::new(),
            hold: vec![(0, Class::RateLimit); n],
            ready_list: Vec::new(),
            ready_pos: vec![ABSENT; n],
            wake: Wakeups::default(),
            rr_cursor: 0,
            last_selected: None,
            count_uses: true,
            keys,
        };
        for k in 0..n as u32 {
            pool.insert_ready(k);
        }
        pool
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the pool has no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key's description.
    pub fn key(&self, k: u32) -> &PoolKey {
        &self.keys[k as usize]
    }

    /// The key's state.
    pub fn state(&self, k: u32) -> KeyState {
        self.state[k as usize]
    }

    /// The selection strategy.
    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// Attempts started on the key.
    pub fn uses(&self, k: u32) -> u64 {
        self.uses[k as usize]
    }

    /// The key most recently selected by any request.
    pub fn last_selected(&self) -> Option<u32> {
        self.last_selected
    }

    /// The members of the key's quota group (the key alone when it has none).
    pub fn group_members(&self, k: u32) -> Vec<u32> {
        self.group_slice(k).map_or_else(|| vec![k], <[u32]>::to_vec)
    }

    /// The members of the key's quota group, `None` when it has none.
    pub fn group_slice(&self, k: u32) -> Option<&[u32]> {
        self.group_of[k as usize].map(|g| self.groups[g as usize].as_slice())
    }

    // Each strategy keeps only the index it reads: bits by rank for the priority walks, an
    // ordered set for `least_used`, an index array for `random`.
    fn insert_ready(&mut self, k: u32) {
        self.ready_n += 1;
        match self.strategy {
            Strategy::FillFirst | Strategy::RoundRobin => {
                self.ready_ranks.insert(self.rank[k as usize]);
            }
            Strategy::LeastUsed => self.add_by_uses(k),
            Strategy::Random => {
                if self.ready_pos[k as usize] == ABSENT {
                    self.ready_pos[k as usize] = self.ready_list.len() as u32;
                    self.ready_list.push(k);
                }
            }
        }
    }

    fn remove_ready(&mut self, k: u32) {
        self.ready_n -= 1;
        match self.strategy {
            Strategy::FillFirst | Strategy::RoundRobin => {
                self.ready_ranks.remove(self.rank[k as usize]);
            }
            Strategy::LeastUsed => self.drop_by_uses(k),
            Strategy::Random => {}
        }
        if self.strategy == Strategy::Random {
            let pos = self.ready_pos[k as usize];
            if pos != ABSENT {
                let last = *self.ready_list.last().expect("non-empty");
                self.ready_list.swap_remove(pos as usize);
                if last != k {
                    self.ready_pos[last as usize] = pos;
                }
                self.ready_pos[k as usize] = ABSENT;
            }
        }
    }

    fn add_by_uses(&mut self, k: u32) {
        let n = self.keys.len();
        let set = match self.by_uses.entry(self.uses[k as usize]) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(self.spare.pop().unwrap_or_else(|| RankSet::new(n)))
            }
        };
        set.insert(self.rank[k as usize]);
    }

    fn drop_by_uses(&mut self, k: u32) {
        let u = self.uses[k as usize];
        if let Some(set) = self.by_uses.get_mut(&u) {
            set.remove(self.rank[k as usize]);
            if set.is_empty() {
                let empty = self.by_uses.remove(&u).expect("just read");
                self.spare.push(empty);
            }
        }
    }

    fn is_in_ready(&self, k: u32) -> bool {
        matches!(self.state[k as usize], KeyState::Ready)
    }

    /// Brings back every key whose bench ended or whose probe is due by `now`.
    pub fn refresh(&mut self, now: u64) {
        self.wake.set_now(now);
        while let Some((t, k)) = self.wake.peek() {
            if t > now {
                break;
            }
            self.wake.pop();
            match self.state[k as usize] {
                KeyState::Benched { until, .. } if until == t => {
                    self.state[k as usize] = KeyState::Ready;
                    self.insert_ready(k);
                }
                KeyState::Disabled { probe_at, interval } if probe_at == t => {
                    self.state[k as usize] = KeyState::ProbeDue { interval };
                    self.probes.insert(self.rank[k as usize]);
                }
                _ => {} // stale: the key's time moved on
            }
        }
    }

    /// A new request starts: the round-robin start rank (advanced when `advance`).
    pub fn start_request(&mut self, advance: bool) -> u32 {
        let start = self.rr_cursor;
        if advance && !self.keys.is_empty() {
            self.rr_cursor = (self.rr_cursor + 1) % self.keys.len() as u32;
        }
        start
    }

    /// The strategy's next selectable key not in `exclude` (call [`Pool::refresh`] first).
    /// A disabled key whose probe is due goes first, whatever the strategy: otherwise a
    /// lower-priority key would never be probed while a better one is healthy.
    pub fn select<R: Rng>(
        &self,
        _now: u64,
        exclude: &[u32],
        rr_start: u32,
        rng: &mut R,
    ) -> Option<u32> {
        let due = self.probes.iter().map(|&r| self.at_rank[r as usize]);
        if let Some(k) = due.clone().find(|k| !exclude.contains(k)) {
            return Some(k);
        }
        let n = self.keys.len() as u32;
        match self.strategy {
            Strategy::LeastUsed => self.by_uses.values().find_map(|set| {
                set.first(0, n, |r| exclude.contains(&self.at_rank[r as usize]))
                    .map(|r| self.at_rank[r as usize])
            }),
            Strategy::FillFirst => self.first_ready_rank(0, n, exclude),
            Strategy::RoundRobin => self
                .first_ready_rank(rr_start.min(n), n, exclude)
                .or_else(|| self.first_ready_rank(0, rr_start.min(n), exclude)),
            Strategy::Random => {
                let n = self.ready_list.len();
                if n == 0 {
                    return None;
                }
                for _ in 0..8 {
                    let k = self.ready_list[rng.random_range(0..n)];
                    if !exclude.contains(&k) {
                        return Some(k);
                    }
                }
                let off = rng.random_range(0..n);
                (0..n)
                    .map(|i| self.ready_list[(off + i) % n])
                    .find(|k| !exclude.contains(k))
            }
        }
    }

    /// The first ready key by rank in `from..end` not in `exclude`.
    fn first_ready_rank(&self, from: u32, end: u32, exclude: &[u32]) -> Option<u32> {
        self.ready_ranks
            .first(from, end, |r| exclude.contains(&self.at_rank[r as usize]))
            .map(|r| self.at_rank[r as usize])
    }

    /// Whether `k` may be chosen now.
    pub fn selectable(&self, k: u32) -> bool {
        matches!(
            self.state[k as usize],
            KeyState::Ready | KeyState::ProbeDue { .. }
        )
    }

    /// Records that an attempt was started on `k`. Returns true when it is a half-open probe.
    pub fn on_attempt(&mut self, k: u32) -> bool {
        self.last_selected = Some(k);
        let probe = matches!(self.state[k as usize], KeyState::ProbeDue { .. });
        let counting = self.count_uses && self.strategy == Strategy::LeastUsed;
        if counting && self.is_in_ready(k) {
            self.drop_by_uses(k);
        }
        self.uses[k as usize] += 1;
        if counting && self.is_in_ready(k) {
            self.add_by_uses(k);
        }
        if !self.count_uses {
            self.uses[k as usize] -= 1;
        }
        if let KeyState::ProbeDue { interval } = self.state[k as usize] {
            self.probes.remove(&self.rank[k as usize]);
            self.state[k as usize] = KeyState::Probing { interval };
        }
        probe
    }

    /// Benches a benched (or ready) key `k` until `until`, even when that is sooner than the
    /// bench in force (a policy whose benches restart from each failure). Other states are
    /// benched as by [`Pool::bench`].
    pub fn rebench(&mut self, k: u32, until: u64, reason: Class) -> (u64, Class) {
        if let KeyState::Benched { .. } = self.state[k as usize] {
            self.state[k as usize] = KeyState::Benched { until, reason };
            self.wake.push(until, k);
            return (until, reason);
        }
        self.bench(k, until, reason).unwrap_or((until, reason))
    }

    /// Benches `k` until `until`; a bench never shrinks. A disabled key stays disabled, but its
    /// next probe moves to the end of the bench (a key out of quota is not probed).
    /// Returns the time the key is out until and the reason in force.
    pub fn bench(&mut self, k: u32, until: u64, reason: Class) -> Option<(u64, Class)> {
        let ku = k as usize;
        match self.state[ku] {
            KeyState::Benched {
                until: old,
                reason: why,
            } if old >= until => Some((old, why)),
            KeyState::Ready | KeyState::Benched { .. } => {
                if self.is_in_ready(k) {
                    self.remove_ready(k);
                }
                self.state[ku] = KeyState::Benched { until, reason };
                self.wake.push(until, k);
                Some((until, reason))
            }
            KeyState::Disabled { probe_at, interval } => {
                if until > probe_at {
                    self.state[ku] = KeyState::Disabled {
                        probe_at: until,
                        interval,
                    };
                    self.wake.push(until, k);
                }
                Some((until.max(probe_at), Class::Auth))
            }
            KeyState::ProbeDue { interval } => {
                self.probes.remove(&self.rank[ku]);
                self.state[ku] = KeyState::Disabled {
                    probe_at: until,
                    interval,
                };
                self.wake.push(until, k);
                Some((until, Class::Auth))
            }
            KeyState::Probing { .. } => {
                if until > self.hold[ku].0 {
                    self.hold[ku] = (until, reason);
                }
                Some(self.hold[ku])
            }
        }
    }

    /// Disables `k`; its next probe is due `interval` ms after `now` (`None`: never), or when a
    /// bench that came meanwhile ends. A key whose probe just failed gets `interval` multiplied
    /// by `factor`. Returns the probe time.
    pub fn disable(&mut self, k: u32, now: u64, interval: Option<u64>, factor: u64) -> u64 {
        let ku = k as usize;
        let interval = match (self.state[ku], interval) {
            (_, None) => u64::MAX,
            (
                KeyState::Probing { interval: prev } | KeyState::ProbeDue { interval: prev },
                Some(_),
            ) => prev.saturating_mul(factor.max(1)),
            (KeyState::Disabled { interval: prev, .. }, Some(_)) => prev,
            (_, Some(i)) => i,
        };
        if self.is_in_ready(k) {
            self.remove_ready(k);
        }
        if let KeyState::ProbeDue { .. } = self.state[ku] {
            self.probes.remove(&self.rank[ku]);
        }
        // Never earlier than a bench in force or a probe already scheduled (a late auth reply
        // to a call sent before the key was disabled must not bring its probe forward).
        let held = match self.state[ku] {
            KeyState::Benched { until, .. } => until,
            KeyState::Disabled { probe_at, .. } => probe_at,
            _ => self.hold[ku].0,
        };
        let probe_at = if interval == u64::MAX {
            u64::MAX
        } else {
            now.saturating_add(interval).max(held)
        };
        self.state[ku] = KeyState::Disabled { probe_at, interval };
        if probe_at != u64::MAX {
            self.wake.push(probe_at, k);
        }
        probe_at
    }

    /// A probe on `k` showed the credential works: the key is back, ready now or benched until
    /// a bench that arrived during the probe ends. Returns true when the key came back.
    pub fn credential_ok(&mut self, k: u32, now: u64) -> bool {
        let ku = k as usize;
        if let KeyState::Probing { .. } = self.state[ku] {
            let (until, reason) = self.hold[ku];
            if until > now {
                self.state[ku] = KeyState::Benched { until, reason };
                self.wake.push(until, k);
            } else {
                self.state[ku] = KeyState::Ready;
                self.insert_ready(k);
            }
            return true;
        }
        false
    }

    /// The earliest time a key that is not ready now will be selectable, with why it is out,
    /// skipping keys in `exclude`. Pops stale heap entries as it goes.
    pub fn earliest_ready(&mut self, exclude: &[u32]) -> Option<(u64, Class, u32)> {
        // Drop stale entries at the top so the peek is exact.
        while let Some((t, k)) = self.wake.peek() {
            let live = match self.state[k as usize] {
                KeyState::Benched { until, .. } => until == t,
                KeyState::Disabled { probe_at, .. } => probe_at == t,
                _ => false,
            };
            if live {
                break;
            }
            self.wake.pop();
        }
        if exclude.is_empty() {
            return self.wake.peek().map(|(t, k)| (t, self.reason(k), k));
        }
        // Rare path (a request banned some keys): look a little deeper.
        let mut best: Option<(u64, Class, u32)> = None;
        for (t, k) in self.wake.iter() {
            if exclude.contains(&k) {
                continue;
            }
            let live = match self.state[k as usize] {
                KeyState::Benched { until, .. } => until == t,
                KeyState::Disabled { probe_at, .. } => probe_at == t,
                _ => false,
            };
            // Ties go to the lower key id, whatever the queue's layout.
            if live && best.is_none_or(|b| (t, k) < (b.0, b.2)) {
                best = Some((t, self.reason(k), k));
            }
        }
        best
    }

    fn reason(&self, k: u32) -> Class {
        match self.state[k as usize] {
            KeyState::Benched { reason, .. } => reason,
            _ => Class::Auth,
        }
    }

    /// Number of keys selectable now.
    pub fn ready_count(&self) -> usize {
        self.ready_n + self.probes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;

    fn pool(n: usize, s: Strategy) -> Pool {
        let keys = (0..n)
            .map(|i| PoolKey {
                label: format!("k{i}").into(),
                priority: 0,
                group: None,
            })
            .collect();
        Pool::new(keys, s)
    }

    #[test]
    fn fill_first_walks_priority_skipping_tried() {
        let keys = vec![
            PoolKey {
                label: "a".into(),
                priority: 5,
                group: None,
            },
            PoolKey {
                label: "b".into(),
                priority: 1,
                group: None,
            },
            PoolKey {
                label: "c".into(),
                priority: 3,
                group: None,
            },
        ];
        let p = Pool::new(keys, Strategy::FillFirst);
        let mut rng = ChaCha8Rng::from_seed_u64(0);
        assert_eq!(p.select(0, &[], 0, &mut rng), Some(1));
        assert_eq!(p.select(0, &[1], 0, &mut rng), Some(2));
        assert_eq!(p.select(0, &[1, 2], 0, &mut rng), Some(0));
        assert_eq!(p.select(0, &[0, 1, 2], 0, &mut rng), None);
    }

    #[test]
    fn round_robin_starts_one_further_each_request() {
        let mut p = pool(3, Strategy::RoundRobin);
        let mut rng = ChaCha8Rng::from_seed_u64(0);
        let firsts: Vec<u32> = (0..6)
            .map(|_| {
                let s = p.start_request(true);
                p.select(0, &[], s, &mut rng).unwrap()
            })
            .collect();
        assert_eq!(firsts, vec![0, 1, 2, 0, 1, 2]);
        // Wraps past the end to find an untried key.
        assert_eq!(p.select(0, &[2], 2, &mut rng), Some(0));
    }

    #[test]
    fn least_used_balances() {
        let mut p = pool(3, Strategy::LeastUsed);
        let mut rng = ChaCha8Rng::from_seed_u64(0);
        let mut counts = [0; 3];
        for _ in 0..9 {
            let k = p.select(0, &[], 0, &mut rng).unwrap();
            p.on_attempt(k);
            counts[k as usize] += 1;
        }
        assert_eq!(counts, [3, 3, 3]);
    }

    #[test]
    fn bench_is_monotone_and_wakes() {
        let mut p = pool(2, Strategy::FillFirst);
        assert_eq!(
            p.bench(0, 5_000, Class::RateLimit),
            Some((5_000, Class::RateLimit))
        );
        assert_eq!(
            p.bench(0, 1_000, Class::QuotaExhausted),
            Some((5_000, Class::RateLimit))
        );
        // A disabled key's probe waits for a bench of its account.
        p.disable(1, 0, Some(100), 2);
        assert_eq!(
            p.bench(1, 9_000, Class::QuotaExhausted),
            Some((9_000, Class::Auth))
        );
        assert!(matches!(
            p.state(1),
            KeyState::Disabled {
                probe_at: 9_000,
                ..
            }
        ));
        p.refresh(1_000);
        assert_eq!(p.state(0).label(), "benched");
        assert_eq!(p.earliest_ready(&[]).map(|e| e.0), Some(5_000));
        p.refresh(5_000);
        assert_eq!(p.state(0), KeyState::Ready);
        assert_eq!(p.earliest_ready(&[]).map(|e| e.0), Some(9_000));
    }

    #[test]
    fn disabled_key_is_probed_once_with_doubling_interval() {
        let mut p = pool(1, Strategy::FillFirst);
        let mut rng = ChaCha8Rng::from_seed_u64(0);
        assert_eq!(p.disable(0, 0, Some(100), 2), 100);
        p.refresh(99);
        assert_eq!(p.select(99, &[], 0, &mut rng), None);
        p.refresh(100);
        assert_eq!(p.select(100, &[], 0, &mut rng), Some(0));
        assert!(p.on_attempt(0));
        // The probe is in flight: nobody else may take it.
        assert_eq!(p.select(100, &[], 0, &mut rng), None);
        assert_eq!(p.disable(0, 150, Some(100), 2), 350);
        p.refresh(350);
        assert!(p.on_attempt(0));
        assert!(p.credential_ok(0, 350));
        assert_eq!(p.state(0), KeyState::Ready);
    }

    #[test]
    fn random_is_seeded_and_respects_exclusions() {
        let p = pool(5, Strategy::Random);
        let pick = |seed| {
            let mut rng = ChaCha8Rng::from_seed_u64(seed);
            (0..10)
                .map(|_| p.select(0, &[0, 1], 0, &mut rng).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(pick(7), pick(7));
        assert!(pick(7).iter().all(|k| *k >= 2));
    }
}
