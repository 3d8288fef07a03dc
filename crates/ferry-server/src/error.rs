//! The one error type of the API and its JSON form:
//! `{"error": {"code": "...", "message": "...", "details": [...]}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferry_api::{Diagnostic, ErrorBody, ErrorEnvelope, Severity};
use ferry_engine::EngineError;
use ferry_store::StoreError;
use serde::Serialize;

/// An API error: an HTTP status, a stable machine-readable code, a message for people and details
/// (field-level problems, one per line). Configuration errors also carry the structured diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiError {
    /// HTTP status.
    #[serde(skip)]
    pub status: StatusCode,
    /// Stable code, e.g. `bad_request`, `not_found`, `invalid_configuration`.
    pub code: &'static str,
    /// What went wrong and, where possible, what to do.
    pub message: String,
    /// Details, e.g. one line per invalid field or configuration diagnostic.
    pub details: Vec<String>,
    /// Structured configuration diagnostics (only for `invalid_configuration`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<Vec<ferry_config::Diagnostic>>,
}

impl ApiError {
    /// An error with a status, code and message and no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), details: Vec::new(), diagnostics: None }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Vec<String>) -> ApiError {
        self.details = details;
        self
    }

    /// 400: invalid input.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 400 about one named parameter or field: the message starts with its name.
    pub fn invalid_field(field: &str, problem: impl std::fmt::Display) -> ApiError {
        ApiError::bad_request(format!("{field}: {problem}")).with_details(vec![format!("{field}: {problem}")])
    }

    /// 403: the caller may not do this; the message names the role or scope needed.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 413: the request body is larger than `limit` bytes.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {}", human_bytes(limit)),
        )
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// 503.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 400 for a configuration that does not validate, listing every diagnostic.
    pub fn invalid_configuration(diagnostics: Vec<ferry_config::Diagnostic>) -> ApiError {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        let noun = if errors == 1 { "error" } else { "errors" };
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_configuration",
            message: format!("the configuration is invalid ({errors} {noun}); nothing was applied"),
            details: diagnostics.iter().map(ToString::to_string).collect(),
            diagnostics: Some(diagnostics),
        }
    }
}

/// A configuration diagnostic as the API shows it.
pub(crate) fn diagnostic(d: &ferry_config::Diagnostic) -> Diagnostic {
    Diagnostic {
        severity: match d.severity {
            ferry_config::Severity::Error => Severity::Error,
            ferry_config::Severity::Warning => Severity::Warning,
        },
        file: d.file.clone(),
        document: d.document,
        line: d.line,
        column: d.column,
        field: d.field.clone(),
        message: d.message.clone(),
        hint: d.hint.clone(),
    }
}

impl ApiError {
    /// The JSON body of the answer (SPEC §7.2).
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.code.to_owned(),
                message: self.message.clone(),
                details: self.details.clone(),
                diagnostics: self.diagnostics.as_ref().map(|d| d.iter().map(diagnostic).collect()),
            },
        }
    }
}

/// `8 MiB`, `512 KiB`, `100 bytes`.
pub(crate) fn human_bytes(n: usize) -> String {
    if n >= 1024 * 1024 && n.is_multiple_of(1024 * 1024) {
        format!("{} MiB", n / (1024 * 1024))
    } else if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(code = self.code, message = %self.message, "request failed");
        }
        let mut response = (self.status, axum::Json(self.envelope())).into_response();
        response.extensions_mut().insert(ErrorMessage(self.message));
        response
    }
}

/// The message of an error answer, kept beside the response for the audit log.
#[derive(Debug, Clone)]
pub(crate) struct ErrorMessage(pub(crate) String);

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        match e {
            EngineError::NotFound(m) => ApiError::not_found(m),
            EngineError::Invalid { message, details } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message).with_details(details)
            }
            EngineError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            EngineError::Internal(m) => ApiError::internal(m),
            EngineError::Unavailable => ApiError::unavailable(EngineError::Unavailable.to_string()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::Closed => ApiError::unavailable(e.to_string()),
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            other => ApiError::internal(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_statuses() {
        let cases = [
            (EngineError::NotFound("x".into()), 404, "not_found"),
            (EngineError::Invalid { message: "x".into(), details: vec![] }, 422, "unprocessable"),
            (EngineError::Conflict("x".into()), 409, "conflict"),
            (EngineError::Internal("x".into()), 500, "internal"),
            (EngineError::Unavailable, 503, "unavailable"),
        ];
        for (e, status, code) in cases {
            let api = ApiError::from(e);
            assert_eq!((api.status.as_u16(), api.code), (status, code));
        }
    }

    #[test]
    fn the_envelope_carries_every_field_of_the_error() {
        let diagnostic = ferry_config::Diagnostic {
            severity: ferry_config::Severity::Warning,
            file: "a.yaml".into(),
            document: 1,
            line: 2,
            column: 3,
            field: "spec.x".into(),
            message: "odd".into(),
            hint: Some("try y".into()),
        };
        let errors = [
            ApiError::not_found("no such thing").with_details(vec!["a".into()]),
            ApiError::invalid_configuration(vec![diagnostic]),
        ];
        for e in errors {
            let typed = serde_json::to_value(e.envelope()).expect("serialises");
            let plain = serde_json::json!({ "error": serde_json::to_value(&e).expect("serialises") });
            assert_eq!(typed, plain);
        }
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(8 * 1024 * 1024), "8 MiB");
        assert_eq!(human_bytes(2048), "2 KiB");
        assert_eq!(human_bytes(100), "100 bytes");
    }
}
