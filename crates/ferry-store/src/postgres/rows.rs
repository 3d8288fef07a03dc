//! Decoding of PostgreSQL rows into the store's types.

use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

use crate::{
    AuditRow, ImageRow, LogLine, PullRequestRow, ReleaseRow, Result, StoreError, StoredEvent, StoredLogLine, TokenRow,
};

pub(crate) use crate::sqlite::product_stream;

/// The value of a column.
pub(super) fn get<'a, T: FromSql<'a>>(row: &'a Row, column: &str, doing: &'static str) -> Result<T> {
    row.try_get(column).map_err(|source| StoreError::Query { doing, source: source.into() })
}

/// A JSON array of strings.
fn list(row: &Row, column: &str, what: String, doing: &'static str) -> Result<Vec<String>> {
    let value: serde_json::Value = get(row, column, doing)?;
    serde_json::from_value(value).map_err(|source| StoreError::Decode { what, source })
}

pub(super) const RELEASE_COLUMNS: &str = "id, product, flow, flow_version, status, initiator, created_at, finished_at, reason, retries, version, environments";

pub(super) fn release_from_row(row: &Row, doing: &'static str) -> Result<ReleaseRow> {
    Ok(ReleaseRow {
        id: get(row, "id", doing)?,
        product: get(row, "product", doing)?,
        flow: get(row, "flow", doing)?,
        flow_version: get(row, "flow_version", doing)?,
        status: get(row, "status", doing)?,
        initiator: get(row, "initiator", doing)?,
        created_at: get(row, "created_at", doing)?,
        finished_at: get(row, "finished_at", doing)?,
        reason: get(row, "reason", doing)?,
        retries: get(row, "retries", doing)?,
        version: get(row, "version", doing)?,
        environments: get(row, "environments", doing)?,
    })
}

pub(super) const EVENT_COLUMNS: &str = "gid, release_id, product, seq, at, body";

pub(super) fn event_from_row(row: &Row, doing: &'static str) -> Result<StoredEvent> {
    Ok(StoredEvent {
        gid: get(row, "gid", doing)?,
        release_id: get(row, "release_id", doing)?,
        product: get(row, "product", doing)?,
        seq: get(row, "seq", doing)?,
        at: get(row, "at", doing)?,
        body: get(row, "body", doing)?,
    })
}

pub(super) fn log_from_row(row: &Row, doing: &'static str) -> Result<StoredLogLine> {
    Ok(StoredLogLine {
        id: get(row, "id", doing)?,
        line: LogLine {
            release_id: get(row, "release_id", doing)?,
            run_id: get(row, "run_id", doing)?,
            step: get(row, "step", doing)?,
            at: get(row, "at", doing)?,
            stream: get(row, "stream", doing)?,
            text: get(row, "text", doing)?,
        },
    })
}

pub(super) const TOKEN_COLUMNS: &str =
    "t.name, t.hash, t.role, t.products, t.env_types, t.created_at, t.created_by, t.expires_at, t.revoked_at";

pub(super) fn token_from_row(row: &Row, doing: &'static str) -> Result<TokenRow> {
    Ok(TokenRow {
        name: get(row, "name", doing)?,
        hash: get(row, "hash", doing)?,
        role: get(row, "role", doing)?,
        products: list(row, "products", "token products".into(), doing)?,
        env_types: list(row, "env_types", "token env_types".into(), doing)?,
        created_at: get(row, "created_at", doing)?,
        created_by: get(row, "created_by", doing)?,
        expires_at: get(row, "expires_at", doing)?,
        revoked_at: get(row, "revoked_at", doing)?,
    })
}

pub(super) fn audit_from_row(row: &Row, doing: &'static str) -> Result<AuditRow> {
    Ok(AuditRow {
        id: Some(get(row, "id", doing)?),
        at: get(row, "at", doing)?,
        actor: get(row, "actor", doing)?,
        action: get(row, "action", doing)?,
        target: get(row, "target", doing)?,
        status: u16::try_from(get::<i32>(row, "status", doing)?).unwrap_or(0),
        outcome: get(row, "outcome", doing)?,
        source: get(row, "source", doing)?,
        detail: get(row, "detail", doing)?,
    })
}

pub(super) const IMAGE_COLUMNS: &str = "id, image, repository, tag, digest, git_repo, git_revision, git_branch, \
     annotations, issues, reported_by, reported_at";

pub(super) fn image_from_row(row: &Row, doing: &'static str) -> Result<ImageRow> {
    let id: i64 = get(row, "id", doing)?;
    let annotations: serde_json::Value = get(row, "annotations", doing)?;
    Ok(ImageRow {
        id: Some(id),
        image: get(row, "image", doing)?,
        repository: get(row, "repository", doing)?,
        tag: get(row, "tag", doing)?,
        digest: get(row, "digest", doing)?,
        git_repo: get(row, "git_repo", doing)?,
        git_revision: get(row, "git_revision", doing)?,
        git_branch: get(row, "git_branch", doing)?,
        annotations: serde_json::from_value(annotations)
            .map_err(|source| StoreError::Decode { what: format!("image report {id} annotations"), source })?,
        issues: get(row, "issues", doing)?,
        reported_by: get(row, "reported_by", doing)?,
        reported_at: get(row, "reported_at", doing)?,
    })
}

pub(super) const PULL_REQUEST_COLUMNS: &str = "number, release_id, product, environment, applications, repo, branch, \
     target, state, head, merge_commit, comment, title, created_at, updated_at";

pub(super) fn pull_request_from_row(row: &Row, doing: &'static str) -> Result<PullRequestRow> {
    let number: i64 = get(row, "number", doing)?;
    Ok(PullRequestRow {
        number: Some(number),
        release_id: get(row, "release_id", doing)?,
        product: get(row, "product", doing)?,
        environment: get(row, "environment", doing)?,
        applications: list(row, "applications", format!("pull request #{number} applications"), doing)?,
        repo: get(row, "repo", doing)?,
        branch: get(row, "branch", doing)?,
        target: get(row, "target", doing)?,
        state: get(row, "state", doing)?,
        head: get(row, "head", doing)?,
        merge_commit: get(row, "merge_commit", doing)?,
        comment: get(row, "comment", doing)?,
        title: get(row, "title", doing)?,
        created_at: get(row, "created_at", doing)?,
        updated_at: get(row, "updated_at", doing)?,
    })
}
