//! Samples and their summary: median and 99th percentile (nearest rank).

use std::time::Duration;

use serde::Serialize;

/// Median and 99th percentile of a set of samples, in the unit of the figure.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stat {
    /// 50th percentile.
    pub median: f64,
    /// 99th percentile: for latencies the slow tail (high), for rates the slow tail (low).
    pub p99: f64,
    /// Number of samples.
    pub samples: usize,
}

/// Nearest-rank percentile `q` (0..=1) of sorted samples.
fn rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

impl Stat {
    /// Latency-like samples: the p99 is the high tail.
    pub fn of_latencies(samples: &[f64]) -> Stat {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Stat { median: rank(&sorted, 0.5), p99: rank(&sorted, 0.99), samples: sorted.len() }
    }

    /// Rate-like samples (higher is better): the p99 is the low tail (the slowest 1% of runs).
    pub fn of_rates(samples: &[f64]) -> Stat {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Stat { median: rank(&sorted, 0.5), p99: rank(&sorted, 0.01), samples: sorted.len() }
    }

    /// One measured value (repeated runs were not possible or meaningful).
    pub fn single(value: f64) -> Stat {
        Stat { median: value, p99: value, samples: 1 }
    }
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Operations per second.
pub fn rate(ops: usize, elapsed: Duration) -> f64 {
    ops as f64 / elapsed.as_secs_f64().max(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let samples: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Stat::of_latencies(&samples);
        assert_eq!((s.median, s.p99, s.samples), (50.0, 99.0, 100));
        let r = Stat::of_rates(&samples);
        assert_eq!((r.median, r.p99), (50.0, 1.0));
        let one = Stat::of_latencies(&[7.0]);
        assert_eq!((one.median, one.p99), (7.0, 7.0));
    }
}
