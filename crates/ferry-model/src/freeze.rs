//! Freeze windows (SPEC §10): times when promotions into matching environments wait.
//!
//! A [`Freeze`] names environment and product globs and one [`Window`]: a one-off range of two
//! instants, or a recurring window (a five-field cron schedule in a time zone, each occurrence lasting
//! a duration). [`FreezeSet::hold`] answers whether a promotion of a product into an environment must
//! wait at an instant and until when, joining windows that follow each other without a gap. Pure: the
//! time is always a parameter; time zones come from the time-zone database bundled with jiff.

use std::time::Duration;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::{Deserialize, Serialize};

use crate::names::FreezeName;
use crate::resources::glob_match;

/// Why a freeze window is invalid; each message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FreezeError {
    /// The cron schedule does not parse.
    #[error("{0}")]
    Cron(String),
    /// The time zone is not in the time-zone database.
    #[error("unknown time zone {0:?} (use an IANA name such as Europe/Berlin or UTC)")]
    TimeZone(String),
    /// The duration is zero.
    #[error("a window must last longer than 0s")]
    ZeroDuration,
    /// `until` is not after `from`.
    #[error("{until} is not after from ({from})")]
    Range {
        /// Start.
        from: Timestamp,
        /// End.
        until: Timestamp,
    },
    /// An occurrence of a recurring window lasts into the next one.
    #[error(
        "{duration} is longer than the time between two occurrences of {cron:?} ({first} and {second}): \
         the windows would overlap; shorten the duration or space the schedule out"
    )]
    Overlap {
        /// The schedule.
        cron: String,
        /// The duration as written.
        duration: String,
        /// One occurrence.
        first: Timestamp,
        /// The next, which starts before the first ends.
        second: Timestamp,
    },
    /// The schedule never fires.
    #[error("{0:?} never fires (check the day of month against the month)")]
    NeverFires(String),
}

impl FreezeError {
    /// The field at fault, as spelled in a `Freeze` resource (`cron`, `timeZone`, `duration`, `until`).
    pub fn field(&self) -> &'static str {
        match self {
            FreezeError::Cron(_) | FreezeError::NeverFires(_) => "cron",
            FreezeError::TimeZone(_) => "timeZone",
            FreezeError::ZeroDuration | FreezeError::Overlap { .. } => "duration",
            FreezeError::Range { .. } => "until",
        }
    }

    /// `field: message`.
    pub fn describe(&self) -> String {
        format!("{}: {self}", self.field())
    }
}

// ------------------------------------------------------------------------------------------ cron

/// A five-field cron schedule: minute, hour, day of month, month, day of week. Fields take `*`,
/// numbers, ranges `a-b`, lists `a,b` and steps `*/n` or `a-b/n`; months and days of the week also
/// take names (`JAN`, `FRI`); day of week 0 and 7 are Sunday. As in cron, when both the day of month
/// and the day of week are restricted, a day matching either fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    any_day: bool,
    any_weekday: bool,
}

