//! Encoding of values for SQLite and decoding of its rows into the store's types.

use std::str::FromStr;

use jiff::Timestamp;
use rusqlite::types::FromSql;

use crate::{
    AuditRow, ImageRow, LogLine, PullRequestRow, ReleaseRow, Result, StoreError, StoredEvent, StoredLogLine, TokenRow,
};

/// Maps a SQLite error to [`StoreError::Query`], saying what the store was doing.
pub(super) fn query_err(doing: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |source| StoreError::Query { doing, source: source.into() }
}

/// The event-log stream holding a product's events (not a release id: release ids are UUIDs).
pub(crate) fn product_stream(product: &str) -> String {
    format!("product:{product}")
}

/// Fixed-width RFC 3339 (microseconds), so stored times sort as text.
pub(super) fn fmt_ts(t: Timestamp) -> String {
    format!("{t:.6}")
}

pub(super) fn ts(text: &str, what: &str) -> Result<Timestamp> {
    Timestamp::from_str(text).map_err(|e| StoreError::Decode {
        what: format!("{what} timestamp {text:?}"),
        source: serde_json::Error::io(std::io::Error::other(e.to_string())),
    })
}

pub(super) fn json(text: &str, what: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|source| StoreError::Decode { what: what.to_owned(), source })
}

pub(super) fn json_list(items: &[String], what: &str) -> Result<String> {
    serde_json::to_string(items).map_err(|source| StoreError::Decode { what: what.to_owned(), source })
}

/// A row being read, with what the store was doing (for errors).
pub(super) struct Row<'a, 'stmt> {
    pub row: &'a rusqlite::Row<'stmt>,
    pub doing: &'static str,
}

impl Row<'_, '_> {
    /// The value of a column.
    pub fn get<T: FromSql>(&self, column: &str) -> Result<T> {
        self.row.get(column).map_err(query_err(self.doing))
    }

    /// A timestamp column.
    pub fn ts(&self, column: &str, what: &str) -> Result<Timestamp> {
        ts(&self.get::<String>(column)?, what)
    }

    /// A nullable timestamp column.
    pub fn opt_ts(&self, column: &str, what: &str) -> Result<Option<Timestamp>> {
        self.get::<Option<String>>(column)?.map(|t| ts(&t, what)).transpose()
    }
}

/// Runs a cached query and decodes every row.
pub(super) fn all<T>(
    conn: &rusqlite::Connection,
    doing: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
    mut decode: impl FnMut(&Row) -> Result<T>,
) -> Result<Vec<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(query_err(doing))?;
    let mut rows = stmt.query(params).map_err(query_err(doing))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(query_err(doing))? {
        out.push(decode(&Row { row, doing })?);
    }
    Ok(out)
}

/// Runs a cached query and decodes its first row, if any.
pub(super) fn first<T>(
    conn: &rusqlite::Connection,
    doing: &'static str,
    sql: &str,
    params: impl rusqlite::Params,
    decode: impl FnOnce(&Row) -> Result<T>,
) -> Result<Option<T>> {
    let mut stmt = conn.prepare_cached(sql).map_err(query_err(doing))?;
    let mut rows = stmt.query(params).map_err(query_err(doing))?;
    match rows.next().map_err(query_err(doing))? {
        Some(row) => decode(&Row { row, doing }).map(Some),
        None => Ok(None),
    }
}

pub(super) const RELEASE_COLUMNS: &str = "id, product, flow, flow_version, status, initiator, created_at, finished_at, reason, retries, version, environments";

pub(super) fn release_from_row(row: &Row) -> Result<ReleaseRow> {
    Ok(ReleaseRow {
        id: row.get("id")?,
        product: row.get("product")?,
        flow: row.get("flow")?,
        flow_version: row.get("flow_version")?,
        status: row.get("status")?,
        initiator: row.get("initiator")?,
        created_at: row.ts("created_at", "release")?,
        finished_at: row.opt_ts("finished_at", "release")?,
        reason: row.get("reason")?,
        retries: row.get("retries")?,
        version: row.get("version")?,
        environments: json(&row.get::<String>("environments")?, "release environments")?,
    })
}

pub(super) const EVENT_COLUMNS: &str = "gid, release_id, product, seq, at, body";

