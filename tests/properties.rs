//! Property tests (proptest). Case counts come from the environment: `PROPTEST_CASES=10000
//! cargo test --test properties` for a long run; the default is small.

use keypool::pool::{KeyState, Pool, PoolKey, SeedU64, Strategy};
use keypool::Class;
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use rand_chacha::ChaCha8Rng;

fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(48), ..ProptestConfig::default() })]

    /// Random worlds under the reference policy satisfy every invariant, deterministically.
    #[test]
    fn reference_worlds_hold_every_invariant(seed in any::<u64>()) {
        let r = keypool::explore::run_seed(seed, "reference", true).unwrap();
        prop_assert!(r.violations.is_empty(), "seed {seed}: {:?}", r.violations);
    }

    /// The classifier holds its properties on replies drawn from realistic fragments.
    #[test]
    fn classifier_properties_on_generated_replies(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let checked = keypool::fuzzing::check_bytes(&bytes);
        prop_assert!(checked.is_ok(), "{:?}", checked);
    }

    /// The pool agrees with a naive model (linear scans, no index) on every decision.
    #[test]
    fn pool_agrees_with_a_naive_model(
        n in 1usize..12,
        strategy in prop_oneof![Just(Strategy::FillFirst), Just(Strategy::RoundRobin), Just(Strategy::LeastUsed), Just(Strategy::Random)],
        priorities in proptest::collection::vec(0i64..3, 12),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let keys: Vec<PoolKey> = (0..n).map(|i| PoolKey { label: format!("k{i}").into(), priority: priorities[i], group: None }).collect();
        let mut pool = Pool::new(keys.clone(), strategy);
        let mut model = Naive::new(&keys, strategy);
        let mut rng = ChaCha8Rng::from_seed_u64(3);
        let mut now = 0u64;
        for op in ops {
            match op {
                Op::Advance(dt) => {
                    now += dt;
                    pool.refresh(now);
                    model.refresh(now);
                }
                Op::Pick { advance, exclude_mask } => {
                    let exclude: Vec<u32> = (0..n as u32).filter(|k| exclude_mask >> k & 1 == 1).collect();
                    let start = pool.start_request(advance);
                    let want_start = model.start_request(advance);
                    prop_assert_eq!(start, want_start);
                    let got = pool.select(now, &exclude, start, &mut rng);
                    let allowed = model.candidates(&exclude, start);
                    match strategy {
                        Strategy::Random => prop_assert!(match got {
                            Some(k) => allowed.contains(&k) && (!model.has_due_probe(&exclude) || model.state[k as usize] == NState::ProbeDue),
                            None => allowed.is_empty(),
                        }, "random picked {:?} from {:?}", got, allowed),
                        _ => prop_assert_eq!(got, allowed.first().copied(), "strategy {:?}", strategy),
                    }
                    if let Some(k) = got {
                        let probe = pool.on_attempt(k);
                        prop_assert_eq!(probe, model.on_attempt(k));
                    }
                }
                Op::Bench(k, dur) if (k as usize) < n => {
                    pool.bench(k, now + dur, Class::RateLimit);
                    model.bench(k, now + dur);
                }
                Op::Disable(k) if (k as usize) < n => {
                    pool.disable(k, now, Some(100), 2);
                    model.disable(k, now);
                }
                Op::Ok(k) if (k as usize) < n => {
                    pool.credential_ok(k, now);
                    model.credential_ok(k, now);
                }
                _ => {}
            }
            for k in 0..n as u32 {
                prop_assert_eq!(view(pool.state(k)), model.state[k as usize], "key {} after {:?}", k, op);
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Advance(u64),
    Pick { advance: bool, exclude_mask: u16 },
    Bench(u32, u64),
    Disable(u32),
    Ok(u32),
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    prop_oneof![
        (0u64..300).prop_map(Op::Advance),
        (any::<bool>(), any::<u16>()).prop_map(|(advance, m)| Op::Pick {
            advance,
            exclude_mask: m & 0b0101_0101_0101
        }),
        (0u32..12, 1u64..500).prop_map(|(k, d)| Op::Bench(k, d)),
        (0u32..12).prop_map(Op::Disable),
        (0u32..12).prop_map(Op::Ok),
    ]
}

/// Key states as the model sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NState {
    Ready,
    Benched(u64),
    Disabled(u64),
    ProbeDue,
    Probing,
}

fn view(s: KeyState) -> NState {
    match s {
        KeyState::Ready => NState::Ready,
        KeyState::Benched { until, .. } => NState::Benched(until),
        KeyState::Disabled { probe_at, .. } => NState::Disabled(probe_at),
        KeyState::ProbeDue { .. } => NState::ProbeDue,
        KeyState::Probing { .. } => NState::Probing,
    }
}

/// The naive model: a vector of states, every question answered by a scan.
struct Naive {
    strategy: Strategy,
    order: Vec<u32>,
    state: Vec<NState>,
    interval: Vec<u64>,
    hold: Vec<u64>,
    uses: Vec<u64>,
    cursor: u32,
}

impl Naive {
    fn new(keys: &[PoolKey], strategy: Strategy) -> Self {
        let mut order: Vec<u32> = (0..keys.len() as u32).collect();
        order.sort_by_key(|&k| (keys[k as usize].priority, k));
        let n = keys.len();
        Naive {
            strategy,
            order,
            state: vec![NState::Ready; n],
            interval: vec![0; n],
            hold: vec![0; n],
            uses: vec![0; n],
            cursor: 0,
        }
    }

    fn refresh(&mut self, now: u64) {
        for s in &mut self.state {
            *s = match *s {
                NState::Benched(u) if u <= now => NState::Ready,
                NState::Disabled(p) if p <= now => NState::ProbeDue,
                other => other,
            };
        }
    }

    fn start_request(&mut self, advance: bool) -> u32 {
        let s = self.cursor;
        if advance {
            self.cursor = (self.cursor + 1) % self.order.len() as u32;
        }
        s
    }

    fn has_due_probe(&self, exclude: &[u32]) -> bool {
        self.order
            .iter()
            .any(|&k| self.state[k as usize] == NState::ProbeDue && !exclude.contains(&k))
    }

    /// Every key the strategy may pick, best first.
    fn candidates(&self, exclude: &[u32], start: u32) -> Vec<u32> {
        let due: Vec<u32> = self
            .order
            .iter()
            .copied()
            .filter(|&k| self.state[k as usize] == NState::ProbeDue && !exclude.contains(&k))
            .collect();
        if !due.is_empty() {
            return due;
        }
        let ready = |k: &u32| self.state[*k as usize] == NState::Ready && !exclude.contains(k);
        match self.strategy {
            Strategy::FillFirst | Strategy::Random => {
                self.order.iter().copied().filter(ready).collect()
            }
            Strategy::RoundRobin => {
                let n = self.order.len();
                (0..n)
                    .map(|i| self.order[(start as usize + i) % n])
                    .filter(ready)
                    .collect()
            }
            Strategy::LeastUsed => {
                let mut v: Vec<(u64, usize, u32)> = self
                    .order
                    .iter()
                    .enumerate()
                    .filter(|(_, k)| ready(k))
                    .map(|(r, &k)| (self.uses[k as usize], r, k))
                    .collect();
                v.sort();
                v.into_iter().map(|x| x.2).collect()
            }
        }
    }

    fn on_attempt(&mut self, k: u32) -> bool {
        self.uses[k as usize] += 1;
        if self.state[k as usize] == NState::ProbeDue {
            self.state[k as usize] = NState::Probing;
            return true;
        }
        false
    }

    fn bench(&mut self, k: u32, until: u64) {
        let i = k as usize;
        self.state[i] = match self.state[i] {
            NState::Ready => NState::Benched(until),
            NState::Benched(u) => NState::Benched(u.max(until)),
            NState::Disabled(p) => NState::Disabled(p.max(until)),
            NState::ProbeDue => NState::Disabled(until),
            NState::Probing => {
                self.hold[i] = self.hold[i].max(until);
                NState::Probing
            }
        };
    }

    fn disable(&mut self, k: u32, now: u64) {
        let i = k as usize;
        let (interval, floor) = match self.state[i] {
            NState::Probing | NState::ProbeDue => (self.interval[i] * 2, self.hold[i]),
            NState::Disabled(p) => (self.interval[i], p),
            NState::Benched(u) => (100, u),
            NState::Ready => (100, self.hold[i]),
        };
        self.interval[i] = interval;
        self.state[i] = NState::Disabled((now + interval).max(floor));
    }

    fn credential_ok(&mut self, k: u32, now: u64) {
        let i = k as usize;
        if self.state[i] == NState::Probing {
            self.state[i] = if self.hold[i] > now {
                NState::Benched(self.hold[i])
            } else {
                NState::Ready
            };
        }
    }
}
