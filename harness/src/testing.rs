//! Scenario files as tests: one libtest-mimic trial per file, outcomes snapshotted with insta,
//! for this repository's `cargo test` and for other crates that keep scenarios of their own.
//!
//! ```no_run
//! // tests/tls.rs of your crate, with `[[test]] name = "tls" harness = false` in Cargo.toml:
//! fn main() -> std::process::ExitCode {
//!     pgtls_harness::testing::Suite::new(env!("CARGO_MANIFEST_DIR"))
//!         .scenarios("tls-scenarios")
//!         .snapshots("tests/snapshots")
//!         .run()
//! }
//! ```
//!
//! Why libtest-mimic and not rstest's `#[files]`: a trial can end *ignored at run time* with a
//! reason (no Docker engine, no image, every case skipped by `requires`), so `cargo test`'s own
//! summary says what did not run instead of counting it as passed; and the list of trials is
//! built at run time from the directory, so adding a scenario needs no recompilation.
//!
//! Snapshots are one file per scenario and client (`<scenario>@<client>.snap`, the scenario's
//! `/` written `__`): a client that is not installed simply has no snapshot compared. Docker
//! runs snapshot under `docker/`: the reference major (15, else the first) as
//! `<scenario>@<client>`, any major whose outcomes differ from it for that client as
//! `<scenario>@pg<major>@<client>`. Snapshots hold only what the server and the client did:
//! ports, scratch paths, pids, serials and build details of OpenSSL and Python (source
//! file:line, error-queue thread ids) are redacted ([`FILTERS`]); reports keep them. A
//! failure's `basis` (what its class rests on) is in reports, not in snapshots
//! ([`crate::outcome::without_basis`]).
//!
//! Environment: `PGTLS_CLIENTS` (comma-separated) picks clients; `PGTLS_REQUIRE_DOCKER=1` and
//! `PGTLS_REQUIRE_ADAPTERS=1` turn a missing engine, image or adapter into a failure (CI sets
//! them); `PGTLS_IMAGE_PATTERN` (default `postgres:{major}`) names the Docker images.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use serde::Serialize;

use crate::outcome::{self, Outcome};
use crate::runner::{self, Registry, RunContext, ScenarioResult, Target, Verdict};
use crate::scenario::Scenario;
use crate::setup::{self, ClientChoice};
use crate::{report, server};

/// Where a suite's servers run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The native build `pgtls run` would pick (`PGTLS_PG_BIN`, PATH, Debian's, the embedded
    /// default).
    Native,
    /// The native build in this bin directory; a missing directory makes the suite's trials
    /// ignored (or failed, see [`Suite::required_by`]).
    NativeBuild(PathBuf),
    /// Every local image of majors 13–19 under `PGTLS_IMAGE_PATTERN`.
    Docker,
    /// These local images.
    Images(Vec<String>),
}

/// A set of scenario files run as tests.
#[derive(Debug, Clone)]
pub struct Suite {
    base: PathBuf,
    scenarios: Vec<PathBuf>,
    snapshots: PathBuf,
    divergences: Option<PathBuf>,
    backend: Backend,
    required_by: Option<String>,
}

impl Suite {
    /// A suite whose relative paths are resolved against `base` (pass
    /// `env!("CARGO_MANIFEST_DIR")`).
    pub fn new(base: impl Into<PathBuf>) -> Suite {
        let base = base.into();
        Suite {
            snapshots: base.join("tests/snapshots"),
            base,
            scenarios: Vec::new(),
            divergences: None,
            backend: Backend::Native,
            required_by: None,
        }
    }

    /// Adds a scenario file or a directory searched recursively for `*.toml`.
    pub fn scenarios(mut self, path: impl AsRef<Path>) -> Suite {
        self.scenarios.push(self.base.join(path));
        self
    }

    /// Where snapshots live (default `tests/snapshots`); Docker runs use its `docker/` folder.
    pub fn snapshots(mut self, dir: impl AsRef<Path>) -> Suite {
        self.snapshots = self.base.join(dir);
        self
    }

    /// The divergence registry (default: `divergences.toml` in the scenarios' root, if any).
    pub fn divergences(mut self, file: impl AsRef<Path>) -> Suite {
        self.divergences = Some(self.base.join(file));
        self
    }

