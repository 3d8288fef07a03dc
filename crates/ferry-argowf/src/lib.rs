//! Ferry's Argo Workflows client (SPEC §6.4): submits a workflow from a WorkflowTemplate
//! (`POST /api/v1/workflows/{ns}/submit`), reads it (`GET /api/v1/workflows/{ns}/{name}`), follows
//! its events (`GET /api/v1/workflow-events/{ns}`), reads a node's log
//! (`GET /api/v1/workflows/{ns}/{name}/log`), resumes its suspended nodes, terminates and retries
//! it; [`nodes`] reads its nodes as Ferry's steps and [`names`] makes the names Ferry gives. Types
//! follow Argo Workflows' published swagger document. The bearer-token client and the stream parser
//! are `ferry-argocd`'s.

pub mod client;
pub mod names;
pub mod nodes;
pub mod stream;
pub mod types;

pub use client::{ArgoWfError, Client, MAX_LOG_LINES, WorkflowRef, WorkflowWatch};
pub use nodes::{NodeStep, StepNamer, node_steps, phase_status, workflow_outputs};
pub use stream::StreamParser;
pub use types::Workflow;
