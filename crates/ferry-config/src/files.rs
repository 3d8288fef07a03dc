//! Reading configuration files from disk.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::Source;
use crate::diagnostic::Diagnostic;

/// Largest configuration file accepted (4 MiB).
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Most YAML documents accepted in one file.
pub const MAX_DOCUMENTS: usize = 1000;
/// Deepest directory nesting followed.
const MAX_DIR_DEPTH: usize = 32;

/// Reads configuration files: each path is a file (read whatever its extension) or a directory, searched
/// recursively for `*.yaml` and `*.yml` files (hidden entries such as `.git` are skipped; symbolic links
/// are followed once). Files are returned in path order within each directory, after the files of earlier
/// arguments; a file named twice is read once.
///
/// `Err` lists every path that could not be read: missing, unreadable, not UTF-8, or larger than
/// [`MAX_FILE_BYTES`].
pub fn read_paths(paths: &[impl AsRef<Path>]) -> Result<Vec<Source>, Vec<Diagnostic>> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut seen_dirs = BTreeSet::new();
    for path in paths {
        let path = path.as_ref();
        match fs::metadata(path) {
            Err(e) => errors.push(Diagnostic::file_error(&show(path), format!("cannot read: {}", io_reason(&e)))),
            Ok(meta) if meta.is_dir() => collect_dir(path, 0, &mut seen_dirs, &mut files, &mut errors),
            Ok(_) => files.push(path.to_path_buf()),
        }
    }
    let mut seen_files = BTreeSet::new();
    let mut sources = Vec::new();
    for file in files {
        let key = fs::canonicalize(&file).unwrap_or_else(|_| file.clone());
        if !seen_files.insert(key) {
            continue;
        }
        match read_file(&file) {
            Ok(text) => sources.push(Source { name: show(&file), text }),
            Err(message) => errors.push(Diagnostic::file_error(&show(&file), message)),
        }
    }
    if errors.is_empty() { Ok(sources) } else { Err(errors) }
}

fn show(path: &Path) -> String {
    path.display().to_string()
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

fn read_file(path: &Path) -> Result<String, String> {
    let meta = fs::metadata(path).map_err(|e| format!("cannot read: {}", io_reason(&e)))?;
    if meta.len() > MAX_FILE_BYTES as u64 {
        return Err(format!("the file is larger than {} MiB; split it", MAX_FILE_BYTES / (1024 * 1024)));
    }
    let bytes = fs::read(path).map_err(|e| format!("cannot read: {}", io_reason(&e)))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(format!("the file is larger than {} MiB; split it", MAX_FILE_BYTES / (1024 * 1024)));
    }
    String::from_utf8(bytes)
        .map_err(|e| format!("the file is not valid UTF-8 (invalid byte at offset {})", e.utf8_error().valid_up_to()))
}

fn is_yaml(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e == "yaml" || e == "yml")
}

fn collect_dir(
    dir: &Path,
    depth: usize,
    seen: &mut BTreeSet<PathBuf>,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<Diagnostic>,
) {
    let key = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if !seen.insert(key) {
        return;
    }
    if depth > MAX_DIR_DEPTH {
        errors.push(Diagnostic::file_error(&show(dir), format!("directories nested deeper than {MAX_DIR_DEPTH}")));
        return;
    }
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(Diagnostic::file_error(&show(dir), format!("cannot read directory: {}", io_reason(&e))));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                if !entry.file_name().to_string_lossy().starts_with('.') {
                    paths.push(entry.path());
                }
            }
            Err(e) => {
                errors.push(Diagnostic::file_error(&show(dir), format!("cannot read directory: {}", io_reason(&e))))
            }
        }
    }
    paths.sort();
    for path in paths {
        match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => collect_dir(&path, depth + 1, seen, files, errors),
            Ok(_) if is_yaml(&path) => files.push(path),
            Ok(_) => {}
            Err(e) if is_yaml(&path) => {
                errors.push(Diagnostic::file_error(&show(&path), format!("cannot read: {}", io_reason(&e))))
            }
            Err(_) => {}
        }
    }
}
