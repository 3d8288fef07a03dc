//! Inbound webhook signatures (SPEC §8.2): GitHub, Gitea and Forgejo sign the raw body with
//! HMAC-SHA256 (`X-Hub-Signature-256: sha256=<hex>`, `X-Gitea-Signature: <hex>`,
//! `X-Forgejo-Signature: <hex>`); GitLab sends the shared secret itself (`X-Gitlab-Token`). Every
//! comparison is constant-time.

use axum::http::HeaderMap;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The shared secret of inbound webhooks (`--webhook-secret-file`). Never printed.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// A secret from the file's text (surrounding whitespace, such as a final newline, is not part of it).
    pub fn new(text: &str) -> Result<WebhookSecret, String> {
        let secret = text.trim();
        if secret.is_empty() {
            return Err("the webhook secret file is empty".to_owned());
        }
        if secret.len() > 1024 {
            return Err("the webhook secret is longer than 1024 bytes".to_owned());
        }
        Ok(WebhookSecret(secret.as_bytes().to_vec()))
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

/// Why a delivery is not authentic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No signature header.
    #[error(
        "the delivery is not signed: configure the webhook's secret (X-Hub-Signature-256, X-Gitea-Signature or \
         X-Gitlab-Token) to match --webhook-secret-file"
    )]
    Missing,
    /// A signature header that is not `sha256=<64 hex digits>` (or plain hex for Gitea).
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    /// The signature does not match the body and the secret.
    #[error("the {0} signature does not match; check the webhook's secret")]
    Mismatch(&'static str),
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{0}"))
}

fn decode_hex(text: &str, name: &'static str) -> Result<Vec<u8>, SignatureError> {
    let bytes = hex::decode(text.trim()).map_err(|_| SignatureError::Malformed(name))?;
    if bytes.len() == 32 { Ok(bytes) } else { Err(SignatureError::Malformed(name)) }
}

fn hmac_matches(secret: &WebhookSecret, body: &[u8], expected: &[u8]) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&secret.0) else { return false };
    mac.update(body);
    mac.verify_slice(expected).is_ok()
}

/// Checks a delivery's signature against `secret`: the first signature header present decides.
pub fn verify(secret: &WebhookSecret, headers: &HeaderMap, body: &[u8]) -> Result<(), SignatureError> {
    if let Some(value) = header(headers, "x-hub-signature-256") {
        const NAME: &str = "X-Hub-Signature-256";
        let hex = value.trim().strip_prefix("sha256=").ok_or(SignatureError::Malformed(NAME))?;
        let expected = decode_hex(hex, NAME)?;
        return if hmac_matches(secret, body, &expected) { Ok(()) } else { Err(SignatureError::Mismatch(NAME)) };
    }
    for (name, label) in [("x-gitea-signature", "X-Gitea-Signature"), ("x-forgejo-signature", "X-Forgejo-Signature")] {
        if let Some(value) = header(headers, name) {
            let expected = decode_hex(value, label)?;
            return if hmac_matches(secret, body, &expected) { Ok(()) } else { Err(SignatureError::Mismatch(label)) };
        }
    }
    if let Some(value) = header(headers, "x-gitlab-token") {
        let given = value.trim().as_bytes();
        let equal = given.len() == secret.0.len() && bool::from(given.ct_eq(&secret.0));
        return if equal { Ok(()) } else { Err(SignatureError::Mismatch("X-Gitlab-Token")) };
    }
    Err(SignatureError::Missing)
}

/// The `X-Hub-Signature-256` value of `body` under `secret` (for tests and outgoing deliveries).
pub fn sign(secret: &WebhookSecret, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(&secret.0) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this branch cannot be reached.
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use proptest::prelude::*;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn github_documented_example() {
        // The example of GitHub's "Validating webhook deliveries" page: secret "It's a Secret to
        // Everybody", payload "Hello, World!".
        let secret = WebhookSecret::new("It's a Secret to Everybody").unwrap();
        let expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert_eq!(sign(&secret, b"Hello, World!"), expected);
        assert_eq!(verify(&secret, &headers(&[("x-hub-signature-256", expected)]), b"Hello, World!"), Ok(()));
    }

    #[test]
    fn every_forge_header_is_checked() {
        let secret = WebhookSecret::new("s3cret\n").unwrap();
        let body = br#"{"ref":"refs/heads/main"}"#;
        let hub = sign(&secret, body);
        let plain = hub.trim_start_matches("sha256=").to_owned();
        let ok = |pairs: &[(&'static str, &str)]| verify(&secret, &headers(pairs), body);
        assert_eq!(ok(&[("x-hub-signature-256", &hub)]), Ok(()));
        assert_eq!(ok(&[("x-gitea-signature", &plain)]), Ok(()));
        assert_eq!(ok(&[("x-forgejo-signature", &plain)]), Ok(()));
        assert_eq!(ok(&[("x-gitlab-token", "s3cret")]), Ok(()));
        assert_eq!(ok(&[]), Err(SignatureError::Missing));
        assert_eq!(ok(&[("x-gitlab-token", "s3cre")]), Err(SignatureError::Mismatch("X-Gitlab-Token")));
        assert_eq!(ok(&[("x-hub-signature-256", &plain)]), Err(SignatureError::Malformed("X-Hub-Signature-256")));
        assert_eq!(ok(&[("x-gitea-signature", "zz")]), Err(SignatureError::Malformed("X-Gitea-Signature")));
        let other = sign(&WebhookSecret::new("other").unwrap(), body);
        assert_eq!(ok(&[("x-hub-signature-256", &other)]), Err(SignatureError::Mismatch("X-Hub-Signature-256")));
        // The body is what is signed: one changed byte fails.
        let tampered = verify(&secret, &headers(&[("x-hub-signature-256", &hub)]), br#"{"ref":"refs/heads/mainx"}"#);
        assert_eq!(tampered, Err(SignatureError::Mismatch("X-Hub-Signature-256")));
        assert!(WebhookSecret::new("  \n").is_err());
        assert_eq!(format!("{secret:?}"), "WebhookSecret(…)");
    }

    proptest! {
        #[test]
        fn any_header_value_is_answered_without_panic(value in "[ -~]{0,100}", body in prop::collection::vec(any::<u8>(), 0..64)) {
            let secret = WebhookSecret::new("k").unwrap();
            for name in ["x-hub-signature-256", "x-gitea-signature", "x-gitlab-token"] {
                let mut h = HeaderMap::new();
                if let Ok(v) = HeaderValue::from_str(&value) {
                    h.insert(name, v);
                }
                let _ = verify(&secret, &h, &body);
            }
        }

        #[test]
        fn a_signature_verifies_exactly_its_own_body(a in prop::collection::vec(any::<u8>(), 0..64), b in prop::collection::vec(any::<u8>(), 0..64)) {
            let secret = WebhookSecret::new("key").unwrap();
            let h = headers(&[("x-hub-signature-256", &sign(&secret, &a))]);
            prop_assert_eq!(verify(&secret, &h, &b).is_ok(), a == b);
        }
    }
}