const MONTHS: [&str; 12] = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Parses one field into a bit set of the values `min..=max`; `names` are the values from `min` on.
fn cron_field(field: &str, what: &str, min: u32, max: u32, names: &[&str]) -> Result<u64, String> {
    let value = |text: &str| -> Result<u32, String> {
        let upper = text.to_ascii_uppercase();
        if let Some(i) = names.iter().position(|n| *n == upper) {
            return Ok(min + i as u32);
        }
        let n: u32 = text.parse().map_err(|_| format!("{what} field {field:?}: {text:?} is not a number"))?;
        if n < min || n > max {
            return Err(format!("{what} field {field:?}: {n} is out of range {min}-{max}"));
        }
        Ok(n)
    };
    let mut bits = 0u64;
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 =
                    step.parse().map_err(|_| format!("{what} field {field:?}: step {step:?} is not a number"))?;
                if step == 0 {
                    return Err(format!("{what} field {field:?}: the step must be at least 1"));
                }
                (range, step)
            }
            None => (part, 1),
        };
        let (from, to) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                None if step > 1 => (value(range)?, max),
                None => {
                    let v = value(range)?;
                    (v, v)
                }
            },
        };
        if from > to {
            return Err(format!("{what} field {field:?}: the range {from}-{to} is backwards"));
        }
        let mut v = from;
        while v <= to {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

impl Cron {
    /// Parses a five-field schedule, e.g. `0 16 * * FRI`.
    pub fn parse(text: &str) -> Result<Cron, FreezeError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(FreezeError::Cron(format!(
                "{text:?} has {} fields; expected 5 (minute hour day-of-month month day-of-week, e.g. \"0 16 * * FRI\")",
                fields.len()
            )));
        };
        let e = FreezeError::Cron;
        let weekdays = cron_field(weekday, "day-of-week", 0, 7, &WEEKDAYS).map_err(e)?;
        Ok(Cron {
            text: fields.join(" "),
            minutes: cron_field(minute, "minute", 0, 59, &[]).map_err(e)?,
            hours: cron_field(hour, "hour", 0, 23, &[]).map_err(e)? as u32,
            days: cron_field(day, "day-of-month", 1, 31, &[]).map_err(e)? as u32,
            months: cron_field(month, "month", 1, 12, &MONTHS).map_err(e)? as u16,
            // 7 is Sunday too.
            weekdays: ((weekdays | (weekdays >> 7)) & 0x7f) as u8,
            any_day: day.starts_with('*'),
            any_weekday: weekday.starts_with('*'),
        })
    }

    /// The schedule as written (fields separated by one space).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn matches_date(&self, date: Date) -> bool {
        if self.months & (1 << date.month()) == 0 {
            return false;
        }
        let day = self.days & (1 << date.day()) != 0;
        let weekday = self.weekdays & (1 << date.weekday().to_sunday_zero_offset()) != 0;
        match (self.any_day, self.any_weekday) {
            (true, true) => true,
            (true, false) => weekday,
            (false, true) => day,
            (false, false) => day || weekday,
        }
    }

    /// The first time the schedule fires strictly after `after`, in `tz` (a local time skipped by a
    /// daylight-saving change fires at the same offset after the change); `None` when it does not
    /// fire in the next five years.
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = after.to_zoned(tz.clone()).datetime();
        let start: DateTime = local.date().at(local.hour(), local.minute(), 0, 0).checked_add(1.minute()).ok()?;
        let mut date = start.date();
        for day in 0..(366 * 5) {
            if self.matches_date(date) {
                let (h0, m0) = if day == 0 { (start.hour(), start.minute()) } else { (0, 0) };
                for h in (h0..24).filter(|h| self.hours & (1 << h) != 0) {
                    let from = if day == 0 && h == h0 { m0 } else { 0 };
                    for m in (from..60).filter(|m| self.minutes & (1 << m) != 0) {
                        let at = date.at(h, m, 0, 0);
                        let ts = tz.to_ambiguous_zoned(at).compatible().ok()?.timestamp();
                        if ts > after {
                            return Some(ts);
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }
}

impl TryFrom<String> for Cron {
    type Error = FreezeError;
    fn try_from(text: String) -> Result<Cron, FreezeError> {
        Cron::parse(&text)
    }
}

impl From<Cron> for String {
    fn from(cron: Cron) -> String {
        cron.text
    }
}

/// A time zone of the bundled database, kept with its name.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// Looks `name` up (`Europe/Berlin`, `UTC`, …).
    pub fn get(name: &str) -> Result<Zone, FreezeError> {
        let tz = TimeZone::get(name).map_err(|_| FreezeError::TimeZone(name.to_owned()))?;
        Ok(Zone { name: name.to_owned(), tz })
    }

    /// The name as written.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Zone) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl TryFrom<String> for Zone {
    type Error = FreezeError;
    fn try_from(name: String) -> Result<Zone, FreezeError> {
        Zone::get(&name)
    }
}

impl From<Zone> for String {
    fn from(zone: Zone) -> String {
        zone.name
    }
}

// ------------------------------------------------------------------------------------------ windows

/// When a freeze holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Window {
    /// From one instant (included) until another (excluded).
    Once {
        /// Start.
        from: Timestamp,
        /// End.
        until: Timestamp,
    },
    /// Each time `cron` fires in `time_zone`, for `duration`.
    Recurring {
        /// The schedule.
        cron: Cron,
        /// How long each occurrence lasts (elapsed time).
        duration: Duration,
        /// The time zone the schedule is read in.
        time_zone: Zone,
    },
}

/// An occurrence of a window: start (included) and end (excluded).
pub type Occurrence = (Timestamp, Timestamp);

/// Where the overlap check of a recurring window starts (any fixed instant: the check must not
/// depend on when a configuration is applied).
const OVERLAP_CHECK_FROM: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z
/// How many occurrences the overlap check compares.
const OVERLAP_CHECK_OCCURRENCES: usize = 400;

impl Window {
    /// A recurring window from its parts as written, each checked.
    pub fn recurring(cron: &str, duration: Duration, time_zone: &str) -> Result<Window, FreezeError> {
        let window = Window::Recurring { cron: Cron::parse(cron)?, duration, time_zone: Zone::get(time_zone)? };
        window.validate()?;
        Ok(window)
    }

    /// A one-off window, checked.
    pub fn once(from: Timestamp, until: Timestamp) -> Result<Window, FreezeError> {
        let window = Window::Once { from, until };
        window.validate()?;
        Ok(window)
    }

    /// Checks the window: a range that ends after it starts; a recurring window that lasts, fires,
    /// and never runs into its next occurrence (checked over 400 occurrences from 2026).
    pub fn validate(&self) -> Result<(), FreezeError> {
        match self {
            Window::Once { from, until } if until <= from => Err(FreezeError::Range { from: *from, until: *until }),
            Window::Once { .. } => Ok(()),
            Window::Recurring { duration, .. } if duration.is_zero() => Err(FreezeError::ZeroDuration),
            Window::Recurring { cron, duration, time_zone } => {
                let mut at =
                    Timestamp::from_second(OVERLAP_CHECK_FROM).map_err(|e| FreezeError::Cron(e.to_string()))?;
                let mut previous = cron.next_after(at, &time_zone.tz);
                if previous.is_none() {
                    return Err(FreezeError::NeverFires(cron.text.clone()));
                }
                for _ in 0..OVERLAP_CHECK_OCCURRENCES {
                    let Some(first) = previous else { break };
                    at = first;
                    let Some(second) = cron.next_after(at, &time_zone.tz) else { break };
                    if end_of(first, *duration) > second {
                        return Err(FreezeError::Overlap {
                            cron: cron.text.clone(),
                            duration: crate::format_duration(*duration),
                            first,
                            second,
                        });
                    }
                    previous = Some(second);
                }
                Ok(())
            }
        }
    }

    /// The occurrence holding at `now`, if any.
    pub fn occurrence_at(&self, now: Timestamp) -> Option<Occurrence> {
        match self {
            Window::Once { from, until } => (*from <= now && now < *until).then_some((*from, *until)),
            Window::Recurring { cron, duration, time_zone } => {
                // Occurrences never overlap: the one holding now is the first to start after now - duration.
                let since = now.checked_sub(*duration).ok()?;
                let start = cron.next_after(since, &time_zone.tz)?;
                let end = end_of(start, *duration);
                (start <= now && now < end).then_some((start, end))
            }
        }
    }

    /// The first occurrence starting after `now`.
    pub fn next_after(&self, now: Timestamp) -> Option<Occurrence> {
        match self {
            Window::Once { from, until } => (*from > now).then_some((*from, *until)),
            Window::Recurring { cron, duration, time_zone } => {
                let start = cron.next_after(now, &time_zone.tz)?;
                Some((start, end_of(start, *duration)))
            }
        }
    }
}

fn end_of(start: Timestamp, duration: Duration) -> Timestamp {
    start.checked_add(duration).unwrap_or(Timestamp::MAX)
}

// ------------------------------------------------------------------------------------------ freezes

/// Where a freeze comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FreezeSource {
    /// A `Freeze` resource of the applied configuration.
    #[default]
    Config,
    /// Made with `ferry freeze create` (kept apart from the configuration).
    Runtime,
}

