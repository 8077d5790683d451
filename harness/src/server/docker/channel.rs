//! Shell scripts run in a container over one long-lived exec session.
//!
//! Without a shared filesystem (copy mode), everything the harness reads from a container (the
//! server log, the supervisor's state, a libpq client's output) goes through the engine's API.
//! An exec per request costs 40–100 ms against Docker here; a request over an exec session that
//! stays attached costs a round trip and a few forks inside the container. The session runs
//! [`LOOP`]: it reads a length line and that many bytes of script, runs the script with bash
//! and answers `<exit code> <stdout length> <stderr length>\n` followed by both outputs, so any
//! bytes may pass.

use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use testcontainers::bollard::container::LogOutput;
use testcontainers::bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::server::{ServerError, ServerErrorKind as Kind};

/// The session's program. Scripts run in the session's own shell (so one may keep a file
/// open for the next, and a request costs no fork of its own) with their output in two files;
/// `read -N` reads exactly N bytes (`LC_ALL=C`), as bash's `read` reads a pipe byte by byte,
/// so requests never run into each other. Outputs may hold any byte but NUL.
const LOOP: &str = r#"export LC_ALL=C
d=$(mktemp -d) || exit 1
while IFS= read -r n; do
  IFS= read -r -N "$n" s
  { eval "$s"; } >"$d/o" 2>"$d/e" </dev/null
  rc=$?
  IFS= read -r -d '' o <"$d/o"
  IFS= read -r -d '' e <"$d/e"
  printf '%s %s %s\n%s%s' "$rc" "${#o}" "${#e}" "$o" "$e"
done
rm -rf "$d""#;

/// How an error from [`Channels::run`] starts when the script overran its time.
pub const NO_ANSWER: &str = "no answer from the container";

/// A script's result.
#[derive(Debug, Clone)]
pub struct Output {
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == 0
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

type OutputStream = Pin<Box<dyn Stream<Item = Result<LogOutput, testcontainers::bollard::errors::Error>> + Send>>;

/// One attached exec session.
struct Session {
    input: Pin<Box<dyn AsyncWrite + Send>>,
    output: OutputStream,
    buf: Vec<u8>,
}

impl Session {
    async fn open(container: &str, user: &str) -> Result<Session, ServerError> {
        let docker = super::api().await?;
        let exec = docker
            .create_exec(
                container,
                CreateExecOptions {
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    user: Some(user),
                    cmd: Some(vec!["bash", "-c", LOOP]),
                    ..CreateExecOptions::default()
                },
            )
            .await
            .map_err(|e| {
                ServerError::with(Kind::Engine, format!("failed to create an exec session in {container}"), e)
            })?;
        match docker.start_exec(&exec.id, Some(StartExecOptions::default())).await {
            Ok(StartExecResults::Attached { output, input }) => Ok(Session { input, output, buf: Vec::new() }),
            Ok(StartExecResults::Detached) => Err(ServerError::new(Kind::Engine, "the exec session started detached")),
            Err(e) => {
                Err(ServerError::with(Kind::Engine, format!("failed to start an exec session in {container}"), e))
            }
        }
    }

    async fn run(&mut self, script: &str) -> Result<Output, ServerError> {
        let request = format!("{}\n{script}", script.len());
        self.input.write_all(request.as_bytes()).await.map_err(session_err)?;
        self.input.flush().await.map_err(session_err)?;
        let header = loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line = String::from_utf8_lossy(&self.buf[..pos]).into_owned();
                self.buf.drain(..=pos);
                break line;
            }
            self.fill().await?;
        };
        let mut fields = header.split_whitespace().map(str::parse::<i64>);
        let mut next = || {
            let field = fields.next().and_then(Result::ok);
            field.ok_or_else(|| ServerError::new(Kind::Engine, format!("exec session: bad header {header:?}")))
        };
        let (code, out_len, err_len) = (next()?, next()?, next()?);
        let (out_len, err_len) = (to_len(out_len)?, to_len(err_len)?);
        while self.buf.len() < out_len + err_len {
            self.fill().await?;
        }
        let stdout: Vec<u8> = self.buf.drain(..out_len).collect();
        let stderr: Vec<u8> = self.buf.drain(..err_len).collect();
        Ok(Output { code: i32::try_from(code).unwrap_or(-1), stdout, stderr })
    }

    /// Reads the next chunk of the session's stdout (its stderr carries nothing of ours).
    async fn fill(&mut self) -> Result<(), ServerError> {
        loop {
            match self.output.next().await {
                Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                    self.buf.extend_from_slice(&message);
                    return Ok(());
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(session_err(e)),
                None => return Err(ServerError::new(Kind::Engine, "exec session ended (the container stopped?)")),
            }
        }
    }
}

fn to_len(n: i64) -> Result<usize, ServerError> {
    usize::try_from(n).map_err(|_| ServerError::new(Kind::Engine, format!("exec session: bad length {n}")))
}

fn session_err(e: impl Into<crate::server::Cause>) -> ServerError {
    ServerError::with(Kind::Engine, "exec session", e)
}

/// Sessions in one container as one user, opened as concurrent requests need them.
pub struct Channels {
    container: String,
    user: String,
    idle: Mutex<Vec<Session>>,
}

impl Channels {
    pub fn new(container: &str, user: &str) -> Channels {
        Channels { container: container.to_owned(), user: user.to_owned(), idle: Mutex::new(Vec::new()) }
    }

    /// Opens a session ahead of the first request (sessions of one container open in parallel
    /// this way; an open costs 50–100 ms here).
    pub async fn warm(&self) -> Result<(), ServerError> {
        let session = Session::open(&self.container, &self.user).await?;
        self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(session);
        Ok(())
    }

    /// Runs `script`; a session that fails or overruns `timeout` is dropped, not reused.
    pub async fn run(&self, script: &str, timeout: Duration) -> Result<Output, ServerError> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut session = match idle {
            Some(s) => s,
            None => Session::open(&self.container, &self.user).await?,
        };
        let result = tokio::time::timeout(timeout, session.run(script))
            .await
            .unwrap_or_else(|_| Err(ServerError::new(Kind::NoAnswer, format!("{NO_ANSWER} within {timeout:?}"))));
        if result.is_ok() {
            self.idle.lock().unwrap_or_else(|p| p.into_inner()).push(session);
        }
        result
    }
}

/// `text` as one single-quoted shell word.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn quoted_words_survive_quotes() {
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
