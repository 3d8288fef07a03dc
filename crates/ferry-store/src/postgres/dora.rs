//! DORA rollups on PostgreSQL: updated with each outcome recorded (in the write's transaction, under
//! the event-log lock), built by migration 0009 from the outcomes already stored, and read by window.

use ferry_model::dora::rollup::{Track, WeekRollup};
use jiff::Timestamp;
use tokio_postgres::GenericClient;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use deadpool_postgres::Object;

use super::release::{pipeline, prepare, send};
use super::rows::get;
use super::{Params, query_err};
use crate::rollup::{self, Decision, Replay};
use crate::{DecidedOutcomeRow, DoraWeekRow, OutcomeQuery, OutcomeRow, Result};

const WEEK_SELECT: &str = "SELECT deployments, changes, change_failures, unrestored, lead, restore FROM dora_weeks
     WHERE product = $1 AND environment = $2 AND week = $3";
const WEEK_UPSERT: &str = "INSERT INTO dora_weeks (product, environment, week, deployments, changes, change_failures,
       unrestored, lead, restore) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (product, environment, week) DO UPDATE SET deployments = excluded.deployments,
       changes = excluded.changes, change_failures = excluded.change_failures, unrestored = excluded.unrestored,
       lead = excluded.lead, restore = excluded.restore";
const TRACK_SELECT: &str = "SELECT track FROM dora_tracks WHERE product = $1 AND environment = $2";
const TRACK_UPSERT: &str = "INSERT INTO dora_tracks (product, environment, track) VALUES ($1, $2, $3)
     ON CONFLICT (product, environment) DO UPDATE SET track = excluded.track";
const DECIDE: &str = "UPDATE env_outcomes SET failure = $1, restore_secs = $2
     WHERE release_id = $3 AND environment = $4 AND attempt = $5";

fn week_rollup(row: &Row, doing: &'static str) -> Result<WeekRollup> {
    let count = |column| get::<i64>(row, column, doing).map(rollup::uncount);
    Ok(WeekRollup {
        deployments: count("deployments")?,
        changes: count("changes")?,
        change_failures: count("change_failures")?,
        unrestored: count("unrestored")?,
        lead: rollup::stat(get(row, "lead", doing)?)?,
        restore: rollup::stat(get(row, "restore", doing)?)?,
    })
}

async fn write_week(
    client: &impl GenericClient,
    product: &str,
    env: &str,
    week: Timestamp,
    r: &WeekRollup,
) -> Result<()> {
    let (lead, restore) = (rollup::stat_json(&r.lead)?, rollup::stat_json(&r.restore)?);
    let counts = [r.deployments, r.changes, r.change_failures, r.unrestored].map(rollup::count);
    let params: [&(dyn ToSql + Sync); 9] =
        [&product, &env, &week, &counts[0], &counts[1], &counts[2], &counts[3], &lead, &restore];
    client.execute(WEEK_UPSERT, &params).await.map_err(query_err("updating a DORA week"))?;
    Ok(())
}

async fn decide(client: &impl GenericClient, env: &str, release_id: &str, attempt: i64, d: Decision) -> Result<()> {
    client
        .execute(DECIDE, &[&d.0, &d.1, &release_id, &env, &attempt])
        .await
        .map_err(query_err("deciding a DORA change failure"))?;
    Ok(())
}

/// Updates the track and the week rollups of `o`'s environment for `o`, just inserted.
pub(super) async fn record(client: &impl GenericClient, o: &OutcomeRow) -> Result<()> {
    let doing = "reading a DORA environment track";
    let stored = client.query_opt(TRACK_SELECT, &[&o.product, &o.environment]).await.map_err(query_err(doing))?;
    let mut track = match stored {
        Some(row) => rollup::track(get(&row, "track", doing)?)?,
        None => Track::default(),
    };
    let recorded = rollup::key(o);
    for effect in track.record(recorded.clone(), &rollup::model_outcome(o)?) {
        let week = effect.week();
        let doing = "reading a DORA week";
        let row =
            client.query_opt(WEEK_SELECT, &[&o.product, &o.environment, &week]).await.map_err(query_err(doing))?;
        let mut current = row.map(|r| week_rollup(&r, doing)).transpose()?.unwrap_or_default();
        current.apply(&effect);
        write_week(client, &o.product, &o.environment, week, &current).await?;
        if let Some((k, d)) = rollup::decision(&effect, &recorded) {
            decide(client, &o.environment, &k.release_id, k.attempt, d).await?;
        }
    }
    let track = rollup::track_json(&track)?;
    client
        .execute(TRACK_UPSERT, &[&o.product, &o.environment, &track])
        .await
        .map_err(query_err("storing a DORA environment track"))?;
    Ok(())
}

