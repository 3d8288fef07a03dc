//! The backends the contract runs against. Adding one: implement [`Backend`], then one line
//! `contract_tests!(name, Type);` in `main.rs`.

use std::future::Future;
use std::path::PathBuf;

use ferry_store::{SqliteStore, Store};

/// A database of one backend, made for one test.
pub trait Backend: Sized + Send + Sync + 'static {
    /// The store on it.
    type Store: Store;

    /// Whether the global event ids of committed events have no holes (SQLite's AUTOINCREMENT is
    /// transactional; a sequence of another backend may skip the ids of rolled-back or lost writes).
    const GAPLESS_IDS: bool = true;

    /// A new, empty database.
    fn create() -> impl Future<Output = Self> + Send;

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

    async fn create() -> Sqlite {
        let dir = tempfile::tempdir().unwrap();
        Sqlite { path: dir.path().join("ferry.db"), _dir: Some(dir) }
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
