//! Writes: one transaction per [`crate::Store::write`] call, each write of it in its own savepoint (one
//! failing write never undoes another). A transaction that appends events first takes the event-log
//! advisory lock, so events are numbered in commit order, and ends with a `NOTIFY` carrying the last
//! id, which every replica's listener turns into the broadcast.

use jiff::Timestamp;
use tokio_postgres::Transaction;
use tokio_postgres::error::SqlState;

use super::lease::{self, Hold};
use super::rows::product_stream;
use super::{PgStore, query_err};
use crate::{
    AppStateRow, FreezeRow, ImageRow, PullRequestRow, ReleaseWrite, Result, StoreError, TokenRow, Write, WriteOutcome,
};

/// Advisory lock serialising event appends (any transaction appending events holds it until it ends).
pub(super) const EVENT_LOCK: i64 = 0x6665_7272_7901;
/// The channel of committed-event notifications; the payload is the last event id of the transaction.
pub(super) const CHANNEL: &str = "ferry_events";

/// Upserts a release's row.
pub(super) const RELEASE_UPSERT: &str =
    "INSERT INTO releases (id, product, flow, flow_version, status, initiator, created_at,
       finished_at, reason, retries, version, environments, next_seq)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at,
       reason = excluded.reason, retries = excluded.retries, version = excluded.version,
       environments = excluded.environments, next_seq = excluded.next_seq, flow_version = excluded.flow_version";
/// Upserts a release's stored view.
pub(super) const VIEW_UPSERT: &str =
    "INSERT INTO release_views (id, view) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET view = excluded.view";
/// Upserts an application's live state.
pub(super) const APP_STATE_UPSERT: &str = "INSERT INTO app_state (application, product, environment, component,
       version, revision, sync, health, message, release_id, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
     ON CONFLICT (application) DO UPDATE SET product = excluded.product, environment = excluded.environment,
       component = excluded.component, version = excluded.version, revision = excluded.revision,
       sync = excluded.sync, health = excluded.health, message = excluded.message,
       release_id = excluded.release_id, updated_at = excluded.updated_at";
/// Upserts a workflow run of a release.
pub(super) const RUN_UPSERT: &str = "INSERT INTO runs (run_id, release_id, started_at, workflow, target, state)
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run_id) DO UPDATE SET state = excluded.state";

/// Records an environment outcome (once per release, environment and attempt); a row when it is new.
pub(super) const OUTCOME_INSERT: &str = "INSERT INTO env_outcomes (release_id, product, environment, flow, attempt,
       status, after_action, committed_at, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (release_id, environment, attempt) DO NOTHING RETURNING id";

/// The parameters of [`OUTCOME_INSERT`].
pub(super) fn outcome_params(o: &crate::OutcomeRow) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    vec![
        &o.release_id,
        &o.product,
        &o.environment,
        &o.flow,
        &o.attempt,
        &o.status,
        &o.after_action,
        &o.committed_at,
        &o.at,
    ]
}

/// What one write produced besides its outcome.
#[derive(Default)]
struct Effects {
    /// The highest event id it appended.
    last_gid: Option<i64>,
    /// Leases it took (a replica creating a release owns it).
    holds: Vec<Hold>,
}

