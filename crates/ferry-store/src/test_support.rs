//! Helpers for tests of any crate: made-up release writes, and for tests that need PostgreSQL the
//! tests' server (`FERRY_TEST_POSTGRES`, which `.ci/postgres` sets) and a new database on it per test.
//! Under CI a missing server fails the test; elsewhere the test is told how to run it.

/// The variable naming the tests' PostgreSQL server.
pub const POSTGRES_ENV: &str = "FERRY_TEST_POSTGRES";

/// The URL of the tests' PostgreSQL server (a database from which others can be created), if set.
///
/// # Panics
/// Under CI (`CI` set) when it is not set: the PostgreSQL tests must run there.
pub fn postgres_server() -> Option<String> {
    match std::env::var(POSTGRES_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{POSTGRES_ENV} is not set: CI must run the PostgreSQL tests (.ci/run starts a throw-away server with .ci/postgres)"
        ),
        _ => {
            eprintln!(
                "PostgreSQL test not run: set {POSTGRES_ENV}=postgres://USER@127.0.0.1:PORT/postgres, or run \
                 `bash .ci/postgres cargo test …` (a throw-away server for the run)"
            );
            None
        }
    }
}

/// `url` with its database name replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(base, _)| base);
    format!("{base}/{name}")
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

/// A new database `name` on the server at `server_url`; returns its URL.
pub async fn create_database(server_url: &str, name: &str) -> Result<String, tokio_postgres::Error> {
    connect(server_url).await?.batch_execute(&format!("CREATE DATABASE {name}")).await?;
    Ok(with_database(server_url, name))
}

/// Drops the database `name` (closing its connections).
pub async fn drop_database(server_url: &str, name: &str) -> Result<(), tokio_postgres::Error> {
    connect(server_url).await?.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
}

/// A database name unique to this process and call.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

/// A made-up release write for tests that need stored releases without an engine: `n` events of type
/// `Test` from sequence number `first_seq`, a row of `status` (finished when the status is final, a
/// reason when it failed), no view, no application states and no runs. Tests change the fields they
/// care about with struct update syntax.
pub fn release_write(
    id: &str,
    product: &str,
    status: &str,
    at: jiff::Timestamp,
    first_seq: i64,
    n: usize,
) -> crate::ReleaseWrite {
    let finished = matches!(status, "Succeeded" | "Failed" | "Terminated");
    crate::ReleaseWrite {
        release_id: id.into(),
        product: product.into(),
        first_seq,
        events: (0..n)
            .map(|i| crate::NewEvent { at, body: serde_json::json!({"type": "Test", "n": first_seq + i as i64}) })
            .collect(),
        row: crate::ReleaseRow {
            id: id.into(),
            product: product.into(),
            flow: "standard".into(),
            flow_version: None,
            status: status.into(),
            initiator: "alice".into(),
            created_at: at,
            finished_at: finished.then_some(at),
            reason: (status == "Failed").then(|| "qa failed".to_owned()),
            retries: 0,
            version: None,
            environments: serde_json::json!({"qa": status}),
        },
        view: None,
        app_states: Vec::new(),
        runs: Vec::new(),
        outcomes: Vec::new(),
        turn: None,
    }
}
