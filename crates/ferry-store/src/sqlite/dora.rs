//! DORA rollups on SQLite: updated with each outcome recorded (in the writer's transaction), built by
//! migration 0010 from the outcomes already stored, and read by window.

use ferry_model::dora::rollup::{Track, WeekRollup};
use jiff::Timestamp;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use super::rows::{Row, all, fmt_ts, query_err};
use super::text;
use crate::rollup::{self, Decision, Replay};
use crate::{DecidedOutcomeRow, DoraWeekRow, OutcomeQuery, OutcomeRow, Result, StoreError};

const WEEK_UPSERT: &str = "INSERT INTO dora_weeks (product, environment, week, deployments, changes, change_failures,
       unrestored, lead, restore) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (product, environment, week) DO UPDATE SET deployments = excluded.deployments,
       changes = excluded.changes, change_failures = excluded.change_failures, unrestored = excluded.unrestored,
       lead = excluded.lead, restore = excluded.restore";
const TRACK_UPSERT: &str = "INSERT INTO dora_tracks (product, environment, track) VALUES (?, ?, ?)
     ON CONFLICT (product, environment) DO UPDATE SET track = excluded.track";
const DECIDE: &str = "UPDATE env_outcomes SET failure = ?, restore_secs = ?
     WHERE release_id = ? AND environment = ? AND attempt = ?";

fn json_text(value: &serde_json::Value) -> String {
    value.to_string()
}

fn parse(text: &str, what: &str) -> Result<serde_json::Value> {
    super::rows::json(text, what)
}

fn week_rollup(row: &Row) -> Result<WeekRollup> {
    Ok(WeekRollup {
        deployments: rollup::uncount(row.get("deployments")?),
        changes: rollup::uncount(row.get("changes")?),
        change_failures: rollup::uncount(row.get("change_failures")?),
        unrestored: rollup::uncount(row.get("unrestored")?),
        lead: rollup::stat(parse(&row.get::<String>("lead")?, "DORA lead times")?)?,
        restore: rollup::stat(parse(&row.get::<String>("restore")?, "DORA restore times")?)?,
    })
}

fn write_week(conn: &Connection, product: &str, env: &str, week: Timestamp, r: &WeekRollup) -> Result<()> {
    let doing = "updating a DORA week";
    let (lead, restore) = (json_text(&rollup::stat_json(&r.lead)?), json_text(&rollup::stat_json(&r.restore)?));
    conn.prepare_cached(WEEK_UPSERT)
        .and_then(|mut s| {
            s.execute(params![
                product,
                env,
                fmt_ts(week),
                rollup::count(r.deployments),
                rollup::count(r.changes),
                rollup::count(r.change_failures),
                rollup::count(r.unrestored),
                lead,
                restore
            ])
        })
        .map_err(query_err(doing))?;
    Ok(())
}

fn decide(conn: &Connection, env: &str, release_id: &str, attempt: i64, d: Decision) -> Result<()> {
    conn.prepare_cached(DECIDE)
        .and_then(|mut s| s.execute(params![d.0, d.1, release_id, env, attempt]))
        .map_err(query_err("deciding a DORA change failure"))?;
    Ok(())
}

/// Updates the track and the week rollups of `o`'s environment for `o`, just inserted.
pub(super) fn record(conn: &Connection, o: &OutcomeRow) -> Result<()> {
    let doing = "reading a DORA environment track";
    let stored: Option<String> = conn
        .prepare_cached("SELECT track FROM dora_tracks WHERE product = ? AND environment = ?")
        .and_then(|mut s| s.query_row(params![o.product, o.environment], |r| r.get(0)).optional())
        .map_err(query_err(doing))?;
    let mut track = match stored {
        Some(text) => rollup::track(parse(&text, "DORA environment track")?)?,
        None => Track::default(),
    };
    let recorded = rollup::key(o);
    for effect in track.record(recorded.clone(), &rollup::model_outcome(o)?) {
        let week = effect.week();
        let doing = "reading a DORA week";
        let mut current = all(
            conn,
            doing,
            "SELECT deployments, changes, change_failures, unrestored, lead, restore FROM dora_weeks
             WHERE product = ? AND environment = ? AND week = ?",
            params![o.product, o.environment, fmt_ts(week)],
            week_rollup,
        )?
        .pop()
        .unwrap_or_default();
        current.apply(&effect);
        write_week(conn, &o.product, &o.environment, week, &current)?;
        if let Some((k, d)) = rollup::decision(&effect, &recorded) {
            decide(conn, &o.environment, &k.release_id, k.attempt, d)?;
        }
    }
    let text = json_text(&rollup::track_json(&track)?);
    conn.prepare_cached(TRACK_UPSERT)
        .and_then(|mut s| s.execute(params![o.product, o.environment, text]))
        .map_err(query_err("storing a DORA environment track"))?;
    Ok(())
}