/// Applies a batch of writes in one transaction.
pub(super) async fn write(store: &PgStore, writes: Vec<Write>) -> Result<Vec<Result<WriteOutcome>>> {
    if let [Write::Release(w)] = writes.as_slice() {
        return Ok(vec![super::release::write(store, w).await?]);
    }
    // Writes of distinct releases only (the engine's batch): pipelined in one transaction.
    let releases: Vec<&crate::ReleaseWrite> =
        writes.iter().filter_map(|w| if let Write::Release(w) = w { Some(&**w) } else { None }).collect();
    if releases.len() == writes.len() {
        let ids: std::collections::HashSet<&str> = releases.iter().map(|w| w.release_id.as_str()).collect();
        if ids.len() == releases.len() {
            return super::release::write_many(store, &releases).await;
        }
    }
    let mut client = store.client("writing").await?;
    let tx = client.transaction().await.map_err(query_err("starting a transaction"))?;
    if writes.iter().any(|w| matches!(w, Write::Release(_) | Write::ProductEvent { .. })) {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&EVENT_LOCK])
            .await
            .map_err(query_err("locking the event log"))?;
    }
    let mut outcomes = Vec::with_capacity(writes.len());
    let mut effects = Effects::default();
    // A lone write (the engine's usual case) needs no savepoint: the transaction is its own.
    let lone = writes.len() == 1;
    for write in &writes {
        if !lone {
            tx.batch_execute("SAVEPOINT write").await.map_err(query_err("starting a savepoint"))?;
        }
        let mut own = Effects::default();
        match apply(store, &tx, write, &mut own).await {
            Ok(outcome) => {
                if !lone {
                    tx.batch_execute("RELEASE SAVEPOINT write").await.map_err(query_err("releasing a savepoint"))?;
                }
                effects.last_gid = own.last_gid.or(effects.last_gid);
                effects.holds.extend(own.holds);
                outcomes.push(Ok(outcome));
            }
            Err(err) if lone => {
                // The write's own error is the answer; dropping the transaction rolls it back.
                drop(tx);
                return Ok(vec![Err(err)]);
            }
            Err(err) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT write; RELEASE SAVEPOINT write")
                    .await
                    .map_err(query_err("rolling back a savepoint"))?;
                outcomes.push(Err(err));
            }
        }
    }
    if let Some(gid) = effects.last_gid {
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &gid.to_string()])
            .await
            .map_err(query_err("announcing events"))?;
    }
    tx.commit().await.map_err(|e| StoreError::GroupFailed { message: e.to_string() })?;
    if let Some(replica) = &store.replica {
        replica.hold(effects.holds);
    }
    Ok(outcomes)
}

/// An error of a statement; a unique violation is [`StoreError::Conflict`] with `conflict` as message.
/// The parameters of [`RELEASE_UPSERT`]: the release row and the sequence number its next event takes.
pub(super) fn release_params<'a>(
    r: &'a crate::ReleaseRow,
    next_seq: &'a i64,
) -> Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)> {
    vec![
        &r.id,
        &r.product,
        &r.flow,
        &r.flow_version,
        &r.status,
        &r.initiator,
        &r.created_at,
        &r.finished_at,
        &r.reason,
        &r.retries,
        &r.version,
        &r.environments,
        next_seq,
    ]
}

fn unique(doing: &'static str, conflict: impl Fn() -> String) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::Conflict(conflict())
        } else {
            StoreError::Query { doing, source: e.into() }
        }
    }
}

fn to_json(value: &impl serde::Serialize, what: &str) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|source| StoreError::Decode { what: what.to_owned(), source })
}

