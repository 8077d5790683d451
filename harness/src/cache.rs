//! The cache directory, which every layer that keeps work between runs shares: generated keys
//! (pki), server templates (native), fetched PostgreSQL builds (embedded), image facts and
//! root filesystems (docker). Below everything else; it knows no module of the crate.

use std::path::PathBuf;

/// `PGTLS_CACHE_DIR`, else `$XDG_CACHE_HOME/pgtls`, else `~/.cache/pgtls`, else a `pgtls`
/// directory in the system's temporary directory.
pub fn dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PGTLS_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("pgtls")
}
