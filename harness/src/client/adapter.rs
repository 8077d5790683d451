//! External clients through a small JSON protocol (`docs/client-adapters.md`).
//!
//! An adapter is a directory `adapters/<name>/` with an `adapter.toml` (command, supported
//! keywords) and whatever program it runs. Per attempt the harness runs the command with one
//! JSON request on stdin (libpq keywords with resolved paths, the timeout, the session query)
//! and reads one JSON answer on stdout: the session row, or evidence in the same structured
//! fields the built-in clients report. Secrets travel on stdin only.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use super::{
    Client, ClientError, ClientErrorKind as Kind, ClientFailure, ClientReport, ConnectRequest, SESSION_QUERY, Support,
    parse_session,
};
use crate::outcome::{CancelOutcome, Connected, QueryOutcome};

/// Protocol version written in every request.
pub const PROTOCOL_VERSION: u32 = 1;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    name: String,
    description: Option<String>,
    /// Program and arguments, relative paths resolved against the adapter directory.
    command: Vec<String>,
    /// libpq keywords the adapter implements.
    keywords: Vec<String>,
    /// `[keyword, value]` pairs it does not implement although it knows the keyword.
    #[serde(default)]
    unsupported_values: Vec<(String, String)>,
    /// The command serves one request per line until stdin closes (JSON lines), instead of
    /// one request per process.
    #[serde(default)]
    persistent: bool,
    /// The adapter runs a request's `query` and answers its result.
    #[serde(default)]
    queries: bool,
    /// The adapter runs a request's `cancel` action and answers what became of it.
    #[serde(default)]
    cancel: bool,
}

/// A request's cancel action: run `query`, send a cancel request through the driver's cancel
/// path every `interval_ms` while it runs, at most `max` of them.
#[derive(Debug, Serialize)]
pub struct CancelRequest {
    pub query: &'static str,
    pub interval_ms: u64,
    pub max: u32,
}

/// The request written to the adapter's stdin.
#[derive(Debug, Serialize)]
pub struct Request<'a> {
    pub version: u32,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub timeout_ms: u64,
    pub session_query: &'a str,
    pub scratch: &'a Path,
    /// The case's query, sent only to adapters whose manifest says `queries = true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<&'a str>,
    /// The case's cancel action, sent only to adapters whose manifest says `cancel = true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel: Option<CancelRequest>,
}

/// The adapter's answer.
#[derive(Debug, Deserialize)]
#[serde(tag = "result", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Response {
    /// The session query's single text value.
    Connected {
        session: String,
        /// The result of the request's `query`, when it had one.
        #[serde(default)]
        query: Option<QueryOutcome>,
        /// What became of the request's cancel action (`requests`, `sqlstate`, `error`).
        #[serde(default)]
        cancel: Option<CancelOutcome>,
    },
    Failed {
        evidence: ClientFailure,
    },
}

/// A client implemented by an external program.
pub struct AdapterClient {
    name: String,
    dir: PathBuf,
    manifest: Manifest,
    /// Idle processes of a persistent adapter.
    idle: std::sync::Mutex<Vec<Served>>,
}

/// A running persistent adapter process, owned by a thread of its own: tokio's pipe handles
/// belong to the runtime that made them, and one client serves attempts from many runtimes
/// (each test has its own). Dropping it closes the adapter's stdin, and the thread kills it.
struct Served {
    requests: std::sync::mpsc::Sender<(Vec<u8>, tokio::sync::oneshot::Sender<std::io::Result<String>>)>,
    pid: u32,
}

impl Served {
    fn start(mut cmd: std::process::Command) -> std::io::Result<Served> {
        use std::io::{BufRead, Write};
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn()?;
        let mut stdin = child.stdin.take().ok_or_else(|| std::io::Error::other("no stdin"))?;
        let mut stdout =
            std::io::BufReader::new(child.stdout.take().ok_or_else(|| std::io::Error::other("no stdout"))?);
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel::<(Vec<u8>, tokio::sync::oneshot::Sender<std::io::Result<String>>)>();
        std::thread::Builder::new().name("pgtls-adapter".into()).spawn(move || {
            for (body, reply) in rx {
                let mut line = String::new();
                let r = stdin
                    .write_all(&body)
                    .and_then(|()| stdin.write_all(b"\n"))
                    .and_then(|()| stdin.flush())
                    .and_then(|()| stdout.read_line(&mut line));
                let failed = !matches!(r, Ok(n) if n > 0);
                let _ = reply.send(r.map(|_| line));
                if failed {
                    break;
                }
            }
            let _ = child.kill();
            let _ = child.wait();
        })?;
        Ok(Served { requests: tx, pid })
    }
}

