//! Image references (`registry.example:5000/shop/api:1.4.2@sha256:…`) and how a value in a promoted
//! file is matched with image reports.

use crate::types::ImageQuery;

/// The OCI annotation of the source commit.
pub const OCI_REVISION: &str = "org.opencontainers.image.revision";
/// The OCI annotation of the source repository.
pub const OCI_SOURCE: &str = "org.opencontainers.image.source";
/// The OCI annotation of the version.
pub const OCI_VERSION: &str = "org.opencontainers.image.version";
/// The OCI annotation of the creation time.
pub const OCI_CREATED: &str = "org.opencontainers.image.created";
/// The annotation naming the pull request an image was built from (`#12`, `!12`, a URL).
pub const PULL_REQUEST_ANNOTATION: &str = "ferry/pull-request";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Everything before the tag and digest: `registry.example:5000/shop/api`.
    pub repository: String,
    /// Tag.
    pub tag: Option<String>,
    /// Digest (`algorithm:hex`).
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `name[:tag][@digest]`. The name may start with a registry host and port.
    pub fn parse(text: &str) -> Result<ImageRef, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the image reference is empty".into());
        }
        if text.len() > 1024 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{text:?} is not an image reference: no spaces, at most 1024 characters"));
        }
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => {
                if !is_digest(digest) {
                    return Err(format!("{digest:?} is not a digest: expected algorithm:hex, e.g. sha256:…"));
                }
                (name, Some(digest.to_owned()))
            }
            None => (text, None),
        };
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (repository, tag) = match name[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &name[last_slash + i + 1..];
                if tag.is_empty()
                    || tag.len() > 128
                    || !tag.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                {
                    return Err(format!("{tag:?} is not a tag: letters, digits, '_', '.', '-', at most 128"));
                }
                (&name[..last_slash + i], Some(tag.to_owned()))
            }
            None => (name, None),
        };
        if repository.is_empty() || repository.starts_with('/') || repository.ends_with('/') {
            return Err(format!("{text:?} has no image name"));
        }
        Ok(ImageRef { repository: repository.to_owned(), tag, digest })
    }
}

/// `algorithm:hex` (`sha256:` followed by hex digits, or another lower-case algorithm).
pub fn is_digest(text: &str) -> bool {
    text.split_once(':').is_some_and(|(alg, hex)| {
        !alg.is_empty()
            && alg.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '.' | '_' | '-'))
            && hex.len() >= 32
            && hex.chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// How a value read from a promoted file (an `image.tag`, a digest, or a whole reference) is looked up
/// among image reports; `None` for values that cannot name an image.
pub fn query_for_value(value: &str) -> Option<ImageQuery> {
    let value = value.trim();
    if value.is_empty() || value.len() > 1024 {
        return None;
    }
    if is_digest(value) {
        return Some(ImageQuery { digest: Some(value.to_owned()), ..ImageQuery::default() });
    }
    if value.contains('/') || value.contains('@') {
        let r = ImageRef::parse(value).ok()?;
        return Some(match (r.digest, r.tag) {
            (Some(d), _) => ImageQuery { digest: Some(d), ..ImageQuery::default() },
            (None, Some(t)) => ImageQuery { repository: Some(r.repository), tag: Some(t), digest: None },
            (None, None) => return None,
        });
    }
    let tag_ok = value.len() <= 128 && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    tag_ok.then(|| ImageQuery { tag: Some(value.to_owned()), ..ImageQuery::default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references_parse() {
        let p = |t: &str| ImageRef::parse(t).map(|r| (r.repository, r.tag, r.digest));
        assert_eq!(p("api"), Ok(("api".into(), None, None)));
        assert_eq!(p("shop/api:1.4.2"), Ok(("shop/api".into(), Some("1.4.2".into()), None)));
        assert_eq!(
            p("registry.example:5000/shop/api:1.4.2"),
            Ok(("registry.example:5000/shop/api".into(), Some("1.4.2".into()), None))
        );
        assert_eq!(p("registry.example:5000/shop/api"), Ok(("registry.example:5000/shop/api".into(), None, None)));
        assert_eq!(p(&format!("reg/api:1@{D}")), Ok(("reg/api".into(), Some("1".into()), Some(D.to_owned()))));
        for bad in ["", "a b", "api:", "api:tag!", "api@sha256:xyz", "/api", "reg/:1"] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_become_queries() {
        let q = |v: &str| query_for_value(v).map(|q| (q.repository, q.tag, q.digest));
        assert_eq!(q("1.4.2"), Some((None, Some("1.4.2".into()), None)));
        assert_eq!(q(D), Some((None, None, Some(D.into()))));
        assert_eq!(q("reg/shop/api:1.4.2"), Some((Some("reg/shop/api".into()), Some("1.4.2".into()), None)));
        assert_eq!(q(&format!("reg/api@{D}")), Some((None, None, Some(D.into()))));
        assert_eq!(q("reg/api"), None);
        assert_eq!(q("two words"), None);
        assert_eq!(q(""), None);
    }
}
