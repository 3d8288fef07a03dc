//! Masking of secret parameter values in captured text (SPEC §8.2).
//!
//! A [`Masker`] holds the values of a run's `secret: true` parameters and replaces each occurrence in
//! a log line or message with [`MASK`]. Occurrences that overlap (of one value or of several) become
//! one mask, so neither a value nor a piece of it stays readable; a value inside a longer one is
//! covered by the longer one's mask. A multi-line value is masked line by line (logs are captured by
//! line), and values shorter than [`MIN_SECRET_CHARS`] are not masked at all.

use std::borrow::Cow;
use std::ops::Range;

use memchr::memmem::Finder;

/// What replaces every occurrence of a secret.
pub const MASK: &str = "***";

/// Shortest value, in characters, that is masked. Masking a one- or two-character value would replace
/// that text everywhere in a log (every `1`, every `on`) and so tell as much as it hides; the runner
/// notes in the step's log when a secret parameter is too short to be masked.
pub const MIN_SECRET_CHARS: usize = 4;

/// Replaces secret values in text with [`MASK`]. The default masker masks nothing.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    finders: Vec<Finder<'static>>,
    longest: usize,
}

impl Masker {
    /// A masker for `values`: each line of each value (split at `\n`, a trailing `\r` removed) of at
    /// least [`MIN_SECRET_CHARS`] characters.
    pub fn new<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut pieces: Vec<String> = Vec::new();
        for value in values {
            for line in value.as_ref().split('\n') {
                let line = line.strip_suffix('\r').unwrap_or(line);
                if maskable(line) && !pieces.iter().any(|p| p == line) {
                    pieces.push(line.to_owned());
                }
            }
        }
        let longest = pieces.iter().map(String::len).max().unwrap_or(0);
        let finders = pieces.iter().map(|p| Finder::new(p.as_bytes()).into_owned()).collect();
        Self { finders, longest }
    }

    /// Whether the masker masks nothing.
    pub fn is_empty(&self) -> bool {
        self.finders.is_empty()
    }

    /// Length in bytes of the longest masked value (0 when empty).
    pub fn longest(&self) -> usize {
        self.longest
    }

    /// `text` with every occurrence of a secret replaced by [`MASK`].
    pub fn mask<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.find(text.as_bytes()).is_empty() {
            return Cow::Borrowed(text);
        }
        let (masked, _) = self.mask_prefix(text.as_bytes(), usize::MAX);
        // Secrets are whole UTF-8 sequences, so the masked text is valid UTF-8 again.
        Cow::Owned(String::from_utf8(masked).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// Masks `text` and keeps what starts in its first `limit` bytes: an occurrence that starts before
    /// `limit` is masked whole even when it runs past `limit`, so a cut never leaves the beginning of a
    /// secret readable. Returns the masked bytes and how many bytes of `text` they stand for.
    pub(crate) fn mask_prefix(&self, text: &[u8], limit: usize) -> (Vec<u8>, usize) {
        let (mut out, kept) = self.mask_once(text, limit);
        // A secret that contains `*` can be formed anew by a mask and its neighbours: mask again until
        // nothing is found (each pass shortens the text, as masks are shorter than secrets).
        while !self.find(&out).is_empty() {
            out = self.mask_once(&out, usize::MAX).0;
        }
        (out, kept)
    }

    fn mask_once(&self, text: &[u8], limit: usize) -> (Vec<u8>, usize) {
        let mut out = Vec::with_capacity(text.len().min(limit));
        let mut at = 0;
        for found in self.find(text) {
            if found.start >= limit {
                break;
            }
            out.extend_from_slice(&text[at..found.start]);
            out.extend_from_slice(MASK.as_bytes());
            at = found.end;
        }
        let end = at.max(limit.min(text.len()));
        out.extend_from_slice(&text[at..end]);
        (out, end)
    }

    /// Every occurrence of every secret in `text`, overlapping ones merged, in order.
    fn find(&self, text: &[u8]) -> Vec<Range<usize>> {
        let mut found: Vec<Range<usize>> = Vec::new();
        for finder in &self.finders {
            let len = finder.needle().len();
            let mut from = 0;
            while let Some(at) = text.get(from..).and_then(|rest| finder.find(rest)) {
                found.push(from + at..from + at + len);
                from += at + 1;
            }
        }
        found.sort_unstable_by_key(|r| r.start);
        let mut merged: Vec<Range<usize>> = Vec::with_capacity(found.len());
        for range in found {
            match merged.last_mut() {
                Some(last) if range.start < last.end => last.end = last.end.max(range.end),
                _ => merged.push(range),
            }
        }
        merged
    }
}