/// Where adapters live: `PGTLS_ADAPTERS_DIR`, else `adapters/` next to the workspace.
pub fn adapters_dir() -> PathBuf {
    std::env::var_os("PGTLS_ADAPTERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("adapters"))
}

/// Names of the adapters whose program is installed (its command resolves), and the names of
/// those that are present but not installed.
pub fn installed() -> (Vec<String>, Vec<String>) {
    let (mut yes, mut no) = (Vec::new(), Vec::new());
    let Ok(entries) = std::fs::read_dir(adapters_dir()) else { return (yes, no) };
    let mut dirs: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.join("adapter.toml").is_file()).collect();
    dirs.sort();
    for dir in dirs {
        let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else { continue };
        let found = load_adapter(&name).is_ok_and(|a| a.program_found());
        if found { yes.push(name) } else { no.push(name) }
    }
    (yes, no)
}

/// Loads adapter `name` from the adapters directory.
pub fn load(name: &str) -> Result<Arc<dyn Client>, ClientError> {
    Ok(Arc::new(load_adapter(name)?))
}

fn load_adapter(name: &str) -> Result<AdapterClient, ClientError> {
    let dir = adapters_dir().join(name);
    let path = dir.join("adapter.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        let hint = super::unknown_name_hint(name);
        let path = path.display();
        ClientError::new(
            Kind::Manifest,
            format!("unknown client `{name}`: not libpq, rust, or an adapter ({path}: {e}) (hint: {hint})"),
        )
    })?;
    let manifest: Manifest = toml::from_str(&text)
        .map_err(|e| ClientError::with(Kind::Manifest, format!("failed to load {}", path.display()), e))?;
    if manifest.command.is_empty() {
        return Err(ClientError::new(Kind::Manifest, format!("failed to load {}: `command` is empty", path.display())));
    }
    Ok(AdapterClient { name: manifest.name.clone(), dir, manifest, idle: std::sync::Mutex::new(Vec::new()) })
}

impl AdapterClient {
    pub fn description(&self) -> Option<&str> {
        self.manifest.description.as_deref()
    }

