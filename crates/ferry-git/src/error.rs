//! The crate's error type.

use std::fmt;

use crate::redact::redact;

/// The git operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// First copy of a repository into the cache.
    Clone,
    /// Update of a cached mirror (or `ls-remote`).
    Fetch,
    /// Reading refs, commits, trees or files from a mirror.
    Read,
    /// Building a promotion commit (reading source files, editing target files).
    Commit,
    /// Pushing a promotion commit.
    Push,
    /// Materialising a commit's files into a directory.
    Checkout,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Clone => "clone",
            Operation::Fetch => "fetch",
            Operation::Read => "read",
            Operation::Commit => "commit",
            Operation::Push => "push",
            Operation::Checkout => "checkout",
        })
    }
}

/// A failed git operation. `remote` and `message` never contain credentials (they went through
/// [`redact`](crate::redact())); `message` includes git's stderr where there was one and says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("git {operation} failed for {remote}: {message}")]
pub struct GitError {
    /// What was being done.
    pub operation: Operation,
    /// The repository URL, redacted.
    pub remote: String,
    /// What happened and what to do, redacted.
    pub message: String,
}

impl GitError {
    /// Builds an error, redacting the URL and the message.
    pub fn new(operation: Operation, remote: &str, message: impl AsRef<str>) -> GitError {
        GitError { operation, remote: redact(remote), message: redact(message.as_ref()) }
    }

    /// Same as [`GitError::new`], also masking configured secrets.
    pub(crate) fn with_secrets(
        operation: Operation,
        remote: &str,
        message: impl AsRef<str>,
        secrets: &[&str],
    ) -> GitError {
        GitError {
            operation,
            remote: crate::redact::redact_with(remote, secrets),
            message: crate::redact::redact_with(message.as_ref(), secrets),
        }
    }
}
