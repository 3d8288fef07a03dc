//! Release writes (the engine's writes: one, or a batch of distinct releases) in two round trips:
//! the connection pipelines the statements of each (prepared once per connection), so the event-log
//! lock is held for one round trip and the commit.
//!
//! 1. `BEGIN`, the event-log lock, each release's next sequence number and (on a replica) its lease
//!    row, locked, and the product's turn row when the write starts a queued release.
//! 2. After the checks: the lease change, the turn, the events, the release row, its view, application states,
//!    runs, the `NOTIFY` of the last event id, and `COMMIT`. A statement that fails aborts the
//!    transaction (the `COMMIT` then rolls back) and is the write's error.

use std::future::Future;
use std::pin::Pin;

use deadpool_postgres::Object;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::lease::{self, LEASE_CREATE, LEASE_END, LEASE_FOR_UPDATE, LEASE_TAKE};
use super::write::{
    APP_STATE_UPSERT, CHANNEL, EVENT_LOCK, OUTCOME_INSERT, RELEASE_UPSERT, RUN_UPSERT, VIEW_UPSERT, outcome_params,
};
use super::{PgStore, query_err};
use crate::{OutcomeRow, ReleaseWrite, Result, StoreError, WriteOutcome};

/// Appends one event of a release.
const EVENT_INSERT: &str =
    "INSERT INTO events (release_id, product, seq, at, body, epoch) VALUES ($1, $2, $3, $4, $5, $6) RETURNING gid";
/// Whether the write may take its product's turn ([`crate::TurnClaim`]): no other active release of
/// the product is older or started (`$3`: releases ending earlier in the transaction), and the turn
/// is free, the release's or an ending release's; the turn row ([`TURN_ROW`]) is locked until the
/// commit.
const TURN_FOR_UPDATE: &str = "SELECT NOT EXISTS (
       SELECT 1 FROM releases r
       WHERE r.product = t.product AND r.id <> $2 AND r.id <> ALL($3)
         AND r.status IN ('Queued', 'Running', 'Suspended') AND (r.id < $2 OR r.status <> 'Queued'))
     AND (t.release_id = $2 OR t.release_id = ANY($3)
          OR NOT EXISTS (SELECT 1 FROM releases h
                         WHERE h.id = t.release_id AND h.status IN ('Queued', 'Running', 'Suspended')))
     FROM product_turns t WHERE t.product = $1 FOR UPDATE";
/// The turn row of a product that never had one, held by nobody (no release has the empty id), so
/// that [`TURN_FOR_UPDATE`] finds a row to lock. (A replica inserting it at the same moment waits for
/// the other's commit and then leaves it.)
const TURN_ROW: &str =
    "INSERT INTO product_turns (product, release_id) VALUES ($1, '') ON CONFLICT (product) DO NOTHING";
/// Gives the (locked) turn of a product to the release a write starts.
const TURN_GIVE: &str = "UPDATE product_turns SET release_id = $2 WHERE product = $1";
/// Announces the events committed: the payload is the last event id this session appended.
const NOTIFY_LAST: &str = "SELECT pg_notify($1, currval(pg_get_serial_sequence('events', 'gid'))::text)";

/// A statement of a pipeline, with what it was for.
pub(super) type Sent<'a> =
    Pin<Box<dyn Future<Output = (&'static str, std::result::Result<Vec<Row>, tokio_postgres::Error>)> + Send + 'a>>;

/// Queues `sql` (prepared and cached on the connection) with `params`.
pub(super) fn send<'a>(
    client: &'a Object,
    doing: &'static str,
    sql: &'static str,
    params: Vec<&'a (dyn ToSql + Sync)>,
) -> Sent<'a> {
    Box::pin(async move {
        let result = match client.prepare_cached(sql).await {
            Ok(statement) => client.query(&statement, &params).await,
            Err(e) => Err(e),
        };
        (doing, result)
    })
}

/// Queues a simple-protocol command (no parameters).
fn command<'a>(client: &'a Object, doing: &'static str, sql: &'a str) -> Sent<'a> {
    Box::pin(async move { (doing, client.batch_execute(sql).await.map(|()| Vec::new())) })
}

