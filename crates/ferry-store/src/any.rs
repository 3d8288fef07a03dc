//! Choosing the backend at start-up: [`Database`] reads `--database` / `FERRY_DATABASE`, and
//! [`AnyStore`] is the [`Store`] of either backend, for code that is generic over `S: Store` but picks
//! the backend at run time (the server, the CLI's offline commands).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::broadcast;

use ferry_model::{ProductName, ReleaseId};

use crate::{
    AppStateRow, AuditQuery, AuditRow, ConfigVersion, DecidedOutcomeRow, DoraWeekRow, EventFilter, FreezeRow,
    ImageQuery, ImageRow, LogQuery, NotificationFailureRow, OutcomeQuery, OutcomeRow, PgStore, ProductEvent,
    PullRequestFilter, PullRequestRow, ReleaseFilter, ReleasePage, ReleaseRow, Result, RunRow, SessionRow, SqliteStore,
    Store, StoredEvent, StoredLogLine, TokenRow, Write, WriteOutcome,
};

/// Where the store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl Database {
    /// Reads `sqlite:PATH`, a plain path (SQLite), or `postgres://…` / `postgresql://…`.
    pub fn parse(text: &str) -> Result<Database, String> {
        let text = text.trim();
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(Database::Postgres(text.to_owned()));
        }
        let path = text.strip_prefix("sqlite://").or_else(|| text.strip_prefix("sqlite:")).unwrap_or(text);
        if path.is_empty() {
            return Err(format!("{text:?}: expected sqlite:PATH, a file path, or postgres://USER@HOST/DB"));
        }
        if let Some((scheme, _)) = path.split_once("://") {
            return Err(format!(
                "{text:?}: unknown database scheme {scheme:?}; expected sqlite:PATH or postgres://USER@HOST/DB"
            ));
        }
        Ok(Database::Sqlite(PathBuf::from(path)))
    }

    /// The SQLite file of a data directory (the default database).
    pub fn in_data_dir(data: &Path) -> Database {
        Database::Sqlite(data.join("ferry.db"))
    }

    /// For messages: the path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Database::Sqlite(path) => path.display().to_string(),
            Database::Postgres(url) => crate::postgres::redact(url),
        }
    }

    /// Opens the store; with `migrate`, applies pending migrations first (a SQLite file is created if
    /// needed), without, a migration still to apply is an error.
    pub async fn open(&self, migrate: bool) -> Result<AnyStore> {
        Ok(match self {
            Database::Sqlite(path) => AnyStore::Sqlite(SqliteStore::open_with(path, migrate).await?),
            Database::Postgres(url) => AnyStore::Postgres(PgStore::open_with(url, migrate).await?),
        })
    }
}

/// The store of either backend.
#[derive(Clone)]
pub enum AnyStore {
    /// SQLite.
    Sqlite(SqliteStore),
    /// PostgreSQL.
    Postgres(PgStore),
}

/// Runs the same call on whichever store it is.
macro_rules! each {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($store) => $call,
            AnyStore::Postgres($store) => $call,
        }
    };
}

impl Store for AnyStore {
    async fn write(&self, writes: Vec<Write>) -> Result<Vec<Result<WriteOutcome>>> {
        each!(self, s => s.write(writes).await)
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        each!(self, s => s.subscribe())
    }

    async fn release_events(&self, release: &ReleaseId) -> Result<Vec<StoredEvent>> {
        each!(self, s => s.release_events(release).await)
    }

    async fn events_after(&self, after_gid: i64, filter: EventFilter, limit: u32) -> Result<Vec<StoredEvent>> {
        each!(self, s => s.events_after(after_gid, filter, limit).await)
    }

    async fn active_releases(&self) -> Result<Vec<ReleaseId>> {
        each!(self, s => s.active_releases().await)
    }

    async fn list_releases(&self, filter: ReleaseFilter) -> Result<ReleasePage> {
        each!(self, s => s.list_releases(filter).await)
    }

    async fn release_view(&self, id: &ReleaseId) -> Result<Option<serde_json::Value>> {
        each!(self, s => s.release_view(id).await)
    }

    async fn latest_releases(&self) -> Result<Vec<ReleaseRow>> {
        each!(self, s => s.latest_releases().await)
    }

