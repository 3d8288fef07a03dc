//! Ferry's Argo CD client (SPEC §6.3): reads an application (`GET /api/v1/applications/{name}`),
//! follows its watch stream (`GET /api/v1/stream/applications?name=…`), asks for a refresh after a
//! promotion commit and requests a sync when configured; [`assess`] reads an application's status
//! through the trust rule. Types follow Argo CD's published swagger document. [`http`] and
//! [`stream`] are the bearer-token JSON client and stream parser the Argo Workflows client uses too.

pub mod assess;
pub mod backoff;
pub mod client;
pub mod http;
#[cfg(feature = "standin")]
pub mod standin;
pub mod stream;
pub mod types;

pub use assess::{Assessment, Verdict, assess};
pub use backoff::Backoff;
pub use client::{AppRef, ArgoError, Client, Refresh, Watch};
pub use stream::StreamParser;
pub use types::Application;
