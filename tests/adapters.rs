//! The adapters' own unit tests (request and evidence mapping, no server) run under
//! `cargo test`, so CI exercises them. An adapter that is not installed ends ignored with
//! that reason, unless `PGTLS_REQUIRE_ADAPTERS=1` (set by .ci/run, which installs them) makes
//! it a failure.

use std::path::Path;
use std::process::Command;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

fn main() -> std::process::ExitCode {
    let trials = vec![Trial::ignorable_test("asyncpg_adapter_unit_tests", asyncpg_adapter_unit_tests)];
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}

fn asyncpg_adapter_unit_tests() -> Result<Completion, Failed> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/asyncpg");
    let python = dir.join(".venv/bin/python");
    if !python.exists() {
        let reason = format!("{} is missing (hint: run adapters/asyncpg/setup.sh)", python.display());
        if std::env::var("PGTLS_REQUIRE_ADAPTERS").as_deref() == Ok("1") {
            return Err(format!("PGTLS_REQUIRE_ADAPTERS=1: {reason}").into());
        }
        return Ok(Completion::ignored_with(reason));
    }
    let out = Command::new(&python)
        .args(["-m", "unittest", "discover", "-s"])
        .arg(&dir)
        .output()
        .map_err(|e| format!("failed to run {}: {e}", python.display()))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stderr.contains("\nOK") {
        return Err(format!("the asyncpg adapter's unit tests failed:\n{stderr}").into());
    }
    Ok(Completion::Completed)
}
