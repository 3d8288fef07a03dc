//! Embeds the migrations of each backend (`migrations/<backend>/<version>_<description>.sql`) in
//! version order, and rebuilds the crate when one is added or changed.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    for backend in ["sqlite", "postgres"] {
        let code = embed(&root.join("migrations").join(backend));
        std::fs::write(out.join(format!("{backend}_migrations.rs")), code).expect("OUT_DIR is writable");
    }
}

/// The `&[Migration]` literal of one directory.
fn embed(dir: &Path) -> String {
    let shown = dir.display();
    let mut migrations = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{shown} is not readable: {e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{shown} is not readable: {e}")).path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("migration file names are UTF-8").to_owned();
        // The same reading of file names as sqlx's, whose `_sqlx_migrations` records we keep.
        let (version, rest) =
            name.split_once('_').unwrap_or_else(|| panic!("{name}: expected <version>_<description>.sql"));
        let description = rest.strip_suffix(".sql").unwrap_or_else(|| panic!("{name}: expected a .sql file"));
        assert!(
            !description.ends_with(".up") && !description.ends_with(".down"),
            "{name}: reversible migrations are not supported"
        );
        let version: i64 = version.parse().unwrap_or_else(|_| panic!("{name}: the version is not a number"));
        migrations.push((version, description.replace('_', " "), path));
    }
    migrations.sort_by_key(|m| m.0);
    for pair in migrations.windows(2) {
        assert_ne!(pair[0].0, pair[1].0, "{shown}: two migrations have version {}", pair[0].0);
    }
    let mut code = String::from("&[\n");
    for (version, description, path) in &migrations {
        writeln!(
            code,
            "    Migration {{ version: {version}, description: {description:?}, sql: include_str!({path:?}) }},"
        )
        .expect("writing to a string");
    }
    code.push(']');
    code
}