/// Prepares (once per connection) the statements a pipeline uses, so that each statement of the
/// pipeline is sent the moment it is first polled.
pub(super) async fn prepare(client: &Object, sqls: &[&'static str]) -> Result<()> {
    for sql in sqls {
        client.prepare_cached(sql).await.map_err(query_err("preparing a statement"))?;
    }
    Ok(())
}

/// Sends the statements together, in order (each is polled once, which sends it), then waits for
/// every answer; the first failure is the pipeline's.
pub(super) async fn pipeline(sent: Vec<Sent<'_>>) -> Result<Vec<Vec<Row>>> {
    let mut answers = Vec::with_capacity(sent.len());
    for answer in send_all(sent).await {
        let (doing, answer) = answer;
        answers.push(answer.map_err(query_err(doing))?);
    }
    Ok(answers)
}

/// Sends the statements in order and returns every answer.
async fn send_all(
    mut sent: Vec<Sent<'_>>,
) -> Vec<(&'static str, std::result::Result<Vec<Row>, tokio_postgres::Error>)> {
    let mut early = Vec::with_capacity(sent.len());
    {
        let mut cx = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
        for statement in &mut sent {
            early.push(match statement.as_mut().poll(&mut cx) {
                std::task::Poll::Ready(answer) => Some(answer),
                std::task::Poll::Pending => None,
            });
        }
    }
    let mut answers = Vec::with_capacity(sent.len());
    for (statement, early) in sent.into_iter().zip(early) {
        answers.push(match early {
            Some(answer) => answer,
            None => statement.await,
        });
    }
    answers
}

/// Writes `w` alone in its own transaction. `Ok(Err(_))` is the write's own error (nothing stored).
pub(super) async fn write(store: &PgStore, w: &ReleaseWrite) -> Result<Result<WriteOutcome>> {
    let client = store.client("writing").await?;
    match write_on(store, &client, &[w]).await {
        Ok(mut outcomes) => Ok(outcomes
            .pop()
            .unwrap_or_else(|| Err(StoreError::Internal { doing: "writing a release", detail: "no outcome".into() }))),
        Err(e) => {
            end(client, "ROLLBACK").await;
            Err(e)
        }
    }
}

/// Writes several releases (distinct ones) in one transaction with the same two round trips as one:
/// a write refused by its checks (sequence, lease) is that write's error and the others commit. When
/// a statement fails, the transaction is rolled back and each write is made alone, so that every
/// write gets its own answer.
pub(super) async fn write_many(store: &PgStore, ws: &[&ReleaseWrite]) -> Result<Vec<Result<WriteOutcome>>> {
    let client = store.client("writing").await?;
    match write_on(store, &client, ws).await {
        Ok(outcomes) => Ok(outcomes),
        Err(_) => {
            end(client, "ROLLBACK").await;
            let mut outcomes = Vec::with_capacity(ws.len());
            for w in ws {
                outcomes.push(write(store, w).await?);
            }
            Ok(outcomes)
        }
    }
}

/// Ends the transaction left open on `client`; a connection that cannot is closed, never pooled.
async fn end(client: Object, sql: &str) {
    if client.batch_execute(sql).await.is_err() {
        drop(Object::take(client));
    }
}

/// A write whose checks passed, with what its statements take as parameters.
struct Accepted<'w> {
    w: &'w ReleaseWrite,
    epoch: Option<i64>,
    take: Option<i64>,
    create: bool,
    end: bool,
    turn: bool,
    seqs: Vec<i64>,
    next_seq: i64,
    runs: Vec<crate::runs::RunColumns>,
}

