//! How the build under test's psql runs: the fact a backend reports for the libpq client
//! ([`PsqlLauncher`]), so the client (a layer above) is made from it and no backend builds
//! clients. psql runs here, through another system's loader (an image's psql on this host), or
//! elsewhere ([`RemotePsql`], in a container of the image in Docker copy mode).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

/// How a backend's psql runs.
#[derive(Clone)]
pub enum PsqlLauncher {
    /// On this machine.
    Local(Launch),
    /// Where `runner` runs it; `psql` is its path there.
    Remote { psql: String, runner: Arc<dyn RemotePsql> },
}

/// How to start psql: directly, or through another system's dynamic loader (the psql of a
/// container image run on this host with the image's own glibc, libpq and OpenSSL).
#[derive(Debug, Clone)]
pub struct Launch {
    pub psql: PathBuf,
    /// `(ld.so, library path, OpenSSL config)` of the system psql belongs to.
    pub loader: Option<(PathBuf, String, Option<PathBuf>)>,
}

/// A psql that runs elsewhere (the image's own, in a container of the image under test) and
/// sees this machine's files only as they are handed to it.
pub trait RemotePsql: Send + Sync {
    /// Where a file or directory of this machine is found by the remote psql.
    fn path(&self, here: &Path) -> String;
    /// Provides `inputs`, writes `service` to a private file named by `PGSERVICEFILE`, runs
    /// `argv` with exactly `env` (plus that), and brings `outputs` back here.
    fn run<'a>(&'a self, run: &'a RemoteRun) -> BoxFuture<'a, Result<RunOutput, super::ServerError>>;
}

/// One remote psql run: `argv`, `env` and `service` carry remote paths
/// ([`RemotePsql::path`]), `inputs` and `outputs` this machine's.
#[derive(Debug, Clone, Default)]
pub struct RemoteRun {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Files and directories psql reads.
    pub inputs: Vec<PathBuf>,
    /// A connection service file's text, with remote paths in place.
    pub service: Option<String>,
    /// Files psql writes.
    pub outputs: Vec<PathBuf>,
    pub timeout: Duration,
}

/// What a remote run printed, with remote paths turned back into this machine's.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub success: bool,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Launch {
    pub fn std_command(&self) -> std::process::Command {
        self.std_command_for(&self.psql)
    }

    /// Runs `program` as psql would run: with psql's library path or loader.
    pub fn std_command_for(&self, program: &Path) -> std::process::Command {
        let mut c = match &self.loader {
            None => {
                let mut c = std::process::Command::new(program);
                if let Some(lib) = self.psql.parent().and_then(crate::server::embedded::library_path) {
                    c.env("LD_LIBRARY_PATH", lib);
                }
                c
            }
            Some((ld, libs, _)) => {
                let mut c = std::process::Command::new(ld);
                c.arg("--library-path").arg(libs).arg(program);
                c
            }
        };
        if let Some((_, _, Some(conf))) = &self.loader {
            c.env("OPENSSL_CONF", conf);
        }
        c
    }
}
