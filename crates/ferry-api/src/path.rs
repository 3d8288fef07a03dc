//! Building request paths: one percent-encoder for the path segments and query values the server's
//! pages and the CLI put into URLs.

/// Percent-encodes one path segment or query value: everything but `A-Z a-z 0-9 - . _ ~` (RFC 3986
/// unreserved characters) becomes `%XX`, byte by byte of its UTF-8.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unreserved_characters_stay() {
        assert_eq!(encode("shop-api_1.2~x"), "shop-api_1.2~x");
        assert_eq!(encode("a b/c?d&e=f#g%"), "a%20b%2Fc%3Fd%26e%3Df%23g%25");
        assert_eq!(encode("é"), "%C3%A9");
        assert_eq!(encode(""), "");
    }
}
