//! The process's recorder of the `metrics` facade: histograms, gauges and counters that the libraries
//! (engine, git) record with `metrics::histogram!` and friends, rendered in the Prometheus text format
//! beside the server's own counters.
//!
//! One registry per process ([`install`] sets it as the global recorder; the first call wins). Every
//! histogram measures seconds and shares one bucket layout ([`BUCKETS`]), from 5 ms (a local git read)
//! to an hour (a long environment).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, SharedString, Unit};

/// Upper bounds (seconds) of every histogram's buckets; `+Inf` follows.
pub(crate) const BUCKETS: [f64; 17] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0];

/// What the metrics Ferry records measure (a `describe_*` call may say it instead).
const HELP: [(&str, &str); 11] = [
    ("ferry_http_request_duration_seconds", "Time to answer an HTTP request, by method and route template."),
    ("ferry_release_duration_seconds", "Time from a release's start to its end, by final status."),
    ("ferry_environment_duration_seconds", "Time from an environment's start to its final status, by that status."),
    (
        "ferry_hop_latency_seconds",
        "Time from the last dependency of an environment succeeding to the environment succeeding (one promotion hop).",
    ),
    (
        "ferry_application_phase_duration_seconds",
        "Time an application spends in a phase (trigger, preAction, action, health, postAction, hook).",
    ),
    ("ferry_step_duration_seconds", "Time a workflow step ran, by final status."),
    ("ferry_git_operation_duration_seconds", "Time of a git network operation (clone, fetch, push), by result."),
    (
        "ferry_provider_call_duration_seconds",
        "Time of a call to an application status provider (refresh; wait_ready until synced and healthy).",
    ),
    ("ferry_queue_depth", "Releases of a product waiting in its queue (SPEC §3.9)."),
    ("ferry_runner_slots", "Workflow steps the local runner runs at once at most."),
    ("ferry_runner_slots_in_use", "Workflow steps holding one of the local runner's slots."),
];

/// The registry of this process.
static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

/// Sets this process's registry as the global `metrics` recorder (once; later calls do nothing).
pub fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        if metrics::set_global_recorder(Global).is_err() {
            tracing::warn!("another metrics recorder is installed: library metrics are not served at /metrics");
        }
    });
}

/// Renders every series recorded through the facade.
pub(crate) fn render(out: &mut String) {
    REGISTRY.render(out);
}

/// The facade's entry point: delegates to [`REGISTRY`].
#[derive(Debug, Clone, Copy)]
struct Global;

/// Labels of one series, sorted by name.
type Labels = Vec<(String, String)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One value: a counter (integer), a gauge (f64 bits) or a histogram.
#[derive(Debug)]
enum Series {
    Counter(Arc<AtomicU64>),
    Gauge(Arc<GaugeCell>),
    Histogram(Arc<HistogramCell>),
}

/// A family: every series of one metric name.
#[derive(Debug)]
struct Family {
    kind: Kind,
    series: BTreeMap<Labels, Series>,
}

#[derive(Debug, Default)]
struct Registry {
    families: Mutex<BTreeMap<String, Family>>,
    help: Mutex<BTreeMap<String, String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain numbers behind the lock stay usable after a panic elsewhere.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A gauge stored as the bits of an `f64`.
#[derive(Debug, Default)]
struct GaugeCell(AtomicU64);

impl GaugeCell {
    fn update(&self, f: impl Fn(f64) -> f64) {
        let _ =
            self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some(f(f64::from_bits(bits)).to_bits()));
    }

    fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

impl GaugeFn for GaugeCell {
    fn increment(&self, value: f64) {
        self.update(|v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.update(|v| v - value);
    }

    fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }
}

/// Cumulative-at-render histogram: a count per bucket, the sum and the count.
#[derive(Debug, Default)]
struct HistogramCell {
    inner: Mutex<HistogramData>,
}

#[derive(Debug, Default, Clone)]
struct HistogramData {
    /// Observations per bucket (not cumulative); the last slot is `+Inf`.
    buckets: [u64; BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

impl HistogramFn for HistogramCell {
    fn record(&self, value: f64) {
        if !value.is_finite() {
            return;
        }
        let slot = BUCKETS.iter().position(|bound| value <= *bound).unwrap_or(BUCKETS.len());
        let mut data = lock(&self.inner);
        data.buckets[slot] += 1;
        data.sum += value;
        data.count += 1;
    }
}

/// A counter handle over a shared integer.
#[derive(Debug)]
struct CounterCell(Arc<AtomicU64>);

impl CounterFn for CounterCell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

impl Registry {
    fn series(&self, key: &Key, kind: Kind) -> Option<Series> {
        let name = key.name();
        if !valid_name(name) {
            return None;
        }
        let mut labels: Labels = key.labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
        labels.retain(|(k, _)| valid_name(k) && !k.starts_with("__") && k != "le");
        labels.sort();
        let mut families = lock(&self.families);
        let family = families.entry(name.to_owned()).or_insert_with(|| Family { kind, series: BTreeMap::new() });
        if family.kind != kind {
            // One name, one type: a second type under the same name is dropped.
            return None;
        }
        let series = family.series.entry(labels).or_insert_with(|| match kind {
            Kind::Counter => Series::Counter(Arc::default()),
            Kind::Gauge => Series::Gauge(Arc::default()),
            Kind::Histogram => Series::Histogram(Arc::default()),
        });
        Some(match series {
            Series::Counter(c) => Series::Counter(c.clone()),
            Series::Gauge(g) => Series::Gauge(g.clone()),
            Series::Histogram(h) => Series::Histogram(h.clone()),
        })
    }

    fn render(&self, out: &mut String) {
        let help = lock(&self.help).clone();
        let families = lock(&self.families);
        for (name, family) in families.iter() {
            let known = HELP.iter().find(|(n, _)| n == name).map(|(_, text)| *text);
            let text = help.get(name).map(String::as_str).or(known).unwrap_or("Recorded by Ferry.");
            let _ = writeln!(out, "# HELP {name} {}", escape_help(text));
            let _ = writeln!(out, "# TYPE {name} {}", family.kind.as_str());
            for (labels, series) in &family.series {
                match series {
                    Series::Counter(c) => {
                        let _ = writeln!(out, "{name}{} {}", label_text(labels, None), c.load(Ordering::Relaxed));
                    }
                    Series::Gauge(g) => {
                        let _ = writeln!(out, "{name}{} {}", label_text(labels, None), number(g.get()));
                    }
                    Series::Histogram(h) => render_histogram(out, name, labels, &lock(&h.inner).clone()),
                }
            }
        }
    }
}

fn render_histogram(out: &mut String, name: &str, labels: &Labels, data: &HistogramData) {
    let mut cumulative = 0;
    for (i, n) in data.buckets.iter().enumerate() {
        cumulative += n;
        let le = BUCKETS.get(i).map_or_else(|| "+Inf".to_owned(), |b| number(*b));
        let _ = writeln!(out, "{name}_bucket{} {cumulative}", label_text(labels, Some(&le)));
    }
    let _ = writeln!(out, "{name}_sum{} {}", label_text(labels, None), number(data.sum));
    let _ = writeln!(out, "{name}_count{} {}", label_text(labels, None), data.count);
}

/// `{a="1",le="0.5"}`, or nothing without labels.
fn label_text(labels: &Labels, le: Option<&str>) -> String {
    let mut parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", super::metrics::escape(v))).collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    if parts.is_empty() { String::new() } else { format!("{{{}}}", parts.join(",")) }
}

/// A sample value as Prometheus reads it.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf".to_owned() } else { "-Inf".to_owned() }
    } else {
        format!("{value}")
    }
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Metric and label names: `[a-zA-Z_][a-zA-Z0-9_]*` (colons are for recording rules).
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl metrics::Recorder for Global {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        lock(&REGISTRY.help).insert(key.as_str().to_owned(), description.into_owned());
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        lock(&REGISTRY.help).insert(key.as_str().to_owned(), description.into_owned());
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        lock(&REGISTRY.help).insert(key.as_str().to_owned(), description.into_owned());
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        match REGISTRY.series(key, Kind::Counter) {
            Some(Series::Counter(c)) => Counter::from_arc(Arc::new(CounterCell(c))),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        match REGISTRY.series(key, Kind::Gauge) {
            Some(Series::Gauge(g)) => Gauge::from_arc(g),
            _ => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        match REGISTRY.series(key, Kind::Histogram) {
            Some(Series::Histogram(h)) => Histogram::from_arc(h),
            _ => Histogram::noop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(registry: &Registry, key: &Key, kind: Kind, value: f64) {
        match registry.series(key, kind) {
            Some(Series::Histogram(h)) => h.record(value),
            Some(Series::Gauge(g)) => g.set(value),
            Some(Series::Counter(c)) => {
                c.fetch_add(value as u64, Ordering::Relaxed);
            }
            None => {}
        }
    }

    #[test]
    fn histograms_render_cumulative_buckets_sum_and_count() {
        let registry = Registry::default();
        let key = Key::from_parts("ferry_test_seconds", vec![metrics::Label::new("op", "fetch")]);
        record(&registry, &key, Kind::Histogram, 0.003);
        record(&registry, &key, Kind::Histogram, 0.2);
        record(&registry, &key, Kind::Histogram, 7200.0);
        let mut out = String::new();
        registry.render(&mut out);
        assert!(out.contains("# TYPE ferry_test_seconds histogram\n"), "{out}");
        assert!(out.contains("ferry_test_seconds_bucket{op=\"fetch\",le=\"0.005\"} 1\n"), "{out}");
        assert!(out.contains("ferry_test_seconds_bucket{op=\"fetch\",le=\"0.25\"} 2\n"), "{out}");
        assert!(out.contains("ferry_test_seconds_bucket{op=\"fetch\",le=\"3600\"} 2\n"), "{out}");
        assert!(out.contains("ferry_test_seconds_bucket{op=\"fetch\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("ferry_test_seconds_count{op=\"fetch\"} 3\n"), "{out}");
        assert!(out.contains("ferry_test_seconds_sum{op=\"fetch\"} 7200.203\n"), "{out}");
    }

    #[test]
    fn one_name_keeps_one_type_and_bad_names_are_dropped() {
        let registry = Registry::default();
        let key = Key::from_name("ferry_depth");
        record(&registry, &key, Kind::Gauge, 3.0);
        assert!(registry.series(&key, Kind::Histogram).is_none());
        assert!(registry.series(&Key::from_name("bad-name"), Kind::Gauge).is_none());
        let mut out = String::new();
        registry.render(&mut out);
        assert!(out.contains("# TYPE ferry_depth gauge\nferry_depth 3\n"), "{out}");
    }
}
