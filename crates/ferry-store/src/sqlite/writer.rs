//! The writer thread: it owns the one read-write connection and its prepared statements, takes the
//! write requests that are waiting, commits them in one durable transaction (each write in its own
//! savepoint, so one failing write never undoes another), then broadcasts the committed events and
//! answers each request.

use std::sync::Arc;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::rows::{fmt_ts, json_list, product_stream, query_err};
use crate::{
    AppStateRow, FreezeRow, ImageRow, PullRequestRow, ReleaseWrite, Result, StoreError, StoredEvent, TokenRow, Write,
    WriteOutcome,
};

/// Most requests committed in one transaction.
pub(super) const MAX_GROUP: usize = 256;

/// The answer to one request: one outcome per write, or the error that stopped the whole group.
pub(super) type Reply = oneshot::Sender<Result<Vec<Result<WriteOutcome>>>>;

/// One [`crate::Store::write`] call waiting for the writer.
pub(super) struct Request {
    pub writes: Vec<Write>,
    pub reply: Reply,
}

/// Runs until every sender is gone (the store was dropped), then closes the connection.
pub(super) fn run(conn: Connection, mut rx: mpsc::Receiver<Request>, events: broadcast::Sender<Arc<StoredEvent>>) {
    while let Some(first) = rx.blocking_recv() {
        // Group commit: take whatever else is already waiting.
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let mut committed = Vec::new();
        match commit_group(&conn, &group, &mut committed) {
            Ok(outcomes) => {
                // Durable now: publish, then answer.
                for event in committed {
                    // No subscriber is fine.
                    let _ = events.send(Arc::new(event));
                }
                for (request, outcome) in group.into_iter().zip(outcomes) {
                    // A caller that stopped waiting is fine too.
                    let _ = request.reply.send(Ok(outcome));
                }
            }
            Err(err) => {
                let message = err.to_string();
                for request in group {
                    let _ = request.reply.send(Err(StoreError::GroupFailed { message: message.clone() }));
                }
            }
        }
    }
}

/// Runs one statement without parameters through the statement cache.
fn exec(conn: &Connection, sql: &str, doing: &'static str) -> Result<()> {
    conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(drop).map_err(query_err(doing))
}

/// Commits a group of requests in one transaction; on error nothing of the group is stored.
fn commit_group(
    conn: &Connection,
    group: &[Request],
    committed: &mut Vec<StoredEvent>,
) -> Result<Vec<Vec<Result<WriteOutcome>>>> {
    if !conn.is_autocommit() {
        // A transaction left open by an earlier failure (its rollback failed too): end it first.
        exec(conn, "ROLLBACK", "rolling back an unfinished transaction")?;
    }
    exec(conn, "BEGIN IMMEDIATE", "starting a transaction")?;
    // A lone write (the engine's usual case) needs no savepoint: the transaction is its own.
    if let [request] = group
        && let [write] = request.writes.as_slice()
    {
        let mut events = Vec::new();
        return match apply_write(conn, write, &mut events) {
            Ok(outcome) => {
                commit(conn)?;
                committed.extend(events);
                Ok(vec![vec![Ok(outcome)]])
            }
            Err(err) => {
                // The write's own error is the answer; a failed rollback is dealt with before the next group.
                let _ = exec(conn, "ROLLBACK", "rolling back a failed write");
                Ok(vec![vec![Err(err)]])
            }
        };
    }
    match apply_each(conn, group, committed) {
        Ok(outcomes) => {
            commit(conn)?;
            Ok(outcomes)
        }
        Err(err) => {
            committed.clear();
            let _ = exec(conn, "ROLLBACK", "rolling back");
            Err(err)
        }
    }
}

/// Commits the open transaction, or rolls it back when the commit fails.
fn commit(conn: &Connection) -> Result<()> {
    exec(conn, "COMMIT", "committing").inspect_err(|_| {
        if !conn.is_autocommit() {
            let _ = exec(conn, "ROLLBACK", "rolling back after a failed commit");
        }
    })
}

