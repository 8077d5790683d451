//! Runs one scenario on one backend: PKI, server, steps, one attempt per client and case.
//!
//! Attempts against one server run one at a time, so the server log written between the start
//! and the end of an attempt (its *window*) belongs to that attempt; backends seen in earlier
//! windows are excluded, so a late line from a previous attempt cannot leak in.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::{RunnerError, RunnerErrorKind as Kind};
use super::expect::{Observed, applying, mismatches};
use super::reference::{self, Judge};
use super::relay::Relay;
use super::state::{CasePlan, ConfigState, plan};
use super::{CaseResult, ClientResult, RunContext, ScenarioResult, Target, Timings, Verdict};
use crate::classify::{HbaContext, ServerEvidence, classify_attempt, psql_evidence};
use crate::cleanup::Scratch;
use crate::client::{Client, ClientReport, ConnectRequest, Support};
use crate::outcome::{Basis, Failure, FailureClass, Outcome, Side};
use crate::pki::Materialized;
use crate::scenario::{Case, Expectation, FileRefOr, PgVersion, Requires, Scenario, SettingValue, Step};
use crate::server::{Backend, Bootstrap, Instance, ServerConfig, ServerInfo, StartFailure};

/// The `host` value that names the server's Unix socket directory.
pub const SOCKET_HOST: &str = "${socket}";

/// Why requirements are not met, or `None`.
pub fn unmet(req: &Requires, info: &ServerInfo) -> Option<String> {
    if let Some(pg) = &req.pg
        && !pg.matches(info.version)
    {
        return Some(format!("needs PostgreSQL {pg}; the server is PostgreSQL {}", info.version.major));
    }
    if let Some(missing) = req.settings.iter().find(|s| !info.settings.contains(s.as_str())) {
        return Some(format!("server setting `{missing}` does not exist in PostgreSQL {}", info.version.major));
    }
    if req.root && !nix::unistd::geteuid().is_root() {
        return Some("needs root to give a file to another owner".into());
    }
    if info.ssl_library.is_none() {
        return Some("the server was built without SSL support".into());
    }
    None
}

/// Runs `scenario` on a target with each of its clients.
pub async fn run(scenario: &Scenario, target: &Target, cx: &RunContext) -> ScenarioResult {
    let t0 = Instant::now();
    let backend = target.backend.as_ref();
    let clients = &target.clients;
    let mut result = ScenarioResult::new(scenario, backend.info());
    if let Some(reason) = unmet(&scenario.requires, backend.info()) {
        result.skip_all(scenario, cx, clients, &reason);
        return result;
    }
    match Session::open(scenario, backend, &mut result.timings).await {
        Ok(mut session) => {
            session.run_cases(scenario, backend.info(), clients, cx, &mut result).await;
            result.server_log = session.instance.log_since(session.log_start).await;
            attach_log(&mut result);
            if session.pristine {
                let (backend_id, bootstrap) = (backend.id(), session.bootstrap.clone());
                super::pool::give(super::pool::Idle {
                    backend: backend_id,
                    bootstrap,
                    instance: session.into_instance(),
                });
            } else {
                session.close().await;
            }
        }
        Err(e) => result.error = Some(e.to_string()),
    }
    result.timings.total_ms = ms(t0);
    result
}

/// Most lines of server log a result keeps.
const MAX_LOG_LINES: usize = 20_000;

