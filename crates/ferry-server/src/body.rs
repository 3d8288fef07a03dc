//! Request-body extractors that answer in the API's error shape: 413 when the body is over the limit,
//! 400 naming the offending field when the JSON does not fit the expected shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// The request-body limit in force, put in the request extensions by the router.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyLimit(pub usize);

/// The raw body, limited in size.
pub(crate) struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
        match Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::too_large(limit)),
            Err(rejection) => {
                Err(ApiError::bad_request(format!("cannot read the request body: {}", rejection.body_text())))
            }
        }
    }
}

/// A JSON body decoded into `T` (the `Content-Type` header is not required).
pub(crate) struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Like [`parse_json`], but an empty body is `T::default()` (for routes whose body is optional, or
/// whose required fields are reported by name when missing).
pub(crate) fn optional_json<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) { Ok(T::default()) } else { parse_json(bytes) }
}

/// Decodes JSON, naming the field that does not fit (`sources[0].text: invalid type: ...`).
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the request body is empty; send a JSON object"));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let not_json =
            matches!(inner.classify(), serde_json::error::Category::Syntax | serde_json::error::Category::Eof);
        if not_json || path == "." || path == "?" || path.is_empty() {
            ApiError::bad_request(format!("invalid request body: {inner}")).with_details(vec![format!("body: {inner}")])
        } else {
            ApiError::invalid_field(&path, inner)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Thing {
        items: Vec<Item>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        name: String,
    }

    #[test]
    fn errors_name_the_field() {
        let e = parse_json::<Thing>(br#"{"items": [{"name": "a"}, {"name": 3}]}"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.starts_with("items[1].name: invalid type: integer"), "{}", e.message);
        let e = parse_json::<Thing>(b"  ").unwrap_err();
        assert!(e.message.contains("empty"));
        let e = parse_json::<Thing>(b"{").unwrap_err();
        assert!(e.message.starts_with("invalid request body"), "{}", e.message);
    }
}
