//! The one results table (text) and its JSON form.

use serde::Serialize;

use crate::stats::Stat;

/// Unit of a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Unit {
    /// Milliseconds (lower is better).
    Ms,
    /// Operations per second (higher is better).
    PerSec,
    /// Mebibytes (lower is better).
    MiB,
    /// Kibibytes (lower is better).
    KiB,
    /// Seconds (lower is better).
    Seconds,
    /// Percent of one CPU core (lower is better).
    Percent,
}

impl Unit {
    fn label(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::PerSec => "/s",
            Unit::MiB => "MiB",
            Unit::KiB => "KiB",
            Unit::Seconds => "s",
            Unit::Percent => "%",
        }
    }
}

/// A machine limit measured by the harness in this run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limit {
    /// The primitive, e.g. `durable 1-row SQLite commit (FULL)`.
    pub primitive: String,
    /// Its measured figure, in the row's unit.
    pub stat: Stat,
}

/// A SPEC §9 target and whether this run met it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// The target as SPEC §9 states it.
    pub text: String,
    /// `None` when it could not be judged (figure not available).
    pub met: Option<bool>,
}

/// How a target is judged.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// Median ≤ a and p99 ≤ b.
    P50P99AtMost(f64, f64),
    /// p99 ≤ a.
    P99AtMost(f64),
    /// Median ≥ a.
    MedianAtLeast(f64),
    /// Median ≤ a.
    MedianAtMost(f64),
    /// Ratio to the limit (medians) ≥ a.
    RatioAtLeast(f64),
    /// Ratio to the limit (medians) ≤ a.
    RatioAtMost(f64),
}

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Scenario number and name, e.g. `1 hop overhead`.
    pub scenario: String,
    /// What was measured.
    pub figure: String,
    /// Unit of both figures.
    pub unit: Unit,
    /// Ferry's figure; `None` when not available (see `note`).
    pub ferry: Option<Stat>,
    /// Why the figure is missing, or a remark.
    pub note: Option<String>,
    /// The machine's limit for the same primitive.
    pub limit: Option<Limit>,
    /// Ferry's median divided by the limit's median.
    pub ratio: Option<f64>,
    /// The SPEC §9 target, when there is one for this figure.
    pub target: Option<Target>,
}

impl Row {
    /// A row with Ferry's figure and the limit beside it.
    pub fn new(scenario: &str, figure: &str, unit: Unit, ferry: Stat, limit: Option<Limit>) -> Row {
        let ratio = limit.as_ref().map(|l| ferry.median / l.stat.median).filter(|r| r.is_finite());
        Row {
            scenario: scenario.to_owned(),
            figure: figure.to_owned(),
            unit,
            ferry: Some(ferry),
            note: None,
            limit,
            ratio,
            target: None,
        }
    }

    /// A row without figures (a scenario that failed), saying why.
    pub fn unavailable(scenario: &str, figure: &str, why: &str) -> Row {
        Row {
            scenario: scenario.to_owned(),
            figure: figure.to_owned(),
            unit: Unit::Ms,
            ferry: None,
            note: Some(why.to_owned()),
            limit: None,
            ratio: None,
            target: None,
        }
    }

    /// Attaches a SPEC §9 target and judges it.
    pub fn target(mut self, text: &str, goal: Goal) -> Row {
        let met = self.ferry.map(|f| match goal {
            Goal::P50P99AtMost(a, b) => f.median <= a && f.p99 <= b,
            Goal::P99AtMost(a) => f.p99 <= a,
            Goal::MedianAtLeast(a) => f.median >= a,
            Goal::MedianAtMost(a) => f.median <= a,
            Goal::RatioAtLeast(a) => self.ratio.is_some_and(|r| r >= a),
            Goal::RatioAtMost(a) => self.ratio.is_some_and(|r| r <= a),
        });
        self.target = Some(Target { text: text.to_owned(), met });
        self
    }

    /// Adds a remark.
    pub fn note(mut self, note: &str) -> Row {
        self.note = Some(note.to_owned());
        self
    }
}

/// Where and when the run happened.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical CPUs.
    pub cpus: usize,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// `git --version`.
    pub git: String,
    /// Load average (1 min) when the run started.
    pub load_at_start: f64,
}

impl Machine {
    /// Reads the machine's description from /proc.
    pub fn describe() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or_else(|| "unknown".to_owned(), |(_, v)| v.trim().to_owned());
        let memory_kib: f64 = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let git = std::process::Command::new("git")
            .arg("--version")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default();
        Machine {
            cpu,
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: memory_kib / 1024.0 / 1024.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            git,
            load_at_start: load_average(),
        }
    }
}

/// The 1-minute load average.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Other work on the machine while a scenario ran (the machine may be shared).
#[derive(Debug, Clone, Serialize)]
pub struct Background {
    /// Scenario name.
    pub scenario: String,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Highest 1-minute load average sampled (once a second) while it ran.
    pub max_load: f64,
    /// Most compiler processes (`rustc`, `cc1`, `ld`) of other programs seen at once.
    pub max_compilers: usize,
}