/// Applies every write of the group, each in its own savepoint.
fn apply_each(
    conn: &Connection,
    group: &[Request],
    committed: &mut Vec<StoredEvent>,
) -> Result<Vec<Vec<Result<WriteOutcome>>>> {
    let mut outcomes = Vec::with_capacity(group.len());
    for request in group {
        let mut per_request = Vec::with_capacity(request.writes.len());
        for write in &request.writes {
            // Each write in its own savepoint: one failing write does not undo the others.
            exec(conn, "SAVEPOINT write", "starting a savepoint")?;
            let mut events = Vec::new();
            match apply_write(conn, write, &mut events) {
                Ok(outcome) => {
                    exec(conn, "RELEASE write", "releasing a savepoint")?;
                    committed.extend(events);
                    per_request.push(Ok(outcome));
                }
                Err(err) => {
                    exec(conn, "ROLLBACK TO write", "rolling back a savepoint")?;
                    exec(conn, "RELEASE write", "releasing a savepoint")?;
                    per_request.push(Err(err));
                }
            }
        }
        outcomes.push(per_request);
    }
    Ok(outcomes)
}

fn apply_write(conn: &Connection, write: &Write, committed: &mut Vec<StoredEvent>) -> Result<WriteOutcome> {
    match write {
        Write::Release(w) => write_release(conn, w, committed),
        Write::Logs(lines) => {
            let doing = "storing log lines";
            let mut stmt = conn
                .prepare_cached(
                    "INSERT INTO logs (release_id, run_id, step, at, stream, text) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .map_err(query_err(doing))?;
            for line in lines {
                stmt.execute(params![line.release_id, line.run_id, line.step, fmt_ts(line.at), line.stream, line.text])
                    .map_err(query_err(doing))?;
            }
            Ok(WriteOutcome::Done)
        }
        Write::Config { applied_by, catalog, at } => {
            let doing = "storing configuration";
            conn.prepare_cached("INSERT INTO config_versions (applied_at, applied_by, catalog) VALUES (?, ?, ?)")
                .and_then(|mut s| s.execute(params![fmt_ts(*at), applied_by, catalog.to_string()]))
                .map_err(query_err(doing))?;
            Ok(WriteOutcome::ConfigVersion(conn.last_insert_rowid()))
        }
        Write::ProductEvent { product, kind, message, at } => {
            // Product events share the event log (and its ids) so live streams carry and resume them.
            let doing = "storing a product event";
            let stream = product_stream(product);
            let body = serde_json::json!({"type": "ProductEvent", "kind": kind, "message": message});
            let seq: i64 = conn
                .prepare_cached("SELECT coalesce(max(seq) + 1, 0) FROM events WHERE release_id = ?")
                .and_then(|mut s| s.query_row([&stream], |r| r.get(0)))
                .map_err(query_err(doing))?;
            conn.prepare_cached("INSERT INTO events (release_id, product, seq, at, body) VALUES (?, ?, ?, ?, ?)")
                .and_then(|mut s| s.execute(params![stream, product, seq, fmt_ts(*at), body.to_string()]))
                .map_err(query_err(doing))?;
            committed.push(StoredEvent {
                gid: conn.last_insert_rowid(),
                release_id: stream,
                product: product.clone(),
                seq,
                at: *at,
                body,
            });
            Ok(WriteOutcome::Done)
        }
        Write::AppStates(rows) => {
            for row in rows {
                upsert_app_state(conn, row)?;
            }
            Ok(WriteOutcome::Done)
        }
        Write::PullRequest(row) => write_pull_request(conn, row),
        Write::ImageReport(row) => write_image(conn, row),
        Write::ReleaseNotes { release_id, notes, at } => {
            conn.prepare_cached(
                "INSERT INTO release_notes (release_id, notes, computed_at) VALUES (?, ?, ?)
                 ON CONFLICT (release_id) DO UPDATE SET notes = excluded.notes, computed_at = excluded.computed_at",
            )
            .and_then(|mut s| s.execute(params![release_id, notes.to_string(), fmt_ts(*at)]))
            .map_err(query_err("storing release notes"))?;
            Ok(WriteOutcome::Done)
        }
        Write::Kv { key, value } => {
            conn.prepare_cached(
                "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )
            .and_then(|mut s| s.execute(params![key, value]))
            .map_err(query_err("storing a setting"))?;
            Ok(WriteOutcome::Done)
        }
        Write::KvClaim { key, value } => {
            let doing = "claiming a setting";
            conn.prepare_cached("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
                .and_then(|mut s| s.execute(params![key, value]))
                .map_err(query_err(doing))?;
            let held: String = conn
                .prepare_cached("SELECT value FROM kv WHERE key = ?")
                .and_then(|mut s| s.query_row([key], |r| r.get(0)))
                .map_err(query_err(doing))?;
            Ok(WriteOutcome::KvValue(held))
        }
        Write::Freeze(row) => write_freeze(conn, row),
        Write::DeleteFreeze { name } => {
            let deleted = conn
                .prepare_cached("DELETE FROM freezes WHERE name = ?")
                .and_then(|mut s| s.execute([name]))
                .map_err(query_err("deleting a freeze"))?;
            if deleted == 0 {
                return Err(StoreError::NotFound(format!("no runtime freeze named {name:?}")));
            }
            Ok(WriteOutcome::Done)
        }
        Write::Token(row) => write_token(conn, row),
        Write::RevokeToken { name, at } => revoke_token(conn, name, *at),
        Write::Session(row) => {
            conn.prepare_cached("INSERT INTO sessions (hash, token, created_at, expires_at) VALUES (?, ?, ?, ?)")
                .and_then(|mut s| {
                    s.execute(params![row.hash, row.token, fmt_ts(row.created_at), fmt_ts(row.expires_at)])
                })
                .map_err(query_err("opening a session"))?;
            Ok(WriteOutcome::Done)
        }
        Write::EndSession { hash } => {
            conn.prepare_cached("DELETE FROM sessions WHERE hash = ?")
                .and_then(|mut s| s.execute([hash]))
                .map_err(query_err("ending a session"))?;
            Ok(WriteOutcome::Done)
        }
        Write::Audit(row) => {
            conn.prepare_cached(
                "INSERT INTO audit (at, actor, action, target, status, outcome, source, detail)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    fmt_ts(row.at),
                    row.actor,
                    row.action,
                    row.target,
                    i64::from(row.status),
                    row.outcome,
                    row.source,
                    row.detail
                ])
            })
            .map_err(query_err("recording an audit entry"))?;
            Ok(WriteOutcome::Audit(conn.last_insert_rowid()))
        }
        Write::NotificationFailure(row) => super::notifications::write(conn, row),
        Write::NotificationRedelivered { id, by, at } => super::notifications::redelivered(conn, *id, by, *at),
        Write::Prune { before, now } => {
            conn.prepare_cached("DELETE FROM audit WHERE at < ?")
                .and_then(|mut s| s.execute([fmt_ts(*before)]))
                .map_err(query_err("pruning the audit log"))?;
            super::notifications::prune(conn, *before)?;
            conn.prepare_cached("DELETE FROM sessions WHERE expires_at < ?")
                .and_then(|mut s| s.execute([fmt_ts(*now)]))
                .map_err(query_err("pruning ended sessions"))?;
            Ok(WriteOutcome::Done)
        }
    }
}

