//! Cancel requests over TLS (scenarios/matrix/cancel.toml) with a libpq that has
//! `PQcancelCreate`: the native PostgreSQL 18 build (`PGTLS_OCSP_PG_BIN`, default
//! /var/cache/pgtls/pg-ocsp/current/bin), whose libpq 18 is the one 17+ libpq on this machine
//! outside the images. Stock native 15 runs the same file in tests/scenarios.rs, where libpq
//! skips every cancel case (libpq 15 has no PQcancelCreate); the images 17+ run it in
//! tests/docker.rs.
//!
//! Where the build is missing the trial ends ignored with that reason, unless
//! `PGTLS_REQUIRE_OCSP=1` (set by .ci/run, which builds it) makes that a failure.
//! Snapshots: tests/snapshots/cancel/native.

use std::path::PathBuf;

use pgtls_harness::testing::{Backend, Suite, run_suites};

fn main() -> std::process::ExitCode {
    let bin = std::env::var_os("PGTLS_OCSP_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/pgtls/pg-ocsp/current/bin"));
    let suite = Suite::new(env!("CARGO_MANIFEST_DIR"))
        .scenarios("scenarios/matrix/cancel.toml")
        .divergences("scenarios/divergences.toml")
        .snapshots("tests/snapshots/cancel")
        .backend(Backend::NativeBuild(bin))
        .required_by("PGTLS_REQUIRE_OCSP");
    run_suites([suite])
}