    pub fn backend(mut self, backend: Backend) -> Suite {
        self.backend = backend;
        self
    }

    /// When the environment variable `var` is `1`, a missing build, image or engine fails the
    /// trials instead of making them ignored (default for Docker: `PGTLS_REQUIRE_DOCKER`).
    pub fn required_by(mut self, var: impl Into<String>) -> Suite {
        self.required_by = Some(var.into());
        self
    }

    /// Parses the test binary's arguments, runs every trial and returns the exit status.
    pub fn run(self) -> ExitCode {
        run_suites([self])
    }

    /// One trial per scenario file, named by the scenario (`docs/manual-crl`), so
    /// `cargo test -- manual-crl` selects it.
    pub fn trials(self) -> Result<Vec<Trial>, String> {
        let files = setup::scenario_files(&self.scenarios)?;
        if files.is_empty() {
            return Err(format!("no scenario files under {:?}", self.scenarios));
        }
        let suite = Arc::new(self);
        let mut trials = Vec::new();
        for (path, root) in files {
            let name = scenario_name(&path, &root);
            let suite = suite.clone();
            let kind = match suite.backend {
                Backend::Native | Backend::NativeBuild(_) => "native",
                Backend::Docker | Backend::Images(_) => "docker",
            };
            trials.push(Trial::ignorable_test(name, move || suite.run_file(&path, &root)).with_kind(kind));
        }
        Ok(trials)
    }

    fn run_file(&self, path: &Path, root: &Path) -> Result<Completion, Failed> {
        let scenario = crate::scenario::load_file(path, root).map_err(|e| Failed::from(e.to_string()))?;
        let targets = match self.targets() {
            Ok(t) => t,
            Err(Unavailable::Skip(reason)) => return Ok(Completion::ignored_with(reason)),
            Err(Unavailable::Fail(reason)) => return Err(reason.into()),
        };
        let cx = self.context(root)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Failed::from(format!("failed to start a runtime: {e}")))?;
        let results = rt.block_on(run_on_targets(&scenario, &targets, &cx))?;
        self.snapshot(&scenario, &results);
        let (_, failed, _) = report::totals(&results);
        if failed > 0 {
            return Err(format!("{}\n{}", report::failures(&results), report::closing_line(&results)).into());
        }
        Ok(match nothing_ran(&results) {
            Some(reason) => Completion::ignored_with(reason),
            None => Completion::Completed,
        })
    }

    fn context(&self, root: &Path) -> Result<RunContext, Failed> {
        let registry = self.divergences.clone().unwrap_or_else(|| root.join("divergences.toml"));
        let divergences = Registry::load(&registry).map_err(Failed::from)?;
        Ok(RunContext { timeout: Duration::from_secs(10), divergences, filter: None })
    }

    fn targets(&self) -> Result<Vec<Target>, Unavailable> {
        let clients = clients().map_err(Unavailable::Fail)?;
        let docker_var = self.required_by.as_deref().unwrap_or("PGTLS_REQUIRE_DOCKER");
        let optional = |var: &str, what: &str, reason: String| {
            if required(var) {
                Unavailable::Fail(format!("{what} is required ({var}=1) but unavailable: {reason}"))
            } else {
                Unavailable::Skip(format!("{what} unavailable: {reason}"))
            }
        };
        match &self.backend {
            Backend::Native => cached_targets("native", || native_targets(&[], &clients)).map_err(Unavailable::Fail),
            Backend::NativeBuild(bin) => {
                let what = format!("the build {}", bin.display());
                cached_targets(&what, || native_targets(std::slice::from_ref(bin), &clients)).map_err(|e| {
                    match &self.required_by {
                        Some(var) => optional(var, &what, e),
                        None => Unavailable::Fail(e),
                    }
                })
            }
            Backend::Docker => cached_targets("docker", || docker_targets(&local_images()?, &clients))
                .map_err(|e| optional(docker_var, "Docker", e)),
            Backend::Images(images) => {
                let what = format!("the image(s) {}", images.join(", "));
                cached_targets(&what, || {
                    server::docker::engine_available()?;
                    match images.iter().find(|i| server::docker::local_image_id(i).is_none()) {
                        Some(i) => Err(format!("{i} is not present locally")),
                        None => docker_targets(images, &clients),
                    }
                })
                .map_err(|e| optional(docker_var, &what, e))
            }
        }
    }

    fn snapshot(&self, scenario: &Scenario, results: &[ScenarioResult]) {
        match self.backend {
            Backend::Native | Backend::NativeBuild(_) => {
                for r in results {
                    snapshot_clients(&self.snapshots.join("native"), &scenario.name, r);
                }
            }
            Backend::Docker | Backend::Images(_) => {
                snapshot_majors(&self.snapshots.join("docker"), &scenario.name, results)
            }
        }
    }
}