fn write_freeze(conn: &Connection, row: &FreezeRow) -> Result<WriteOutcome> {
    let taken: Option<String> = conn
        .prepare_cached("SELECT name FROM freezes WHERE name = ?")
        .and_then(|mut s| s.query_row([&row.name], |r| r.get(0)).optional())
        .map_err(query_err("checking freeze names"))?;
    if taken.is_some() {
        return Err(StoreError::Conflict(format!(
            "a runtime freeze named {:?} exists; delete it first or choose another name",
            row.name
        )));
    }
    let spec =
        serde_json::to_string(&row.spec).map_err(|source| StoreError::Decode { what: "freeze".to_owned(), source })?;
    conn.prepare_cached("INSERT INTO freezes (name, spec, created_by, created_at) VALUES (?, ?, ?, ?)")
        .and_then(|mut s| s.execute(params![row.name, spec, row.created_by, fmt_ts(row.created_at)]))
        .map_err(query_err("creating a freeze"))?;
    Ok(WriteOutcome::Done)
}

fn write_token(conn: &Connection, row: &TokenRow) -> Result<WriteOutcome> {
    let taken: Option<String> = conn
        .prepare_cached("SELECT name FROM tokens WHERE name = ? OR hash = ?")
        .and_then(|mut s| s.query_row([&row.name, &row.hash], |r| r.get(0)).optional())
        .map_err(query_err("checking token names"))?;
    if let Some(taken) = taken {
        return Err(if taken == row.name {
            StoreError::Conflict(format!(
                "a token named {:?} exists (names are never reused, revoked ones included); choose another name",
                row.name
            ))
        } else {
            StoreError::Conflict("this secret is already registered as another token".to_owned())
        });
    }
    let products = json_list(&row.products, "token products")?;
    let env_types = json_list(&row.env_types, "token environment types")?;
    conn.prepare_cached(
        "INSERT INTO tokens (name, hash, role, products, env_types, created_at, created_by, expires_at, revoked_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut s| {
        s.execute(params![
            row.name,
            row.hash,
            row.role,
            products,
            env_types,
            fmt_ts(row.created_at),
            row.created_by,
            row.expires_at.map(fmt_ts),
            row.revoked_at.map(fmt_ts)
        ])
    })
    .map_err(query_err("creating a token"))?;
    Ok(WriteOutcome::Done)
}