/// A freeze: environment and product globs (empty = all) and a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Freeze {
    /// Name.
    pub name: FreezeName,
    /// Environment name globs (`*` is any text); empty = every environment.
    #[serde(default)]
    pub environments: Vec<String>,
    /// Product name globs; empty = every product.
    #[serde(default)]
    pub products: Vec<String>,
    /// When it holds.
    pub window: Window,
    /// Why, shown beside the window.
    #[serde(default)]
    pub reason: Option<String>,
    /// Configuration or runtime.
    #[serde(default)]
    pub source: FreezeSource,
}

impl Freeze {
    /// Whether the freeze covers promotions of `product` into `env`.
    pub fn applies_to(&self, product: &str, env: &str) -> bool {
        let env_ok = self.environments.is_empty() || self.environments.iter().any(|g| glob_match(g, env));
        let product_ok = self.products.is_empty() || self.products.iter().any(|g| glob_match(g, product));
        env_ok && product_ok
    }
}

/// Why a promotion waits: until when, and which freezes hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    /// When the last of the joined windows ends.
    pub until: Timestamp,
    /// The freezes holding, by name.
    pub freezes: Vec<FreezeName>,
}

/// A freeze's window as seen from an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowAt<'a> {
    /// The freeze.
    pub freeze: &'a Freeze,
    /// Its occurrence holding now, if any.
    pub active: Option<Occurrence>,
    /// Its next occurrence after now, if any.
    pub next: Option<Occurrence>,
}

