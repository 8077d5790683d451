//! Shared glue of the integration tests: loading, targets, snapshots and verdicts.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
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

/// Clients for tests: `PGTLS_CLIENTS` (comma-separated), else libpq, rust and every installed
/// adapter (as `pgtls run` does).
pub fn clients() -> ClientChoice {
    match std::env::var("PGTLS_CLIENTS") {
        Ok(v) => ClientChoice { names: v.split(',').map(str::to_owned).collect(), psql: None },
        Err(_) => ClientChoice::default(),
    }
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

/// The first local image of majors 13–19 under `PGTLS_IMAGE_PATTERN`; `None` (after saying
/// why) when there is none and Docker is not required.
pub fn first_local_image() -> Option<String> {
    let found = pgtls_harness::server::docker::engine_available().and_then(|()| {
        let pattern = std::env::var("PGTLS_IMAGE_PATTERN").unwrap_or_else(|_| "postgres:{major}".into());
        (13..=19)
            .map(|m| pattern.replace("{major}", &m.to_string()))
            .find(|i| pgtls_harness::server::docker::local_image_id(i).is_some())
            .ok_or_else(|| format!("no local image matches {pattern}"))
    });
    match found {
        Ok(i) => Some(i),
        Err(reason) if std::env::var("PGTLS_REQUIRE_DOCKER").is_ok_and(|v| v == "1") => {
            panic!("Docker is required but unavailable: {reason}")
        }
        Err(reason) => {
            eprintln!("skipped: Docker tests: {reason}");
            None
        }
    }
}

/// Docker targets for the local images of majors 13–19, probed once per process; `None` (after
/// saying why on stderr) when Docker is unavailable and not required.
pub fn docker_targets() -> Option<Vec<Target>> {
    static TARGETS: OnceLock<Result<Vec<Target>, String>> = OnceLock::new();
    let result = TARGETS.get_or_init(|| {
        pgtls_harness::server::docker::engine_available()?;
        let pattern = std::env::var("PGTLS_IMAGE_PATTERN").unwrap_or_else(|_| "postgres:{major}".into());
        let images: Vec<String> = (13..=19)
            .map(|m| pattern.replace("{major}", &m.to_string()))
            .filter(|i| pgtls_harness::server::docker::local_image_id(i).is_some())
            .collect();
        if images.is_empty() {
            return Err(format!(
                "no local image matches {pattern} for majors 13-19 (build them with ci/build-images.sh)"
            ));
        }
        pgtls_harness::server::docker::targets(&images, &clients())
    });
    match result {
        Ok(t) => Some(t.clone()),
        Err(reason) if std::env::var("PGTLS_REQUIRE_DOCKER").is_ok_and(|v| v == "1") => {
            panic!("Docker is required (PGTLS_REQUIRE_DOCKER=1) but unavailable: {reason}")
        }
        Err(reason) => {
            eprintln!("skipped: Docker tests: {reason}");
            None
        }
    }
}

pub fn context() -> RunContext {
    let divergences = Registry::load(&root().join("divergences.toml")).unwrap_or_else(|e| panic!("{e}"));
    RunContext { timeout: Duration::from_secs(10), divergences, filter: None }
}

/// Runs a scenario; a divergence entry that named a case of it yet explained nothing fails
/// the test (the registry must shrink when clients converge).
pub async fn run(s: &Scenario, target: &Target) -> ScenarioResult {
    let cx = context();
    let r = runner::run_scenario(s, target, &cx).await;
    let stale: Vec<String> =
        cx.divergences.stale(&r.attempts_run()).iter().map(|e| format!("{} / {}", e.client, e.case)).collect();
    assert!(stale.is_empty(), "stale divergence entries (they explained nothing): {stale:?}");
    r
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

/// Snapshots one result per major: the reference major's (15, else the first) as
/// `@docker`, and any major whose outcomes differ from it as `@docker-pg<major>`.
pub fn snapshot_majors(name: &str, results: &[ScenarioResult]) {
    let reference = results.iter().find(|r| r.major == 15).or_else(|| results.first());
    let Some(reference) = reference else { return };
    let value = |r: &ScenarioResult| serde_yaml_value(&snap_of(r));
    snapshot(name, Some("docker"), reference);
    for r in results {
        if r.major != reference.major && value(r) != value(reference) {
            snapshot(name, Some(&format!("docker-pg{}", r.major)), r);
        }
    }
}

/// The snapshot as text with the snapshot filters applied, for comparing majors.
fn serde_yaml_value<T: Serialize>(v: &T) -> String {
    let mut text = serde_json::to_string(v).unwrap_or_default();
    for (re, with) in FILTERS.iter().chain([(r#""serial":"[^"]*""#, r#""serial":"[serial]""#)].iter()) {
        text = regex::Regex::new(re).expect("static regex").replace_all(&text, *with).into_owned();
    }
    text
}

/// Redactions applied to snapshots: ports, scratch paths, image root filesystems (named by
/// image id, which changes with every image build), pids, and OpenSSL's reason for a
/// key it could not decrypt: a wrong passphrase yields garbage that depends on the key file's
/// random salt and IV, so the reason ("bad decrypt", "unsupported", …) varies from run to run.
const FILTERS: &[(&str, &str)] = &[
    (r#"(could not load private key file \\"[^"\\]*\\"): [a-z0-9 ]+"#, "$1: [openssl reason]"),
    (r#"port \d+"#, "port [port]"),
    (r#"(localhost|127\.0\.0\.1):\d+"#, "$1:[port]"),
    (r#"\b([a-zA-Z][a-zA-Z0-9.-]*\.[a-zA-Z]+):\d{4,5}\b"#, "$1:[port]"),
    (r#"(/[^\s"'/]+)*/pgtls-\d+-[^\s"'/]+"#, "[scratch]"),
    (r#"(/[^\s"'/]+)*/pgtls/rootfs/[0-9a-f]+"#, "[image rootfs]"),
    (r#"\(pid \d+\)"#, "(pid [pid])"),
];

fn snap_of(r: &ScenarioResult) -> Snap<'_> {
    Snap {
        scenario: &r.scenario,
        skipped: r.skipped.as_deref(),
        cases: r
            .cases
            .iter()
            .map(|c| SnapCase {
                case: &c.name,
                expected: &c.expected,
                clients: c
                    .results
                    .iter()
                    .map(|cr| SnapClient { client: &cr.client, outcome: &cr.outcome, verdict: &cr.verdict })
                    .collect(),
            })
            .collect(),
    }
}

/// Snapshots a result as `scenario@<name>[@<suffix>]`.
pub fn snapshot(name: &str, suffix: Option<&str>, r: &ScenarioResult) {
    let snap = snap_of(r);
    let mut settings = insta::Settings::clone_current();
    let mut full = name.replace('/', "__");
    if let Some(s) = suffix {
        full = format!("{full}@{s}");
    }
    settings.set_snapshot_suffix(full);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
    settings.add_redaction(".cases[].clients[].client_cert.serial", "[serial]");
    for (re, with) in FILTERS {
        settings.add_filter(re, *with);
    }
    settings.bind(|| insta::assert_yaml_snapshot!("scenario", snap));
}

/// Panics with the full failure report when any attempt failed.
pub fn assert_passed(results: &[ScenarioResult]) {
    let (_, failed, _) = report::totals(results);
    if failed > 0 {
        panic!("{}\n{}", report::failures(results), report::closing_line(results));
    }
}
