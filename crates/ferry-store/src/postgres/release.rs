//! Release writes (the engine's writes: one, or a batch of distinct releases) in two round trips:
//! the connection pipelines the statements of each (prepared once per connection), so the event-log
//! lock is held for one round trip and the commit.
//!
//! 1. `BEGIN`, the event-log lock, the releases' next sequence numbers and (on a replica) their lease
//!    rows, locked, and the product's turn row for each write that starts a queued release.
//! 2. After the checks: the lease changes, the turns, the events, the release rows, their views,
//!    application states, runs and outcomes — each table's rows in one statement (`unnest` of
//!    column arrays), whatever the number of releases — the `NOTIFY` of the last event id, and
//!    `COMMIT` (after the DORA rollups of new outcomes, [`super::dora::record_all`]). A statement that
//!    fails aborts the transaction (the `COMMIT` then rolls back) and is the write's error.

use std::future::Future;
use std::pin::Pin;

use deadpool_postgres::Object;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use super::lease::{self, LEASE_TAKE};
use super::rows::get;
use super::write::{CHANNEL, EVENT_LOCK};
use super::{PgStore, query_err};
use crate::{OutcomeRow, ReleaseWrite, Result, StoreError, WriteOutcome};

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
}

/// The columns of the rows a transaction's accepted writes insert, one vector per column, for the
/// statements that insert every row of a table at once (`unnest`): a write of many releases costs a
/// few statements, not a few per event.
#[derive(Default)]
struct Columns<'w> {
    ev_release: Vec<&'w str>,
    ev_product: Vec<&'w str>,
    ev_seq: Vec<i64>,
    ev_at: Vec<jiff::Timestamp>,
    ev_body: Vec<&'w serde_json::Value>,
    ev_epoch: Vec<Option<i64>>,
    rel_id: Vec<&'w str>,
    rel_product: Vec<&'w str>,
    rel_flow: Vec<&'w str>,
    rel_flow_version: Vec<Option<&'w str>>,
    rel_status: Vec<&'w str>,
    rel_initiator: Vec<&'w str>,
    rel_created_at: Vec<jiff::Timestamp>,
    rel_finished_at: Vec<Option<jiff::Timestamp>>,
    rel_reason: Vec<Option<&'w str>>,
    rel_retries: Vec<i64>,
    rel_version: Vec<Option<&'w str>>,
    rel_environments: Vec<&'w serde_json::Value>,
    rel_next_seq: Vec<i64>,
    view_id: Vec<&'w str>,
    view_body: Vec<&'w serde_json::Value>,
    app: Vec<&'w crate::AppStateRow>,
    runs: Vec<(&'w str, crate::runs::RunColumns)>,
    out: Vec<&'w OutcomeRow>,
    lease_new: Vec<&'w str>,
    lease_end: Vec<&'w str>,
}

impl<'w> Columns<'w> {
    /// Adds the rows of accepted write `a`; later writes' application states and runs replace
    /// earlier ones' (a table row is written once per statement).
    fn add(&mut self, a: &Accepted<'w>) -> Result<()> {
        let w = a.w;
        for (i, event) in w.events.iter().enumerate() {
            self.ev_release.push(&w.release_id);
            self.ev_product.push(&w.product);
            self.ev_seq.push(w.first_seq + i as i64);
            self.ev_at.push(event.at);
            self.ev_body.push(&event.body);
            self.ev_epoch.push(a.epoch);
        }
        let r = &w.row;
        self.rel_id.push(&r.id);
        self.rel_product.push(&r.product);
        self.rel_flow.push(&r.flow);
        self.rel_flow_version.push(r.flow_version.as_deref());
        self.rel_status.push(&r.status);
        self.rel_initiator.push(&r.initiator);
        self.rel_created_at.push(r.created_at);
        self.rel_finished_at.push(r.finished_at);
        self.rel_reason.push(r.reason.as_deref());
        self.rel_retries.push(r.retries);
        self.rel_version.push(r.version.as_deref());
        self.rel_environments.push(&r.environments);
        self.rel_next_seq.push(w.first_seq + w.events.len() as i64);
        if let Some(view) = &w.view {
            self.view_id.push(&r.id);
            self.view_body.push(view);
        }
        for s in &w.app_states {
            self.app.retain(|o| o.application != s.application);
            self.app.push(s);
        }
        for run in &w.runs {
            let c = crate::runs::encode(run)?;
            self.runs.retain(|(_, o)| o.run_id != c.run_id);
            self.runs.push((&w.release_id, c));
        }
        self.out.extend(&w.outcomes);
        if a.take.is_some() && a.create {
            self.lease_new.push(&w.release_id);
        }
        if a.end {
            self.lease_end.push(&w.release_id);
        }
        Ok(())
    }
}