async fn apply(store: &PgStore, tx: &Transaction<'_>, write: &Write, effects: &mut Effects) -> Result<WriteOutcome> {
    match write {
        Write::Release(w) => write_release(store, tx, w, effects).await,
        Write::Logs(lines) => {
            let doing = "storing log lines";
            let insert = tx
                .prepare(
                    "INSERT INTO logs (release_id, run_id, step, at, stream, text) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await
                .map_err(query_err(doing))?;
            // Sent together: the connection pipelines them.
            let inserts = lines.iter().map(|l| {
                let insert = &insert;
                async move { tx.execute(insert, &[&l.release_id, &l.run_id, &l.step, &l.at, &l.stream, &l.text]).await }
            });
            futures_util::future::try_join_all(inserts).await.map_err(query_err(doing))?;
            Ok(WriteOutcome::Done)
        }
        Write::Config { applied_by, catalog, at } => {
            let row = tx
                .query_one(
                    "INSERT INTO config_versions (applied_at, applied_by, catalog) VALUES ($1, $2, $3) RETURNING version",
                    &[at, applied_by, catalog],
                )
                .await
                .map_err(query_err("storing configuration"))?;
            Ok(WriteOutcome::ConfigVersion(row.get(0)))
        }
        Write::ProductEvent { product, kind, message, at } => {
            // Product events share the event log (and its ids) so live streams carry and resume them.
            let doing = "storing a product event";
            let stream = product_stream(product);
            let body = serde_json::json!({"type": "ProductEvent", "kind": kind, "message": message});
            let row = tx
                .query_one(
                    "INSERT INTO events (release_id, product, seq, at, body)
                     SELECT $1, $2, coalesce(max(seq) + 1, 0), $3, $4 FROM events WHERE release_id = $1 RETURNING gid",
                    &[&stream, product, at, &body],
                )
                .await
                .map_err(query_err(doing))?;
            effects.last_gid = Some(row.get(0));
            Ok(WriteOutcome::Done)
        }
        Write::AppStates(rows) => {
            for row in rows {
                upsert_app_state(tx, row).await?;
            }
            Ok(WriteOutcome::Done)
        }
        Write::PullRequest(row) => write_pull_request(tx, row).await,
        Write::ImageReport(row) => write_image(tx, row).await,
        Write::ReleaseNotes { release_id, notes, at } => {
            tx.execute(
                "INSERT INTO release_notes (release_id, notes, computed_at) VALUES ($1, $2, $3)
                 ON CONFLICT (release_id) DO UPDATE SET notes = excluded.notes, computed_at = excluded.computed_at",
                &[release_id, notes, at],
            )
            .await
            .map_err(query_err("storing release notes"))?;
            Ok(WriteOutcome::Done)
        }
        Write::Kv { key, value } => {
            tx.execute(
                "INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[key, value],
            )
            .await
            .map_err(query_err("storing a setting"))?;
            Ok(WriteOutcome::Done)
        }
        Write::KvClaim { key, value } => {
            let doing = "claiming a setting";
            // Waits for a concurrent claim of the key to end; then the row is the winner's.
            tx.execute("INSERT INTO kv (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING", &[key, value])
                .await
                .map_err(query_err(doing))?;
            let row = tx.query_one("SELECT value FROM kv WHERE key = $1", &[key]).await.map_err(query_err(doing))?;
            Ok(WriteOutcome::KvValue(row.get(0)))
        }
        Write::Freeze(row) => write_freeze(tx, row).await,
        Write::DeleteFreeze { name } => {
            let deleted = tx
                .execute("DELETE FROM freezes WHERE name = $1", &[name])
                .await
                .map_err(query_err("deleting a freeze"))?;
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("no runtime freeze named {name:?}")));
            }
            Ok(WriteOutcome::Done)
        }
        Write::Token(row) => write_token(tx, row).await,
        Write::RevokeToken { name, at } => revoke_token(tx, name, *at).await,
        Write::Session(row) => {
            tx.execute(
                "INSERT INTO sessions (hash, token, created_at, expires_at) VALUES ($1, $2, $3, $4)",
                &[&row.hash, &row.token, &row.created_at, &row.expires_at],
            )
            .await
            .map_err(query_err("opening a session"))?;
            Ok(WriteOutcome::Done)
        }
        Write::EndSession { hash } => {
            tx.execute("DELETE FROM sessions WHERE hash = $1", &[hash]).await.map_err(query_err("ending a session"))?;
            Ok(WriteOutcome::Done)
        }
        Write::Audit(row) => {
            let row = tx
                .query_one(
                    "INSERT INTO audit (at, actor, action, target, status, outcome, source, detail)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                    &[
                        &row.at,
                        &row.actor,
                        &row.action,
                        &row.target,
                        &i32::from(row.status),
                        &row.outcome,
                        &row.source,
                        &row.detail,
                    ],
                )
                .await
                .map_err(query_err("recording an audit entry"))?;
            Ok(WriteOutcome::Audit(row.get(0)))
        }
        Write::NotificationFailure(row) => super::notifications::write(tx, row).await,
        Write::NotificationRedelivered { id, by, at } => super::notifications::redelivered(tx, *id, by, *at).await,
        Write::Prune { before, now } => {
            tx.execute("DELETE FROM audit WHERE at < $1", &[before])
                .await
                .map_err(query_err("pruning the audit log"))?;
            super::notifications::prune(tx, before).await?;
            tx.execute("DELETE FROM sessions WHERE expires_at < $1", &[now])
                .await
                .map_err(query_err("pruning ended sessions"))?;
            Ok(WriteOutcome::Done)
        }
    }
}

