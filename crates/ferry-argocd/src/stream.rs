//! The parser of the Argo APIs' streaming responses (Argo CD's application watch, the Argo Server's
//! workflow events and logs): newline-delimited JSON, one `{"result": {…}}` (or `{"error": {…}}`)
//! per line, arriving in chunks cut anywhere.

use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Longest line accepted (an application with thousands of resources, a workflow with thousands of
/// nodes, stay far below).
pub const MAX_LINE: usize = 16 * 1024 * 1024;

/// One line of a streaming response ("Stream result of …"): a result or an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamResult<T> {
    /// The item.
    #[serde(default = "none")]
    pub result: Option<T>,
    /// An error the server reports in the stream.
    #[serde(default)]
    pub error: Option<StreamError>,
}

fn none<T>() -> Option<T> {
    None
}

/// `runtimeStreamError` (`grpc.gateway.runtime.StreamError`; its fields are snake_case in both
/// swagger documents).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamError {
    /// gRPC code.
    #[serde(default)]
    pub grpc_code: Option<i32>,
    /// HTTP code.
    #[serde(default)]
    pub http_code: Option<i32>,
    /// The message.
    #[serde(default)]
    pub message: Option<String>,
}

/// Why one line of a stream was not an item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// The line is not the JSON of a stream result.
    #[error("malformed line in the stream: {0}")]
    Malformed(String),
    /// The line is longer than [`MAX_LINE`]; it is skipped.
    #[error("a line of the stream is longer than {MAX_LINE} bytes")]
    TooLong,
}

/// Splits chunks into lines and parses each as a `StreamResult<T>`. Holds the unfinished last line
/// between chunks.
#[derive(Debug)]
pub struct StreamParser<T> {
    buf: Vec<u8>,
    /// Skipping the rest of a line that was too long.
    skipping: bool,
    item: PhantomData<fn() -> T>,
}

impl<T> Default for StreamParser<T> {
    fn default() -> Self {
        StreamParser { buf: Vec::new(), skipping: false, item: PhantomData }
    }
}

impl<T: DeserializeOwned> StreamParser<T> {
    /// A parser at the start of a stream.
    pub fn new() -> StreamParser<T> {
        StreamParser::default()
    }

    /// Feeds a chunk; returns the results of the lines it completed, in order. Blank lines are
    /// skipped; every other complete line gives exactly one item.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<Result<StreamResult<T>, LineError>> {
        let mut out = Vec::new();
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = (&rest[..pos], &rest[pos + 1..]);
            rest = tail;
            if self.skipping {
                self.skipping = false;
                self.buf.clear();
                continue;
            }
            if self.buf.len() + line.len() > MAX_LINE {
                self.buf.clear();
                out.push(Err(LineError::TooLong));
                continue;
            }
            self.buf.extend_from_slice(line);
            let line = std::mem::take(&mut self.buf);
            if let Some(item) = parse_line(&line) {
                out.push(item);
            }
        }
        if !self.skipping {
            if self.buf.len() + rest.len() > MAX_LINE {
                self.buf.clear();
                self.skipping = true;
                out.push(Err(LineError::TooLong));
            } else {
                self.buf.extend_from_slice(rest);
            }
        }
        out
    }

    /// Whether the stream stopped in the middle of a line (a cut stream): `true` when bytes other
    /// than white space wait for their newline.
    pub fn is_cut(&self) -> bool {
        self.skipping || self.buf.iter().any(|b| !b.is_ascii_whitespace())
    }
}

/// Parses one line; `None` for a blank one.
pub fn parse_line<T: DeserializeOwned>(line: &[u8]) -> Option<Result<StreamResult<T>, LineError>> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    Some(serde_json::from_str::<StreamResult<T>>(text).map_err(|e| {
        let snippet: String = text.chars().take(80).collect();
        LineError::Malformed(format!("{e} (in {snippet:?})"))
    }))
}
