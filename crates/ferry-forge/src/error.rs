//! What can go wrong talking to a forge, and whether trying again helps.

/// A failed forge call. Messages name the forge and the object, never a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeError {
    /// The provider's settings cannot be used (an API URL that is not http(s), a private key that
    /// cannot be read).
    #[error("{0}")]
    Settings(String),
    /// The token (or the GitHub App's key) cannot be read from where the configuration says.
    #[error("{0}")]
    Credentials(String),
    /// No connection or no answer in time.
    #[error("{api}: {message}")]
    Unreachable {
        /// The API base URL.
        api: String,
        /// What happened.
        message: String,
    },
    /// The forge answered with an error status.
    #[error("{what}: the forge answered {status}: {message}")]
    Refused {
        /// What was asked (`open pull request acme/gitops#3`).
        what: String,
        /// The HTTP status.
        status: u16,
        /// The forge's message.
        message: String,
    },
    /// Still rate-limited after every retry.
    #[error("{what}: rate-limited by the forge (tried {attempts} times)")]
    RateLimited {
        /// What was asked.
        what: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The answer is not the JSON the forge documents.
    #[error("{what}: unexpected answer from the forge: {message}")]
    Malformed {
        /// What was asked.
        what: String,
        /// The decoding error.
        message: String,
    },
}

impl ForgeError {
    /// Whether the same call may succeed later (an outage or a rate limit, not a refusal).
    pub fn is_transient(&self) -> bool {
        match self {
            ForgeError::Unreachable { .. } | ForgeError::RateLimited { .. } => true,
            ForgeError::Refused { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ForgeError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}
