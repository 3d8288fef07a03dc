//! Integration tests of the local runner, with real `sh` processes.
//!
//! No test sleeps to synchronise: they wait for events of the run, for files the scripts create, or
//! for the handle, always under [`support::LIMIT`] so that a bug fails the test instead of hanging it.

mod control;
mod dag;
mod exec;
mod logs;
mod outputs;
mod secrets;
mod support;
