//! Store tests: the contract every backend passes (`contract.rs`, run once per backend below, the
//! crash-safety test in `crash.rs`), and what is particular to SQLite (`sqlite.rs`).
#![allow(clippy::unwrap_used)]

mod backend;
mod contract;
mod crash;
mod fixture;
mod postgres;
mod sqlite;

contract_tests!(sqlite_contract, crate::backend::Sqlite);
contract_tests!(postgres_contract, crate::backend::Postgres);
