//! Loads Ferry's declarative configuration (SPEC §2) from YAML and validates it as a whole.
//!
//! Input: files of Kubernetes-style YAML documents (`apiVersion`, `kind`, `metadata`, `spec`), several per
//! file separated by `---`, in three spellings:
//!
//! * `ferry/v1`: Environment, Application, Product, PromotionTemplate, PromotionFlow, PromotionPolicy, Workflow;
//! * `codefresh.io/v1beta1` (and `v1beta2`): Product, PromotionFlow, PromotionPolicy, PromotionTemplate as the
//!   withdrawn commercial product wrote them;
//! * `argoproj.io/v1alpha1` Application: an Argo CD Application that carries the annotation `ferry/product`
//!   (or `codefresh.io/product`), placed in the Environment whose `clusters` contain its destination.
//!   Argo CD Applications without that annotation are skipped silently.
//!
//! Output: a validated [`Catalog`] and its warnings, or **every** problem found ([`Diagnostic`]s with file,
//! document index, line, column, field path and, where possible, a "did you mean" hint). Nothing partial is
//! returned: any error means `Err`.
//!
//! ```
//! let source = ferry_config::Source {
//!     name: "envs.yaml".into(),
//!     text: "apiVersion: ferry/v1\nkind: Environment\nmetadata: {name: dev}\nspec: {tyep: production}\n".into(),
//! };
//! let errors = ferry_config::load_sources(&[source]).unwrap_err();
//! let shown: Vec<String> = errors.iter().map(|d| format!("{}: {d}", d.severity)).collect();
//! assert_eq!(shown, [
//!     "error: envs.yaml#1:4:7 spec.type: missing required field \"type\"",
//!     "error: envs.yaml#1:4:8 spec.tyep: unknown field \"tyep\" (did you mean \"type\"?)",
//! ]);
//! ```

mod decode;
mod diagnostic;
mod files;
mod kinds;
mod node;
mod suggest;
mod validate;

use std::collections::BTreeMap;
use std::path::Path;

use ferry_model::resources::Catalog;
use serde::Serialize;

pub use diagnostic::{Diagnostic, Severity};
pub use files::{MAX_DOCUMENTS, MAX_FILE_BYTES, read_paths};
pub use kinds::{ARGO_API, CODEFRESH_API, CODEFRESH_API_V2, FERRY_API, Kind};

/// Identifies a resource: its kind and name.
pub type ResourceKey = (Kind, String);

/// The text of one configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file's path as shown in diagnostics.
    pub name: String,
    /// The file's content.
    pub text: String,
}

/// Where a resource was defined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Origin {
    /// File, as given in [`Source::name`].
    pub file: String,
    /// 1-based document index in the file.
    pub document: usize,
    /// 1-based line where the document starts.
    pub line: usize,
    /// The document's `apiVersion` (`ferry/v1`, `codefresh.io/v1beta1`, `argoproj.io/v1alpha1`).
    pub api_version: String,
}

/// A valid configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// Every resource, validated together.
    pub catalog: Catalog,
    /// Warnings (nothing here stops the configuration from being used), sorted by position.
    pub warnings: Vec<Diagnostic>,
    /// Where each resource came from, by kind and name.
    pub origins: BTreeMap<ResourceKey, Origin>,
}

impl Loaded {
    /// Where the resource `kind`/`name` was defined.
    pub fn origin(&self, kind: Kind, name: &str) -> Option<&Origin> {
        self.origins.get(&(kind, name.to_owned()))
    }
}

/// Decodes and validates `sources` as one set.
///
/// `Err` holds every error and warning, sorted by file, document, line and column.
/// Files larger than [`MAX_FILE_BYTES`] or with more than [`MAX_DOCUMENTS`] documents are refused.
pub fn load_sources(sources: &[Source]) -> Result<Loaded, Vec<Diagnostic>> {
    let mut diagnostics = Vec::new();
    let mut records = Vec::new();
    for source in sources {
        if source.text.len() > MAX_FILE_BYTES {
            diagnostics.push(Diagnostic::file_error(
                &source.name,
                format!("the file is larger than {} MiB; split it", MAX_FILE_BYTES / (1024 * 1024)),
            ));
            continue;
        }
        let parsed = node::parse(&source.text, MAX_DOCUMENTS);
        for document in parsed.documents {
            let mut cx = decode::Cx::new(&source.name, document.index);
            let outcome = kinds::decode_document(&mut cx, &document.root);
            diagnostics.append(&mut cx.diags);
            records.push(validate::Record { file: source.name.clone(), document, outcome });
        }
        if let Some(e) = parsed.error {
            diagnostics.push(Diagnostic {
                severity: Severity::Error,
                file: source.name.clone(),
                document: e.document,
                line: e.pos.line,
                column: e.pos.column,
                field: String::new(),
                message: e.message,
                hint: None,
            });
        }
    }
    let (catalog, origins) = validate::validate(&records, &mut diagnostics);
    diagnostic::sort(&mut diagnostics);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(diagnostics);
    }
    Ok(Loaded { catalog, warnings: diagnostics, origins })
}

/// Reads files and directories ([`read_paths`]) and loads them ([`load_sources`]).
pub fn load_paths(paths: &[impl AsRef<Path>]) -> Result<Loaded, Vec<Diagnostic>> {
    let sources = read_paths(paths)?;
    load_sources(&sources)
}
