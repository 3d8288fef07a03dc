//! Line-by-line capture of a process's stdout and stderr, with a per-line and a per-run byte cap, and
//! secret values masked before anything is cut or sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::mask::Masker;
use crate::types::{LogLine, LogStream};

/// Longest captured line in bytes; the rest of a longer line is dropped and the line is marked (a
/// masked secret that starts before the cut is masked whole, so the line may end with its mask).
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Most lines in one [`RunEvent::Log`](crate::RunEvent::Log) batch.
pub const MAX_BATCH_LINES: usize = 256;
/// Longest time a captured line waits before its batch is sent.
pub const BATCH_INTERVAL: Duration = Duration::from_millis(50);

/// Bytes of log a run may still capture. Shared by the steps of a run; once a line does not fit,
/// everything after it is dropped, even shorter lines.
#[derive(Debug)]
pub(crate) struct LogBudget {
    state: Mutex<BudgetState>,
}

#[derive(Debug)]
struct BudgetState {
    remaining: u64,
    exhausted: bool,
}

impl LogBudget {
    pub(crate) fn new(cap: u64) -> Self {
        Self { state: Mutex::new(BudgetState { remaining: cap, exhausted: false }) }
    }

    /// Takes `bytes` from the budget if they fit; false (and exhausted for good) otherwise.
    fn take(&self, bytes: u64) -> bool {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if state.exhausted || bytes > state.remaining {
            state.exhausted = true;
            return false;
        }
        state.remaining -= bytes;
        true
    }
}

/// Reads both streams to their end, sending lines to `sink` in batches with the secrets of `masker`
/// masked; ends with one `[log truncated: N bytes dropped]` line (on stderr) when the budget ran out.
/// Returns the bytes dropped.
pub(crate) async fn pump<O, E, F>(
    stdout: Option<O>,
    stderr: Option<E>,
    budget: Arc<LogBudget>,
    masker: Arc<Masker>,
    mut sink: F,
) -> u64
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
    F: FnMut(Vec<LogLine>),
{
    let (tx, rx) = mpsc::channel::<LogLine>(MAX_BATCH_LINES * 2);
    let out = read_stream(stdout, LogStream::Stdout, &budget, &masker, tx.clone());
    let err = read_stream(stderr, LogStream::Stderr, &budget, &masker, tx);
    let ((), dropped_out, dropped_err) = tokio::join!(batch(rx, &mut sink), out, err);
    let dropped = dropped_out + dropped_err;
    if dropped > 0 {
        sink(vec![note(format!("[log truncated: {dropped} bytes dropped]"))]);
    }
    dropped
}

/// A line written by the runner itself (not counted against the budget).
pub(crate) fn note(text: String) -> LogLine {
    LogLine { at: Timestamp::now(), stream: LogStream::Stderr, text }
}

async fn batch<F: FnMut(Vec<LogLine>)>(mut rx: mpsc::Receiver<LogLine>, sink: &mut F) {
    let mut lines: Vec<LogLine> = Vec::new();
    let flush = tokio::time::sleep(BATCH_INTERVAL);
    tokio::pin!(flush);
    loop {
        tokio::select! {
            biased;
            line = rx.recv() => match line {
                Some(line) => {
                    if lines.is_empty() {
                        flush.as_mut().reset(Instant::now() + BATCH_INTERVAL);
                    }
                    lines.push(line);
                    if lines.len() >= MAX_BATCH_LINES {
                        sink(std::mem::take(&mut lines));
                    }
                }
                None => break,
            },
            () = &mut flush, if !lines.is_empty() => sink(std::mem::take(&mut lines)),
        }
    }
    if !lines.is_empty() {
        sink(lines);
    }
}

/// Reads one stream line by line; returns the bytes dropped because the budget ran out. Keeps reading
/// (and discarding) to the end so that the writer never blocks on a full pipe.
async fn read_stream<R: AsyncRead + Unpin>(
    reader: Option<R>,
    stream: LogStream,
    budget: &LogBudget,
    masker: &Masker,
    tx: mpsc::Sender<LogLine>,
) -> u64 {
    let Some(reader) = reader else { return 0 };
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut buf = Vec::with_capacity(256);
    let mut dropped = 0u64;
    // Enough of a long line is kept to see whole any secret that starts before the cut.
    let keep = MAX_LINE_BYTES + masker.longest().saturating_sub(1);
    // A read error (other than EOF) ends the capture of this stream; the process is unaffected.
    while let Ok(Some(len)) = read_line_bounded(&mut reader, &mut buf, keep).await {
        let cost = len as u64 + 1;
        if !budget.take(cost) {
            dropped += cost;
            continue;
        }
        let text = line_text(&buf, len, MAX_LINE_BYTES, masker);
        // A closed receiver means nobody listens any more; keep draining.
        let _ = tx.send(LogLine { at: Timestamp::now(), stream, text }).await;
    }
    dropped
}

