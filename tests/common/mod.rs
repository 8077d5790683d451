//! Shared glue of the integration tests: loading, targets, snapshots and verdicts.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pgtls_harness::outcome::Outcome;
use pgtls_harness::report;
use pgtls_harness::runner::{self, Registry, RunContext, ScenarioResult, Target};
use pgtls_harness::scenario::{self, Scenario};
use pgtls_harness::setup::{self, ClientChoice};
use serde::Serialize;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

pub fn load(path: &Path) -> Scenario {
    scenario::load_file(path, &root()).unwrap_or_else(|e| panic!("{e}"))
}

/// Clients for tests: `PGTLS_CLIENTS` (comma-separated) or libpq and rust, plus adapters
/// whose environment is installed.
pub fn clients() -> ClientChoice {
    let names = match std::env::var("PGTLS_CLIENTS") {
        Ok(v) => v.split(',').map(str::to_owned).collect(),
        Err(_) => {
            let mut v = vec!["libpq".to_owned(), "rust".to_owned()];
            if Path::new(env!("CARGO_MANIFEST_DIR")).join("adapters/asyncpg/.venv/bin/python").exists() {
                v.push("asyncpg".to_owned());
            }
            v
        }
    };
    ClientChoice { names, psql: None }
}

/// The native targets, probed once per test process.
pub fn native_targets() -> Vec<Target> {
    static TARGETS: OnceLock<Result<Vec<Target>, String>> = OnceLock::new();
    TARGETS
        .get_or_init(|| setup::native_targets(&pg_bins(), &clients()))
        .clone()
        .unwrap_or_else(|e| panic!("no PostgreSQL to run scenarios against: {e}"))
}

fn pg_bins() -> Vec<PathBuf> {
    std::env::var_os("PGTLS_PG_BIN").map(|v| std::env::split_paths(&v).collect()).unwrap_or_default()
}

pub fn context() -> RunContext {
    let divergences = Registry::load(&root().join("divergences.toml")).unwrap_or_else(|e| panic!("{e}"));
    RunContext { timeout: Duration::from_secs(10), divergences, filter: None }
}

pub async fn run(s: &Scenario, target: &Target) -> ScenarioResult {
    runner::run_scenario(s, target, &context()).await
}

/// What a snapshot holds: per case and client, the outcome and how it was judged.
#[derive(Serialize)]
struct Snap<'a> {
    scenario: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<&'a str>,
    cases: Vec<SnapCase<'a>>,
}

#[derive(Serialize)]
struct SnapCase<'a> {
    case: &'a str,
    expected: &'a str,
    clients: Vec<SnapClient<'a>>,
}

#[derive(Serialize)]
struct SnapClient<'a> {
    client: &'a str,
    #[serde(flatten)]
    outcome: &'a Outcome,
    verdict: &'a runner::Verdict,
}

/// Snapshots a result as `scenario@<name>[@<suffix>]`.
pub fn snapshot(name: &str, suffix: Option<&str>, r: &ScenarioResult) {
    let snap = Snap {
        scenario: &r.scenario,
        skipped: r.skipped.as_deref(),
        cases: r
            .cases
            .iter()
            .map(|c| SnapCase {
                case: &c.name,
                expected: &c.expected,
                clients: c.results.iter().map(|cr| SnapClient { client: &cr.client, outcome: &cr.outcome, verdict: &cr.verdict }).collect(),
            })
            .collect(),
    };
    let mut settings = insta::Settings::clone_current();
    let mut full = name.replace('/', "__");
    if let Some(s) = suffix {
        full = format!("{full}@{s}");
    }
    settings.set_snapshot_suffix(full);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
    settings.add_redaction(".cases[].clients[].client_cert.serial", "[serial]");
    settings.add_filter(r#"port \d+"#, "port [port]");
    settings.add_filter(r#"(localhost|127\.0\.0\.1):\d+"#, "$1:[port]");
    settings.add_filter(r#"/tmp/pgtls-[^\s"'/]+"#, "[scratch]");
    settings.add_filter(r#"\(pid \d+\)"#, "(pid [pid])");
    settings.bind(|| insta::assert_yaml_snapshot!("scenario", snap));
}

/// Panics with the full failure report when any attempt failed.
pub fn assert_passed(results: &[ScenarioResult]) {
    let (_, failed, _) = report::totals(results);
    if failed > 0 {
        panic!("{}\n{}", report::failures(results), report::closing_line(results));
    }
}
