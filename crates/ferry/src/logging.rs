//! Logs (SPEC §7.2): the `tracing` subscriber of the binary, filtered by `FERRY_LOG` (default `info`)
//! and written to standard error as text or as one JSON object per line (`--log-format`).
//!
//! A JSON line carries `timestamp`, `level`, `target` and `message`, then the fields of the spans it
//! happened in (outermost first: the engine's `release`, `env` and `app`) and the event's own fields,
//! all as top-level keys, so `jq 'select(.release == "…")'` finds one release's lines from the engine,
//! git and the runner alike.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::ValueEnum;
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// One readable line per record.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Whether log lines are JSON (then [`notice`] writes a log line too).
static JSON: AtomicBool = AtomicBool::new(false);

/// A line for the person who started the server (data directory, database, auth): printed as it is
/// on standard error, or as an `info` log line when logs are JSON, so that stream stays all JSON.
pub fn notice(text: impl std::fmt::Display) {
    if JSON.load(Ordering::Relaxed) {
        tracing::info!(target: "ferry::server", "{text}");
    } else {
        eprintln!("{text}");
    }
}

/// The filter of `ferry server` when `FERRY_LOG` is unset or empty (SPEC §7.2).
pub const SERVER_FILTER: &str = "info";

/// The filter of every other command (the demo and the clients print for a person; their logs are
/// warnings and errors unless `FERRY_LOG` asks for more).
pub const QUIET_FILTER: &str = "warn";

/// Installs the subscriber with `default` as the filter unless `FERRY_LOG` is set; `Err` names
/// `FERRY_LOG` when its directives do not parse.
pub fn init(format: LogFormat, color: bool, default: &str) -> Result<(), String> {
    let directives = std::env::var("FERRY_LOG").ok().filter(|v| !v.trim().is_empty());
    let filter = EnvFilter::builder()
        .parse(directives.as_deref().unwrap_or(default))
        .map_err(|e| format!("FERRY_LOG: {e} (e.g. FERRY_LOG=info or FERRY_LOG=info,ferry::access=warn)"))?;
    let layer = match format {
        LogFormat::Text => {
            tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(color).with_filter(filter).boxed()
        }
        LogFormat::Json => JsonLayer.with_filter(filter).boxed(),
    };
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
    // A subscriber set earlier (none in the binary) is kept.
    let _ = tracing_subscriber::registry().with(layer).try_init();
    Ok(())
}

/// The fields of a span, kept in its extensions.
#[derive(Debug, Default, Clone)]
struct SpanFields(BTreeMap<String, Value>);

/// Collects fields as JSON values.
struct Collect<'a>(&'a mut BTreeMap<String, Value>);

impl Visit for Collect<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().to_owned(), value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}").into());
    }
}

/// Writes each event as one JSON object on standard error.
struct JsonLayer;

/// The keys every line starts with; fields of the same name are renamed `fields.NAME`.
const RESERVED: [&str; 4] = ["timestamp", "level", "target", "message"];

impl<S> Layer<S> for JsonLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = SpanFields::default();
        attrs.record(&mut Collect(&mut fields.0));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            if let Some(fields) = extensions.get_mut::<SpanFields>() {
                values.record(&mut Collect(&mut fields.0));
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = BTreeMap::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(own) = span.extensions().get::<SpanFields>() {
                    fields.extend(own.0.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        event.record(&mut Collect(&mut fields));
        let mut line = serde_json::Map::new();
        line.insert("timestamp".into(), jiff::Timestamp::now().to_string().into());
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        line.insert("message".into(), fields.remove("message").unwrap_or_else(|| Value::String(String::new())));
        for (key, value) in fields {
            let key = if RESERVED.contains(&key.as_str()) { format!("fields.{key}") } else { key };
            line.insert(key, value);
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        // A log line that cannot be written (closed stderr) is dropped.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }
}