/// Reads the next sequence number of releases (`$1`, ids); a release not stored yet has no row.
const SEQS: &str = "SELECT id, next_seq FROM releases WHERE id = ANY($1)";
/// Reads and locks the lease rows of releases (`$1`, ids), in a fixed order.
const LEASES_FOR_UPDATE: &str =
    "SELECT release_id, owner, epoch FROM leases WHERE release_id = ANY($1) ORDER BY release_id FOR UPDATE";
/// Leases new releases (`$1`) to `$2` at epoch 1 for `$3` ms.
const LEASES_CREATE: &str = "INSERT INTO leases (release_id, owner, epoch, expires_at)
     SELECT r, $2, 1, now() + $3::bigint * interval '1 millisecond' FROM unnest($1::text[]) AS r";
/// Frees the leases of releases that ended (`$1`).
const LEASES_END: &str = "UPDATE leases SET owner = NULL, expires_at = now() WHERE release_id = ANY($1)";
/// Appends events, in the order given (ids are taken in that order, under the event-log lock).
const EVENTS_INSERT: &str = "INSERT INTO events (release_id, product, seq, at, body, epoch)
     SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::timestamptz[], $5::json[], $6::int8[])
     RETURNING gid, release_id, seq";
/// Upserts release rows.
const RELEASES_UPSERT: &str = "INSERT INTO releases (id, product, flow, flow_version, status, initiator, created_at,
       finished_at, reason, retries, version, environments, next_seq)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
       $7::timestamptz[], $8::timestamptz[], $9::text[], $10::int8[], $11::text[], $12::json[], $13::int8[])
     ON CONFLICT (id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at,
       reason = excluded.reason, retries = excluded.retries, version = excluded.version,
       environments = excluded.environments, next_seq = excluded.next_seq, flow_version = excluded.flow_version";
/// Upserts stored views.
const VIEWS_UPSERT: &str = "INSERT INTO release_views (id, view) SELECT * FROM unnest($1::text[], $2::json[])
     ON CONFLICT (id) DO UPDATE SET view = excluded.view";
/// Upserts applications' live states.
const APP_STATES_UPSERT: &str = "INSERT INTO app_state (application, product, environment, component,
       version, revision, sync, health, message, release_id, updated_at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
       $8::text[], $9::text[], $10::text[], $11::timestamptz[])
     ON CONFLICT (application) DO UPDATE SET product = excluded.product, environment = excluded.environment,
       component = excluded.component, version = excluded.version, revision = excluded.revision,
       sync = excluded.sync, health = excluded.health, message = excluded.message,
       release_id = excluded.release_id, updated_at = excluded.updated_at";
/// Upserts workflow runs.
const RUNS_UPSERT: &str = "INSERT INTO runs (run_id, release_id, started_at, workflow, target, state)
     SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::json[], $6::json[])
     ON CONFLICT (run_id) DO UPDATE SET state = excluded.state";
