//! A YAML/JSON data value with ordered maps, the input of JSONPath evaluation and promotions.

use std::fmt;

/// A YAML value after scalar resolution (YAML 1.2 core schema). Map keys keep their order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or empty.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// A string (every quoted scalar, and plain scalars that are not null/bool/number).
    String(String),
    /// A sequence.
    Seq(Vec<Value>),
    /// A mapping, in document order. Non-string scalar keys are kept as their text.
    Map(Vec<(String, Value)>),
}

impl Value {
    /// Resolves a plain (unquoted) YAML scalar by the YAML 1.2 core schema.
    pub fn from_plain_scalar(text: &str) -> Value {
        match text {
            "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
            "true" | "True" | "TRUE" => return Value::Bool(true),
            "false" | "False" | "FALSE" => return Value::Bool(false),
            ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Value::Float(f64::INFINITY),
            "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
            ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
            _ => {}
        }
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = text.parse::<i64>()
        {
            return Value::Int(n);
        }
        if let Some(hex) = text.strip_prefix("0x")
            && let Ok(n) = i64::from_str_radix(hex, 16)
        {
            return Value::Int(n);
        }
        if let Some(oct) = text.strip_prefix("0o")
            && let Ok(n) = i64::from_str_radix(oct, 8)
        {
            return Value::Int(n);
        }
        let looks_float = digits.bytes().next().is_some_and(|b| b.is_ascii_digit() || b == b'.')
            && digits.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
            && digits.bytes().any(|b| b.is_ascii_digit());
        if looks_float && let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
        Value::String(text.to_owned())
    }

    /// Looks up a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string content of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The kind of the value in words, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a map",
        }
    }

    /// The scalar rendered as text (what a version or tag reads as); `None` for lists and maps.
    pub fn scalar_text(&self) -> Option<String> {
        match self {
            Value::Null => Some(String::new()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(n) => Some(n.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::String(s) => Some(s.clone()),
            Value::Seq(_) | Value::Map(_) => None,
        }
    }
}

impl fmt::Display for Value {
    /// Renders the value in JSON-like flow syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Seq(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k:?}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_scalars_resolve_by_core_schema() {
        assert_eq!(Value::from_plain_scalar("~"), Value::Null);
        assert_eq!(Value::from_plain_scalar("true"), Value::Bool(true));
        assert_eq!(Value::from_plain_scalar("42"), Value::Int(42));
        assert_eq!(Value::from_plain_scalar("-7"), Value::Int(-7));
        assert_eq!(Value::from_plain_scalar("0x1F"), Value::Int(31));
        assert_eq!(Value::from_plain_scalar("1.5"), Value::Float(1.5));
        assert_eq!(Value::from_plain_scalar("1.4.2"), Value::String("1.4.2".into()));
        assert_eq!(Value::from_plain_scalar("yes"), Value::String("yes".into()));
        assert_eq!(Value::from_plain_scalar("v1"), Value::String("v1".into()));
        assert_eq!(Value::from_plain_scalar("1e3"), Value::Float(1000.0));
    }
}
