//! Reading files and directories from disk.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ferry_config::{MAX_FILE_BYTES, load_paths, read_paths};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("ferry-config-it-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, bytes).expect("write");
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const ENV: &str = "apiVersion: ferry/v1\nkind: Environment\nmetadata: { name: NAME }\nspec: { type: non-production }\n";

fn env(name: &str) -> Vec<u8> {
    ENV.replace("NAME", name).into_bytes()
}

fn rel<'a>(dir: &Path, name: &'a str) -> &'a str {
    name.strip_prefix(&format!("{}/", dir.display())).unwrap_or(name)
}

#[test]
fn directories_are_read_recursively_in_path_order() {
    let tmp = TempDir::new();
    tmp.write("b.yaml", &env("b"));
    tmp.write("a/z.yml", &env("z"));
    tmp.write("a/c.yaml", &env("c"));
    tmp.write("a/deeper/d.yaml", &env("d"));
    tmp.write("notes.txt", b"not yaml");
    tmp.write(".git/config.yaml", b"::: not read :::");
    tmp.write("a/.hidden.yaml", b"::: not read :::");
    let sources = read_paths(&[&tmp.0]).expect("reads");
    let names: Vec<&str> = sources.iter().map(|s| rel(&tmp.0, &s.name)).collect();
    assert_eq!(names, ["a/c.yaml", "a/deeper/d.yaml", "a/z.yml", "b.yaml"]);
    let loaded = load_paths(&[&tmp.0]).expect("loads");
    assert_eq!(loaded.catalog.environments.len(), 4);
}

#[test]
fn a_named_file_is_read_whatever_its_extension_and_only_once() {
    let tmp = TempDir::new();
    let file = tmp.write("config.txt", &env("dev"));
    let sources = read_paths(&[file.clone(), file.clone()]).expect("reads");
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0].name, file.display().to_string());
}

#[test]
fn unreadable_inputs_are_all_reported() {
    let tmp = TempDir::new();
    tmp.write("ok.yaml", &env("dev"));
    tmp.write("latin1.yaml", b"name: caf\xe9\n");
    let mut big = env("big");
    big.resize(MAX_FILE_BYTES + 1, b'\n');
    tmp.write("big.yaml", &big);
    let missing = tmp.0.join("missing.yaml");
    let errors = read_paths(&[tmp.0.clone(), missing]).expect_err("errors");
    let shown: Vec<String> =
        errors.iter().map(|d| d.to_string().replace(&format!("{}/", tmp.0.display()), "")).collect();
    assert_eq!(
        shown,
        [
            "missing.yaml: cannot read: no such file or directory",
            "big.yaml: the file is larger than 4 MiB; split it",
            "latin1.yaml: the file is not valid UTF-8 (invalid byte at offset 9)",
        ]
    );
    assert!(errors.iter().all(|d| d.is_error() && d.document == 0 && d.line == 0));
}

#[test]
fn too_many_documents_in_one_source() {
    let text = "a: 1\n---\n".repeat(ferry_config::MAX_DOCUMENTS + 5);
    let errors = ferry_config::load_sources(&[crate::source("many.yaml", &text)]).expect_err("refused");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("too many documents"), "{}", errors[0]);
    assert_eq!(errors[0].document, ferry_config::MAX_DOCUMENTS + 1);
    // Empty documents are dropped and do not count, but a flood of separators is refused too.
    let text = "---\n".repeat(ferry_config::MAX_DOCUMENTS * 4 + 5);
    let errors = ferry_config::load_sources(&[crate::source("many.yaml", &text)]).expect_err("refused");
    assert_eq!(errors.len(), 1);
    assert!(errors[0].message.contains("too many document separators"), "{}", errors[0]);
}