fn revoke_token(conn: &Connection, name: &str, at: Timestamp) -> Result<WriteOutcome> {
    let revoked: Option<Option<String>> = conn
        .prepare_cached("SELECT revoked_at FROM tokens WHERE name = ?")
        .and_then(|mut s| s.query_row([name], |r| r.get(0)).optional())
        .map_err(query_err("reading a token"))?;
    match revoked {
        None => return Err(StoreError::NotFound(format!("no token named {name:?}"))),
        Some(Some(_)) => return Err(StoreError::Conflict(format!("the token {name:?} is already revoked"))),
        Some(None) => {}
    }
    conn.prepare_cached("UPDATE tokens SET revoked_at = ? WHERE name = ?")
        .and_then(|mut s| s.execute(params![fmt_ts(at), name]))
        .map_err(query_err("revoking a token"))?;
    conn.prepare_cached("DELETE FROM sessions WHERE token = ?")
        .and_then(|mut s| s.execute([name]))
        .map_err(query_err("ending a revoked token's sessions"))?;
    Ok(WriteOutcome::Done)
}

fn write_pull_request(conn: &Connection, row: &PullRequestRow) -> Result<WriteOutcome> {
    match row.number {
        None => {
            let applications = serde_json::to_string(&row.applications)
                .map_err(|source| StoreError::Decode { what: "pull request applications".into(), source })?;
            conn.prepare_cached(
                "INSERT INTO pull_requests (release_id, product, environment, applications, repo, branch, target, state,
                   head, merge_commit, comment, title, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    row.release_id,
                    row.product,
                    row.environment,
                    applications,
                    row.repo,
                    row.branch,
                    row.target,
                    row.state,
                    row.head,
                    row.merge_commit,
                    row.comment,
                    row.title,
                    fmt_ts(row.created_at),
                    fmt_ts(row.updated_at)
                ])
            })
            .map_err(query_err("creating a pull request"))?;
            Ok(WriteOutcome::PullRequest(conn.last_insert_rowid()))
        }
        Some(number) => {
            let updated = conn
                .prepare_cached(
                    "UPDATE pull_requests SET state = ?, merge_commit = ?, comment = ?, updated_at = ? WHERE number = ?",
                )
                .and_then(|mut s| {
                    s.execute(params![row.state, row.merge_commit, row.comment, fmt_ts(row.updated_at), number])
                })
                .map_err(query_err("updating a pull request"))?;
            if updated == 0 {
                return Err(StoreError::NotFound(format!("no pull request #{number}")));
            }
            Ok(WriteOutcome::PullRequest(number))
        }
    }
}

fn write_image(conn: &Connection, row: &ImageRow) -> Result<WriteOutcome> {
    let annotations = serde_json::to_string(&row.annotations)
        .map_err(|source| StoreError::Decode { what: "image annotations".into(), source })?;
    conn.prepare_cached(
        "INSERT INTO images (image, repository, tag, digest, git_repo, git_revision, git_branch, annotations, issues,
           reported_by, reported_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut s| {
        s.execute(params![
            row.image,
            row.repository,
            row.tag,
            row.digest,
            row.git_repo,
            row.git_revision,
            row.git_branch,
            annotations,
            row.issues,
            row.reported_by,
            fmt_ts(row.reported_at)
        ])
    })
    .map_err(query_err("recording an image report"))?;
    Ok(WriteOutcome::Image(conn.last_insert_rowid()))
}

fn upsert_app_state(conn: &Connection, row: &AppStateRow) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO app_state (application, product, environment, component, version, revision, sync, health, message, release_id, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (application) DO UPDATE SET product = excluded.product, environment = excluded.environment,
           component = excluded.component, version = excluded.version, revision = excluded.revision, sync = excluded.sync,
           health = excluded.health, message = excluded.message, release_id = excluded.release_id, updated_at = excluded.updated_at",
    )
    .and_then(|mut s| {
        s.execute(params![
            row.application,
            row.product,
            row.environment,
            row.component,
            row.version,
            row.revision,
            row.sync,
            row.health,
            row.message,
            row.release_id,
            fmt_ts(row.updated_at)
        ])
    })
    .map_err(query_err("storing application state"))?;
    Ok(())
}

