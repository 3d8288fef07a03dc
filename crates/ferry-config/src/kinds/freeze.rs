//! The Freeze kind (SPEC §10): a window when promotions into matching environments wait.
//!
//! ```yaml
//! kind: Freeze
//! metadata: { name: weekend }
//! spec:
//!   environments: [prod*]          # globs; absent = every environment
//!   products: [shop]               # globs; absent = every product
//!   cron: "0 16 * * FRI"           # a recurring window: schedule, duration, time zone
//!   duration: 64h
//!   timeZone: Europe/Berlin
//!   # or a one-off range: from: 2026-12-24T00:00:00+01:00, until: 2026-12-27T00:00:00+01:00
//!   reason: weekend freeze
//! ```

use ferry_model::freeze::{Freeze, FreezeError, FreezeSource, Window};
use ferry_model::names::FreezeName;
use jiff::Timestamp;

use super::{named, opt};
use crate::decode::{Cx, Field, Fields, duration, list_of, non_empty, string};
use crate::node::Pos;

/// Decodes `spec` of a Freeze.
pub(super) fn freeze(cx: &mut Cx<'_>, spec: &mut Fields<'_>, name: String) -> Option<Freeze> {
    spec.reject_unknown(cx, &["environments", "products", "from", "until", "cron", "duration", "timeZone", "reason"]);
    let name = named(cx, spec, name, FreezeName::new);
    let environments = opt(cx, spec, "environments", |cx, f| list_of(cx, f, non_empty));
    let products = opt(cx, spec, "products", |cx, f| list_of(cx, f, non_empty));
    let reason = opt(cx, spec, "reason", string);
    let window = window(cx, spec);
    Some(Freeze {
        name: name?,
        environments: environments?.unwrap_or_default(),
        products: products?.unwrap_or_default(),
        window: window?,
        reason: reason?,
        source: FreezeSource::Config,
    })
}

/// A field's value with where it was written, for errors found once the window is assembled.
struct At<T> {
    value: T,
    pos: Pos,
    path: String,
}

fn at<'n, T>(
    cx: &mut Cx<'_>,
    spec: &Fields<'n>,
    key: &str,
    read: impl FnOnce(&mut Cx<'_>, Field<'n, '_>) -> Option<T>,
) -> Option<Option<At<T>>> {
    match spec.opt(key) {
        None => Some(None),
        Some(f) => {
            let (pos, path) = (f.node.pos, f.path.clone());
            read(cx, f.f()).map(|value| Some(At { value, pos, path }))
        }
    }
}

/// The window: `from` + `until`, or `cron` + `duration` + `timeZone` (default UTC).
fn window(cx: &mut Cx<'_>, spec: &Fields<'_>) -> Option<Window> {
    let from = at(cx, spec, "from", instant);
    let until = at(cx, spec, "until", instant);
    let cron = at(cx, spec, "cron", non_empty);
    let length = at(cx, spec, "duration", duration);
    let zone = at(cx, spec, "timeZone", non_empty);
    let (from, until, cron, length, zone) = (from?, until?, cron?, length?, zone?);
    let once = from.is_some() || until.is_some();
    let recurring = cron.is_some() || length.is_some() || zone.is_some();
    let report = |cx: &mut Cx<'_>, e: FreezeError, fields: &[Option<(&Pos, &str, &str)>]| {
        let (pos, path) = fields
            .iter()
            .flatten()
            .find(|(_, _, key)| *key == e.field())
            .map_or((spec.pos(), format!("{}.{}", spec.path(), e.field())), |(pos, path, _)| (**pos, path.to_string()));
        cx.error(pos, &path, e.to_string());
    };
    match (once, recurring) {
        (true, true) | (false, false) => {
            cx.error_hint(
                spec.pos(),
                spec.path(),
                if once { "a freeze has either from/until or cron/duration/timeZone, not both" } else { "a freeze needs a window" },
                Some("a one-off range: from + until (RFC 3339); a recurring window: cron + duration (+ timeZone, default UTC)".into()),
            );
            None
        }
        (true, false) => {
            let (Some(from), Some(until)) = (&from, &until) else {
                let missing = if from.is_none() { "from" } else { "until" };
                cx.error(
                    spec.pos(),
                    &format!("{}.{missing}", spec.path()),
                    format!("missing required field {missing:?}"),
                );
                return None;
            };
            Window::once(from.value, until.value)
                .map_err(|e| report(cx, e, &[Some((&until.pos, until.path.as_str(), "until"))]))
                .ok()
        }
        (false, true) => {
            let (Some(cron), Some(length)) = (&cron, &length) else {
                let missing = if cron.is_none() { "cron" } else { "duration" };
                cx.error(
                    spec.pos(),
                    &format!("{}.{missing}", spec.path()),
                    format!("missing required field {missing:?}"),
                );
                return None;
            };
            let tz = zone.as_ref().map_or("UTC", |z| z.value.as_str());
            let fields = [
                Some((&cron.pos, cron.path.as_str(), "cron")),
                Some((&length.pos, length.path.as_str(), "duration")),
                zone.as_ref().map(|z| (&z.pos, z.path.as_str(), "timeZone")),
            ];
            Window::recurring(&cron.value, length.value, tz).map_err(|e| report(cx, e, &fields)).ok()
        }
    }
}

/// An RFC 3339 instant (`2026-12-24T00:00:00+01:00`, `…Z`).
fn instant(cx: &mut Cx<'_>, f: Field<'_, '_>) -> Option<Timestamp> {
    let text = string(cx, f)?;
    match text.parse::<Timestamp>() {
        Ok(ts) => Some(ts),
        Err(_) => {
            cx.error_hint(
                f.node.pos,
                f.path,
                format!("invalid time {text:?}"),
                Some("use RFC 3339 with an offset, e.g. 2026-12-24T00:00:00+01:00 or 2026-12-24T00:00:00Z".into()),
            );
            None
        }
    }
}