/// Every freeze in force: the configuration's and the runtime ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FreezeSet {
    freezes: Vec<Freeze>,
}

/// How many windows a hold joins at most (windows that follow each other without a gap).
const MAX_JOINED: usize = 64;

impl FreezeSet {
    /// A set of freezes.
    pub fn new(freezes: Vec<Freeze>) -> FreezeSet {
        FreezeSet { freezes }
    }

    /// The freezes, in the order given.
    pub fn freezes(&self) -> &[Freeze] {
        &self.freezes
    }

    /// Whether promotions of `product` into `env` wait at `now`: until the end of the windows holding
    /// now, joined with every window that holds at that end (and so on), so that a release held by
    /// back-to-back windows waits once.
    pub fn hold(&self, product: &str, env: &str, now: Timestamp) -> Option<Hold> {
        let matching: Vec<&Freeze> = self.freezes.iter().filter(|f| f.applies_to(product, env)).collect();
        let mut freezes: Vec<FreezeName> = Vec::new();
        let mut until: Option<Timestamp> = None;
        let mut at = now;
        for _ in 0..MAX_JOINED {
            let mut extended = false;
            for freeze in &matching {
                if let Some((_, end)) = freeze.window.occurrence_at(at)
                    && until.is_none_or(|u| end > u)
                {
                    until = Some(end);
                    extended = true;
                    if !freezes.contains(&freeze.name) {
                        freezes.push(freeze.name.clone());
                    }
                }
            }
            match until {
                Some(end) if extended => at = end,
                _ => break,
            }
        }
        until.map(|until| Hold { until, freezes })
    }

    /// The windows of the freezes covering `product` in `env` (`None`: in any environment) as seen at
    /// `now`: those holding now and each one's next occurrence; freezes with neither are left out.
    pub fn windows(&self, product: &str, env: Option<&str>, now: Timestamp) -> Vec<WindowAt<'_>> {
        self.freezes
            .iter()
            .filter(|f| match env {
                Some(env) => f.applies_to(product, env),
                None => f.products.is_empty() || f.products.iter().any(|g| glob_match(g, product)),
            })
            .map(|freeze| WindowAt {
                freeze,
                active: freeze.window.occurrence_at(now),
                next: freeze.window.next_after(now),
            })
            .filter(|w| w.active.is_some() || w.next.is_some())
            .collect()
    }
}

#[cfg(test)]
mod tests;
