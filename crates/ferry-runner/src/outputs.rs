//! The `$FERRY_OUTPUT` file format.
//!
//! One output per line, `NAME=value` (the value is everything after the first `=`, verbatim), or a
//! multi-line value in the GitHub Actions heredoc form:
//!
//! ```text
//! NOTES<<EOF
//! first line
//! second line
//! EOF
//! ```
//!
//! Blank lines are ignored, a trailing `\r` is removed from every line, and a later value of the same
//! name replaces an earlier one. Names follow the variable-name rule (`[A-Za-z_][A-Za-z0-9_]*`) and must
//! not start with `FERRY_` (reserved for the variables Ferry sets). Errors name the line and the output,
//! never the value.

use std::collections::BTreeMap;

use ferry_model::ParamName;

use crate::RunnerError;

/// Outputs of a step: variable names to values.
pub type Outputs = BTreeMap<String, String>;

/// Largest `$FERRY_OUTPUT` file accepted, in bytes (1 MiB).
pub const MAX_OUTPUT_FILE_BYTES: u64 = 1024 * 1024;

/// Parses the content of a `$FERRY_OUTPUT` file.
pub fn parse_outputs(text: &str) -> Result<Outputs, RunnerError> {
    let mut outputs = Outputs::new();
    let mut lines = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line)).enumerate();
    while let Some((index, line)) = lines.next() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<").filter(|at| equals.is_none_or(|eq| *at < eq));
        if let Some(at) = heredoc {
            let name = check_name(&line[..at], number)?;
            let delimiter = &line[at + 2..];
            if delimiter.is_empty() {
                return Err(RunnerError::OutputSyntax { line: number });
            }
            let mut value: Vec<&str> = Vec::new();
            let mut closed = false;
            for (_, body) in lines.by_ref() {
                if body == delimiter {
                    closed = true;
                    break;
                }
                value.push(body);
            }
            if !closed {
                return Err(RunnerError::UnterminatedOutput { line: number, name, delimiter: delimiter.to_owned() });
            }
            outputs.insert(name, value.join("\n"));
        } else if let Some(eq) = equals {
            let name = check_name(&line[..eq], number)?;
            outputs.insert(name, line[eq + 1..].to_owned());
        } else {
            return Err(RunnerError::OutputSyntax { line: number });
        }
    }
    Ok(outputs)
}

fn check_name(name: &str, line: usize) -> Result<String, RunnerError> {
    let parsed = ParamName::new(name).map_err(|_| RunnerError::OutputName { line, name: name.to_owned() })?;
    if parsed.as_str().starts_with("FERRY_") {
        return Err(RunnerError::ReservedOutput { line, name: name.to_owned() });
    }
    Ok(parsed.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &[(&str, &str)]) {
        let got = parse_outputs(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        let expect: Outputs = expect.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        assert_eq!(got, expect, "{input:?}");
    }

    fn check_err(input: &str, expect: &str) {
        let err = parse_outputs(input).expect_err(input).to_string();
        assert!(err.contains(expect), "{input:?}: {err}");
    }

    #[test]
    fn simple_lines() {
        check("", &[]);
        check("\n\n", &[]);
        check("A=1", &[("A", "1")]);
        check("A=1\nB=two words\n", &[("A", "1"), ("B", "two words")]);
        check("A=\n", &[("A", "")]);
        check("URL=https://x/?a=b&c=d\n", &[("URL", "https://x/?a=b&c=d")]);
        check("A=1\r\nB=2\r\n", &[("A", "1"), ("B", "2")]);
        check("A=1\nA=2\n", &[("A", "2")]);
        check("_x9= spaced \n", &[("_x9", " spaced ")]);
        check("Q='$(not evaluated)'\n", &[("Q", "'$(not evaluated)'")]);
    }

    #[test]
    fn heredoc() {
        check("NOTES<<EOF\nline 1\nline 2\nEOF\nB=2\n", &[("NOTES", "line 1\nline 2"), ("B", "2")]);
        check("E<<END\nEND\n", &[("E", "")]);
        check("E<<END\r\nx=1\r\nEND\r\n", &[("E", "x=1")]);
        // `<<` after the first `=` is part of a plain value.
        check("A=b<<c\n", &[("A", "b<<c")]);
        // The delimiter must match the whole line.
        check("A<<EOF\n EOF\nEOF\n", &[("A", " EOF")]);
    }

    #[test]
    fn errors() {
        check_err("just text\n", "line 1 of $FERRY_OUTPUT is not `NAME=value`");
        check_err("A=1\n\n9X=2\n", "line 3 of $FERRY_OUTPUT names output \"9X\"");
        check_err("A-B=1", "names output \"A-B\"");
        check_err("=1", "names output \"\"");
        check_err("FERRY_OUTPUT=x", "reserved");
        check_err("A<<EOF\nnever closed\n", "output A starting on line 1 of $FERRY_OUTPUT is never closed");
        check_err("A<<\n", "line 1 of $FERRY_OUTPUT is not");
    }

    #[test]
    fn errors_never_show_values() {
        let err = parse_outputs("A<<EOF\nsecret-value\n").expect_err("unterminated").to_string();
        assert!(!err.contains("secret-value"), "{err}");
    }
}
