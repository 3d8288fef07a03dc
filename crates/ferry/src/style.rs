//! Terminal styling: colour only on a terminal and without `NO_COLOR`, and never colour alone —
//! every coloured label also carries a word or symbol.

use std::io::IsTerminal;

fn colour_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal()
}

fn paint(code: &str, text: &str) -> String {
    if colour_enabled() { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_owned() }
}

/// `✗ error:` in red.
pub fn error_label() -> String {
    paint("1;31", "✗ error:")
}

/// `! warning:` in yellow.
pub fn warning_label() -> String {
    paint("1;33", "! warning:")
}

/// `✓` in green followed by the text.
pub fn ok(text: &str) -> String {
    paint("32", &format!("✓ {text}"))
}

/// Dimmed text for hints.
pub fn hint(text: &str) -> String {
    paint("2", text)
}
