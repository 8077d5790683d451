//! OCSP stapling on the patched PostgreSQL 18 (ci/build-ocsp-pg.sh): scenarios/ocsp and the
//! blog's scenario on the native build (`PGTLS_OCSP_PG_BIN`, default
//! /var/cache/pgtls/pg-ocsp/current/bin) and on the image `pgtls/postgres:18-ocsp`.
//!
//! Where the build or the image is missing the trials end ignored with that reason, unless
//! `PGTLS_REQUIRE_OCSP=1` (set by .ci/run, which builds both) makes it a failure. On stock
//! builds the same scenarios run in tests/scenarios.rs, where only the cases that need no
//! `ssl_ocsp_file` run. Snapshots: tests/snapshots/ocsp/{native,docker}.

use std::path::PathBuf;

use pgtls_harness::testing::{Backend, Suite, run_suites};

fn main() -> std::process::ExitCode {
    let bin = std::env::var_os("PGTLS_OCSP_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/pgtls/pg-ocsp/current/bin"));
    let image = std::env::var("PGTLS_OCSP_IMAGE").unwrap_or_else(|_| "pgtls/postgres:18-ocsp".into());
    let suite = |backend| {
        Suite::new(env!("CARGO_MANIFEST_DIR"))
            .scenarios("scenarios/ocsp")
            .scenarios("scenarios/docs/ocsp-stapling.toml")
            .divergences("scenarios/divergences.toml")
            .snapshots("tests/snapshots/ocsp")
            .backend(backend)
            .required_by("PGTLS_REQUIRE_OCSP")
    };
    run_suites([suite(Backend::NativeBuild(bin)), suite(Backend::Images(vec![image]))])
}
