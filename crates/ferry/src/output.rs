//! Output formats of the commands that read (SPEC §7.1): text, JSON and YAML everywhere, and wide
//! tables on lists. JSON and YAML print the API's documents unchanged, so both carry the same data.

use clap::ValueEnum;
use serde::Serialize;

/// A machine-readable format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Data {
    /// Pretty JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Prints `value` in `format`.
pub fn print_data<T: Serialize>(value: &T, format: Data) -> anyhow::Result<()> {
    match format {
        Data::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Data::Yaml => {
            let doc = serde_json::to_value(value)?;
            print!("{}", serde_saphyr::to_string(&doc).map_err(|e| anyhow::anyhow!("rendering YAML: {e}"))?);
        }
    }
    Ok(())
}

/// `-o` of a command that shows one thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ReadOutput {
    /// Human-readable text.
    #[default]
    Text,
    /// JSON for machines (the API's document).
    Json,
    /// YAML (the same data as JSON).
    Yaml,
}

impl ReadOutput {
    /// The machine format, if one was asked for.
    pub fn data(self) -> Option<Data> {
        match self {
            ReadOutput::Text => None,
            ReadOutput::Json => Some(Data::Json),
            ReadOutput::Yaml => Some(Data::Yaml),
        }
    }
}

/// `-o` of a command that lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ListOutput {
    /// A table.
    #[default]
    Text,
    /// A table with more columns.
    Wide,
    /// JSON for machines (the API's page).
    Json,
    /// YAML (the same data as JSON).
    Yaml,
}

impl ListOutput {
    /// The machine format, if one was asked for.
    pub fn data(self) -> Option<Data> {
        match self {
            ListOutput::Text | ListOutput::Wide => None,
            ListOutput::Json => Some(Data::Json),
            ListOutput::Yaml => Some(Data::Yaml),
        }
    }

    /// Whether the table gets its extra columns.
    pub fn wide(self) -> bool {
        self == ListOutput::Wide
    }
}