/// Runs the trials of several suites as one test binary (e.g. a native and a Docker suite).
pub fn run_suites(suites: impl IntoIterator<Item = Suite>) -> ExitCode {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for suite in suites {
        match suite.trials() {
            Ok(t) => trials.extend(t),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    libtest_mimic::run(&args, trials).exit_code()
}

/// `docs/manual-crl` for `<root>/docs/manual-crl.toml`.
fn scenario_name(path: &Path, root: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path).with_extension("");
    rel.to_string_lossy().replace('\\', "/")
}

/// Why targets could not be had: a skip (a prerequisite is optional here) or a failure.
enum Unavailable {
    Skip(String),
    Fail(String),
}

fn required(var: &str) -> bool {
    std::env::var(var).is_ok_and(|v| v == "1")
}

/// Clients for tests: `PGTLS_CLIENTS`, else libpq, rust and every installed adapter (as
/// `pgtls run` does); with `PGTLS_REQUIRE_ADAPTERS=1` an adapter that is present but not
/// installed is an error.
fn clients() -> Result<ClientChoice, String> {
    if let Ok(v) = std::env::var("PGTLS_CLIENTS") {
        return Ok(ClientChoice { names: v.split(',').map(str::to_owned).collect(), psql: None });
    }
    let missing = crate::client::adapter::installed().1;
    if required("PGTLS_REQUIRE_ADAPTERS") && !missing.is_empty() {
        return Err(format!(
            "PGTLS_REQUIRE_ADAPTERS=1 but these adapters are not installed: {} (hint: run adapters/<name>/setup.sh)",
            missing.join(", ")
        ));
    }
    Ok(ClientChoice::default())
}

/// Targets probed once per test process and backend.
fn cached_targets(key: &str, probe: impl FnOnce() -> Result<Vec<Target>, String>) -> Result<Vec<Target>, String> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    /// Targets (or why there are none) by backend key.
    type Probed = HashMap<String, Result<Vec<Target>, String>>;
    static TARGETS: Mutex<Option<Probed>> = Mutex::new(None);
    let mut cache = TARGETS.lock().unwrap_or_else(|p| p.into_inner());
    let map = cache.get_or_insert_with(HashMap::new);
    if let Some(r) = map.get(key) {
        return r.clone();
    }
    let r = probe();
    map.insert(key.to_owned(), r.clone());
    r
}

/// Native targets: `bins`, else the build `pgtls run` would pick (`PGTLS_PG_BIN` first).
fn native_targets(bins: &[PathBuf], clients: &ClientChoice) -> Result<Vec<Target>, String> {
    let env = std::env::var_os("PGTLS_PG_BIN").map(|v| std::env::split_paths(&v).collect::<Vec<_>>());
    let bins = if bins.is_empty() { env.unwrap_or_default() } else { bins.to_vec() };
    setup::native_targets(&bins, clients).map_err(|e| format!("no PostgreSQL to run scenarios against: {e}"))
}

/// Docker targets for `images` (probing runs containers: it needs a runtime of its own).
fn docker_targets(images: &[String], clients: &ClientChoice) -> Result<Vec<Target>, String> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let choice = std::env::var("PGTLS_DOCKER_FILES").unwrap_or_else(|_| "auto".into());
    let (files, _) = server::docker::FileTransfer::choose(&choice)?;
    rt.block_on(async { crate::setup::docker_targets(images, clients, files) })
}

