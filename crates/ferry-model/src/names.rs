//! Newtypes for resource names and ids, each with a parsing constructor.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// What kind of name it is ("environment name", ...).
        kind: &'static str,
    },
    /// The name is longer than allowed.
    #[error("{kind} {value:?} is longer than {max} characters")]
    TooLong {
        /// What kind of name it is.
        kind: &'static str,
        /// The rejected value.
        value: String,
        /// Maximum length.
        max: usize,
    },
    /// The name contains characters outside its alphabet.
    #[error("{kind} {value:?} is invalid: {rule}")]
    Invalid {
        /// What kind of name it is.
        kind: &'static str,
        /// The rejected value.
        value: String,
        /// The rule it breaks, in words.
        rule: &'static str,
    },
}

const RESOURCE_RULE: &str =
    "use lowercase letters, digits, '-', '.' or '_', starting and ending with a letter or digit";

/// Kubernetes-style resource name: lowercase alphanumerics, `-`, `.`, `_`, alphanumeric at both ends, at most 253 chars.
fn check_resource_name(kind: &'static str, value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::Empty { kind });
    }
    if value.len() > 253 {
        return Err(NameError::TooLong { kind, value: value.to_owned(), max: 253 });
    }
    let ok_inner = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.' | '_');
    let ok_end = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let first = value.chars().next().is_some_and(ok_end);
    let last = value.chars().last().is_some_and(ok_end);
    if !(first && last && value.chars().all(ok_inner)) {
        return Err(NameError::Invalid { kind, value: value.to_owned(), rule: RESOURCE_RULE });
    }
    Ok(())
}

macro_rules! resource_name {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates a name.
            pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
                let value = value.into();
                check_resource_name($kind, &value)?;
                Ok(Self(value))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, NameError> {
                Self::new(value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(value: &str) -> Result<Self, NameError> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

resource_name!(
    /// Name of an Environment.
    EnvName, "environment name"
);
resource_name!(
    /// Name of a Product.
    ProductName, "product name"
);
resource_name!(
    /// Name of an Application.
    AppName, "application name"
);
resource_name!(
    /// Component of a product; pairs source and target applications.
    ComponentName, "component name"
);
resource_name!(
    /// Name of a PromotionFlow (or `manual` for single-environment promotions).
    FlowName, "flow name"
);
resource_name!(
    /// Name of a PromotionPolicy.
    PolicyName, "policy name"
);
resource_name!(
    /// Name of a GitProvider.
    GitProviderName, "git provider name"
);
resource_name!(
    /// Name of a Freeze (a configuration resource or a runtime freeze).
    FreezeName, "freeze name"
);
resource_name!(
    /// Name of a Notification.
    NotificationName, "notification name"
);
resource_name!(
    /// Name of a PromotionTemplate.
    TemplateName, "template name"
);
resource_name!(
    /// Name of a Workflow.
    WorkflowName, "workflow name"
);
resource_name!(
    /// Name of a step inside a Workflow.
    StepName, "step name"
);

/// Name of a workflow parameter or output: a shell environment variable name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ParamName(String);

impl ParamName {
    /// Parses a parameter name: `[A-Za-z_][A-Za-z0-9_]*`.
    pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
        let value = value.into();
        let kind = "parameter name";
        if value.is_empty() {
            return Err(NameError::Empty { kind });
        }
        let mut chars = value.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(NameError::Invalid {
                kind,
                value,
                rule: "use letters, digits and '_', not starting with a digit",
            });
        }
        Ok(Self(value))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ParamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ParamName {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, NameError> {
        Self::new(value)
    }
}

impl From<ParamName> for String {
    fn from(value: ParamName) -> String {
        value.0
    }
}

/// Id of a release: a time-ordered UUID v7 (generated outside this crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReleaseId(pub uuid::Uuid);

impl ReleaseId {
    /// The first 8 hex digits, as shown in the UI.
    pub fn short(&self) -> String {
        self.0.simple().to_string()[..8].to_owned()
    }
}

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for ReleaseId {
    type Err = uuid::Error;
    fn from_str(value: &str) -> Result<Self, uuid::Error> {
        uuid::Uuid::parse_str(value).map(Self)
    }
}

/// A full git commit id (40 or 64 lowercase hex digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CommitSha(String);

impl CommitSha {
    /// Parses a full commit id; upper-case hex is lowered.
    pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
        let value = value.into().to_ascii_lowercase();
        if !(value.len() == 40 || value.len() == 64) || !value.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(NameError::Invalid {
                kind: "commit sha",
                value,
                rule: "expected 40 (SHA-1) or 64 (SHA-256) hexadecimal digits",
            });
        }
        Ok(Self(value))
    }

    /// The full id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 7 digits.
    pub fn short(&self) -> &str {
        &self.0[..7]
    }
}

impl fmt::Display for CommitSha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for CommitSha {
    type Error = NameError;
    fn try_from(value: String) -> Result<Self, NameError> {
        Self::new(value)
    }
}

impl From<CommitSha> for String {
    fn from(value: CommitSha) -> String {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names() {
        for ok in ["dev", "prod-eu", "a", "shop.api", "a_b", "x1"] {
            assert!(EnvName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-dev", "dev-", "Dev", "prod eu", "é", "a/b"] {
            assert!(EnvName::new(bad).is_err(), "{bad}");
        }
        let long = "a".repeat(254);
        assert!(matches!(EnvName::new(long), Err(NameError::TooLong { .. })));
    }

    #[test]
    fn param_names() {
        assert!(ParamName::new("SUITE").is_ok());
        assert!(ParamName::new("_x9").is_ok());
        assert!(ParamName::new("9x").is_err());
        assert!(ParamName::new("A-B").is_err());
    }

    #[test]
    fn commit_sha() {
        let sha = CommitSha::new("ABCDEF0123456789abcdef0123456789abcdef01").unwrap();
        assert_eq!(sha.short(), "abcdef0");
        assert!(CommitSha::new("abc").is_err());
    }

    #[test]
    fn error_messages_name_the_kind() {
        let err = ProductName::new("Shop").unwrap_err().to_string();
        assert!(err.starts_with("product name \"Shop\" is invalid"), "{err}");
    }
}