/// Whether a value is long enough to be masked.
pub fn maskable(value: &str) -> bool {
    value.chars().nth(MIN_SECRET_CHARS - 1).is_some()
}

/// Whether some non-empty line of `value` is too short to be masked.
pub(crate) fn leaves_unmasked(value: &str) -> bool {
    value.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).any(|l| !l.is_empty() && !maskable(l))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(secrets: &[&str], text: &str, expect: &str) {
        assert_eq!(Masker::new(secrets).mask(text), expect, "{secrets:?} in {text:?}");
    }

    #[test]
    fn masks_every_occurrence() {
        check(&["hunter22"], "", "");
        check(&["hunter22"], "nothing here", "nothing here");
        check(&["hunter22"], "hunter22", "***");
        check(&["hunter22"], "pw=hunter22 and again hunter22.", "pw=*** and again ***.");
        check(&["hunter22"], "hunter22hunter22", "******");
        check(&["hunter22"], "hunter2 is not it", "hunter2 is not it");
        check(&["abcd", "wxyz"], "abcd-wxyz", "***-***");
    }

    #[test]
    fn a_value_inside_another_is_covered_by_the_longer_mask() {
        check(&["token", "token-123"], "x token-123 y token z", "x *** y *** z");
        check(&["token-123", "token"], "token-123", "***");
        check(&["n-12"], "token-123", "toke***3");
    }

    #[test]
    fn overlapping_occurrences_become_one_mask() {
        check(&["abcd", "cdef"], "abcdef", "***");
        check(&["abcd", "cdef"], "xabcdefx", "x***x");
        check(&["aaaa"], "aaaaaa", "***");
        check(&["abab"], "ababab!", "***!");
    }

    #[test]
    fn a_mask_never_forms_a_secret_with_its_neighbours() {
        // "*" followed by the mask of "aaaa" reads "****", itself a secret: it is masked in turn.
        check(&["****", "aaaa"], "*aaaa", "***");
        check(&["x***"], "xx***", "***");
    }

    #[test]
    fn utf8_values_and_text() {
        check(&["pässwört"], "Das pässwört ist geheim", "Das *** ist geheim");
        check(&["秘密の鍵"], "鍵は秘密の鍵です", "鍵は***です");
        check(&["🔑🔑🔑🔑"], "a🔑🔑🔑🔑b", "a***b");
        assert!(maskable("日本語だ"), "four characters, whatever their bytes");
        assert!(!maskable("日本語"), "three characters are too short even in nine bytes");
    }

    #[test]
    fn short_empty_and_multi_line_values() {
        check(&["", "abc", "on"], "abc on and on", "abc on and on");
        assert!(Masker::new(["", "abc"]).is_empty());
        check(
            &["-----BEGIN KEY-----\r\nc2VjcmV0\nok\n-----END KEY-----\n"],
            "c2VjcmV0 ok -----END KEY-----",
            "*** ok ***",
        );
        assert_eq!(Masker::new(["abcd", "abcd\nabcdef"]).longest(), 6);
    }

    #[test]
    fn an_occurrence_across_the_limit_is_masked_whole() {
        let masker = Masker::new(["secret"]);
        let (out, kept) = masker.mask_prefix(b"0123secret89", 6);
        assert_eq!((String::from_utf8_lossy(&out).as_ref(), kept), ("0123***", 10));
        let (out, kept) = masker.mask_prefix(b"0123secret89", 4);
        assert_eq!((String::from_utf8_lossy(&out).as_ref(), kept), ("0123", 4), "starts at the limit: dropped");
        let (out, kept) = masker.mask_prefix(b"secretsecret", 3);
        assert_eq!((String::from_utf8_lossy(&out).as_ref(), kept), ("***", 6));
        let (out, kept) = Masker::default().mask_prefix(b"abc", 10);
        assert_eq!((out.as_slice(), kept), (&b"abc"[..], 3));
    }

    /// Secrets of at least the minimum length, text built around them, and the masked text.
    fn cases() -> impl Strategy<Value = (Vec<String>, String)> {
        let secret = "[a-c🔑é]{4,9}";
        let filler = prop_oneof!["[a-c🔑é ]{0,6}", Just(String::new())];
        (prop::collection::vec(secret, 1..4), prop::collection::vec((filler, 0..4usize), 0..8)).prop_map(
            |(secrets, parts)| {
                let mut text = String::new();
                for (filler, pick) in parts {
                    text.push_str(&filler);
                    // Whole secrets, and halves that join up with what follows.
                    let s = &secrets[pick % secrets.len()];
                    let half: String = s.chars().take(s.chars().count() / 2).collect();
                    text.push_str(if pick == 3 { &half } else { s });
                }
                (secrets, text)
            },
        )
    }

    proptest! {
        #[test]
        fn masked_text_never_contains_a_secret((secrets, text) in cases()) {
            let masked = Masker::new(&secrets).mask(&text).into_owned();
            for secret in &secrets {
                prop_assert!(!masked.contains(secret.as_str()), "{secret:?} in {masked:?} (from {text:?})");
            }
        }

        #[test]
        fn a_cut_never_leaves_a_secret_or_its_start((secrets, text) in cases(), limit in 0..40usize) {
            let masker = Masker::new(&secrets);
            let (out, kept) = masker.mask_prefix(text.as_bytes(), limit);
            let out = String::from_utf8_lossy(&out);
            prop_assert!(kept >= limit.min(text.len()) && kept <= text.len());
            for secret in &secrets {
                prop_assert!(!out.contains(secret.as_str()), "{secret:?} in {out:?}");
                // Text kept up to the cut is never the start of an occurrence that the cut removed.
                let starts_cut = (0..limit.min(text.len())).any(|at| {
                    text.as_bytes()[at..].starts_with(secret.as_bytes()) && at + secret.len() > kept
                });
                prop_assert!(!starts_cut, "{secret:?} cut at {kept} in {text:?}");
            }
        }

        #[test]
        fn arbitrary_text_and_secrets(secrets in prop::collection::vec("(?s).{0,12}", 0..4), text in "(?s).{0,80}") {
            check_never_contains(&secrets, &text)?;
        }

        #[test]
        fn secrets_made_of_the_mask_character(
            secrets in prop::collection::vec("[*a]{4,5}|[*a\n]{0,7}", 1..4),
            text in "[*a\n]{0,40}",
        ) {
            check_never_contains(&secrets, &text)?;
        }
    }

    /// Every line of every secret long enough to be masked is absent from the masked text.
    fn check_never_contains(secrets: &[String], text: &str) -> Result<(), TestCaseError> {
        let masked = Masker::new(secrets).mask(text).into_owned();
        for secret in secrets.iter().flat_map(|s| s.split('\n')).map(|l| l.strip_suffix('\r').unwrap_or(l)) {
            if maskable(secret) {
                prop_assert!(!masked.contains(secret), "{secret:?} in {masked:?} (from {text:?})");
            }
        }
        Ok(())
    }
}