/// Records environment outcomes (once per release, environment and attempt); the new ones answer.
const OUTCOMES_INSERT: &str = "INSERT INTO env_outcomes (release_id, product, environment, flow, attempt,
       status, after_action, committed_at, at)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::text[], $7::bool[],
       $8::timestamptz[], $9::timestamptz[])
     ON CONFLICT (release_id, environment, attempt) DO NOTHING RETURNING release_id, environment, attempt";

/// The two round trips, for `ws` (distinct releases). Every write's outcome, in order, once the
/// transaction ended (committed, or rolled back when every write was refused); `Err` when a statement
/// failed (the transaction is then left to roll back).
async fn write_on(store: &PgStore, client: &Object, ws: &[&ReleaseWrite]) -> Result<Vec<Result<WriteOutcome>>> {
    prepare(client, &[SEQS, LEASES_FOR_UPDATE, LEASES_CREATE, LEASE_TAKE, LEASES_END, EVENTS_INSERT, RELEASES_UPSERT])
        .await?;
    prepare(client, &[VIEWS_UPSERT, APP_STATES_UPSERT, RUNS_UPSERT, OUTCOMES_INSERT, NOTIFY_LAST]).await?;
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
    let ids: Vec<&str> = ws.iter().map(|w| w.release_id.as_str()).collect();
    let begin = format!("BEGIN; SELECT pg_advisory_xact_lock({EVENT_LOCK})");
    let mut first = vec![
        command(client, "locking the event log", &begin),
        send(client, "reading the releases' sequences", SEQS, vec![&ids]),
    ];
    if store.replica.is_some() {
        first.push(send(client, "checking the releases' leases", LEASES_FOR_UPDATE, vec![&ids]));
    }
    // Where each claim's answer is.
    let mut claims_at = Vec::with_capacity(ws.len());
    for (w, ending) in ws.iter().zip(&ending) {
        if store.replica.is_some() && w.turn.is_some() {
            first.push(send(client, "making the product's turn", TURN_ROW, vec![&w.product]));
            claims_at.push(Some(first.len()));
            let params: Vec<&(dyn ToSql + Sync)> = vec![&w.product, &w.release_id, ending];
            first.push(send(client, "checking the product's turn", TURN_FOR_UPDATE, params));
        } else {
            claims_at.push(None);
        }
    }
    let read = pipeline(first).await?;
    let doing = "reading the releases' sequences";
    let mut seqs = std::collections::HashMap::with_capacity(ws.len());
    for row in &read[1] {
        seqs.insert(get::<String>(row, "id", doing)?, get::<i64>(row, "next_seq", doing)?);
    }
    let mut leases = std::collections::HashMap::with_capacity(ws.len());
    if store.replica.is_some() {
        for row in &read[2] {
            let id: String = get(row, "release_id", "checking the releases' leases")?;
            leases.insert(id, lease::lease_row(row)?);
        }
    }
    let mut outcomes: Vec<Option<Result<WriteOutcome>>> = Vec::with_capacity(ws.len());
    let mut accepted: Vec<Accepted> = Vec::with_capacity(ws.len());
    let mut holds = Vec::new();
    for ((w, ending), claim_at) in ws.iter().zip(&ending).zip(claims_at) {
        let actual = seqs.get(&w.release_id).copied().unwrap_or(0);
        if actual != w.first_seq {
            let expected = w.first_seq;
            outcomes.push(Some(Err(StoreError::SequenceConflict { release: w.release_id.clone(), expected, actual })));
            continue;
        }
        if let Some(at) = claim_at {
            let granted = read.get(at).and_then(|rows| rows.first()).is_some_and(|r| r.get::<_, bool>(0));
            let ended = ending.iter().all(|e| accepted.iter().any(|a| a.w.release_id == *e));
            if !granted || !ended {
                let (release, product) = (w.release_id.clone(), w.product.clone());
                outcomes.push(Some(Err(StoreError::TurnTaken { release, product })));
                continue;
            }
        }
        let (mut epoch, mut take, mut end, mut create) = (None, None, false, false);
        if let Some(replica) = &store.replica {
            let row = leases.remove(&w.release_id);
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
        outcomes.push(None);
        accepted.push(Accepted { w, epoch, take, create, end, turn: claim_at.is_some() });
    }
    let owner = store.replica.as_ref().map(|r| r.options.owner.clone()).unwrap_or_default();
    let ttl = store.replica.as_ref().map_or(0, |r| r.options.ttl_ms());
    let mut c = Columns::default();
    for a in &accepted {
        c.add(a)?;
    }
    let app = &c.app;
    let app_cols = (
        app.iter().map(|s| s.application.as_str()).collect::<Vec<_>>(),
        app.iter().map(|s| s.product.as_str()).collect::<Vec<_>>(),
        app.iter().map(|s| s.environment.as_str()).collect::<Vec<_>>(),
        app.iter().map(|s| s.component.as_str()).collect::<Vec<_>>(),
        app.iter().map(|s| s.version.as_deref()).collect::<Vec<_>>(),
        app.iter().map(|s| s.revision.as_deref()).collect::<Vec<_>>(),
        app.iter().map(|s| s.sync.as_str()).collect::<Vec<_>>(),
        app.iter().map(|s| s.health.as_str()).collect::<Vec<_>>(),
        app.iter().map(|s| s.message.as_deref()).collect::<Vec<_>>(),
        app.iter().map(|s| s.release_id.as_deref()).collect::<Vec<_>>(),
        app.iter().map(|s| s.updated_at).collect::<Vec<_>>(),
    );
    let runs = &c.runs;
    let run_cols = (
        runs.iter().map(|(_, r)| r.run_id.as_str()).collect::<Vec<_>>(),
        runs.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        runs.iter().map(|(_, r)| r.started_at).collect::<Vec<_>>(),
        runs.iter().map(|(_, r)| r.workflow.as_str()).collect::<Vec<_>>(),
        runs.iter().map(|(_, r)| &r.target).collect::<Vec<_>>(),
        runs.iter().map(|(_, r)| &r.state).collect::<Vec<_>>(),
    );
    let out = &c.out;
    let out_cols = (
        out.iter().map(|o| o.release_id.as_str()).collect::<Vec<_>>(),
        out.iter().map(|o| o.product.as_str()).collect::<Vec<_>>(),
        out.iter().map(|o| o.environment.as_str()).collect::<Vec<_>>(),
        out.iter().map(|o| o.flow.as_str()).collect::<Vec<_>>(),
        out.iter().map(|o| o.attempt).collect::<Vec<_>>(),
        out.iter().map(|o| o.status.as_str()).collect::<Vec<_>>(),
        out.iter().map(|o| o.after_action).collect::<Vec<_>>(),
        out.iter().map(|o| o.committed_at).collect::<Vec<_>>(),
        out.iter().map(|o| o.at).collect::<Vec<_>>(),
    );
    let mut second = Vec::new();
    if !c.lease_new.is_empty() {
        second.push(send(client, "leasing new releases", LEASES_CREATE, vec![&c.lease_new, &owner, &ttl]));
    }
    for a in accepted.iter().filter(|a| !a.create) {
        if let Some(epoch) = &a.take {
            let params: Vec<&(dyn ToSql + Sync)> = vec![&a.w.release_id, &owner, epoch, &ttl];
            second.push(send(client, "taking a free lease", LEASE_TAKE, params));
        }
    }
    if !c.lease_end.is_empty() {
        second.push(send(client, "ending the leases of finished releases", LEASES_END, vec![&c.lease_end]));
    }
    for a in accepted.iter().filter(|a| a.turn) {
        second.push(send(client, "taking the product's turn", TURN_GIVE, vec![&a.w.product, &a.w.release_id]));
    }
    let events_at = second.len();
    if !c.ev_seq.is_empty() {
        let params: Vec<&(dyn ToSql + Sync)> =
            vec![&c.ev_release, &c.ev_product, &c.ev_seq, &c.ev_at, &c.ev_body, &c.ev_epoch];
        second.push(send(client, "appending release events", EVENTS_INSERT, params));
    }
    if !c.rel_id.is_empty() {
        let params: Vec<&(dyn ToSql + Sync)> = vec![
            &c.rel_id,
            &c.rel_product,
            &c.rel_flow,
            &c.rel_flow_version,
            &c.rel_status,
            &c.rel_initiator,
            &c.rel_created_at,
            &c.rel_finished_at,
            &c.rel_reason,
            &c.rel_retries,
            &c.rel_version,
            &c.rel_environments,
            &c.rel_next_seq,
        ];
        second.push(send(client, "updating the release projection", RELEASES_UPSERT, params));
    }
    if !c.view_id.is_empty() {
        second.push(send(client, "updating the release views", VIEWS_UPSERT, vec![&c.view_id, &c.view_body]));
    }
    if !app.is_empty() {
        let a = &app_cols;
        let params: Vec<&(dyn ToSql + Sync)> = vec![&a.0, &a.1, &a.2, &a.3, &a.4, &a.5, &a.6, &a.7, &a.8, &a.9, &a.10];
        second.push(send(client, "storing application state", APP_STATES_UPSERT, params));
    }
    if !runs.is_empty() {
        let r = &run_cols;
        let params: Vec<&(dyn ToSql + Sync)> = vec![&r.0, &r.1, &r.2, &r.3, &r.4, &r.5];
        second.push(send(client, "storing workflow runs", RUNS_UPSERT, params));
    }
    let outcomes_at = second.len();
    if !out.is_empty() {
        let o = &out_cols;
        let params: Vec<&(dyn ToSql + Sync)> = vec![&o.0, &o.1, &o.2, &o.3, &o.4, &o.5, &o.6, &o.7, &o.8];
        second.push(send(client, "recording environment outcomes", OUTCOMES_INSERT, params));
    }
    if !c.ev_seq.is_empty() {
        second.push(send(client, "announcing events", NOTIFY_LAST, vec![&CHANNEL]));
    }
    // A failed statement aborts the transaction: this COMMIT then rolls it back (and answers no error).
    // New outcomes update the DORA rollups first (a read and write per week they touch), so the COMMIT
    // then waits for them.
    let rollups = !out.is_empty();
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
            let doing = "recording environment outcomes";
            let mut new = std::collections::HashSet::new();
            for row in rows.get(outcomes_at).map(Vec::as_slice).unwrap_or_default() {
                let key: (String, String, i64) =
                    (get(row, "release_id", doing)?, get(row, "environment", doing)?, get(row, "attempt", doing)?);
                new.insert(key);
            }
            let new: Vec<&OutcomeRow> = out
                .iter()
                .copied()
                .filter(|o| new.contains(&(o.release_id.clone(), o.environment.clone(), o.attempt)))
                .collect();
            super::dora::record_all(client, &new).await?;
            client.batch_execute("COMMIT").await.map(|()| Vec::new())
        }
    };
    committed.map_err(|e| StoreError::GroupFailed { message: e.to_string() })?;
    if let Some(replica) = &store.replica {
        replica.hold(holds);
    }
    // Each event's id, by release and sequence number.
    let doing = "appending release events";
    let mut gids = std::collections::HashMap::with_capacity(c.ev_seq.len());
    if !c.ev_seq.is_empty() {
        for row in rows.get(events_at).map(Vec::as_slice).unwrap_or_default() {
            let key: (String, i64) = (get(row, "release_id", doing)?, get(row, "seq", doing)?);
            gids.insert(key, get::<i64>(row, "gid", doing)?);
        }
    }
    let mut written = accepted.iter().map(|a| {
        let w = a.w;
        (0..w.events.len() as i64)
            .map(|i| {
                gids.get(&(w.release_id.clone(), w.first_seq + i))
                    .copied()
                    .ok_or_else(|| StoreError::Internal { doing, detail: "the insert returned no id".into() })
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