/// Local images of majors 13–19 under `PGTLS_IMAGE_PATTERN`; `Err` says why there are none.
pub fn local_images() -> Result<Vec<String>, String> {
    server::docker::engine_available()?;
    let pattern = std::env::var("PGTLS_IMAGE_PATTERN").unwrap_or_else(|_| "postgres:{major}".into());
    let images: Vec<String> = (13..=19)
        .map(|m| pattern.replace("{major}", &m.to_string()))
        .filter(|i| server::docker::local_image_id(i).is_some())
        .collect();
    if images.is_empty() {
        return Err(format!(
            "no local image matches {pattern} for majors 13-19 (hint: build them with ci/build-images.sh)"
        ));
    }
    Ok(images)
}

/// Runs a scenario on each target; a divergence entry that named a case of it yet explained
/// nothing fails the test (the registry must shrink when clients converge).
async fn run_on_targets(s: &Scenario, targets: &[Target], cx: &RunContext) -> Result<Vec<ScenarioResult>, Failed> {
    let mut results = Vec::new();
    for t in targets {
        results.push(runner::run_scenario(s, t, cx).await);
    }
    let ran: Vec<(String, String)> = results.iter().flat_map(ScenarioResult::attempts_run).collect();
    let stale: Vec<String> = cx.divergences.stale(&ran).iter().map(|e| format!("{} / {}", e.client, e.case)).collect();
    if !stale.is_empty() {
        return Err(format!("stale divergence entries (they explained nothing): {stale:?}").into());
    }
    Ok(results)
}

/// When not one attempt ran, why (the first skip reason), so the trial shows as ignored.
fn nothing_ran(results: &[ScenarioResult]) -> Option<String> {
    if results.iter().any(|r| !r.attempts_run().is_empty()) {
        return None;
    }
    let reason = results.iter().find_map(|r| {
        r.skipped.clone().or_else(|| {
            r.cases.iter().flat_map(|c| &c.results).find_map(|cr| match &cr.verdict {
                Verdict::Skip { reason } => Some(reason.clone()),
                _ => None,
            })
        })
    });
    Some(format!("every attempt was skipped: {}", reason.unwrap_or_else(|| "no cases selected".into())))
}

/// What a snapshot holds: one client's outcome and verdict per case.
#[derive(Serialize, PartialEq)]
struct Snap<'a> {
    scenario: &'a str,
    client: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped: Option<&'a str>,
    cases: Vec<SnapCase<'a>>,
}

#[derive(Serialize, PartialEq)]
struct SnapCase<'a> {
    case: &'a str,
    expected: &'a str,
    #[serde(flatten)]
    outcome: &'a Outcome,
    verdict: &'a Verdict,
}

/// Clients that have results in `r`, in the order they ran.
fn clients_of(r: &ScenarioResult) -> Vec<&str> {
    let mut names: Vec<&str> = Vec::new();
    for cr in r.cases.iter().flat_map(|c| &c.results) {
        if !names.contains(&cr.client.as_str()) {
            names.push(&cr.client);
        }
    }
    names
}

fn snap_of<'a>(r: &'a ScenarioResult, client: &'a str) -> Snap<'a> {
    let cases = r
        .cases
        .iter()
        .filter_map(|c| {
            let cr = c.results.iter().find(|cr| cr.client == client)?;
            Some(SnapCase { case: &c.name, expected: &c.expected, outcome: &cr.outcome, verdict: &cr.verdict })
        })
        .collect();
    Snap { scenario: &r.scenario, client, skipped: r.skipped.as_deref(), cases }
}

/// Snapshots each client of `r` as `<scenario>@<client>` in `dir`.
fn snapshot_clients(dir: &Path, scenario: &str, r: &ScenarioResult) {
    for client in clients_of(r) {
        snapshot_one(dir, scenario, None, &snap_of(r, client));
    }
}

