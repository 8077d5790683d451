//! The reference client: the real libpq, driven through `psql`.
//!
//! psql runs without a shell. Every connection parameter, passwords included, goes into a
//! private (0600) service file named by `PGSERVICEFILE`, so no secret appears on a command line
//! or in the environment. HOME and PGSYSCONFDIR point at the attempt's empty scratch directory,
//! so `~/.postgresql`, `~/.pgpass` and system service files cannot interfere. After connecting,
//! psql runs the same session query as every client.
//!
//! Support for a keyword is probed once per psql: libpq rejects unknown keywords with
//! "invalid connection option", and the case is then skipped for this client.
//!
//! A case's cancel action needs libpq 17's `PQcancelCreate`, which psql never calls (its
//! Ctrl-C handler uses the legacy, always-plaintext `PQcancel`): after psql connected, the
//! `pgtls-cancel` helper (src/bin/pgtls-cancel.rs) loads the libpq psql links, connects with
//! the same service file and environment, and cancels a running query.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;

pub use crate::server::psql::{Launch, PsqlLauncher, RemotePsql, RemoteRun, RunOutput};

use super::{
    Client, ClientError, ClientErrorKind as Kind, ClientFailure, ClientReport, ConnectRequest, SESSION_QUERY, Support,
    parse_session,
};
use crate::outcome::{CancelOutcome, QueryOutcome};
use crate::scenario::PgVersion;

/// Keyword values that need a newer libpq than the keyword itself.
const VALUE_GATES: &[(&str, &str, u32)] = &[("sslrootcert", "system", 16)];

/// Environment variables that are a keyword's default: libpq ignores the variable silently
/// when it lacks the keyword, so a case setting it is honoured exactly when the keyword is.
const ENV_KEYWORDS: &[(&str, &str)] = &[("PGSSLOCSPSTAPLING", "sslocspstapling")];

/// libpq through a psql binary.
pub struct LibpqClient {
    launch: Launch,
    /// Set when psql runs elsewhere; `launch.psql` is then its path there.
    remote: Option<Arc<dyn RemotePsql>>,
    version: PgVersion,
    /// `psql --version` output.
    version_text: String,
    probes: Mutex<HashMap<String, Support>>,
    /// The libpq psql links, as its loader resolves it (for the cancel helper).
    libpq: tokio::sync::OnceCell<Result<String, ClientError>>,
}

impl LibpqClient {
    /// Uses `psql`, whose `--version` gives the libpq version it is assumed to link.
    pub fn new(psql: &Path) -> Result<LibpqClient, ClientError> {
        Self::launched(Launch { psql: psql.to_owned(), loader: None })
    }