pub(super) fn event_from_row(row: &Row) -> Result<StoredEvent> {
    Ok(StoredEvent {
        gid: row.get("gid")?,
        release_id: row.get("release_id")?,
        product: row.get("product")?,
        seq: row.get("seq")?,
        at: row.ts("at", "event")?,
        body: json(&row.get::<String>("body")?, "event body")?,
    })
}

pub(super) fn log_from_row(row: &Row) -> Result<StoredLogLine> {
    Ok(StoredLogLine {
        id: row.get("id")?,
        line: LogLine {
            release_id: row.get("release_id")?,
            run_id: row.get("run_id")?,
            step: row.get("step")?,
            at: row.ts("at", "log line")?,
            stream: row.get("stream")?,
            text: row.get("text")?,
        },
    })
}

pub(super) const TOKEN_COLUMNS: &str =
    "t.name, t.hash, t.role, t.products, t.env_types, t.created_at, t.created_by, t.expires_at, t.revoked_at";

pub(super) fn token_from_row(row: &Row) -> Result<TokenRow> {
    let list = |column: &str| -> Result<Vec<String>> {
        let text: String = row.get(column)?;
        serde_json::from_str(&text).map_err(|source| StoreError::Decode { what: format!("token {column}"), source })
    };
    Ok(TokenRow {
        name: row.get("name")?,
        hash: row.get("hash")?,
        role: row.get("role")?,
        products: list("products")?,
        env_types: list("env_types")?,
        created_at: row.ts("created_at", "token")?,
        created_by: row.get("created_by")?,
        expires_at: row.opt_ts("expires_at", "token")?,
        revoked_at: row.opt_ts("revoked_at", "token")?,
    })
}

pub(super) fn audit_from_row(row: &Row) -> Result<AuditRow> {
    Ok(AuditRow {
        id: Some(row.get("id")?),
        at: row.ts("at", "audit entry")?,
        actor: row.get("actor")?,
        action: row.get("action")?,
        target: row.get("target")?,
        status: u16::try_from(row.get::<i64>("status")?).unwrap_or(0),
        outcome: row.get("outcome")?,
        source: row.get("source")?,
        detail: row.get("detail")?,
    })
}

pub(super) const IMAGE_COLUMNS: &str = "id, image, repository, tag, digest, git_repo, git_revision, git_branch, \
     annotations, issues, reported_by, reported_at";

pub(super) fn image_from_row(row: &Row) -> Result<ImageRow> {
    let id: i64 = row.get("id")?;
    let annotations: String = row.get("annotations")?;
    Ok(ImageRow {
        id: Some(id),
        image: row.get("image")?,
        repository: row.get("repository")?,
        tag: row.get("tag")?,
        digest: row.get("digest")?,
        git_repo: row.get("git_repo")?,
        git_revision: row.get("git_revision")?,
        git_branch: row.get("git_branch")?,
        annotations: serde_json::from_str(&annotations)
            .map_err(|source| StoreError::Decode { what: format!("image report {id} annotations"), source })?,
        issues: row.get("issues")?,
        reported_by: row.get("reported_by")?,
        reported_at: row.ts("reported_at", "image report")?,
    })
}

pub(super) const PULL_REQUEST_COLUMNS: &str = "number, release_id, product, environment, applications, repo, branch, \
     target, state, head, merge_commit, comment, title, created_at, updated_at";

pub(super) fn pull_request_from_row(row: &Row) -> Result<PullRequestRow> {
    let applications: String = row.get("applications")?;
    let number: i64 = row.get("number")?;
    Ok(PullRequestRow {
        number: Some(number),
        release_id: row.get("release_id")?,
        product: row.get("product")?,
        environment: row.get("environment")?,
        applications: serde_json::from_str(&applications)
            .map_err(|source| StoreError::Decode { what: format!("pull request #{number} applications"), source })?,
        repo: row.get("repo")?,
        branch: row.get("branch")?,
        target: row.get("target")?,
        state: row.get("state")?,
        head: row.get("head")?,
        merge_commit: row.get("merge_commit")?,
        comment: row.get("comment")?,
        title: row.get("title")?,
        created_at: row.ts("created_at", "pull request")?,
        updated_at: row.ts("updated_at", "pull request")?,
    })
}