async fn write_freeze(tx: &Transaction<'_>, row: &FreezeRow) -> Result<WriteOutcome> {
    let taken = || format!("a runtime freeze named {:?} exists; delete it first or choose another name", row.name);
    tx.execute(
        "INSERT INTO freezes (name, spec, created_by, created_at) VALUES ($1, $2, $3, $4)",
        &[&row.name, &row.spec, &row.created_by, &row.created_at],
    )
    .await
    .map_err(unique("creating a freeze", taken))?;
    Ok(WriteOutcome::Done)
}

async fn write_token(tx: &Transaction<'_>, row: &TokenRow) -> Result<WriteOutcome> {
    let name_taken = || {
        format!(
            "a token named {:?} exists (names are never reused, revoked ones included); choose another name",
            row.name
        )
    };
    let taken = tx
        .query_opt("SELECT name FROM tokens WHERE name = $1 OR hash = $2", &[&row.name, &row.hash])
        .await
        .map_err(query_err("checking token names"))?;
    if let Some(taken) = taken {
        let taken: String = taken.get(0);
        return Err(StoreError::Conflict(if taken == row.name {
            name_taken()
        } else {
            "this secret is already registered as another token".to_owned()
        }));
    }
    let products = to_json(&row.products, "token products")?;
    let env_types = to_json(&row.env_types, "token environment types")?;
    tx.execute(
        "INSERT INTO tokens (name, hash, role, products, env_types, created_at, created_by, expires_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &row.name,
            &row.hash,
            &row.role,
            &products,
            &env_types,
            &row.created_at,
            &row.created_by,
            &row.expires_at,
            &row.revoked_at,
        ],
    )
    .await
    // Another replica created the same name in the meantime.
    .map_err(unique("creating a token", name_taken))?;
    Ok(WriteOutcome::Done)
}

async fn revoke_token(tx: &Transaction<'_>, name: &str, at: Timestamp) -> Result<WriteOutcome> {
    let revoked = tx
        .query_opt("SELECT revoked_at FROM tokens WHERE name = $1 FOR UPDATE", &[&name])
        .await
        .map_err(query_err("reading a token"))?;
    match revoked.map(|r| r.get::<_, Option<Timestamp>>(0)) {
        None => return Err(StoreError::NotFound(format!("no token named {name:?}"))),
        Some(Some(_)) => return Err(StoreError::Conflict(format!("the token {name:?} is already revoked"))),
        Some(None) => {}
    }
    tx.execute("UPDATE tokens SET revoked_at = $1 WHERE name = $2", &[&at, &name])
        .await
        .map_err(query_err("revoking a token"))?;
    tx.execute("DELETE FROM sessions WHERE token = $1", &[&name])
        .await
        .map_err(query_err("ending a revoked token's sessions"))?;
    Ok(WriteOutcome::Done)
}

async fn write_pull_request(tx: &Transaction<'_>, row: &PullRequestRow) -> Result<WriteOutcome> {
    match row.number {
        None => {
            let applications = to_json(&row.applications, "pull request applications")?;
            let created = tx
                .query_one(
                    "INSERT INTO pull_requests (release_id, product, environment, applications, repo, branch, target,
                       state, head, merge_commit, comment, title, created_at, updated_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING number",
                    &[
                        &row.release_id,
                        &row.product,
                        &row.environment,
                        &applications,
                        &row.repo,
                        &row.branch,
                        &row.target,
                        &row.state,
                        &row.head,
                        &row.merge_commit,
                        &row.comment,
                        &row.title,
                        &row.created_at,
                        &row.updated_at,
                    ],
                )
                .await
                .map_err(query_err("creating a pull request"))?;
            Ok(WriteOutcome::PullRequest(created.get(0)))
        }
        Some(number) => {
            let updated = tx
                .execute(
                    "UPDATE pull_requests SET state = $1, merge_commit = $2, comment = $3, updated_at = $4 WHERE number = $5",
                    &[&row.state, &row.merge_commit, &row.comment, &row.updated_at, &number],
                )
                .await
                .map_err(query_err("updating a pull request"))?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("no pull request #{number}")));
            }
            Ok(WriteOutcome::PullRequest(number))
        }
    }
}

