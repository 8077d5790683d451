//! The adapters' own unit tests (request and evidence mapping, no server) run under
//! `cargo test`, so CI exercises them. An adapter that is not installed is reported as skipped,
//! unless `PGTLS_REQUIRE_ADAPTERS=1` (set by .ci/run, which installs them) makes that a failure.

use std::path::Path;
use std::process::Command;

#[test]
fn asyncpg_adapter_unit_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/asyncpg");
    let python = dir.join(".venv/bin/python");
    if !python.exists() {
        let reason = format!("{} is missing: run adapters/asyncpg/setup.sh", python.display());
        assert!(std::env::var("PGTLS_REQUIRE_ADAPTERS").as_deref() != Ok("1"), "{reason}");
        eprintln!("skipped: asyncpg adapter unit tests: {reason}");
        return;
    }
    let out = Command::new(&python)
        .args(["-m", "unittest", "discover", "-s"])
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("failed to run {}: {e}", python.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the asyncpg adapter's unit tests failed:\n{stderr}");
    assert!(stderr.contains("\nOK"), "unexpected unittest output:\n{stderr}");
}
