//! Tests of the Argo Workflows client: the swagger excerpt, the stream parser (fuzzed) and the
//! HTTP client against the test kit's Argo Server stand-in.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod client;
mod fuzz;
mod swagger;