/// Builds the rollups, tracks and classifications of every stored outcome (migration 0010).
pub(super) fn backfill(conn: &Connection) -> Result<()> {
    let mut replay = Replay::default();
    let rows = read_outcomes(conn, &OutcomeQuery::default())?;
    for row in &rows {
        replay.record(&row.outcome)?;
    }
    for ((product, env, week), r) in &replay.weeks {
        write_week(conn, product, env, *week, r)?;
    }
    for ((product, env), track) in &replay.tracks {
        let text = json_text(&rollup::track_json(track)?);
        conn.execute(TRACK_UPSERT, params![product, env, text]).map_err(query_err("storing a DORA track"))?;
    }
    for ((_, env, release_id, attempt), d) in replay.decisions {
        decide(conn, &env, &release_id, attempt, d)?;
    }
    Ok(())
}

/// Outcomes with their classification (the existing `outcomes` read, with two more columns).
pub(super) fn read_outcomes(conn: &Connection, query: &OutcomeQuery) -> Result<Vec<DecidedOutcomeRow>> {
    let doing = "reading environment outcomes";
    let mut sql = String::from(
        "SELECT release_id, product, environment, flow, attempt, status, after_action, committed_at, at, failure, \
         restore_secs FROM env_outcomes WHERE 1 = 1",
    );
    let mut values = Vec::new();
    narrow(&mut sql, &mut values, query, "at");
    sql.push_str(" ORDER BY at, id");
    all(conn, doing, &sql, params_from_iter(values), |row| {
        Ok(DecidedOutcomeRow {
            outcome: OutcomeRow {
                release_id: row.get("release_id")?,
                product: row.get("product")?,
                environment: row.get("environment")?,
                flow: row.get("flow")?,
                attempt: row.get("attempt")?,
                status: row.get("status")?,
                after_action: row.get("after_action")?,
                committed_at: row.ts("committed_at", "environment outcome")?,
                at: row.ts("at", "environment outcome")?,
            },
            failure: row.get("failure")?,
            restore_secs: row.get("restore_secs")?,
        })
    })
}

/// Week rollups passing `query` (its times bound the week's start).
pub(super) fn weeks(conn: &Connection, query: &OutcomeQuery) -> Result<Vec<DoraWeekRow>> {
    let mut sql = String::from(
        "SELECT product, environment, week, deployments, changes, change_failures, unrestored, lead, restore \
         FROM dora_weeks WHERE 1 = 1",
    );
    let mut values = Vec::new();
    narrow(&mut sql, &mut values, query, "week");
    sql.push_str(" ORDER BY week, product, environment");
    all(conn, "reading DORA weeks", &sql, params_from_iter(values), |row| {
        Ok(DoraWeekRow {
            product: row.get("product")?,
            environment: row.get("environment")?,
            week: row.ts("week", "DORA week")?,
            rollup: week_rollup(row)?,
        })
    })
}

fn narrow(sql: &mut String, values: &mut Vec<Value>, query: &OutcomeQuery, time: &str) {
    if let Some(p) = &query.product {
        sql.push_str(" AND product = ?");
        values.push(text(p));
    }
    if let Some(e) = &query.environment {
        sql.push_str(" AND environment = ?");
        values.push(text(e));
    }
    if let Some(s) = query.since {
        sql.push_str(&format!(" AND {time} >= ?"));
        values.push(Value::Text(fmt_ts(s)));
    }
    if let Some(u) = query.until {
        sql.push_str(&format!(" AND {time} < ?"));
        values.push(Value::Text(fmt_ts(u)));
    }
}

/// A backfill failure as the migration runner reports it.
pub(super) fn migration_error(e: StoreError) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}
