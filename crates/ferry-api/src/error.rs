//! The error answer of the API (SPEC §7.2): `{"error": {"code", "message", "details"}}`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorEnvelope {
    /// The error.
    pub error: ErrorBody,
}

/// An error: a stable code, a message for people and details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `bad_request`, `not_found`, `invalid_configuration`.
    pub code: String,
    /// What went wrong and, where possible, what to do.
    pub message: String,
    /// Details, e.g. one line per invalid field or configuration diagnostic.
    #[serde(default)]
    pub details: Vec<String>,
    /// Structured configuration diagnostics (only with code `invalid_configuration`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<Diagnostic>>,
}

/// How serious a configuration diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// The configuration cannot be used.
    Error,
    /// Suspicious but usable.
    Warning,
}

/// A problem found in the configuration, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// File path as shown to the user.
    pub file: String,
    /// 1-based index of the YAML document in the file; 0 = the whole file.
    pub document: usize,
    /// 1-based line; 0 = unknown.
    pub line: usize,
    /// 1-based column (in characters); 0 = unknown.
    pub column: usize,
    /// Field path inside the document; empty when not about a field.
    pub field: String,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}
