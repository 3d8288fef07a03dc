//! Statuses as the pages show them: never by colour alone, always an icon and a word.

use std::fmt;

use askama::filters::HtmlSafe;

use super::format::esc;

/// The visual family of a status: a CSS class (`st-ok`, ...) and an icon of the sprite in `base.html`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Ok,
    Fail,
    Error,
    Run,
    Wait,
    Stop,
    Queued,
    Pending,
}

impl Tone {
    /// The tone of any status word of SPEC §4 (release, environment, step, action, sync, health).
    pub(crate) fn of(status: &str) -> Tone {
        match status {
            "Succeeded" | "Successful" | "Success" | "Synced" | "Healthy" => Tone::Ok,
            "Failed" | "Degraded" | "OutOfSync" => Tone::Fail,
            "Error" | "Missing" => Tone::Error,
            "Running" | "Progressing" | "Syncing" | "Terminating" => Tone::Run,
            "Suspended" => Tone::Wait,
            "Terminated" => Tone::Stop,
            "Queued" => Tone::Queued,
            _ => Tone::Pending,
        }
    }

    /// CSS class.
    pub(crate) fn class(self) -> &'static str {
        match self {
            Tone::Ok => "st-ok",
            Tone::Fail => "st-fail",
            Tone::Error => "st-error",
            Tone::Run => "st-run",
            Tone::Wait => "st-wait",
            Tone::Stop => "st-stop",
            Tone::Queued => "st-queued",
            Tone::Pending => "st-pending",
        }
    }

    /// Icon id in the sprite.
    pub(crate) fn icon(self) -> &'static str {
        match self {
            Tone::Ok => "i-ok",
            Tone::Fail => "i-fail",
            Tone::Error => "i-error",
            Tone::Run => "i-run",
            Tone::Wait => "i-wait",
            Tone::Stop => "i-stop",
            Tone::Queued => "i-queued",
            Tone::Pending => "i-pending",
        }
    }
}

/// How a badge is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Size {
    /// Icon and visible word, fixed width.
    Full,
    /// Icon with the word for screen readers and as a tooltip (table cells).
    Icon,
    /// Icon and visible word, no fixed width (inline in text).
    Inline,
}

/// A status badge: icon + word, HTML-safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Badge {
    pub(crate) tone: Tone,
    pub(crate) text: String,
    pub(crate) size: Size,
}

impl Badge {
    /// A full badge.
    pub(crate) fn new(status: &str) -> Badge {
        Badge::sized(status, Size::Full)
    }

    /// A badge of a given size; an empty status reads `Pending`.
    pub(crate) fn sized(status: &str, size: Size) -> Badge {
        let text = if status.is_empty() { "Pending" } else { status };
        Badge { tone: Tone::of(text), text: text.to_owned(), size }
    }

    /// The CSS class of the tone.
    pub(crate) fn class(&self) -> &'static str {
        self.tone.class()
    }
}

/// An inline SVG icon of the sprite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Icon(pub(crate) &'static str);

impl fmt::Display for Icon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, r##"<svg class="icon" aria-hidden="true" focusable="false"><use href="#{}"></use></svg>"##, self.0)
    }
}

impl HtmlSafe for Icon {}

impl fmt::Display for Badge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = esc(&self.text);
        let icon = Icon(self.tone.icon());
        match self.size {
            Size::Full => write!(
                f,
                r#"<span class="badge {}" data-status="{text}">{icon}<span class="badge-text">{text}</span></span>"#,
                self.tone.class()
            ),
            Size::Inline => write!(
                f,
                r#"<span class="badge badge-inline {}" data-status="{text}">{icon}<span class="badge-text">{text}</span></span>"#,
                self.tone.class()
            ),
            Size::Icon => write!(
                f,
                r#"<span class="mark {}" data-status="{text}" title="{text}">{icon}<span class="sr-only">{text}</span></span>"#,
                self.tone.class()
            ),
        }
    }
}

impl HtmlSafe for Badge {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spec_status_has_a_tone() {
        let cases = [
            ("Succeeded", Tone::Ok),
            ("Successful", Tone::Ok),
            ("Success", Tone::Ok),
            ("Failed", Tone::Fail),
            ("Error", Tone::Error),
            ("Running", Tone::Run),
            ("Terminating", Tone::Run),
            ("Suspended", Tone::Wait),
            ("Terminated", Tone::Stop),
            ("Queued", Tone::Queued),
            ("Pending", Tone::Pending),
            ("Degraded", Tone::Fail),
            ("Progressing", Tone::Run),
            ("Unknown", Tone::Pending),
        ];
        for (status, tone) in cases {
            assert_eq!(Tone::of(status), tone, "{status}");
        }
    }

    #[test]
    fn badges_carry_the_word_and_escape_it() {
        let html = Badge::sized("Failed", Size::Icon).to_string();
        assert!(html.contains(r#"<span class="sr-only">Failed</span>"#), "{html}");
        assert!(html.contains("#i-fail"));
        let odd = Badge::new("<b>").to_string();
        assert!(odd.contains("&lt;b&gt;") && !odd.contains("<b>"), "{odd}");
    }
}