    async fn run(&self, req: &ConnectRequest) -> Result<ClientReport, ClientError> {
        let mut params = serde_json::Map::new();
        for (k, v) in &req.params {
            params.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        let request = Request {
            version: PROTOCOL_VERSION,
            params,
            timeout_ms: req.timeout.as_millis() as u64,
            session_query: SESSION_QUERY,
            scratch: &req.scratch,
            query: req.query.as_deref(),
            cancel: req.cancel.then_some(CancelRequest {
                query: super::CANCEL_QUERY,
                interval_ms: super::CANCEL_INTERVAL.as_millis() as u64,
                max: super::MAX_CANCEL_REQUESTS,
            }),
        };
        let body = serde_json::to_vec(&request).map_err(|e| ClientError::with(Kind::Io, "", e))?;
        let stdout = if self.manifest.persistent {
            self.ask_served(body, req).await?
        } else {
            self.ask_once(&body, req).await?
        };
        let response: Response = serde_json::from_str(stdout.trim()).map_err(|e| {
            let text = format!("adapter `{}` answered something that is not a response ({e}): {stdout}", self.name);
            ClientError::new(Kind::Answer, text)
        })?;
        Ok(match response {
            Response::Connected { session, query, cancel } => match parse_session(&session) {
                Ok(_) if req.query.is_some() && query.is_none() => {
                    return Err(ClientError::new(
                        Kind::Answer,
                        format!("adapter `{}` answered no result for the query", self.name),
                    ));
                }
                Ok(_) if req.cancel && cancel.is_none() => {
                    return Err(ClientError::new(
                        Kind::Answer,
                        format!("adapter `{}` answered no result for the cancel action", self.name),
                    ));
                }
                // The relay, not the adapter, says how the cancel connections opened.
                Ok(c) => ClientReport::Connected(Connected {
                    query,
                    cancel: cancel.map(|k| Box::new(CancelOutcome { ssl: None, openings: Vec::new(), ..k })),
                    ..c
                }),
                Err(m) => return Err(m),
            },
            Response::Failed { evidence } => ClientReport::Failed(evidence),
        })
    }

    fn command(&self, req: &ConnectRequest) -> std::process::Command {
        let program = self.resolve(&self.manifest.command[0]);
        let mut cmd = std::process::Command::new(&program);
        cmd.args(self.manifest.command[1..].iter().map(|a| self.resolve(a)))
            .current_dir(&self.dir)
            .env("HOME", &req.scratch)
            .env("LC_ALL", "C.UTF-8")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        cmd
    }

    /// One process per request: the request on stdin, the answer on stdout.
    async fn ask_once(&self, body: &[u8], req: &ConnectRequest) -> Result<String, ClientError> {
        let mut cmd = tokio::process::Command::from(self.command(req));
        cmd.stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| ClientError::with(Kind::Io, format!("failed to run adapter `{}`", self.name), e))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(body).await.map_err(|e| ClientError::with(Kind::Io, "failed to write the request", e))?;
        }
        // The adapter enforces the timeout itself; this bound only catches a hung adapter.
        let grace = req.timeout + std::time::Duration::from_secs(5);
        let out = tokio::time::timeout(grace, child.wait_with_output())
            .await
            .map_err(|_| {
                ClientError::new(Kind::NoAnswer, format!("adapter `{}` gave no answer within {grace:?}", self.name))
            })?
            .map_err(|e| ClientError::with(Kind::Io, "", e))?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A line to an idle persistent process (started when none is idle), a line back. A
    /// process that fails or hangs is dropped (and killed), never reused.
    async fn ask_served(&self, body: Vec<u8>, req: &ConnectRequest) -> Result<String, ClientError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let served = match idle {
            Some(s) => s,
            None => Served::start(self.command(req))
                .map_err(|e| ClientError::with(Kind::Io, format!("failed to run adapter `{}`", self.name), e))?,
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        let gone = || ClientError::new(Kind::NoAnswer, format!("adapter `{}` is gone", self.name));
        served.requests.send((body, reply)).map_err(|_| gone())?;
        let grace = req.timeout + std::time::Duration::from_secs(5);
        let line = match tokio::time::timeout(grace, answer).await {
            Ok(Ok(Ok(line))) if !line.is_empty() => line,
            Ok(Ok(Ok(_))) => {
                return Err(ClientError::new(
                    Kind::NoAnswer,
                    format!("adapter `{}` exited without answering", self.name),
                ));
            }
            Ok(Ok(Err(e))) => return Err(ClientError::with(Kind::Io, format!("adapter `{}` failed", self.name), e)),
            Ok(Err(_)) => return Err(gone()),
            Err(_) => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(served.pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
                return Err(ClientError::new(
                    Kind::NoAnswer,
                    format!("adapter `{}` gave no answer within {grace:?}", self.name),
                ));
            }
        };
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(served);
        Ok(line)
    }

    /// Whether the manifest's program exists: the resolved path, or a bare name on `PATH`.
    fn program_found(&self) -> bool {
        let program = &self.manifest.command[0];
        if program.contains('/') {
            return self.resolve(program).exists();
        }
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
    }

    fn resolve(&self, arg: &str) -> PathBuf {
        let p = self.dir.join(arg);
        if (arg.starts_with("./") || arg.contains('/')) && p.exists() { p } else { PathBuf::from(arg) }
    }
}

impl Client for AdapterClient {
    fn name(&self) -> &str {
        &self.name
    }

    /// The manifest's description, which names the driver and its version.
    fn version(&self) -> Option<String> {
        self.manifest.description.clone()
    }

    fn runs_queries(&self) -> bool {
        self.manifest.queries
    }

    fn cancels(&self) -> Support {
        if self.manifest.cancel {
            Support::Yes
        } else {
            Support::No(format!("adapter `{}` does not declare `cancel = true`", self.name))
        }
    }

    fn supports(&self, keyword: &str, value: &str) -> Support {
        if !self.manifest.keywords.iter().any(|k| k == keyword) {
            return Support::No(format!("adapter `{}` does not implement `{keyword}`", self.name));
        }
        if self.manifest.unsupported_values.iter().any(|(k, v)| k == keyword && v == value) {
            return Support::No(format!("adapter `{}` does not implement {keyword}={value}", self.name));
        }
        Support::Yes
    }

    fn connect<'a>(&'a self, req: &'a ConnectRequest) -> BoxFuture<'a, ClientReport> {
        Box::pin(async move {
            self.run(req).await.unwrap_or_else(|e| ClientReport::Failed(ClientFailure::harness(e.to_string())))
        })
    }
}
