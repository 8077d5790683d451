//! The runner: scenarios × backends × clients, run concurrently, judged against expectations.

mod divergence;
mod error;
mod expect;
pub mod pool;
pub mod reference;
mod relay;
mod scenario;
pub mod shard;
mod state;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use divergence::{Entry, Registry, glob};
pub use error::{RunnerError, RunnerErrorKind};
pub use scenario::{Session, unmet};
pub use state::{CasePlan, dependents_by_major, plan};

use crate::client::Client;
use crate::outcome::Outcome;
use crate::scenario::{Case, Scenario};
use crate::server::{Backend, ServerInfo};

/// A server build and the clients to run against it (libpq comes from the build under test,
/// so clients are chosen per target).
#[derive(Clone)]
pub struct Target {
    pub backend: Arc<dyn Backend>,
    pub clients: Vec<Arc<dyn Client>>,
}

/// Everything shared by the scenarios of one run.
pub struct RunContext {
    pub timeout: Duration,
    pub divergences: Registry,
    /// Only cases whose `<scenario>/<case>` contains this text run.
    pub filter: Option<String>,
}

impl RunContext {
    pub fn selects(&self, scenario: &str, case: &str) -> bool {
        match &self.filter {
            None => true,
            Some(f) => format!("{scenario}/{case}").contains(f.as_str()),
        }
    }
}

/// How one client's attempt was judged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "verdict", rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail { reasons: Vec<String> },
    Skip { reason: String },
    KnownDivergence { reason: String, reference: Option<String> },
}

/// One client's attempt at one case.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ClientResult {
    pub client: String,
    pub outcome: Outcome,
    pub verdict: Verdict,
    /// Wall time of the attempt, including gathering the server's evidence.
    pub elapsed_ms: f64,
    /// Lines `[from, to)` of the scenario result's `server_log` written during the attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_span: Option<[usize; 2]>,
}

/// Every client's attempt at one case.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CaseResult {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirrors: Option<String>,
    pub expected: String,
    /// The client whose outcome was the expectation (`expect = "reference"`); `expected` is
    /// then that client's class, or `reference` when it did not run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub results: Vec<ClientResult>,
}

impl CaseResult {
    fn new(case: &Case) -> Self {
        CaseResult {
            name: case.name.clone(),
            mirrors: case.mirrors.clone(),
            expected: case.expect.outcome.name().to_owned(),
            reference: reference::by_reference(case).then(|| reference::REFERENCE_CLIENT.to_owned()),
            results: Vec::new(),
        }
    }
}

/// Wall times of a scenario's phases, in milliseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Timings {
    pub pki_ms: u64,
    /// Creating the instance (template copy) and the first start.
    pub server_ms: u64,
    /// Steps: rewriting configuration, reloads, restarts.
    pub steps_ms: u64,
    pub connects_ms: u64,
    pub connects: usize,
    pub stop_ms: u64,
    pub total_ms: u64,
}

/// One scenario on one server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ScenarioResult {
    pub scenario: String,
    /// Backend label, e.g. `native 15.18`.
    pub server: String,
    pub major: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The harness could not run the scenario (not an outcome).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub cases: Vec<CaseResult>,
    pub timings: Timings,
    /// The server log this scenario's run wrote (scratch paths redacted; capped), attached
    /// to failure reports; attempts point into it with `log_span`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub server_log: String,
}

impl ScenarioResult {
    fn new(s: &Scenario, info: &ServerInfo) -> Self {
        ScenarioResult {
            scenario: s.name.clone(),
            server: info.label.clone(),
            major: info.version.major,
            skipped: None,
            error: None,
            cases: Vec::new(),
            timings: Timings::default(),
            server_log: String::new(),
        }
    }

    /// Counts of (passed, failed, skipped) client results; a harness error counts as failed.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for r in self.cases.iter().flat_map(|c| &c.results) {
            match r.verdict {
                Verdict::Pass | Verdict::KnownDivergence { .. } => c.0 += 1,
                Verdict::Fail { .. } => c.1 += 1,
                Verdict::Skip { .. } => c.2 += 1,
            }
        }
        if self.error.is_some() {
            c.1 += 1;
        }
        c
    }

    pub fn failed(&self) -> bool {
        self.counts().1 > 0
    }

    /// `(client, "<scenario>/<case>")` of every attempt that ran (not skipped).
    pub fn attempts_run(&self) -> Vec<(String, String)> {
        self.cases
            .iter()
            .flat_map(|c| {
                c.results
                    .iter()
                    .filter(|r| !matches!(r.verdict, Verdict::Skip { .. }))
                    .map(move |r| (r.client.clone(), format!("{}/{}", self.scenario, c.name)))
            })
            .collect()
    }
}

/// Runs one scenario on one target.
pub async fn run_scenario(scenario: &Scenario, target: &Target, cx: &RunContext) -> ScenarioResult {
    scenario::run(scenario, target, cx).await
}

/// Runs every (scenario, backend) pair, `jobs` at a time; results come back in input order.
/// `on_done` is called as each finishes (for progress bars).
pub async fn run_all(
    scenarios: &[Scenario],
    targets: &[Target],
    cx: Arc<RunContext>,
    jobs: usize,
    on_done: impl Fn(&ScenarioResult) + Send + Sync + 'static,
) -> Vec<ScenarioResult> {
    let sem = Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let on_done = Arc::new(on_done);
    let mut handles = Vec::new();
    for s in scenarios {
        for t in targets {
            let (s, t, cx, sem, on_done) = (s.clone(), t.clone(), cx.clone(), sem.clone(), on_done.clone());
            handles.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await;
                let r = run_scenario(&s, &t, &cx).await;
                on_done(&r);
                r
            }));
        }
    }
    let mut out = Vec::new();
    for h in handles {
        match h.await {
            Ok(r) => out.push(r),
            Err(e) => out.push(ScenarioResult {
                scenario: "<panicked>".into(),
                server: String::new(),
                major: 0,
                skipped: None,
                error: Some(format!("scenario task failed: {e}")),
                cases: Vec::new(),
                timings: Timings::default(),
                server_log: String::new(),
            }),
        }
    }
    out
}