/// [`record`] for the outcomes a release write inserted (in time order), with the statements of each
/// stage pipelined: every environment's track is read at once, then every week the outcomes touch,
/// then the weeks, classifications and tracks are written — three round trips however many outcomes.
pub(super) async fn record_all(client: &Object, outcomes: &[&OutcomeRow]) -> Result<()> {
    if outcomes.is_empty() {
        return Ok(());
    }
    prepare(client, &[TRACK_SELECT, WEEK_SELECT, WEEK_UPSERT, TRACK_UPSERT, DECIDE]).await?;
    let mut places: Vec<(String, String)> = Vec::new();
    for o in outcomes {
        let place = (o.product.clone(), o.environment.clone());
        if !places.contains(&place) {
            places.push(place);
        }
    }
    let reads = places
        .iter()
        .map(|(p, e)| send(client, "reading a DORA environment track", TRACK_SELECT, vec![p, e]))
        .collect();
    let mut replay = Replay::default();
    for (place, rows) in places.iter().zip(pipeline(reads).await?) {
        let track = match rows.first() {
            Some(row) => rollup::track(get(row, "track", "reading a DORA environment track")?)?,
            None => Track::default(),
        };
        replay.tracks.insert(place.clone(), track);
    }
    // The effects in order; then the weeks they touch, read once, and the effects applied to them.
    let mut effects = Vec::new();
    for o in outcomes {
        let place = (o.product.clone(), o.environment.clone());
        let recorded = rollup::key(o);
        let model = rollup::model_outcome(o)?;
        for effect in replay.tracks.entry(place.clone()).or_default().record(recorded.clone(), &model) {
            if let Some((k, d)) = rollup::decision(&effect, &recorded) {
                replay.decisions.insert((place.0.clone(), place.1.clone(), k.release_id, k.attempt), d);
            }
            effects.push((place.clone(), effect));
        }
    }
    let mut weeks: Vec<(String, String, Timestamp)> = Vec::new();
    for ((p, e), effect) in &effects {
        let week = (p.clone(), e.clone(), effect.week());
        if !weeks.contains(&week) {
            weeks.push(week);
        }
    }
    let reads = weeks.iter().map(|(p, e, w)| send(client, "reading a DORA week", WEEK_SELECT, vec![p, e, w])).collect();
    for (week, rows) in weeks.iter().zip(pipeline(reads).await?) {
        let current = rows.first().map(|r| week_rollup(r, "reading a DORA week")).transpose()?.unwrap_or_default();
        replay.weeks.insert(week.clone(), current);
    }
    for ((p, e), effect) in &effects {
        replay.weeks.entry((p.clone(), e.clone(), effect.week())).or_default().apply(effect);
    }
    // Every write at once.
    let mut week_params = Vec::with_capacity(replay.weeks.len());
    for ((p, e, w), r) in &replay.weeks {
        let counts = [r.deployments, r.changes, r.change_failures, r.unrestored].map(rollup::count);
        week_params.push((p, e, w, counts, rollup::stat_json(&r.lead)?, rollup::stat_json(&r.restore)?));
    }
    let mut track_params = Vec::with_capacity(replay.tracks.len());
    for ((p, e), t) in &replay.tracks {
        track_params.push((p, e, rollup::track_json(t)?));
    }
    let mut writes = Vec::new();
    for (p, e, w, c, lead, restore) in &week_params {
        let params: Vec<&(dyn ToSql + Sync)> = vec![p, e, w, &c[0], &c[1], &c[2], &c[3], lead, restore];
        writes.push(send(client, "updating a DORA week", WEEK_UPSERT, params));
    }
    for ((_, env, release_id, attempt), (failure, restore)) in &replay.decisions {
        let params: Vec<&(dyn ToSql + Sync)> = vec![failure, restore, release_id, env, attempt];
        writes.push(send(client, "deciding a DORA change failure", DECIDE, params));
    }
    for (p, e, track) in &track_params {
        writes.push(send(client, "storing a DORA environment track", TRACK_UPSERT, vec![p, e, track]));
    }
    pipeline(writes).await?;
    Ok(())
}

