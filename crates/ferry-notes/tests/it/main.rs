//! Integration tests of ferry-notes: notes over scripted repositories (fixtures with pinned dates) and
//! Jira enrichment against a fake Jira on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod fuzz;
mod jira;
mod notes;
mod support;