    /// Uses psql started as `launch` says.
    pub fn launched(launch: Launch) -> Result<LibpqClient, ClientError> {
        let out = launch.std_command().arg("--version").env("LC_ALL", "C").output().map_err(|e| {
            ClientError::with(Kind::Io, format!("failed to run {} --version", launch.psql.display()), e)
        })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let version = PgVersion::parse(&text).ok_or_else(|| {
            let context = format!("failed to parse `{} --version`", launch.psql.display());
            ClientError::with(Kind::Answer, context, format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
        })?;
        let version_text = text.trim().to_owned();
        Ok(LibpqClient {
            launch,
            remote: None,
            version,
            version_text,
            probes: Mutex::new(HashMap::new()),
            libpq: Default::default(),
        })
    }

    /// Uses the psql a backend reported.
    pub async fn from_launcher(launcher: PsqlLauncher) -> Result<LibpqClient, ClientError> {
        match launcher {
            // Blocks for `psql --version`, once, while targets are made.
            PsqlLauncher::Local(launch) => Self::launched(launch),
            PsqlLauncher::Remote { psql, runner } => Self::remote(&psql, runner).await,
        }
    }

    /// Uses the psql at `psql` where `remote` runs it. Keyword support is probed up front, for
    /// every keyword scenarios may set, in one remote run.
    pub async fn remote(psql: &str, remote: Arc<dyn RemotePsql>) -> Result<LibpqClient, ClientError> {
        let env = vec![("LC_ALL".to_owned(), "C".to_owned()), ("PATH".to_owned(), REMOTE_PATH.to_owned())];
        let run = |argv: Vec<String>| RemoteRun {
            argv,
            env: env.clone(),
            timeout: Duration::from_secs(30),
            ..RemoteRun::default()
        };
        let out = remote.run(&run(vec![psql.to_owned(), "--version".to_owned()])).await?;
        let version = PgVersion::parse(&out.stdout).ok_or_else(|| {
            let output = format!("{}{}", out.stdout, out.stderr);
            ClientError::with(Kind::Answer, format!("failed to parse `{psql} --version`"), output)
        })?;
        let version_text = out.stdout.trim().to_owned();
        // One psql per keyword, in one shell: `keyword<TAB>stderr`.
        let mut script = String::new();
        // `port` too: the harness sets it on every attempt.
        let keywords: Vec<&str> = crate::scenario::KEYWORDS.iter().map(|k| k.name).chain(["port"]).collect();
        for k in &keywords {
            script.push_str(&format!(
                "printf '%s\\t' {0}; {psql} -X -w -d \"{0}='' host=/nonexistent/pgtls-probe connect_timeout=2\" -c '' 2>&1 | tr -d '\\n'; echo\n",
                k
            ));
        }
        let out = remote.run(&run(vec!["bash".to_owned(), "-c".to_owned(), script])).await?;
        let client = LibpqClient {
            launch: Launch { psql: PathBuf::from(psql), loader: None },
            remote: Some(remote),
            version,
            version_text,
            probes: Mutex::new(HashMap::new()),
            libpq: Default::default(),
        };
        let mut probes = HashMap::new();
        for line in out.stdout.lines() {
            if let Some((keyword, stderr)) = line.split_once('\t') {
                probes.insert(keyword.to_owned(), client.support_from(keyword, stderr));
            }
        }
        if probes.len() < keywords.len() {
            let output = format!("{}{}", out.stdout, out.stderr);
            return Err(ClientError::with(Kind::Answer, format!("probing {psql}'s keywords failed"), output));
        }
        *client.probes.lock().unwrap_or_else(|p| p.into_inner()) = probes;
        Ok(client)
    }

    pub fn version(&self) -> PgVersion {
        self.version
    }

    pub fn psql(&self) -> &Path {
        &self.launch.psql
    }

    fn probe(&self, keyword: &str) -> Support {
        let mut cache = self.probes.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cache.get(keyword) {
            return s.clone();
        }
        if self.remote.is_some() {
            // Every keyword a scenario may set was probed when the client was made.
            return Support::No(format!("`{keyword}` was not probed for the remote psql"));
        }
        let conninfo = format!("{keyword}='' host=/nonexistent/pgtls-probe connect_timeout=2");
        let mut cmd = self.launch.std_command();
        cmd.args(["-X", "-w", "-d", &conninfo, "-c", ""]).env("LC_ALL", "C").stdin(Stdio::null());
        let support = match cmd.output() {
            Ok(o) => self.support_from(keyword, &String::from_utf8_lossy(&o.stderr)),
            Err(e) => Support::No(format!("failed to run psql: {e}")),
        };
        cache.insert(keyword.to_owned(), support.clone());
        support
    }

    /// Whether `keyword` is supported, from what psql printed when given it.
    fn support_from(&self, keyword: &str, stderr: &str) -> Support {
        if stderr.contains(&format!("invalid connection option \"{keyword}\"")) {
            Support::No(format!(
                "libpq {} (psql {}) has no `{keyword}` keyword",
                self.version.major,
                self.launch.psql.display()
            ))
        } else {
            Support::Yes
        }
    }
}

impl Client for LibpqClient {
    fn name(&self) -> &str {
        "libpq"
    }

    /// The psql's version, which is the libpq it is assumed to link.
    fn version(&self) -> Option<String> {
        Some(self.version_text.clone())
    }

    fn supports(&self, keyword: &str, value: &str) -> Support {
        if let Some((_, _, major)) = VALUE_GATES.iter().find(|(k, v, _)| *k == keyword && *v == value)
            && self.version.major < *major
        {
            return Support::No(format!("libpq {} has no {keyword}={value} (needs {major}+)", self.version.major));
        }
        self.probe(keyword)
    }