    async fn app_states(&self, product: &ProductName) -> Result<Vec<AppStateRow>> {
        each!(self, s => s.app_states(product).await)
    }

    async fn logs(&self, query: LogQuery) -> Result<Vec<StoredLogLine>> {
        each!(self, s => s.logs(query).await)
    }

    async fn runs(&self, release: &ReleaseId) -> Result<Vec<RunRow>> {
        each!(self, s => s.runs(release).await)
    }

    async fn latest_config(&self) -> Result<Option<ConfigVersion>> {
        each!(self, s => s.latest_config().await)
    }

    async fn product_events(&self, product: &ProductName, limit: u32) -> Result<Vec<ProductEvent>> {
        each!(self, s => s.product_events(product, limit).await)
    }

    async fn kv_get(&self, key: &str) -> Result<Option<String>> {
        each!(self, s => s.kv_get(key).await)
    }

    async fn pull_requests(&self, filter: PullRequestFilter) -> Result<Vec<PullRequestRow>> {
        each!(self, s => s.pull_requests(filter).await)
    }

    async fn pull_request(&self, number: i64) -> Result<Option<PullRequestRow>> {
        each!(self, s => s.pull_request(number).await)
    }

    async fn images_for(&self, query: ImageQuery) -> Result<Vec<ImageRow>> {
        each!(self, s => s.images_for(query).await)
    }

    async fn release_notes(&self, release: &ReleaseId) -> Result<Option<serde_json::Value>> {
        each!(self, s => s.release_notes(release).await)
    }

    async fn token_by_hash(&self, hash: &str) -> Result<Option<TokenRow>> {
        each!(self, s => s.token_by_hash(hash).await)
    }

    async fn tokens(&self) -> Result<Vec<TokenRow>> {
        each!(self, s => s.tokens().await)
    }

    async fn session(&self, hash: &str) -> Result<Option<(SessionRow, TokenRow)>> {
        each!(self, s => s.session(hash).await)
    }

    async fn audit(&self, query: AuditQuery) -> Result<Vec<AuditRow>> {
        each!(self, s => s.audit(query).await)
    }

    async fn notification_failures(&self, limit: u32) -> Result<Vec<NotificationFailureRow>> {
        each!(self, s => s.notification_failures(limit).await)
    }

    async fn notification_failure(&self, id: i64) -> Result<Option<NotificationFailureRow>> {
        each!(self, s => s.notification_failure(id).await)
    }

    async fn freezes(&self) -> Result<Vec<FreezeRow>> {
        each!(self, s => s.freezes().await)
    }

    async fn outcomes(&self, query: OutcomeQuery) -> Result<Vec<OutcomeRow>> {
        each!(self, s => s.outcomes(query).await)
    }

    async fn decided_outcomes(&self, query: OutcomeQuery) -> Result<Vec<DecidedOutcomeRow>> {
        each!(self, s => s.decided_outcomes(query).await)
    }

    async fn dora_weeks(&self, query: OutcomeQuery) -> Result<Vec<DoraWeekRow>> {
        each!(self, s => s.dora_weeks(query).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_arguments_name_a_backend() {
        let sqlite = |p: &str| Ok(Database::Sqlite(PathBuf::from(p)));
        assert_eq!(Database::parse("sqlite:/var/lib/ferry/ferry.db"), sqlite("/var/lib/ferry/ferry.db"));
        assert_eq!(Database::parse("sqlite:///tmp/f.db"), sqlite("/tmp/f.db"));
        assert_eq!(Database::parse("data/ferry.db"), sqlite("data/ferry.db"));
        let url = "postgres://ferry:secret@db.internal:5432/ferry";
        assert_eq!(Database::parse(url), Ok(Database::Postgres(url.to_owned())));
        assert_eq!(Database::parse(url).unwrap().describe(), "postgres://ferry@db.internal:5432/ferry");
        assert!(Database::parse("postgresql://localhost/ferry").is_ok());
        assert!(Database::parse("mysql://x/y").unwrap_err().contains("unknown database scheme \"mysql\""));
        assert!(Database::parse("sqlite:").unwrap_err().contains("expected sqlite:PATH"));
    }
}
