//! Glue shared by the tests that drive the `pgtls` binary: run it, read its JSON report, and
//! strip from a report what differs between two runs of the same thing.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use pgtls_harness::report::Report;

/// The repository root (where `scenarios/` is).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `pgtls ARGS…` from the repository root; panics with its output when it could not start.
pub fn pgtls(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_pgtls"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("failed to run pgtls {args:?}: {e}"));
    eprintln!("pgtls {}: {}\n{}", args.join(" "), out.status, String::from_utf8_lossy(&out.stderr));
    out
}

/// Runs `pgtls ARGS…` and asserts its exit code.
pub fn pgtls_ok(args: &[&str], code: i32) -> String {
    let out = pgtls(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(code), "pgtls {args:?} exited {}:\n{stdout}", out.status);
    stdout
}

/// Reads a JSON report.
pub fn load(path: &Path) -> Report {
    Report::load(path).unwrap_or_else(|e| panic!("{e}"))
}

/// The report with what changes from run to run blanked: times, durations, server logs and
/// the raw details (they carry ports and process ids).
pub fn stable(mut r: Report) -> Report {
    r.started_at = String::new();
    r.duration_ms = 0;
    for res in &mut r.results {
        res.timings = Default::default();
        res.server_log = String::new();
        for cr in res.cases.iter_mut().flat_map(|c| c.results.iter_mut()) {
            cr.elapsed_ms = 0.0;
            cr.log_span = None;
            if let pgtls_harness::outcome::Outcome::Failed(f) = &mut cr.outcome {
                f.detail = String::new();
            }
        }
    }
    r
}

/// The image `PGTLS_IMAGE_PATTERN` names for `major`, if it exists locally; `Err` says why not
/// (the test then ends ignored), unless `PGTLS_REQUIRE_DOCKER=1` makes its absence a failure.
pub fn docker_image(major: u32) -> Result<String, String> {
    let pattern = std::env::var("PGTLS_IMAGE_PATTERN").unwrap_or_else(|_| "postgres:{major}".into());
    let image = pattern.replace("{major}", &major.to_string());
    let found = pgtls_harness::server::docker::engine_available().map_err(String::from).and_then(|()| {
        pgtls_harness::server::docker::local_image_id(&image).map(|_| ()).ok_or(format!("no local image {image}"))
    });
    match found {
        Ok(()) => Ok(image),
        Err(reason) if std::env::var("PGTLS_REQUIRE_DOCKER").is_ok_and(|v| v == "1") => {
            panic!("Docker is required (PGTLS_REQUIRE_DOCKER=1) but unavailable: {reason}")
        }
        Err(reason) => Err(format!("Docker unavailable: {reason}")),
    }
}

/// A test of a libtest-mimic binary: it panics on failure and returns `Completion::Ignored`
/// with the reason when a prerequisite is missing.
pub type Test = (&'static str, fn() -> libtest_mimic::Completion);

/// Runs `tests` as the test binary's trials.
pub fn run_tests(tests: &[Test]) -> std::process::ExitCode {
    let trials = tests.iter().map(|&(name, f)| libtest_mimic::Trial::ignorable_test(name, move || Ok(f()))).collect();
    libtest_mimic::run(&libtest_mimic::Arguments::from_args(), trials).exit_code()
}