    fn runs_queries(&self) -> bool {
        true
    }

    fn cancels(&self) -> Support {
        if self.version.major < 17 {
            return Support::No(format!(
                "libpq {} has no PQcancelCreate, so no cancel request over TLS (needs 17+)",
                self.version.major
            ));
        }
        match cancel_helper() {
            Some(_) => Support::Yes,
            None => Support::No(
                "the cancel helper `pgtls-cancel` was not found next to this program or on PATH \
                 (build it with `cargo build --bin pgtls-cancel` and set PGTLS_CANCEL_HELPER)"
                    .into(),
            ),
        }
    }

    fn supports_env(&self, name: &str) -> Support {
        match ENV_KEYWORDS.iter().find(|(var, _)| *var == name) {
            Some((_, keyword)) => self.probe(keyword),
            None => Support::Yes,
        }
    }

    fn connect<'a>(&'a self, req: &'a ConnectRequest) -> BoxFuture<'a, ClientReport> {
        Box::pin(async move {
            match self.run(req).await {
                Ok(report) => report,
                Err(e) => ClientReport::Failed(ClientFailure::harness(e.to_string())),
            }
        })
    }
}

/// `PATH` for a remote psql run.
const REMOTE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// psql's arguments for an attempt (the service `pgtls` holds the parameters).
fn psql_args(req: &ConnectRequest) -> Vec<String> {
    let mut args: Vec<String> = ["-X", "-A", "-t", "-q", "-w", "-v", "ON_ERROR_STOP=1", "-d", "service=pgtls", "-c"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    args.push(SESSION_QUERY.to_owned());
    if let Some(q) = &req.query {
        // Verbose errors carry the SQLSTATE ("ERROR:  22023: …"); connection errors are
        // printed before this takes effect.
        args.extend(["-c".to_owned(), "\\set VERBOSITY verbose".to_owned(), "-c".to_owned(), q.clone()]);
    }
    args
}

impl LibpqClient {
    async fn run(&self, req: &ConnectRequest) -> Result<ClientReport, ClientError> {
        let out = self.exec(req, &self.launch.psql, psql_args(req), Vec::new()).await?;
        let mut report = self.report(out.success, out.timed_out, req, &out.stdout, &out.stderr);
        if req.cancel
            && let ClientReport::Connected(c) = &mut report
        {
            c.cancel = Some(Box::new(self.cancel(req).await));
        }
        Ok(report)
    }

    /// The cancel action, through the `pgtls-cancel` helper.
    async fn cancel(&self, req: &ConnectRequest) -> CancelOutcome {
        let failed = |error: String| CancelOutcome { error: Some(error), ..CancelOutcome::default() };
        let Some(helper) = cancel_helper() else {
            return failed("the cancel helper `pgtls-cancel` was not found".into());
        };
        let libpq = match self.libpq.get_or_init(|| self.libpq_of_psql()).await {
            Ok(path) => path.clone(),
            Err(e) => return failed(e.to_string()),
        };
        let program = match &self.remote {
            Some(remote) => PathBuf::from(remote.path(&helper)),
            None => helper.clone(),
        };
        let args = vec![
            libpq,
            "service=pgtls".to_owned(),
            super::CANCEL_QUERY.to_owned(),
            super::CANCEL_INTERVAL.as_millis().to_string(),
            super::MAX_CANCEL_REQUESTS.to_string(),
        ];
        match self.exec(req, &program, args, vec![helper]).await {
            Ok(out) if out.timed_out => failed(format!("pgtls-cancel did not finish within {:?}", req.timeout)),
            Ok(out) => cancel_outcome(&out.stdout, &out.stderr),
            Err(e) => failed(e.to_string()),
        }
    }

    /// The path of the libpq psql links, from its loader's trace (`LD_TRACE_LOADED_OBJECTS`,
    /// what `ldd` prints), so the helper loads the very library psql runs with.
    async fn libpq_of_psql(&self) -> Result<String, ClientError> {
        let psql = self.launch.psql.to_string_lossy().into_owned();
        let stdout = match &self.remote {
            Some(remote) => {
                let run = RemoteRun {
                    argv: vec!["ldd".to_owned(), psql.clone()],
                    env: vec![("LC_ALL".to_owned(), "C".to_owned()), ("PATH".to_owned(), REMOTE_PATH.to_owned())],
                    timeout: Duration::from_secs(30),
                    ..RemoteRun::default()
                };
                remote.run(&run).await?.stdout
            }
            None => {
                let mut cmd = self.launch.std_command();
                cmd.env("LD_TRACE_LOADED_OBJECTS", "1").stdin(Stdio::null());
                if let Some(v) = std::env::var_os("LD_LIBRARY_PATH") {
                    cmd.env("LD_LIBRARY_PATH", v);
                }
                let out = cmd
                    .output()
                    .map_err(|e| ClientError::with(Kind::Io, format!("failed to trace {psql}'s libraries"), e))?;
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
        };
        linked_libpq(&stdout).ok_or_else(|| {
            ClientError::with(Kind::Answer, format!("{psql} links no libpq.so.5 that its loader finds"), stdout.clone())
        })
    }

    /// Runs `program` (psql, or the cancel helper) for an attempt, here or remotely, with the
    /// attempt's service file and environment; `inputs` are further files it needs there.
    async fn exec(
        &self,
        req: &ConnectRequest,
        program: &Path,
        args: Vec<String>,
        inputs: Vec<PathBuf>,
    ) -> Result<RunOutput, ClientError> {
        if let Some(remote) = &self.remote {
            return self.run_remote(remote.as_ref(), req, program, args, inputs).await;
        }
        let service = write_service_file(req)?;
        let mut std_cmd = self.launch.std_command_for(program);
        // Keep only what the launch set (OPENSSL_CONF); the rest of the environment goes.
        let kept: Vec<(std::ffi::OsString, std::ffi::OsString)> =
            std_cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))).collect();
        std_cmd.env_clear().envs(kept);
        let mut cmd = tokio::process::Command::from(std_cmd);
        cmd.args(args);
        cmd.env("PGSERVICEFILE", &service)
            .env("PGSYSCONFDIR", &req.scratch)
            .env("HOME", &req.scratch)
            .env("LC_ALL", "C")
            .env("LANG", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for var in ["PATH", "LD_LIBRARY_PATH"] {
            if let Some(v) = std::env::var_os(var) {
                cmd.env(var, v);
            }
        }
        cmd.envs(req.env.iter().map(|(k, v)| (k, v)));
        let child =
            cmd.spawn().map_err(|e| ClientError::with(Kind::Io, format!("failed to run {}", program.display()), e))?;
        let out = match tokio::time::timeout(req.timeout, child.wait_with_output()).await {
            Ok(out) => {
                out.map_err(|e| ClientError::with(Kind::Io, format!("failed to wait for {}", program.display()), e))?
            }
            Err(_) => {
                return Ok(RunOutput { success: false, timed_out: true, stdout: String::new(), stderr: String::new() });
            }
        };
        Ok(RunOutput {
            success: out.status.success(),
            timed_out: false,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    /// Runs an attempt's psql remotely: the service file is written there, the files its
    /// parameters name are provided, and files it writes come back.
    async fn run_remote(
        &self,
        remote: &dyn RemotePsql,
        req: &ConnectRequest,
        program: &Path,
        args: Vec<String>,
        inputs: Vec<PathBuf>,
    ) -> Result<RunOutput, ClientError> {
        let mut run = RemoteRun { timeout: req.timeout, inputs, ..RemoteRun::default() };
        let mut params = Vec::with_capacity(req.params.len());
        for (k, v) in &req.params {
            let kind = crate::scenario::keyword(k).map(|kw| kw.kind);
            let value = if kind == Some(crate::scenario::ValueKind::OutputFile) {
                run.outputs.push(PathBuf::from(v));
                remote.path(Path::new(v))
            } else if v.starts_with('/') && Path::new(v).exists() {
                run.inputs.push(PathBuf::from(v));
                remote.path(Path::new(v))
            } else {
                v.clone()
            };
            params.push((k.clone(), value));
        }
        run.service = Some(service_text(&params)?);
        // The attempt's directory need not exist there: libpq only looks for files in it
        // (`~/.postgresql/…`, a system service file) and names them in its messages.
        let scratch = remote.path(&req.scratch);
        run.env = vec![
            ("PGSYSCONFDIR".to_owned(), scratch.clone()),
            ("HOME".to_owned(), scratch),
            ("LC_ALL".to_owned(), "C".to_owned()),
            ("LANG".to_owned(), "C".to_owned()),
            ("PATH".to_owned(), REMOTE_PATH.to_owned()),
        ];
        run.env.extend(req.env.iter().cloned());
        run.argv = std::iter::once(program.to_string_lossy().into_owned()).chain(args).collect();
        Ok(remote.run(&run).await?)
    }

    /// The attempt's report from psql's exit status and output.
    fn report(&self, ok: bool, timed_out: bool, req: &ConnectRequest, stdout: &str, stderr: &str) -> ClientReport {
        if timed_out {
            return ClientReport::Failed(ClientFailure {
                timed_out: true,
                message: format!("psql did not finish within {:?}", req.timeout),
                ..ClientFailure::default()
            });
        }
        let (session, rows) = stdout.split_once('\n').unwrap_or((stdout, ""));
        // The session row printed means psql connected; a later failure is the case query's.
        match (ok || req.query.is_some()).then(|| parse_session(session)) {
            Some(Ok(mut c)) => {
                if req.query.is_some() {
                    c.query = Some(query_outcome(ok, rows, stderr));
                }
                ClientReport::Connected(c)
            }
            Some(Err(e)) if ok => ClientReport::Failed(ClientFailure::harness(e.to_string())),
            _ => ClientReport::PsqlFailed(stderr.to_owned()),
        }
    }
}

/// The case query's result from psql's output: its rows (`-A -t`), or the error it printed
/// in verbose form (`ERROR:  22023: message`).
fn query_outcome(ok: bool, rows: &str, stderr: &str) -> QueryOutcome {
    if ok {
        return QueryOutcome::Rows(rows.strip_suffix('\n').unwrap_or(rows).to_owned());
    }
    let error = stderr.lines().find_map(|l| l.split_once("ERROR:  ").map(|(_, e)| e)).unwrap_or(stderr.trim());
    let sqlstate =
        error.get(..5).filter(|s| s.bytes().all(|b| b.is_ascii_alphanumeric()) && error[5..].starts_with(": "));
    let message = if sqlstate.is_some() { &error[7..] } else { error };
    QueryOutcome::Error { sqlstate: sqlstate.map(str::to_owned), message: message.to_owned() }
}

/// The `pgtls-cancel` helper: `PGTLS_CANCEL_HELPER`, else next to the running program (or
/// one directory up, where cargo keeps the binaries its test executables run beside), else on
/// `PATH`.
/// Looked up once per process: every cancel case asks, twice per attempt.
fn cancel_helper() -> Option<PathBuf> {
    static HELPER: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    HELPER.get_or_init(find_cancel_helper).clone()
}

fn find_cancel_helper() -> Option<PathBuf> {
    const NAME: &str = "pgtls-cancel";
    if let Some(p) = std::env::var_os("PGTLS_CANCEL_HELPER") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let exe = std::env::current_exe().ok();
    let beside = exe.as_deref().and_then(Path::parent).into_iter().flat_map(|d| [Some(d), d.parent()]).flatten();
    let path = std::env::var_os("PATH").unwrap_or_default();
    beside.map(Path::to_path_buf).chain(std::env::split_paths(&path)).map(|d| d.join(NAME)).find(|p| p.is_file())
}

/// `libpq.so.5 => /path (0x…)` in a loader trace.
fn linked_libpq(trace: &str) -> Option<String> {
    trace.lines().find_map(|l| {
        let (name, rest) = l.trim().split_once(" => ")?;
        let path = rest.split(" (").next()?.trim();
        (name == "libpq.so.5" && path.starts_with('/')).then(|| path.to_owned())
    })
}

/// The cancel action's outcome from the helper's lines (src/bin/pgtls-cancel.rs).
fn cancel_outcome(stdout: &str, stderr: &str) -> CancelOutcome {
    let mut out = CancelOutcome::default();
    let mut errors = Vec::new();
    for line in stdout.lines() {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "request" => {
                out.requests += 1;
                if let Some(e) = rest.strip_prefix("failed ") {
                    errors.push(format!("cancel request failed: {e}"));
                }
            }
            "result" if rest != "-" => out.sqlstate = Some(rest.to_owned()),
            "connect-failed" => errors.push(format!("the helper's connection failed: {rest}")),
            "gave-up" => errors.push(format!("the query still ran after {} cancel requests", out.requests)),
            "error" => errors.push(rest.to_owned()),
            _ => {}
        }
    }
    if !stdout.lines().any(|l| l.starts_with("result ")) && errors.is_empty() {
        errors.push(format!("pgtls-cancel printed no result: {}", stderr.trim()));
    }
    errors.dedup();
    out.error = (!errors.is_empty()).then(|| errors.join("; "));
    out
}

/// A service file defining the service `pgtls` with `params`.
fn service_text(params: &[(String, String)]) -> Result<String, ClientError> {
    let mut text = String::from("[pgtls]\n");
    for (k, v) in params {
        if v.contains('\n') {
            return Err(ClientError::new(Kind::Parameter, format!("value of `{k}` contains a newline")));
        }
        text.push_str(&format!("{k}={v}\n"));
    }
    Ok(text)
}

/// Writes the attempt's connection parameters as a service file (mode 0600).
fn write_service_file(req: &ConnectRequest) -> Result<PathBuf, ClientError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = req.scratch.join("pg_service.conf");
    let text = service_text(&req.params)?;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| ClientError::with(Kind::Io, format!("failed to write {}", path.display()), e))?;
    f.write_all(text.as_bytes()).map_err(|e| ClientError::with(Kind::Io, "", e))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_rows_and_verbose_errors_are_read_from_psql_output() {
        assert_eq!(query_outcome(true, "CA:FALSE|t\n", ""), QueryOutcome::Rows("CA:FALSE|t".into()));
        assert_eq!(query_outcome(true, "", ""), QueryOutcome::Rows(String::new()));
        let stderr =
            "psql:<stdin>:1: ERROR:  22023: invalid X.509 field name: \"invalid\"\nLOCATION:  x, sslinfo.c:1\n";
        assert_eq!(
            query_outcome(false, "", stderr),
            QueryOutcome::Error {
                sqlstate: Some("22023".into()),
                message: "invalid X.509 field name: \"invalid\"".into()
            }
        );
        let odd = query_outcome(false, "", "something else");
        assert_eq!(odd, QueryOutcome::Error { sqlstate: None, message: "something else".into() });
    }

    #[test]
    fn the_helper_and_loader_outputs_are_read() {
        let trace = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibpq.so.5 => /opt/pg/lib/libpq.so.5 (0x00007f12)\n";
        assert_eq!(linked_libpq(trace).as_deref(), Some("/opt/pg/lib/libpq.so.5"));
        assert_eq!(linked_libpq("\tlibpq.so.5 => not found\n"), None);
        let ok = cancel_outcome("libpq 180001\nconnected\nrequest ok\nrequest ok\nresult 57014\n", "");
        assert_eq!((ok.requests, ok.sqlstate.as_deref(), ok.error), (2, Some("57014"), None));
        let old = cancel_outcome("libpq 150010\nerror this libpq has no PQcancelCreate (libpq 17+)\n", "");
        assert_eq!(old.error.as_deref(), Some("this libpq has no PQcancelCreate (libpq 17+)"));
        let stuck = cancel_outcome("libpq 170000\nconnected\nrequest failed SSL error\ngave-up\n", "");
        assert_eq!(stuck.requests, 1);
        assert_eq!(
            stuck.error.as_deref(),
            Some("cancel request failed: SSL error; the query still ran after 1 cancel requests")
        );
    }
}
