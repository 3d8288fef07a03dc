//! The stylesheet and the script, compiled into the binary (`assets/`), served under `/assets/` with a
//! content hash in the URL so that browsers may cache them for good.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

#[derive(Embed)]
#[folder = "assets/"]
struct Assets;

/// File name → short content hash (hex), computed once.
static HASHES: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    Assets::iter()
        .filter_map(|name| {
            let file = Assets::get(&name)?;
            let hash: String = file.metadata.sha256_hash().iter().take(6).map(|b| format!("{b:02x}")).collect();
            Some((name.to_string(), hash))
        })
        .collect()
});

/// The URL of an asset, with its content hash (`/assets/ferry.css?v=1a2b3c...`).
pub(crate) fn url(name: &str) -> String {
    match HASHES.get(name) {
        Some(hash) => format!("/assets/{name}?v={hash}"),
        None => format!("/assets/{name}"),
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

/// `GET /assets/{file}`.
pub(crate) async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(file) = Assets::get(&name) else {
        return (StatusCode::NOT_FOUND, [(CONTENT_TYPE, "text/plain; charset=utf-8")], "no such asset").into_response();
    };
    let etag = format!("\"{}\"", HASHES.get(&name).map(String::as_str).unwrap_or(""));
    if headers.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return (StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response();
    }
    (
        [
            (CONTENT_TYPE, content_type(&name).to_owned()),
            (CACHE_CONTROL, "public, max-age=31536000, immutable".to_owned()),
            (ETAG, etag),
        ],
        file.data.into_owned(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_and_script_are_embedded_with_hashed_urls() {
        for name in ["ferry.css", "ferry.js"] {
            assert!(Assets::get(name).is_some(), "{name} is embedded");
            let u = url(name);
            assert!(u.starts_with(&format!("/assets/{name}?v=")) && u.len() > 20, "{u}");
        }
        assert_eq!(content_type("ferry.css"), "text/css; charset=utf-8");
    }
}
