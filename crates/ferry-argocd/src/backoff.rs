//! Exponential backoff with jitter for reconnecting to Argo CD.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Delays that double from `base` up to `max`, each drawn between half and all of the current step
/// (so that many watchers reconnecting to one server spread out).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
    seed: std::collections::hash_map::RandomState,
}

impl Backoff {
    /// Backoff from `base` to `max`.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff { base, max: max.max(base), attempt: 0, seed: std::collections::hash_map::RandomState::new() }
    }

    /// Starts over after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.base.saturating_mul(1u32 << self.attempt.min(16)).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let mut h = self.seed.build_hasher();
        h.write_u32(self.attempt);
        let fraction = (h.finish() % 1000) as u32;
        let half = step / 2;
        half + half.mul_f64(f64::from(fraction) / 1000.0)
    }
}
