//! Schema migrations, shared by the backends: `migrations/<backend>/<version>_<description>.sql`,
//! applied in version order and recorded in `_sqlx_migrations` exactly as sqlx records them (the store
//! was built on sqlx first), so a database made by either build opens with the other.

use sha2::{Digest, Sha384};

/// One migration file.
pub(crate) struct Migration {
    /// The number before the first `_` of the file name.
    pub version: i64,
    /// The rest of the file name without `.sql`, `_` read as a space (as sqlx does).
    pub description: &'static str,
    /// The file's contents.
    pub sql: &'static str,
}

impl Migration {
    /// What sqlx stores as the checksum: SHA-384 of the file's bytes.
    pub fn checksum(&self) -> Vec<u8> {
        Sha384::digest(self.sql.as_bytes()).to_vec()
    }
}

/// What is wrong with a database's record of applied migrations, if anything: a version this build does
/// not know, or a file that changed since it was applied. `applied` is `(version, checksum)` in order.
pub(crate) fn check_applied(known: &[Migration], applied: &[(i64, Vec<u8>)]) -> Result<(), String> {
    for (version, recorded) in applied {
        let Some(migration) = known.iter().find(|m| m.version == *version) else {
            return Err(format!(
                "migration {version} was applied by another build of Ferry that this one does not know; run that build (or a newer one)"
            ));
        };
        if *recorded != migration.checksum() {
            return Err(format!(
                "migration {} ({}) differs from the one applied to this database; a released migration must never change",
                migration.version, migration.description
            ));
        }
    }
    Ok(())
}