fn write_release(conn: &Connection, w: &ReleaseWrite, committed: &mut Vec<StoredEvent>) -> Result<WriteOutcome> {
    let next: Option<i64> = conn
        .prepare_cached("SELECT next_seq FROM releases WHERE id = ?")
        .and_then(|mut s| s.query_row([&w.release_id], |r| r.get(0)).optional())
        .map_err(query_err("reading a release's sequence"))?;
    let actual = next.unwrap_or(0);
    if actual != w.first_seq {
        return Err(StoreError::SequenceConflict { release: w.release_id.clone(), expected: w.first_seq, actual });
    }
    let doing = "appending release events";
    let mut insert = conn
        .prepare_cached("INSERT INTO events (release_id, product, seq, at, body) VALUES (?, ?, ?, ?, ?)")
        .map_err(query_err(doing))?;
    let mut gids = Vec::with_capacity(w.events.len());
    for (i, event) in w.events.iter().enumerate() {
        let seq = w.first_seq + i as i64;
        let gid = insert
            .insert(params![w.release_id, w.product, seq, fmt_ts(event.at), event.body.to_string()])
            .map_err(query_err(doing))?;
        gids.push(gid);
        committed.push(StoredEvent {
            gid,
            release_id: w.release_id.clone(),
            product: w.product.clone(),
            seq,
            at: event.at,
            body: event.body.clone(),
        });
    }
    let r = &w.row;
    conn.prepare_cached(
        "INSERT INTO releases (id, product, flow, flow_version, status, initiator, created_at, finished_at, reason, retries, version, environments, next_seq)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, finished_at = excluded.finished_at, reason = excluded.reason,
           retries = excluded.retries, version = excluded.version, environments = excluded.environments,
           next_seq = excluded.next_seq, flow_version = excluded.flow_version",
    )
    .and_then(|mut s| {
        s.execute(params![
            r.id,
            r.product,
            r.flow,
            r.flow_version,
            r.status,
            r.initiator,
            fmt_ts(r.created_at),
            r.finished_at.map(fmt_ts),
            r.reason,
            r.retries,
            r.version,
            r.environments.to_string(),
            w.first_seq + w.events.len() as i64
        ])
    })
    .map_err(query_err("updating the release projection"))?;
    if let Some(view) = &w.view {
        conn.prepare_cached(
            "INSERT INTO release_views (id, view) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET view = excluded.view",
        )
        .and_then(|mut s| s.execute(params![r.id, view.to_string()]))
        .map_err(query_err("updating the release view"))?;
    }
    for row in &w.app_states {
        upsert_app_state(conn, row)?;
    }
    for run in &w.runs {
        upsert_run(conn, &w.release_id, run)?;
    }
    for o in &w.outcomes {
        insert_outcome(conn, o)?;
    }
    Ok(WriteOutcome::Events(gids))
}

/// Records an environment outcome (once per release, environment and attempt).
fn insert_outcome(conn: &Connection, o: &crate::OutcomeRow) -> Result<()> {
    let inserted = conn.prepare_cached(
        "INSERT INTO env_outcomes (release_id, product, environment, flow, attempt, status, after_action, committed_at, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (release_id, environment, attempt) DO NOTHING",
    )
    .and_then(|mut s| {
        s.execute(params![
            o.release_id,
            o.product,
            o.environment,
            o.flow,
            o.attempt,
            o.status,
            o.after_action,
            fmt_ts(o.committed_at),
            fmt_ts(o.at)
        ])
    })
    .map_err(query_err("recording an environment outcome"))?;
    // A new outcome (not one recorded already) counts in the DORA rollups, in the same transaction.
    if inserted > 0 {
        super::dora::record(conn, o)?;
    }
    Ok(())
}

fn upsert_run(conn: &Connection, release_id: &str, run: &ferry_model::release::WorkflowRun) -> Result<()> {
    let c = crate::runs::encode(run)?;
    conn.prepare_cached(
        "INSERT INTO runs (run_id, release_id, started_at, workflow, target, state) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id) DO UPDATE SET state = excluded.state",
    )
    .and_then(|mut s| {
        s.execute(params![
            c.run_id,
            release_id,
            fmt_ts(c.started_at),
            c.workflow,
            c.target.to_string(),
            c.state.to_string()
        ])
    })
    .map_err(query_err("storing a workflow run"))?;
    Ok(())
}
