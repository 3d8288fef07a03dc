//! Diagnostics: what is wrong, where, and a hint to fix it.

use std::fmt;

use serde::Serialize;

/// How serious a diagnostic is. Any error makes the whole configuration invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// The configuration cannot be used.
    Error,
    /// Suspicious but usable.
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One problem found in the configuration.
///
/// `document`, `line` and `column` are 1-based; 0 means "not applicable" (a problem with the whole file,
/// such as an unreadable file). `field` is the path of the offending field inside its document
/// (`spec.steps[1].dependsOn[0]`, `metadata.labels["ferry/product"]`), empty when the problem is not
/// about one field (a syntax error). Positions point at the value of the field, except for unknown and
/// duplicate fields (the key) and missing fields (the map that lacks them).
///
/// `Display` renders one line, without the severity (callers print it as a label):
///
/// ```text
/// FILE#DOCUMENT:LINE:COLUMN FIELD: MESSAGE (HINT)
/// flows.yaml#2:12:7 spec.steps[1].dependsOn[0]: "qa2" is not an environment of this flow (did you mean "qa"?)
/// ```
///
/// Parts that do not apply are left out: `ferry.yaml: cannot read the file: ...`,
/// `bad.yaml#1:3:5: YAML syntax error: ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// How to fix it, e.g. `did you mean "qa"?`.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// A diagnostic about a whole file (no document or position).
    pub fn file_error(file: &str, message: String) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: file.to_owned(),
            document: 0,
            line: 0,
            column: 0,
            field: String::new(),
            message,
            hint: None,
        }
    }

    /// The sort key: file, document, line, column.
    pub(crate) fn sort_key(&self) -> (&str, usize, usize, usize) {
        (&self.file, self.document, self.line, self.column)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.document > 0 {
            write!(f, "#{}", self.document)?;
        }
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)?;
        } else {
            write!(f, " {}: {}", self.field, self.message)?;
        }
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// Sorts diagnostics by file, document, line and column (stable: equal positions keep their order).
pub(crate) fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag() -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            file: "flows.yaml".into(),
            document: 2,
            line: 12,
            column: 7,
            field: "spec.steps[1].dependsOn[0]".into(),
            message: "unknown environment \"qa2\"".into(),
            hint: Some("did you mean \"qa\"?".into()),
        }
    }

    #[test]
    fn display_is_one_line_with_location_field_and_hint() {
        assert_eq!(
            diag().to_string(),
            "flows.yaml#2:12:7 spec.steps[1].dependsOn[0]: unknown environment \"qa2\" (did you mean \"qa\"?)"
        );
        let whole = Diagnostic::file_error("x.yaml", "cannot read the file".into());
        assert_eq!(whole.to_string(), "x.yaml: cannot read the file");
        let syntax = Diagnostic { field: String::new(), hint: None, ..diag() };
        assert_eq!(syntax.to_string(), "flows.yaml#2:12:7: unknown environment \"qa2\"");
    }

    #[test]
    fn serializes_in_camel_case() {
        let json = serde_json::to_value(diag()).expect("json");
        assert_eq!(json["severity"], "error");
        assert_eq!(json["document"], 2);
        assert_eq!(json["hint"], "did you mean \"qa\"?");
    }
}