/// Per client: the reference major's outcomes (15, else the first) as `<scenario>@<client>`,
/// and any major whose outcomes differ from them as `<scenario>@pg<major>@<client>`.
fn snapshot_majors(dir: &Path, scenario: &str, results: &[ScenarioResult]) {
    let Some(reference) = results.iter().find(|r| r.major == 15).or_else(|| results.first()) else { return };
    for client in clients_of(reference) {
        let want = filtered(&snap_of(reference, client));
        snapshot_one(dir, scenario, None, &snap_of(reference, client));
        for r in results.iter().filter(|r| r.major != reference.major) {
            let snap = snap_of(r, client);
            if filtered(&snap) != want {
                snapshot_one(dir, scenario, Some(&format!("pg{}", r.major)), &snap);
            }
        }
    }
}

/// Redactions applied to snapshots (never to reports): ports, scratch paths, image root
/// filesystems (named by image id, which changes with every image build), pids, OpenSSL's
/// reason for a key it could not decrypt (a wrong passphrase yields garbage that depends on
/// the key file's random salt and IV, so "bad decrypt", "unsupported", … vary from run to run),
/// and build details that carry no meaning: C source locations in OpenSSL's and CPython's error
/// strings (`../ssl/record/rec_layer_s3.c:1601`, `(_ssl.c:2580)`), which move with every patch
/// release, and OpenSSL 1.1's thread-id prefix of error-queue lines (`140245…:error:`). The
/// server's major in skip reasons is redacted too: it is in the snapshot's name already, and
/// majors that skip alike then share one snapshot.
pub const FILTERS: &[(&str, &str)] = &[
    (r#"(could not load private key file \\"[^"\\]*\\"): [a-z0-9 ]+"#, "$1: [openssl reason]"),
    (r#"[A-Za-z0-9_./-]*[A-Za-z0-9_]\.c:\d+"#, "[source]"),
    (r#"\b\d{6,}:error:"#, "error:"),
    (r#"port \d+"#, "port [port]"),
    (r#"(localhost|127\.0\.0\.1):\d+"#, "$1:[port]"),
    (r#"\b([a-zA-Z][a-zA-Z0-9.-]*\.[a-zA-Z]+):\d{4,5}\b"#, "$1:[port]"),
    (r#"(/[^\s"'/]+)*/pgtls-\d+-[^\s"'/]+"#, "[scratch]"),
    (r#"\[scratch\]/attempt-\d+"#, "[scratch]/attempt-[n]"),
    (r#"(/[^\s"'/]+)*/pgtls/rootfs/[0-9a-f]+"#, "[image rootfs]"),
    (r#"\(pid \d+\)"#, "(pid [pid])"),
    (r#"(does not exist in|the server is) PostgreSQL \d+"#, "$1 PostgreSQL [major]"),
    (r#"libpq \d+ \(psql [^)]*\)"#, "libpq [major] ([psql])"),
];

/// The snapshot as text with the filters and the serial redaction applied, for comparing
/// majors the way insta would.
fn filtered<T: Serialize>(v: &T) -> String {
    static RES: OnceLock<Vec<(regex::Regex, &str)>> = OnceLock::new();
    let res = RES.get_or_init(|| {
        FILTERS
            .iter()
            .chain([(r#""serial":"[^"]*""#, r#""serial":"[serial]""#)].iter())
            .filter_map(|(re, with)| regex::Regex::new(re).ok().map(|r| (r, *with)))
            .collect()
    });
    let mut text = outcome::without_basis(|| serde_json::to_string(v)).unwrap_or_default();
    for (re, with) in res {
        text = re.replace_all(&text, *with).into_owned();
    }
    text
}

fn snapshot_one(dir: &Path, scenario: &str, variant: Option<&str>, snap: &Snap<'_>) {
    let mut name = scenario.replace('/', "__");
    if let Some(v) = variant {
        name = format!("{name}@{v}");
    }
    name = format!("{name}@{}", snap.client);
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path(dir);
    settings.set_omit_expression(true);
    settings.add_redaction(".cases[].client_cert.serial", "[serial]");
    // A cancel that reached the backend before its query started is lost and sent again.
    settings.add_redaction(".cases[].cancel.requests", "[n]");
    for (re, with) in FILTERS {
        settings.add_filter(re, *with);
    }
    settings.bind(|| outcome::without_basis(|| insta::assert_yaml_snapshot!(name, snap)));
}
