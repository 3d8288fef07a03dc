//! Embeds the SQLite migrations (`migrations/sqlite/<version>_<description>.sql`) in version order, and
//! rebuilds the crate when one is added or changed.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"))
        .join("migrations/sqlite");
    let mut migrations = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("migrations/sqlite is readable") {
        let path = entry.expect("migrations/sqlite is readable").path();
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
        assert_ne!(pair[0].0, pair[1].0, "two migrations have version {}", pair[0].0);
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
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("sqlite_migrations.rs");
    std::fs::write(out, code).expect("OUT_DIR is writable");
}
