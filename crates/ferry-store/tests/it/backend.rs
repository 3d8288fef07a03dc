//! The backends the contract runs against. Adding one: implement [`Backend`], then one line
//! `contract_tests!(name, Type);` in `main.rs`.

use std::future::Future;
use std::path::PathBuf;

use ferry_store::{PgStore, SqliteStore, Store, test_support};

/// A database of one backend, made for one test.
pub trait Backend: Sized + Send + Sync + 'static {
    /// The store on it.
    type Store: Store;

    /// Whether the global event ids of committed events have no holes (SQLite's AUTOINCREMENT is
    /// transactional; a sequence of another backend may skip the ids of rolled-back or lost writes).
    const GAPLESS_IDS: bool = true;

    /// A new, empty database; `None` when the backend's server is not available outside CI (the test
    /// then says how to run it and passes; under CI it fails instead).
    fn create() -> impl Future<Output = Option<Self>> + Send;

    /// Where the database is, for [`Backend::at`] in another process.
    fn location(&self) -> String;

    /// The database at `location`, made by [`Backend::create`] in another process.
    fn at(location: &str) -> Self;

    /// Opens a store on the database. Opened again after the previous store was dropped (or its
    /// process killed), it sees everything committed.
    fn open(&self) -> impl Future<Output = Self::Store> + Send;
}

/// A SQLite file in a temporary directory.
pub struct Sqlite {
    path: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Backend for Sqlite {
    type Store = SqliteStore;

    async fn create() -> Option<Sqlite> {
        let dir = tempfile::tempdir().unwrap();
        Some(Sqlite { path: dir.path().join("ferry.db"), _dir: Some(dir) })
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn at(location: &str) -> Sqlite {
        Sqlite { path: location.into(), _dir: None }
    }

    async fn open(&self) -> SqliteStore {
        SqliteStore::open(&self.path).await.unwrap()
    }
}

/// A database of its own on the tests' PostgreSQL server, dropped with this value.
pub struct Postgres {
    url: String,
    /// The server and database to drop it from, when this value made it.
    owned: Option<(String, String)>,
}

impl Backend for Postgres {
    type Store = PgStore;

    const GAPLESS_IDS: bool = false;

    async fn create() -> Option<Postgres> {
        let server = test_support::postgres_server()?;
        let name = test_support::unique_name("ferry_test");
        let url = test_support::create_database(&server, &name).await.unwrap();
        Some(Postgres { url, owned: Some((server, name)) })
    }

    fn location(&self) -> String {
        self.url.clone()
    }

    fn at(location: &str) -> Postgres {
        Postgres { url: location.to_owned(), owned: None }
    }

    async fn open(&self) -> PgStore {
        PgStore::open(&self.url).await.unwrap()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.owned.take() else { return };
        // On a thread of its own: drop may run inside the test's runtime.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(test_support::drop_database(&admin_url, &name))
        });
        if let Ok(Err(e)) = dropped.join() {
            eprintln!("could not drop the test database: {e}");
        }
    }
}