/// The two round trips, for `ws` (distinct releases). Every write's outcome, in order, once the
/// transaction ended (committed, or rolled back when every write was refused); `Err` when a statement
/// failed (the transaction is then left to roll back).
async fn write_on(store: &PgStore, client: &Object, ws: &[&ReleaseWrite]) -> Result<Vec<Result<WriteOutcome>>> {
    const NEXT_SEQ: &str = "SELECT next_seq FROM releases WHERE id = $1";
    prepare(client, &[NEXT_SEQ, LEASE_FOR_UPDATE, LEASE_CREATE, LEASE_TAKE, LEASE_END, EVENT_INSERT, RELEASE_UPSERT])
        .await?;
    prepare(client, &[VIEW_UPSERT, APP_STATE_UPSERT, RUN_UPSERT, OUTCOME_INSERT, NOTIFY_LAST]).await?;
    if store.replica.is_some() && ws.iter().any(|w| w.turn.is_some()) {
        prepare(client, &[TURN_ROW, TURN_FOR_UPDATE, TURN_GIVE]).await?;
    }
    // A claim counts only the ending releases written in this transaction (alone, a write finds
    // the releases written before it committed).
    let ending: Vec<Vec<String>> = ws
        .iter()
        .map(|w| match &w.turn {
            Some(claim) => claim.ending.iter().filter(|e| ws.iter().any(|o| o.release_id == **e)).cloned().collect(),
            None => Vec::new(),
        })
        .collect();
    let begin = format!("BEGIN; SELECT pg_advisory_xact_lock({EVENT_LOCK})");
    let mut first = vec![command(client, "locking the event log", &begin)];
    // Where each write's answers are: its sequence, then (on a replica) its lease row and, for a claim,
    // the turn row made and checked.
    let mut answers_at = Vec::with_capacity(ws.len());
    for (w, ending) in ws.iter().zip(&ending) {
        answers_at.push(first.len());
        first.push(send(client, "reading a release's sequence", NEXT_SEQ, vec![&w.release_id]));
        if store.replica.is_some() {
            first.push(send(client, "checking the release's lease", LEASE_FOR_UPDATE, vec![&w.release_id]));
            if w.turn.is_some() {
                first.push(send(client, "making the product's turn", TURN_ROW, vec![&w.product]));
                let params: Vec<&(dyn ToSql + Sync)> = vec![&w.product, &w.release_id, ending];
                first.push(send(client, "checking the product's turn", TURN_FOR_UPDATE, params));
            }
        }
    }
    let read = pipeline(first).await?;
    let mut outcomes: Vec<Option<Result<WriteOutcome>>> = Vec::with_capacity(ws.len());
    let mut accepted: Vec<Accepted> = Vec::with_capacity(ws.len());
    let mut holds = Vec::new();
    for ((w, ending), at) in ws.iter().zip(&ending).zip(answers_at) {
        let actual: i64 = read[at].first().map_or(0, |r| r.get(0));
        if actual != w.first_seq {
            let expected = w.first_seq;
            outcomes.push(Some(Err(StoreError::SequenceConflict { release: w.release_id.clone(), expected, actual })));
            continue;
        }
        let turn = store.replica.is_some() && w.turn.is_some();
        if turn {
            let granted = read.get(at + 3).and_then(|rows| rows.first()).is_some_and(|r| r.get::<_, bool>(0));
            let ended = ending.iter().all(|e| accepted.iter().any(|a| a.w.release_id == *e));
            if !granted || !ended {
                let (release, product) = (w.release_id.clone(), w.product.clone());
                outcomes.push(Some(Err(StoreError::TurnTaken { release, product })));
                continue;
            }
        }
        let (mut epoch, mut take, mut end, mut create) = (None, None, false, false);
        if let Some(replica) = &store.replica {
            let row = read.get(at + 1).and_then(|rows| rows.first()).map(lease::lease_row).transpose()?;
            create = row.is_none();
            match lease::decide(replica, w, row) {
                Ok(fence) => {
                    holds.extend(fence.holds);
                    (epoch, take, end) = (Some(fence.epoch), fence.take, fence.end);
                }
                Err(refused) => {
                    outcomes.push(Some(Err(refused)));
                    continue;
                }
            }
        }
        let seqs: Vec<i64> = (0..w.events.len() as i64).map(|i| w.first_seq + i).collect();
        let next_seq = w.first_seq + w.events.len() as i64;
        let runs = w.runs.iter().map(crate::runs::encode).collect::<Result<Vec<_>>>()?;
        outcomes.push(None);
        accepted.push(Accepted { w, epoch, take, create, end, turn, seqs, next_seq, runs });
    }
    let owner = store.replica.as_ref().map(|r| r.options.owner.clone()).unwrap_or_default();
    let ttl = store.replica.as_ref().map_or(0, |r| r.options.ttl_ms());
    let mut second = Vec::new();
    // Where each accepted write's event inserts are among the answers.
    let mut events_at = Vec::with_capacity(accepted.len());
    // Where each outcome insert is among the answers (a row when the outcome is new).
    let mut outcomes_at = Vec::new();
    for a in &accepted {
        let w = a.w;
        match a.take {
            Some(_) if a.create => {
                second.push(send(client, "leasing a new release", LEASE_CREATE, vec![&w.release_id, &owner, &ttl]));
            }
            Some(ref epoch) => {
                second.push(send(client, "taking a free lease", LEASE_TAKE, vec![&w.release_id, &owner, epoch, &ttl]));
            }
            None => {}
        }
        if a.end {
            second.push(send(client, "ending the lease of a finished release", LEASE_END, vec![&w.release_id]));
        }
        if a.turn {
            second.push(send(client, "taking the product's turn", TURN_GIVE, vec![&w.product, &w.release_id]));
        }
        events_at.push(second.len());
        for (event, seq) in w.events.iter().zip(&a.seqs) {
            let params: Vec<&(dyn ToSql + Sync)> =
                vec![&w.release_id, &w.product, seq, &event.at, &event.body, &a.epoch];
            second.push(send(client, "appending release events", EVENT_INSERT, params));
        }
        let row = super::write::release_params(&w.row, &a.next_seq);
        second.push(send(client, "updating the release projection", RELEASE_UPSERT, row));
        if let Some(view) = &w.view {
            second.push(send(client, "updating the release view", VIEW_UPSERT, vec![&w.row.id, view]));
        }
        for s in &w.app_states {
            let params: Vec<&(dyn ToSql + Sync)> = vec![
                &s.application,
                &s.product,
                &s.environment,
                &s.component,
                &s.version,
                &s.revision,
                &s.sync,
                &s.health,
                &s.message,
                &s.release_id,
                &s.updated_at,
            ];
            second.push(send(client, "storing application state", APP_STATE_UPSERT, params));
        }
        for c in &a.runs {
            let params: Vec<&(dyn ToSql + Sync)> =
                vec![&c.run_id, &w.release_id, &c.started_at, &c.workflow, &c.target, &c.state];
            second.push(send(client, "storing a workflow run", RUN_UPSERT, params));
        }
        for o in &w.outcomes {
            outcomes_at.push((second.len(), o));
            second.push(send(client, "recording an environment outcome", OUTCOME_INSERT, outcome_params(o)));
        }
    }
    if accepted.iter().any(|a| !a.w.events.is_empty()) {
        second.push(send(client, "announcing events", NOTIFY_LAST, vec![&CHANNEL]));
    }
    // A failed statement aborts the transaction: this COMMIT then rolls it back (and answers no error).
    // New outcomes update the DORA rollups first (a read and write per week they touch), so the COMMIT
    // then waits for them.
    let rollups = !outcomes_at.is_empty();
    if !rollups {
        second.push(command(client, "committing", "COMMIT"));
    }
    let mut answers = send_all(second).await;
    let committed = if rollups {
        None
    } else {
        let Some((_, committed)) = answers.pop() else {
            return Err(StoreError::Internal { doing: "writing a release", detail: "no answer to COMMIT".into() });
        };
        Some(committed)
    };
    let mut rows = Vec::with_capacity(answers.len());
    for (doing, answer) in answers {
        rows.push(answer.map_err(query_err(doing))?);
    }
    let committed = match committed {
        Some(committed) => committed,
        None => {
            let new: Vec<&OutcomeRow> = outcomes_at
                .into_iter()
                .filter(|(at, _)| rows.get(*at).is_some_and(|r| !r.is_empty()))
                .map(|(_, o)| o)
                .collect();
            super::dora::record_all(client, &new).await?;
            client.batch_execute("COMMIT").await.map(|()| Vec::new())
        }
    };
    committed.map_err(|e| StoreError::GroupFailed { message: e.to_string() })?;
    if let Some(replica) = &store.replica {
        replica.hold(holds);
    }
    let mut written = accepted.iter().zip(events_at).map(|(a, at)| {
        (at..at + a.w.events.len())
            .map(|i| {
                rows[i].first().map(|r| r.get::<_, i64>(0)).ok_or_else(|| StoreError::Internal {
                    doing: "appending release events",
                    detail: "the insert returned no id".into(),
                })
            })
            .collect::<Result<Vec<i64>>>()
            .map(WriteOutcome::Events)
    });
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                written.next().unwrap_or_else(|| {
                    Err(StoreError::Internal { doing: "writing a release", detail: "no outcome".into() })
                })
            })
        })
        .collect())
}