async fn write_image(tx: &Transaction<'_>, row: &ImageRow) -> Result<WriteOutcome> {
    let annotations = to_json(&row.annotations, "image annotations")?;
    let created = tx
        .query_one(
            "INSERT INTO images (image, repository, tag, digest, git_repo, git_revision, git_branch, annotations,
               issues, reported_by, reported_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            &[
                &row.image,
                &row.repository,
                &row.tag,
                &row.digest,
                &row.git_repo,
                &row.git_revision,
                &row.git_branch,
                &annotations,
                &row.issues,
                &row.reported_by,
                &row.reported_at,
            ],
        )
        .await
        .map_err(query_err("recording an image report"))?;
    Ok(WriteOutcome::Image(created.get(0)))
}

async fn upsert_app_state(tx: &Transaction<'_>, row: &AppStateRow) -> Result<()> {
    tx.execute(
        APP_STATE_UPSERT,
        &[
            &row.application,
            &row.product,
            &row.environment,
            &row.component,
            &row.version,
            &row.revision,
            &row.sync,
            &row.health,
            &row.message,
            &row.release_id,
            &row.updated_at,
        ],
    )
    .await
    .map_err(query_err("storing application state"))?;
    Ok(())
}

async fn write_release(
    store: &PgStore,
    tx: &Transaction<'_>,
    w: &ReleaseWrite,
    effects: &mut Effects,
) -> Result<WriteOutcome> {
    // A turn claim is checked only with release writes of distinct releases ([`super::release`]);
    // here it would start a queued release unchecked.
    if store.replica.is_some() && w.turn.is_some() {
        return Err(StoreError::Internal {
            doing: "writing a release",
            detail: "a write taking a product's turn must be written with release writes of distinct releases only"
                .into(),
        });
    }
    // The event lock is held: nobody else appends to any log until this transaction ends.
    let next = tx
        .query_opt("SELECT next_seq FROM releases WHERE id = $1", &[&w.release_id])
        .await
        .map_err(query_err("reading a release's sequence"))?;
    let actual: i64 = next.map_or(0, |r| r.get(0));
    if actual != w.first_seq {
        return Err(StoreError::SequenceConflict { release: w.release_id.clone(), expected: w.first_seq, actual });
    }
    // A replica's events carry the epoch of its lease.
    let mut epoch: Option<i64> = None;
    if let Some(replica) = &store.replica {
        let (holds, held) = lease::fence(tx, replica, w).await?;
        effects.holds.extend(holds);
        epoch = Some(held);
    }
    let doing = "appending release events";
    let insert = tx
        .prepare(
            "INSERT INTO events (release_id, product, seq, at, body, epoch) VALUES ($1, $2, $3, $4, $5, $6) RETURNING gid",
        )
        .await
        .map_err(query_err(doing))?;
    let inserts = w.events.iter().enumerate().map(|(i, event)| {
        let seq = w.first_seq + i as i64;
        let insert = &insert;
        async move { tx.query_one(insert, &[&w.release_id, &w.product, &seq, &event.at, &event.body, &epoch]).await }
    });
    // Pipelined, and numbered in the order sent (one connection, statements run in order).
    let rows = futures_util::future::try_join_all(inserts).await.map_err(query_err(doing))?;
    let gids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    if let Some(last) = gids.last() {
        effects.last_gid = Some(*last);
    }
    let r = &w.row;
    let next_seq = w.first_seq + w.events.len() as i64;
    tx.execute(RELEASE_UPSERT, &release_params(&w.row, &next_seq))
        .await
        .map_err(query_err("updating the release projection"))?;
    if let Some(view) = &w.view {
        tx.execute(VIEW_UPSERT, &[&r.id, view]).await.map_err(query_err("updating the release view"))?;
    }
    for row in &w.app_states {
        upsert_app_state(tx, row).await?;
    }
    for run in &w.runs {
        let c = crate::runs::encode(run)?;
        tx.execute(RUN_UPSERT, &[&c.run_id, &w.release_id, &c.started_at, &c.workflow, &c.target, &c.state])
            .await
            .map_err(query_err("storing a workflow run"))?;
    }
    for o in &w.outcomes {
        let inserted = tx
            .query(OUTCOME_INSERT, &outcome_params(o))
            .await
            .map_err(query_err("recording an environment outcome"))?;
        if !inserted.is_empty() {
            super::dora::record(tx, o).await?;
        }
    }
    Ok(WriteOutcome::Events(gids))
}