/// Builds the rollups, tracks and classifications of every stored outcome (migration 0009).
pub(super) async fn backfill(client: &impl GenericClient) -> Result<()> {
    let mut replay = Replay::default();
    let rows = read_outcomes(client, OutcomeQuery::default()).await?;
    for row in &rows {
        replay.record(&row.outcome)?;
    }
    for ((product, env, week), r) in &replay.weeks {
        write_week(client, product, env, *week, r).await?;
    }
    for ((product, env), track) in &replay.tracks {
        let track = rollup::track_json(track)?;
        client.execute(TRACK_UPSERT, &[product, env, &track]).await.map_err(query_err("storing a DORA track"))?;
    }
    for ((_, env, release_id, attempt), d) in replay.decisions {
        decide(client, &env, &release_id, attempt, d).await?;
    }
    Ok(())
}

fn narrow(sql: &mut String, params: &mut Params, query: OutcomeQuery, time: &str) {
    if let Some(p) = query.product {
        sql.push_str(&format!(" AND product = {}", params.push(p)));
    }
    if let Some(e) = query.environment {
        sql.push_str(&format!(" AND environment = {}", params.push(e)));
    }
    if let Some(s) = query.since {
        sql.push_str(&format!(" AND {time} >= {}", params.push(s)));
    }
    if let Some(u) = query.until {
        sql.push_str(&format!(" AND {time} < {}", params.push(u)));
    }
}

/// Outcomes with their classification.
pub(super) async fn read_outcomes(client: &impl GenericClient, query: OutcomeQuery) -> Result<Vec<DecidedOutcomeRow>> {
    let doing = "reading environment outcomes";
    let mut params = Params::default();
    let mut sql = String::from(
        "SELECT release_id, product, environment, flow, attempt, status, after_action, committed_at, at, failure, \
         restore_secs FROM env_outcomes WHERE true",
    );
    narrow(&mut sql, &mut params, query, "at");
    sql.push_str(" ORDER BY at, id");
    let rows = client.query(&sql, &params.refs()).await.map_err(query_err(doing))?;
    rows.iter()
        .map(|row| {
            Ok(DecidedOutcomeRow {
                outcome: OutcomeRow {
                    release_id: get(row, "release_id", doing)?,
                    product: get(row, "product", doing)?,
                    environment: get(row, "environment", doing)?,
                    flow: get(row, "flow", doing)?,
                    attempt: get(row, "attempt", doing)?,
                    status: get(row, "status", doing)?,
                    after_action: get(row, "after_action", doing)?,
                    committed_at: get(row, "committed_at", doing)?,
                    at: get(row, "at", doing)?,
                },
                failure: get(row, "failure", doing)?,
                restore_secs: get(row, "restore_secs", doing)?,
            })
        })
        .collect()
}

/// Week rollups passing `query` (its times bound the week's start).
pub(super) async fn weeks(client: &impl GenericClient, query: OutcomeQuery) -> Result<Vec<DoraWeekRow>> {
    let doing = "reading DORA weeks";
    let mut params = Params::default();
    let mut sql = String::from(
        "SELECT product, environment, week, deployments, changes, change_failures, unrestored, lead, restore \
         FROM dora_weeks WHERE true",
    );
    narrow(&mut sql, &mut params, query, "week");
    sql.push_str(" ORDER BY week, product, environment");
    let rows = client.query(&sql, &params.refs()).await.map_err(query_err(doing))?;
    rows.iter()
        .map(|row| {
            Ok(DoraWeekRow {
                product: get(row, "product", doing)?,
                environment: get(row, "environment", doing)?,
                week: get(row, "week", doing)?,
                rollup: week_rollup(row, doing)?,
            })
        })
        .collect()
}