/// Turns the attempts' byte spans into line spans of the result's server log, then caps and
/// redacts the log: scratch directories (this scenario's, and the server's own when it came
/// from the pool) carry the run's process id and a random part.
fn attach_log(result: &mut ScenarioResult) {
    let newlines: Vec<usize> = result.server_log.match_indices('\n').map(|(i, _)| i).collect();
    let line_of = |byte: usize| newlines.partition_point(|&nl| nl < byte);
    let capped = |line: usize| line.min(MAX_LOG_LINES);
    for r in result.cases.iter_mut().flat_map(|c| c.results.iter_mut()) {
        r.log_span = r.log_span.map(|[a, b]| [capped(line_of(a)), capped(line_of(b))]);
    }
    if let Some(cut) = newlines.get(MAX_LOG_LINES - 1) {
        result.server_log.truncate(cut + 1);
    }
    static SCRATCH: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = SCRATCH.get_or_init(|| {
        let pattern = format!(r#"(/[^\s"'/]+)*/{}\d+-[^\s"'/]+"#, crate::cleanup::SCRATCH_PREFIX);
        regex::Regex::new(&pattern).expect("static regex")
    });
    if let std::borrow::Cow::Owned(redacted) = re.replace_all(&result.server_log, "[scratch]") {
        result.server_log = redacted;
    }
}

/// Makes an idle instance's roles and databases those of `bootstrap`. The server must run for
/// that; one the previous scenario left stopped is started with a neutral configuration.
async fn reuse(idle: super::pool::Idle, bootstrap: &Bootstrap) -> Result<Box<dyn Instance>, RunnerError> {
    let mut instance = idle.instance;
    if &idle.bootstrap == bootstrap {
        return Ok(instance);
    }
    if !instance.is_running() {
        instance.apply(&ServerConfig::default()).await?;
        instance
            .restart()
            .await
            .map_err(|e| RunnerError::with(Kind::Server, "failed to restart a pooled server", e))?;
    }
    let sql = crate::server::reconcile_sql(&idle.bootstrap, bootstrap);
    instance.execute(&sql).await?;
    Ok(instance)
}

fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// A running scenario: its scratch dir, PKI, server and evolving configuration.
pub struct Session {
    instance: Box<dyn Instance>,
    /// Where this scenario's part of the (possibly reused) server log starts.
    log_start: u64,
    bootstrap: Bootstrap,
    pki: Materialized,
    state: ConfigState,
    start_failure: Option<StartFailure>,
    seen_backends: BTreeSet<u32>,
    attempt_no: usize,
    scratch: Scratch,
    /// Whether the server holds only what its bootstrap made (steps can add to it).
    pristine: bool,
    /// An extension a step needs and the build lacks: this case and every later one (which
    /// may rely on it) are skipped with this reason.
    missing_extension: Option<String>,
}

impl Session {
    /// Generates the PKI, creates the instance and starts it (a failed start is recorded).
    pub async fn open(s: &Scenario, backend: &dyn Backend, timings: &mut Timings) -> Result<Session, RunnerError> {
        let scratch = Scratch::new(&scratch_label(&s.name))
            .map_err(|e| RunnerError::with(Kind::Io, "failed to create a scratch dir", e))?;
        let t = Instant::now();
        let pki_dir = scratch.path().join("pki");
        let pki = tokio::task::block_in_place(|| Materialized::generate(&s.pki, &pki_dir))
            .map_err(|e| RunnerError::with(Kind::Pki, "", e))?;
        timings.pki_ms = ms(t);
        let t = Instant::now();
        let bootstrap = Bootstrap { roles: s.server.roles.clone(), databases: s.server.databases.clone() };
        let (mut instance, reused) = match super::pool::take(&backend.id(), &bootstrap) {
            Some(idle) => (reuse(idle, &bootstrap).await?, true),
            None => (backend.create(&bootstrap).await?, false),
        };
        let log_start = instance.log_offset().await;
        // Backends of earlier scenarios on a reused server must not leak into our windows.
        let seen_backends: BTreeSet<u32> =
            crate::server::log::parse(&instance.log_since(0).await).into_iter().map(|e| e.pid).collect();
        let state = ConfigState::new(s);
        instance.apply(&state.render(&pki)).await?;
        let start_failure = if reused { instance.restart().await.err() } else { instance.start().await.err() };
        timings.server_ms = ms(t);
        Ok(Session {
            instance,
            log_start,
            bootstrap,
            pki,
            state,
            start_failure,
            seen_backends,
            attempt_no: 0,
            scratch,
            pristine: true,
            missing_extension: None,
        })
    }

    async fn run_cases(
        &mut self,
        s: &Scenario,
        info: &ServerInfo,
        clients: &[Arc<dyn Client>],
        cx: &RunContext,
        result: &mut ScenarioResult,
    ) {
        let plans = plan(s, |c| unmet(&c.requires, info), |c| cx.selects(&s.name, &c.name));
        for (case, case_plan) in s.cases.iter().zip(plans) {
            let mut cr = CaseResult::new(case);
            match &case_plan {
                CasePlan::Omitted => continue,
                CasePlan::Unmet(reason) => {
                    cr.skip(clients, reason);
                    result.cases.push(cr);
                    continue;
                }
                CasePlan::Run | CasePlan::Dependent(_) | CasePlan::StepsOnly => {}
            }
            let t = Instant::now();
            // Log expectations see what the steps logged (a reload's complaint) too.
            let case_offset = self.instance.log_offset().await;
            let step_error = self.apply_steps(&case.steps, &s.server.databases).await;
            // The harness's own connections during the steps are no attempt's (and a previous
            // attempt's late lines are noted as its own, not the next attempt's).
            self.note_backends(case_offset).await;
            result.timings.steps_ms += ms(t);
            match &case_plan {
                CasePlan::StepsOnly => continue,
                CasePlan::Dependent(reason) => {
                    cr.skip(clients, reason);
                    result.cases.push(cr);
                    continue;
                }
                _ => {}
            }
            let t = Instant::now();
            let serial = case.expect.client_serial.as_deref().and_then(|e| self.pki.pki().serial(e));
            let serial = serial.map(|x| x.decimal().to_owned());
            let mut judge = Judge::new(case, clients);
            for client in reference::order(case, clients) {
                let started = Instant::now();
                let log_from = self.instance.log_offset().await;
                let earlier = case.expect.reads_log().then(|| self.seen_backends.clone());
                let outcome = match (&step_error, &self.missing_extension, &judge) {
                    (_, Some(reason), _) => Outcome::Skipped { reason: reason.clone() },
                    (Some(e), None, _) => Outcome::harness_failure(FailureClass::Unclassified, e.clone()),
                    (None, None, Judge::Unavailable(reason)) => Outcome::Skipped { reason: reason.clone() },
                    (None, None, _) => self.attempt(s, case, client.as_ref(), cx).await,
                };
                let log = match earlier {
                    Some(earlier) if !matches!(outcome, Outcome::Skipped { .. }) => {
                        Some(self.attempt_log(case_offset, &earlier, case, info.version, &outcome).await)
                    }
                    _ => None,
                };
                let scratch = self.attempt_dir();
                let seen = Observed {
                    log: log.as_deref(),
                    client_serial: serial.as_deref(),
                    pg: Some(info.version),
                    scratch: Some(&scratch),
                };
                let mut r = match &judge {
                    Judge::Pending => {
                        let verdict = judge.reference_ran(&outcome);
                        if let Judge::Expect(e) = &judge {
                            cr.expected = e.outcome.name().to_owned();
                        }
                        ClientResult::new(client.name(), outcome, verdict)
                    }
                    Judge::Expect(e) => ClientResult::judge(s, case, e, client.name(), outcome, cx, &seen),
                    Judge::Written | Judge::Unavailable(_) => {
                        ClientResult::judge(s, case, &case.expect, client.name(), outcome, cx, &seen)
                    }
                };
                r.elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
                // Byte offsets into the log for now; `run` turns them into lines.
                let rel = |o: u64| o.saturating_sub(self.log_start) as usize;
                r.log_span = Some([rel(log_from), rel(self.instance.log_offset().await)]);
                cr.results.push(r);
                result.timings.connects += 1;
            }
            result.timings.connects_ms += ms(t);
            result.cases.push(cr);
        }
    }

    /// Applies a case's steps; `Some` describes a harness failure (not an outcome).
    async fn apply_steps(&mut self, steps: &[Step], databases: &[String]) -> Option<String> {
        for step in steps {
            self.state.change(step);
            match step {
                Step::Extension(name) => {
                    // The server is no longer what the pool promises: it is not given back.
                    self.pristine = false;
                    if !self.extension_available(name).await {
                        self.missing_extension = Some(format!(
                            "the server build has no extension `{name}` (its contrib module is not installed)"
                        ));
                        return None;
                    }
                    let sql = [format!("CREATE EXTENSION IF NOT EXISTS {}", crate::server::sql_ident(name))];
                    for db in std::iter::once("postgres").chain(databases.iter().map(String::as_str)) {
                        if let Err(e) = self.instance.execute_in(db, &sql).await {
                            return Some(e.to_string());
                        }
                    }
                }
                Step::Reload => {
                    if let Err(e) = self.instance.apply(&self.state.render(&self.pki)).await {
                        return Some(e.to_string());
                    }
                    if self.instance.is_running()
                        && let Err(e) = self.instance.reload().await
                    {
                        return Some(e.to_string());
                    }
                }
                Step::Restart => {
                    if let Err(e) = self.instance.apply(&self.state.render(&self.pki)).await {
                        return Some(e.to_string());
                    }
                    self.start_failure = self.instance.restart().await.err();
                }
                _ => {}
            }
        }
        None
    }

    /// Whether the build ships extension `name` (`pg_available_extensions`); unknown (no
    /// connection) counts as available, so the step itself reports the problem.
    async fn extension_available(&self, name: &str) -> bool {
        let Ok(admin) = self.instance.admin().await else { return true };
        let q = "SELECT count(*) FROM pg_available_extensions WHERE name = $1";
        admin.query_one(q, &[&name]).await.map_or(true, |r| r.get::<_, i64>(0) > 0)
    }

    async fn attempt(&mut self, s: &Scenario, case: &Case, client: &dyn Client, cx: &RunContext) -> Outcome {
        if let Some(f) = &self.start_failure {
            return start_failure_outcome(f);
        }
        let mut req = self.request(case, cx.timeout);
        if let Some(reason) = unsupported(client, &req) {
            return Outcome::Skipped { reason };
        }
        let relay = match self.cancel_relay(&mut req).await {
            Ok(relay) => relay,
            Err(e) => return Outcome::Skipped { reason: e.to_string() },
        };
        let offset = self.instance.log_offset().await;
        let report = client.connect(&req).await;
        let failure = match report {
            ClientReport::Connected(mut c) => {
                self.note_backends(offset).await;
                if let (Some(relay), Some(cancel)) = (&relay, c.cancel.as_mut()) {
                    let openings = relay.last(cancel.requests as usize);
                    cancel.ssl = (!openings.is_empty()).then(|| openings.iter().all(|o| o.tls()));
                    cancel.openings = openings.iter().map(|o| o.token().to_owned()).collect();
                    cancel.openings.dedup();
                }
                return Outcome::Connected(c);
            }
            ClientReport::Failed(f) => f,
            ClientReport::PsqlFailed(stderr) => psql_evidence(&stderr),
        };
        let needs_alert = (failure.server_cert_rejected && failure.verify_code.is_none()) || failure.reset;
        let ev = self.evidence(offset, needs_alert).await;
        let user = req.get("user").unwrap_or("postgres");
        let hba = HbaContext {
            lines: &self.state.hba,
            roles: &s.server.roles,
            user,
            database: req.get("dbname").unwrap_or(user),
            // A host starting with `/` is a socket directory (libpq), unless a hostaddr wins.
            addr: match (req.get("host"), req.get("hostaddr")) {
                (Some(h), None) if h.starts_with('/') => None,
                _ => Some(self.instance.endpoint().addr),
            },
        };
        let failure = classify_attempt(failure, &req, &ev, self.state.ssl_on(), &hba);
        Outcome::Failed(redact_failure(failure, self.scratch.path()))
    }

    /// For a case with a cancel action over TCP, a [`Relay`] in front of the server that the
    /// attempt's `port` now names, so the cancel connections' openings can be read.
    async fn cancel_relay(&self, req: &mut ConnectRequest) -> Result<Option<Relay>, RunnerError> {
        let socket = req.get("hostaddr").is_none() && req.get("host").is_some_and(|h| h.starts_with('/'));
        if !req.cancel || socket {
            return Ok(None);
        }
        let ep = self.instance.endpoint();
        let relay = Relay::start(ep.addr, std::net::SocketAddr::new(ep.addr, ep.port)).await?;
        for (k, v) in req.params.iter_mut() {
            if k == "port" {
                *v = relay.port().to_string();
            }
        }
        Ok(Some(relay))
    }

    /// The server log reports an attempt's log expectations are checked against: those since
    /// `offset` (the case's start) of the postmaster and of backends not in `earlier`. Server
    /// lines can trail the client's view (a failed TLS accept is logged after the alert went
    /// out), so this waits, bounded, until every `log_like` pattern matches and, for a failed
    /// attempt with `log_unlike` patterns, until the server has reported its side of it.
    async fn attempt_log(
        &mut self,
        offset: u64,
        earlier: &BTreeSet<u32>,
        case: &Case,
        pg: PgVersion,
        outcome: &Outcome,
    ) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_millis(1000);
        let pm = self.instance.postmaster_pid();
        loop {
            let window = self.instance.log_since(offset).await;
            let lines = crate::server::log::report_lines(&window, earlier);
            let liked = applying(&case.expect.log_like, Some(pg)).all(|re| lines.iter().any(|l| re.is_match(l)));
            // Only an absence needs the server's last word on a failed attempt.
            let settled = case.expect.log_unlike.is_empty()
                || match outcome {
                    Outcome::Failed(f) if f.side != Side::Harness && f.class != FailureClass::ServerFailedToStart => {
                        let ev = ServerEvidence::from_window_excluding(&window, pm, earlier);
                        ev.fatal.is_some() || ev.tls_accept_failed
                    }
                    _ => true,
                };
            if (liked && settled) || Instant::now() >= deadline {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The server evidence of the attempt that started at `offset`. When the client rejected
    /// the server certificate without saying why, the server logs the alert it received a
    /// moment after the client gave up: wait for it (bounded).
    async fn evidence(&mut self, offset: u64, wait_for_alert: bool) -> ServerEvidence {
        let deadline = Instant::now() + Duration::from_millis(if wait_for_alert { 1000 } else { 0 });
        loop {
            let window = self.instance.log_since(offset).await;
            let ev =
                ServerEvidence::from_window_excluding(&window, self.instance.postmaster_pid(), &self.seen_backends);
            if !wait_for_alert || ev.tls_accept_failed || Instant::now() >= deadline {
                self.note_backends(offset).await;
                return ev;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn note_backends(&mut self, offset: u64) {
        let window = self.instance.log_since(offset).await;
        let pm = self.instance.postmaster_pid();
        self.seen_backends
            .extend(crate::server::log::parse(&window).into_iter().map(|e| e.pid).filter(|p| Some(*p) != pm));
    }

    /// The private directory of the latest attempt (the client's `HOME` and output files).
    fn attempt_dir(&self) -> std::path::PathBuf {
        self.scratch.path().join(format!("attempt-{}", self.attempt_no))
    }

    /// Why the server is not running, if it failed to start.
    pub fn start_failure(&self) -> Option<&StartFailure> {
        self.start_failure.as_ref()
    }

    /// Stops the server.
    pub async fn close(mut self) {
        self.instance.stop().await;
    }

    fn into_instance(self) -> Box<dyn Instance> {
        self.instance
    }

    /// libpq keywords with files resolved; `host`, `hostaddr`, `port`, `user` and `dbname`
    /// defaulted (`localhost`, the server's address and port, `postgres`, `postgres`).
    pub fn request(&mut self, case: &Case, timeout: Duration) -> ConnectRequest {
        self.attempt_no += 1;
        let scratch = self.attempt_dir();
        let _ = std::fs::create_dir_all(&scratch);
        let ep = self.instance.endpoint();
        let mut params = vec![
            ("host".to_owned(), "localhost".to_owned()),
            ("hostaddr".to_owned(), ep.addr.to_string()),
            ("port".to_owned(), ep.port.to_string()),
            ("user".to_owned(), "postgres".to_owned()),
            ("dbname".to_owned(), "postgres".to_owned()),
        ];
        let mut secrets = Vec::new();
        for (kw, v) in &case.client.0 {
            let value = match v {
                FileRefOr::Text(t) => t.clone(),
                FileRefOr::File(r) => self.pki.client_value(kw, r, &scratch),
            };
            if crate::scenario::keyword(kw).is_some_and(|k| k.kind == crate::scenario::ValueKind::Secret) {
                secrets.push((*kw).to_owned());
            }
            params.retain(|(k, _)| k != kw);
            params.push(((*kw).to_owned(), value));
        }
        // `host = "${socket}"`: the server's Unix socket (libpq: a host starting with `/` is a
        // socket directory, and a `hostaddr` would win over it, so the default one goes).
        // Without a socket this machine reaches (Docker copy mode) the value stays, and the
        // attempt is skipped (`unsupported`).
        if let Some((dir, port)) =
            ep.socket.clone().filter(|_| params.iter().any(|(k, v)| k == "host" && v == SOCKET_HOST))
        {
            for (k, v) in params.iter_mut() {
                match k.as_str() {
                    "host" => *v = dir.to_string_lossy().into_owned(),
                    "port" => *v = port.to_string(),
                    _ => {}
                }
            }
            if case.client.get("hostaddr").is_none() {
                params.retain(|(k, _)| k != "hostaddr");
            }
        }
        let env = case
            .env
            .iter()
            .map(|(name, pieces)| {
                let value: String = pieces
                    .iter()
                    .map(|p| match p {
                        SettingValue::Literal(t) => t.clone(),
                        SettingValue::File(r) => self.pki.client_value(name, r, &scratch),
                    })
                    .collect();
                (name.clone(), value)
            })
            .collect();
        ConnectRequest { params, secrets, timeout, scratch, query: case.query.clone(), env, cancel: case.cancel }
    }
}

fn unsupported(client: &dyn Client, req: &ConnectRequest) -> Option<String> {
    if req.get("host") == Some(SOCKET_HOST) {
        return Some(
            "the server's Unix socket is not reachable from this machine (Docker copy mode shares no directory)".into(),
        );
    }
    if req.query.is_some() && !client.runs_queries() {
        return Some(format!("client {} does not run case queries", client.name()));
    }
    if req.cancel
        && let Support::No(reason) = client.cancels()
    {
        return Some(reason);
    }
    if let Some(reason) = req.env.iter().find_map(|(name, _)| match client.supports_env(name) {
        Support::Yes => None,
        Support::No(reason) => Some(reason),
    }) {
        return Some(reason);
    }
    req.params.iter().find_map(|(k, v)| match client.supports(k, v) {
        Support::Yes => None,
        Support::No(reason) => Some(reason),
    })
}

fn start_failure_outcome(f: &StartFailure) -> Outcome {
    let detail = match &f.fatal {
        Some(e) => format!("{}:  {}", e.severity, e.message),
        None => f.summary.clone(),
    };
    Outcome::Failed(Failure {
        class: FailureClass::ServerFailedToStart,
        side: Side::Server,
        sqlstate: f.fatal.as_ref().and_then(|e| e.sqlstate.clone()),
        alert: None,
        verify_code: None,
        ocsp: None,
        basis: Basis::Harness,
        detail,
    })
}

/// Scratch paths and the random parts of names do not belong in reports.
fn redact_failure(mut f: Failure, scratch: &std::path::Path) -> Failure {
    f.detail = f.detail.replace(&scratch.to_string_lossy().into_owned(), "[scratch]");
    f
}

fn scratch_label(name: &str) -> String {
    let tail: String = name
        .rsplit('/')
        .next()
        .unwrap_or(name)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(24)
        .collect();
    tail
}

impl ScenarioResult {
    fn skip_all(&mut self, s: &Scenario, cx: &RunContext, clients: &[Arc<dyn Client>], reason: &str) {
        self.skipped = Some(reason.to_owned());
        for case in s.cases.iter().filter(|c| cx.selects(&s.name, &c.name)) {
            let mut cr = CaseResult::new(case);
            cr.skip(clients, reason);
            self.cases.push(cr);
        }
    }
}

impl CaseResult {
    fn skip(&mut self, clients: &[Arc<dyn Client>], reason: &str) {
        for client in clients {
            self.results.push(ClientResult {
                client: client.name().to_owned(),
                outcome: Outcome::Skipped { reason: reason.to_owned() },
                verdict: Verdict::Skip { reason: reason.to_owned() },
                elapsed_ms: 0.0,
                log_span: None,
            });
        }
    }
}

impl ClientResult {
    fn new(client: &str, outcome: Outcome, verdict: Verdict) -> ClientResult {
        ClientResult { client: client.to_owned(), outcome, verdict, elapsed_ms: 0.0, log_span: None }
    }

    /// Judges an outcome against `expect` (the case's, or the one its reference gave).
    fn judge(
        s: &Scenario,
        case: &Case,
        expect: &Expectation,
        client: &str,
        outcome: Outcome,
        cx: &RunContext,
        seen: &Observed,
    ) -> ClientResult {
        let verdict = match &outcome {
            Outcome::Skipped { reason } => Verdict::Skip { reason: reason.clone() },
            o => {
                let problems = mismatches(expect, o, client, seen);
                if problems.is_empty() {
                    Verdict::Pass
                } else {
                    let path = format!("{}/{}", s.name, case.name);
                    match cx.divergences.explain(client, &path, expect.outcome.name(), o.class_name()) {
                        Some(e) => {
                            Verdict::KnownDivergence { reason: e.reason.clone(), reference: e.reference.clone() }
                        }
                        None => Verdict::Fail { reasons: problems },
                    }
                }
            }
        };
        ClientResult { client: client.to_owned(), outcome, verdict, elapsed_ms: 0.0, log_span: None }
    }
}
