//! Path parameters parsed once into domain types: a handler takes `PathParam<ReleaseId>` or
//! `PathParam<ProductName>` and never sees the raw text. Bad input is a 400 in the error envelope whose
//! message and details name the parameter (as the route template spells it) and what was expected.

use std::num::NonZeroU64;
use std::str::FromStr;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use ferry_model::{AppName, ProductName, ReleaseId};

use crate::error::ApiError;

/// A value that a path segment is parsed into; `Err` says what was expected.
pub(crate) trait FromPath: Sized {
    /// Parses the (percent-decoded) segment.
    fn from_path(raw: &str) -> Result<Self, String>;
}

impl FromPath for ReleaseId {
    fn from_path(raw: &str) -> Result<Self, String> {
        ReleaseId::from_str(raw).map_err(|_| format!("{raw:?} is not a release id (a UUID)"))
    }
}

impl FromPath for ProductName {
    fn from_path(raw: &str) -> Result<Self, String> {
        ProductName::new(raw).map_err(|e| e.to_string())
    }
}

impl FromPath for AppName {
    fn from_path(raw: &str) -> Result<Self, String> {
        AppName::new(raw).map_err(|e| e.to_string())
    }
}

/// A pull-request number: 1, 2, ...
impl FromPath for NonZeroU64 {
    fn from_path(raw: &str) -> Result<Self, String> {
        raw.parse::<NonZeroU64>().map_err(|_| format!("{raw:?} is not a pull-request number (1, 2, ...)"))
    }
}

/// A token name, checked like the tokens module checks new ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenName(pub(crate) String);

impl FromPath for TokenName {
    fn from_path(raw: &str) -> Result<Self, String> {
        crate::auth::tokens::check_name(raw).map_err(|e| match e {
            crate::auth::TokenError::Invalid { problem, .. } => problem,
            other => other.to_string(),
        })?;
        Ok(TokenName(raw.to_owned()))
    }
}

/// The route's one path parameter, parsed into `T`.
#[derive(Debug)]
pub(crate) struct PathParam<T>(pub(crate) T);

impl<S: Send + Sync, T: FromPath> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params =
            RawPathParams::from_request_parts(parts, state).await.map_err(|e| ApiError::bad_request(e.body_text()))?;
        let Some((name, raw)) = params.iter().next() else {
            return Err(ApiError::internal("the route has no path parameter to read"));
        };
        T::from_path(raw).map(PathParam).map_err(|problem| ApiError::invalid_field(name, problem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_parse_into_domain_types_or_say_what_was_expected() {
        assert!(ReleaseId::from_path("0194a0c2-7a1e-7c3d-9f00-2b4c6d8e0a11").is_ok());
        assert_eq!(ReleaseId::from_path("nope").unwrap_err(), "\"nope\" is not a release id (a UUID)");
        assert_eq!(ProductName::from_path("shop").unwrap().as_str(), "shop");
        assert!(!ProductName::from_path("Shop!").unwrap_err().is_empty());
        assert_eq!(NonZeroU64::from_path("3").unwrap().get(), 3);
        for bad in ["0", "-1", "x", "1.5", ""] {
            assert!(NonZeroU64::from_path(bad).unwrap_err().contains("pull-request number"), "{bad}");
        }
        assert!(TokenName::from_path("ci").is_ok());
        assert!(TokenName::from_path("CI").is_err());
    }
}
