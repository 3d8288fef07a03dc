//! Terminal styling: colour only when the stream written to is a terminal and `NO_COLOR` is unset, or
//! as `--color always|never` says, and never colour alone — every coloured label also carries a word or
//! symbol.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour when the stream is a terminal and `NO_COLOR` is unset.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Which stream a text is printed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

static CHOICE: OnceLock<ColorChoice> = OnceLock::new();

/// Sets the `--color` choice (once, at start).
pub fn init(choice: ColorChoice) {
    let _ = CHOICE.set(choice);
}

/// Whether to colour: the choice, `NO_COLOR` and whether the stream is a terminal.
fn decide(choice: ColorChoice, no_color: bool, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !no_color && terminal,
    }
}

fn colour_enabled(stream: Stream) -> bool {
    let choice = CHOICE.get().copied().unwrap_or_default();
    let terminal = match stream {
        Stream::Stdout => std::io::stdout().is_terminal(),
        Stream::Stderr => std::io::stderr().is_terminal(),
    };
    decide(choice, std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()), terminal)
}

fn paint(stream: Stream, code: &str, text: &str) -> String {
    if colour_enabled(stream) { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
}

/// Whether text on standard error is coloured (log lines too).
pub fn stderr_colour() -> bool {
    colour_enabled(Stream::Stderr)
}

/// `✗ error:` in red (for standard error).
pub fn error_label() -> String {
    paint(Stream::Stderr, "1;31", "✗ error:")
}

/// `! warning:` in yellow (for standard error).
pub fn warning_label() -> String {
    paint(Stream::Stderr, "1;33", "! warning:")
}

/// `✓` in green followed by the text (for standard output).
pub fn ok(text: &str) -> String {
    paint(Stream::Stdout, "32", &format!("✓ {text}"))
}

/// A line of a unified diff (for standard output): additions green, removals red, hunk headers cyan.
pub fn diff_line(line: &str) -> String {
    if line.starts_with("+++") || line.starts_with("---") {
        paint(Stream::Stdout, "1", line)
    } else if line.starts_with('+') {
        paint(Stream::Stdout, "32", line)
    } else if line.starts_with('-') {
        paint(Stream::Stdout, "31", line)
    } else if line.starts_with("@@") {
        paint(Stream::Stdout, "36", line)
    } else {
        line.to_owned()
    }
}

/// Dimmed text for hints (for standard output).
pub fn hint(text: &str) -> String {
    paint(Stream::Stdout, "2", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_choice_no_color_and_the_terminal() {
        use ColorChoice::*;
        for (choice, no_color, terminal, expect) in [
            (Auto, false, true, true),
            (Auto, true, true, false),
            (Auto, false, false, false),
            (Always, true, false, true),
            (Never, false, true, false),
        ] {
            assert_eq!(decide(choice, no_color, terminal), expect, "{choice:?} NO_COLOR={no_color} tty={terminal}");
        }
    }
}