/// Samples the load average and the compilers running, once a second, until dropped.
pub struct Sampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    samples: std::sync::Arc<std::sync::Mutex<(f64, usize)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling.
    pub fn start() -> Sampler {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let samples = std::sync::Arc::new(std::sync::Mutex::new((load_average(), compilers())));
        let thread = {
            let (stop, samples) = (stop.clone(), samples.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::park_timeout(std::time::Duration::from_millis(1000));
                    let (load, comp) = (load_average(), compilers());
                    if let Ok(mut s) = samples.lock() {
                        s.0 = s.0.max(load);
                        s.1 = s.1.max(comp);
                    }
                }
            })
        };
        Sampler { stop, samples, thread: Some(thread) }
    }

    /// Stops sampling; the highest load and compiler count seen.
    pub fn finish(mut self) -> (f64, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
        let (load, comp) = self.samples.lock().map(|s| *s).unwrap_or((f64::NAN, 0));
        (load.max(load_average()), comp)
    }
}

/// Compiler processes running on the machine now.
fn compilers() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else { return 0 };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|e| std::fs::read_to_string(e.path().join("comm")).ok())
        .filter(|comm| matches!(comm.trim(), "rustc" | "cc1" | "cc1plus" | "ld" | "rust-lld" | "ld.lld"))
        .count()
}

/// Everything one run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `all`, `quick` or the scenario names.
    pub mode: String,
    /// Whether the harness was built with optimisations.
    pub optimized: bool,
    /// Start of the run (UTC).
    pub started: String,
    /// Wall time of the whole run, seconds.
    pub seconds: f64,
    /// The machine.
    pub machine: Machine,
    /// The table.
    pub rows: Vec<Row>,
    /// Other load on the machine during each scenario.
    pub background: Vec<Background>,
}

/// A number with about three significant digits.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_owned();
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn stat_text(s: &Stat, unit: Unit) -> String {
    if s.samples <= 1 || s.median == s.p99 {
        format!("{} {}", num(s.median), unit.label())
    } else {
        format!("{} / {} {}", num(s.median), num(s.p99), unit.label())
    }
}

impl Report {
    /// The table as Markdown (also readable as plain text).
    pub fn table(&self) -> String {
        let header = [
            "scenario",
            "figure",
            "Ferry (median / p99)",
            "machine limit (same primitive, this run)",
            "limit (median / p99)",
            "ratio",
            "SPEC §9 target",
            "met",
        ];
        let mut lines: Vec<[String; 8]> = Vec::new();
        for r in &self.rows {
            let ferry = match &r.ferry {
                Some(s) => stat_text(s, r.unit),
                None => format!("n/a ({})", r.note.as_deref().unwrap_or("not measured")),
            };
            let (primitive, limit) = match &r.limit {
                Some(l) => (l.primitive.clone(), stat_text(&l.stat, r.unit)),
                None => ("—".to_owned(), "—".to_owned()),
            };
            let ratio = r.ratio.map_or_else(|| "—".to_owned(), |x| format!("{}×", num(x)));
            let (target, met) = match &r.target {
                Some(t) => (
                    t.text.clone(),
                    match t.met {
                        Some(true) => "met".to_owned(),
                        Some(false) => "NOT met".to_owned(),
                        None => "n/a".to_owned(),
                    },
                ),
                None => ("—".to_owned(), "—".to_owned()),
            };
            lines.push([r.scenario.clone(), r.figure.clone(), ferry, primitive, limit, ratio, target, met]);
        }
        let mut widths = header.map(|h| h.chars().count());
        for l in &lines {
            for (w, c) in widths.iter_mut().zip(l.iter()) {
                *w = (*w).max(c.chars().count());
            }
        }
        let fmt = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(widths.iter())
                .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
                .collect();
            format!("| {} |", padded.join(" | "))
        };
        let mut out = String::new();
        out.push_str(&fmt(&header.map(str::to_owned)));
        out.push('\n');
        out.push_str(&fmt(&widths.map(|w| "-".repeat(w))));
        out.push('\n');
        for l in &lines {
            out.push_str(&fmt(l));
            out.push('\n');
        }
        let notes: Vec<String> = self
            .rows
            .iter()
            .filter(|r| r.ferry.is_some())
            .filter_map(|r| r.note.as_ref().map(|n| format!("- {} / {}: {n}", r.scenario, r.figure)))
            .collect();
        if !notes.is_empty() {
            out.push('\n');
            out.push_str(&notes.join("\n"));
            out.push('\n');
        }
        if !self.background.is_empty() {
            out.push('\n');
            for b in &self.background {
                out.push_str(&format!(
                    "- {}: {:.0} s, highest 1-min load {:.2}, compiler processes of other programs seen at once: {}\n",
                    b.scenario, b.seconds, b.max_load, b.max_compilers
                ));
            }
        }
        out
    }
}
