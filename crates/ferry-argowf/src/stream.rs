//! The Argo Server's streaming responses (the workflow event stream, `WorkflowWatchEvent`, and log
//! streams, `LogEntry`) are read with the parser shared with the Argo CD client.

pub use ferry_argocd::stream::{LineError, MAX_LINE, StreamError, StreamParser, StreamResult, parse_line};
