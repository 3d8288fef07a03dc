//! Masking of credentials in URLs and git output: every error message passes through [`redact`].

/// Well-known token prefixes (GitHub, GitLab, Gitea/Forgejo do not have one, Bitbucket app passwords
/// neither: those are caught by the URL and header rules).
const TOKEN_PREFIXES: &[&str] = &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "gldt-", "glrt-"];

/// The mask written in place of a secret.
pub const MASK: &str = "***";

/// Masks credentials in a URL or in any text that may contain URLs (git's stderr, error messages):
/// the `user:password@` / `token@` part of `scheme://…@host`, `Authorization:` header values and
/// tokens with a well-known prefix (`ghp_…`, `glpat-…`).
///
/// ```
/// use ferry_git::redact;
/// assert_eq!(redact("https://bot:s3cret@git.example/a.git"), "https://***@git.example/a.git");
/// ```
pub fn redact(text: &str) -> String {
    let mut out = mask_userinfo(text);
    out = mask_headers(&out);
    for prefix in TOKEN_PREFIXES {
        out = mask_after(&out, prefix);
    }
    out
}

/// Masks `secret` wherever it appears in `text` (for tokens that came from configuration), then [`redact`]s.
pub fn redact_with(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, MASK);
    }
    redact(&out)
}

fn mask_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the first '/', whitespace or quote; userinfo is what precedes its last '@'.
        let authority_len =
            tail.find(|c: char| c == '/' || c.is_whitespace() || "'\"<>`".contains(c)).unwrap_or(tail.len());
        let authority = &tail[..authority_len];
        match authority.rfind('@') {
            Some(at) if at > 0 => {
                out.push_str(MASK);
                out.push_str(&authority[at..]);
            }
            _ => out.push_str(authority),
        }
        rest = &tail[authority_len..];
    }
    out.push_str(rest);
    out
}

fn mask_headers(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let Some(i) = lower.find("authorization:") else { return text.to_owned() };
    let value_start = i + "authorization:".len();
    let value_end = text[value_start..].find(['\n', '\r', '\'', '"']).map_or(text.len(), |e| value_start + e);
    format!("{} {MASK}{}", &text[..value_start], mask_headers(&text[value_end..]))
}

fn mask_after(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        out.push_str(&rest[..i]);
        let after = &rest[i + prefix.len()..];
        let len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(after.len());
        if len >= 8 {
            out.push_str(MASK);
        } else {
            out.push_str(&rest[i..i + prefix.len() + len]);
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        let cases = [
            ("https://user:pa55@github.com/o/r.git", "https://***@github.com/o/r.git"),
            ("https://x-access-token:abc@host/r", "https://***@host/r"),
            ("https://tok@host:8443/r", "https://***@host:8443/r"),
            ("ssh://git@host/r.git", "ssh://***@host/r.git"),
            ("file:///srv/gitops.git", "file:///srv/gitops.git"),
            ("https://host/r.git", "https://host/r.git"),
            (
                "fatal: unable to access 'https://u:p@h/r/': 403 and https://a:b@c/d",
                "fatal: unable to access 'https://***@h/r/': 403 and https://***@c/d",
            ),
            ("https://u:p@ss@host/r", "https://***@host/r"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn headers_and_known_tokens_are_masked() {
        assert_eq!(
            redact("http.extraHeader=Authorization: Basic eDp5\nnext"),
            "http.extraHeader=Authorization: ***\nnext"
        );
        assert_eq!(redact("token ghp_abcdefghijklmnop used"), "token *** used");
        assert_eq!(redact("glpat-0123456789abcdef"), "***");
        assert_eq!(redact("ghp_x"), "ghp_x");
    }

    #[test]
    fn configured_secrets_are_masked() {
        assert_eq!(redact_with("using s3cr3t-value here", &["s3cr3t-value"]), "using *** here");
    }
}