/// The text of a line of `len` bytes whose first `buf.len()` were read: secrets masked, then cut to
/// `limit` bytes (a secret starting before the cut is masked whole) and marked when cut.
fn line_text(buf: &[u8], len: usize, limit: usize, masker: &Masker) -> String {
    let whole = buf.len() == len;
    let line = if whole { buf.strip_suffix(b"\r").unwrap_or(buf) } else { buf };
    let total = if whole { line.len() } else { len };
    let (masked, kept) = masker.mask_prefix(line, limit);
    let mut text = String::from_utf8_lossy(&masked).into_owned();
    // Invalid UTF-8 replaced by U+FFFD can make the text longer than the bytes it came from.
    let max = limit.max(masked.len());
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    if kept < total {
        text.push_str(&format!(" [line truncated: {} bytes dropped]", total - kept));
    }
    text
}

/// Reads up to and including the next `\n`, keeping at most `max` bytes of the line in `buf`.
/// Returns the full length of the line without its newline, or `None` at the end of the stream.
async fn read_line_bounded<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<usize>> {
    buf.clear();
    let mut len = 0usize;
    let mut any = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(any.then_some(len));
        }
        any = true;
        let (chunk, used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (&available[..at], at + 1, true),
            None => (available, available.len(), false),
        };
        let room = max.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        len += chunk.len();
        reader.consume(used);
        if done {
            return Ok(Some(len));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines_of(input: &[u8], max: usize) -> Vec<(usize, Vec<u8>)> {
        let mut reader = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        while let Some(len) = read_line_bounded(&mut reader, &mut buf, max).await.expect("read") {
            out.push((len, buf.clone()));
        }
        out
    }

    #[tokio::test]
    async fn bounded_lines() {
        let got = lines_of(b"ab\n\ncdefgh\nxy", 4).await;
        let expect: Vec<(usize, Vec<u8>)> =
            vec![(2, b"ab".to_vec()), (0, vec![]), (6, b"cdef".to_vec()), (2, b"xy".to_vec())];
        assert_eq!(got, expect);
        assert!(lines_of(b"", 4).await.is_empty());
    }

    #[test]
    fn line_text_marks_truncation_and_replaces_invalid_utf8() {
        let none = Masker::default();
        assert_eq!(line_text(b"abc\r", 4, 16, &none), "abc");
        assert_eq!(line_text(b"a\xffb", 3, 16, &none), "a\u{fffd}b");
        assert_eq!(line_text(b"abcd", 10, 4, &none), "abcd [line truncated: 6 bytes dropped]");
        assert_eq!(line_text(b"abcdef\r", 7, 4, &none), "abcd [line truncated: 2 bytes dropped]");
    }

    #[test]
    fn line_text_masks_before_cutting() {
        let masker = Masker::new(["s3cr3t"]);
        assert_eq!(line_text(b"pw=s3cr3t\r", 10, 16, &masker), "pw=***");
        // The cut at 6 falls inside the secret: it is masked whole, not cut to "s3c".
        assert_eq!(line_text(b"pw=s3cr3t-and-more", 18, 6, &masker), "pw=*** [line truncated: 9 bytes dropped]");
        // Only the first 11 of 30 bytes were read (limit 6 + longest secret 6 - 1): still enough.
        assert_eq!(line_text(b"abcs3cr3tzz", 30, 6, &masker), "abc*** [line truncated: 21 bytes dropped]");
        // A secret that starts at the cut is dropped with the rest.
        assert_eq!(line_text(b"s3cr3ts3cr3tab", 14, 6, &masker), "*** [line truncated: 8 bytes dropped]");
    }

    #[test]
    fn budget_stops_for_good() {
        let budget = LogBudget::new(10);
        assert!(budget.take(8));
        assert!(!budget.take(3));
        assert!(!budget.take(1), "a shorter line after the cap is dropped too");
    }
}
