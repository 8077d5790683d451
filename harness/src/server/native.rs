//! The native backend: PostgreSQL binaries on this machine, any build.
//!
//! initdb costs 0.5–1 s, copying an initialised data directory ~0.1 s, so each binary set is
//! initialised once into a cached template, and each distinct set of roles and databases once
//! more into a second-level template; an instance is a copy of the latter. Templates live in
//! the cache directory (`PGTLS_CACHE_DIR`, else `$XDG_CACHE_HOME/pgtls`, else
//! `~/.cache/pgtls`), keyed by binary path, version and bootstrap contents, and are built under
//! a file lock so concurrent runs share them.

use std::collections::BTreeSet;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::process::{self, ServerUser};
use super::{
    Backend, Bootstrap, ConfigLayout, Endpoint, Instance, ServerConfig, ServerError, ServerErrorKind as Kind,
    ServerInfo, StartFailure, harness_settings,
};
use crate::scenario::PgVersion;

/// A PostgreSQL binary directory and what it contains.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub bindir: PathBuf,
}

impl Binaries {
    /// Finds binaries: `pg_bin`, then `PGTLS_PG_BIN`, then `pg_config --bindir` from PATH, then
    /// the newest Debian-style `/usr/lib/postgresql/*/bin`, then the embedded default (fetched
    /// once, see [`super::embedded`]).
    pub fn discover(pg_bin: Option<&Path>) -> Result<Binaries, ServerError> {
        let candidates = [
            pg_bin.map(|p| (p.to_owned(), "--pg-bin")),
            std::env::var_os("PGTLS_PG_BIN").map(|p| (PathBuf::from(p), "PGTLS_PG_BIN")),
        ];
        if let Some((dir, source)) = candidates.into_iter().flatten().next() {
            return Binaries::at(&dir).map_err(|e| e.context(format!("{source} {}", dir.display())));
        }
        if let Some(dir) = pg_config_bindir()
            && let Ok(b) = Binaries::at(&dir)
        {
            return Ok(b);
        }
        if let Some(dir) = newest_debian_bindir() {
            return Binaries::at(&dir);
        }
        let dir = super::embedded::bindir().map_err(|e| {
            ServerError::new(
                Kind::Unavailable,
                format!(
                    "failed to find PostgreSQL binaries: no --pg-bin, no PGTLS_PG_BIN, no pg_config on PATH, no \
                     /usr/lib/postgresql/*/bin, and the embedded default is unavailable: {e} (hint: install \
                     postgresql, e.g. `apt-get install postgresql`, or pass --pg-bin DIR)"
                ),
            )
        })?;
        Binaries::at(&dir)
    }

    fn at(dir: &Path) -> Result<Binaries, ServerError> {
        for prog in ["postgres", "initdb"] {
            if !dir.join(prog).is_file() {
                return Err(ServerError::new(Kind::Unavailable, format!("no `{prog}` in this directory")));
            }
        }
        let bindir = dir.canonicalize().map_err(ServerError::io)?;
        Ok(Binaries { bindir })
    }

    pub fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }

    /// A command running program `name` of this build as `user`, with the libraries the
    /// embedded build brought along on the library path (its programs also start each other).
    pub fn command(&self, user: &ServerUser, name: &str) -> std::process::Command {
        let mut cmd = user.command(self.program(name));
        if let Some(lib) = super::embedded::library_path(&self.bindir) {
            cmd.env("LD_LIBRARY_PATH", lib);
        }
        cmd
    }
}

fn pg_config_bindir() -> Option<PathBuf> {
    let out = std::process::Command::new("pg_config").arg("--bindir").output().ok()?;
    out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

fn newest_debian_bindir() -> Option<PathBuf> {
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, p): &(u32, PathBuf)| p.join("postgres").is_file())
        .collect();
    majors.sort();
    majors.pop().map(|(_, p)| p)
}

/// The native backend for one binary set.
pub struct NativeBackend {
    bins: Binaries,
    user: ServerUser,
    info: ServerInfo,
    base_template: PathBuf,
}

impl NativeBackend {
    /// Probes the binaries (version, settings, SSL library) and makes sure the base template
    /// exists. Blocking: call it once per binary set, before running scenarios.
    pub fn new(bins: Binaries) -> Result<NativeBackend, ServerError> {
        let user = ServerUser::detect()?;
        let cache = crate::cache::dir();
        let version_text = run_text(&user, &bins, "postgres", &["--version"])?;
        let version = PgVersion::parse(&version_text).ok_or_else(|| {
            ServerError::new(Kind::Unavailable, format!("failed to parse `postgres --version` output: {version_text}"))
        })?;
        let settings = describe_config(&user, &bins)?;
        let key = template_key_of(&[&bins.bindir.to_string_lossy(), &version_text, TEMPLATE_RECIPE]);
        let base_template = cache.join("templates").join(format!("pg{}-{key}", version.major));
        ensure_template(&base_template, |tmp| initdb(&user, &bins, tmp))?;
        let ssl_library = std::fs::read_to_string(base_template.join(SSL_LIBRARY_FILE))
            .map(|s| s.trim().to_owned())
            .ok()
            .filter(|s| !s.is_empty());
        let info = ServerInfo {
            label: format!("native {}.{}", version.major, version.minor),
            version,
            version_text,
            ssl_library,
            settings,
        };
        Ok(NativeBackend { bins, user, info, base_template })
    }

    pub fn bindir(&self) -> &Path {
        &self.bins.bindir
    }

    /// The second-level template with `bootstrap`'s roles and databases.
    fn bootstrap_template(&self, bootstrap: &Bootstrap) -> Result<PathBuf, ServerError> {
        if bootstrap.roles.is_empty() && bootstrap.databases.is_empty() {
            return Ok(self.base_template.clone());
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bootstrap.hash(&mut h);
        let dir = self.base_template.with_file_name(format!(
            "{}-boot-{:016x}",
            self.base_template.file_name().unwrap_or_default().to_string_lossy(),
            h.finish()
        ));
        ensure_template(&dir, |tmp| self.build_bootstrap(tmp, bootstrap))?;
        Ok(dir)
    }

    /// Copies the base template to `tmp`, starts it on a socket only, runs the bootstrap SQL
    /// and shuts it down cleanly.
    fn build_bootstrap(&self, tmp: &Path, bootstrap: &Bootstrap) -> Result<(), ServerError> {
        let data = tmp.join("data");
        process::copy_tree(&self.base_template.join("data"), &data).map_err(ServerError::io)?;
        self.user.chown_tree(tmp).map_err(ServerError::io)?;
        // A thread of its own, so its runtime never nests inside the caller's.
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ServerError::io)?;
                rt.block_on(self.run_bootstrap(tmp, &data, bootstrap))
            })
            .join()
            .map_err(|_| ServerError::new(Kind::Io, "bootstrap thread panicked"))?
        })
    }

    async fn run_bootstrap(&self, tmp: &Path, data: &Path, bootstrap: &Bootstrap) -> Result<(), ServerError> {
        {
            let mut inst = NativeInstance::new(self, tmp.to_owned(), data.to_owned(), "".into());
            let config = ServerConfig::default();
            inst.write_files(&config).map_err(ServerError::io)?;
            inst.start_inner().await.map_err(|e| ServerError::of(Kind::Command, format!("{e}\n{}", e.log_tail)))?;
            let client = inst.admin().await.map_err(|e| ServerError::of(Kind::Admin, e))?;
            for stmt in super::bootstrap_sql(bootstrap) {
                client
                    .batch_execute(&stmt)
                    .await
                    .map_err(|e| ServerError::with(Kind::Admin, format!("bootstrap `{stmt}` failed"), e))?;
            }
            drop(client);
            inst.shutdown(Signal::SIGINT).await;
            // The include line stays; the file is rewritten per instance.
            let _ = std::fs::remove_file(data.join(CONF_INCLUDE));
            let _ = std::fs::remove_file(data.join("postmaster.opts"));
            Ok(())
        }
    }
}

/// Bump when the template recipe changes, so caches rebuild.
const TEMPLATE_RECIPE: &str = "initdb -N -U postgres -A trust -E UTF8 --locale=C --wal-segsize=1 +include v1";
const CONF_INCLUDE: &str = "pgtls.conf";

/// A short stable key for cache entries made from `parts`.
pub(crate) fn template_key_of(parts: &[&str]) -> String {
    let mut h = openssl::sha::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(b"\0");
    }
    hex::encode(&h.finish()[..8])
}

fn run_text(user: &ServerUser, bins: &Binaries, program: &str, args: &[&str]) -> Result<String, ServerError> {
    let mut cmd = bins.command(user, program);
    cmd.args(args);
    let out = process::run(&mut cmd)
        .map_err(|e| ServerError::with(Kind::Io, format!("failed to run {}", process::describe(&cmd)), e))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(ServerError::with(Kind::Command, format!("`{}` failed", process::describe(&cmd)), stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn describe_config(user: &ServerUser, bins: &Binaries) -> Result<BTreeSet<String>, ServerError> {
    let text = run_text(user, bins, "postgres", &["--describe-config"])?;
    Ok(text.lines().filter_map(|l| l.split('\t').next()).filter(|s| !s.is_empty()).map(str::to_owned).collect())
}

/// Where the template records `ssl_library` (probing needs the server user, which may not
/// reach the cache directory later).
const SSL_LIBRARY_FILE: &str = "ssl_library";

fn initdb(user: &ServerUser, bins: &Binaries, tmp: &Path) -> Result<(), ServerError> {
    user.chown_tree(tmp).map_err(ServerError::io)?;
    let data = tmp.join("data");
    let mut cmd = bins.command(user, "initdb");
    cmd.args(["-N", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-instructions"]);
    cmd.arg("-D").arg(&data);
    // --wal-segsize (PG 11+) shrinks pg_wal from 16 MB to 1 MB: every instance copies it.
    cmd.arg("--wal-segsize=1");
    let out = process::run(&mut cmd).map_err(ServerError::io)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(ServerError::with(Kind::Command, "initdb failed", stderr));
    }
    let lib = run_text(user, bins, "postgres", &["-D", &data.to_string_lossy(), "-C", "ssl_library"])?;
    std::fs::write(tmp.join(SSL_LIBRARY_FILE), lib).map_err(ServerError::io)?;
    let conf = data.join("postgresql.conf");
    let mut text = std::fs::read_to_string(&conf).map_err(ServerError::io)?;
    text.push_str(&format!("\ninclude_if_exists '{CONF_INCLUDE}'\n"));
    std::fs::write(&conf, text).map_err(ServerError::io)
}

/// Builds `dir` with `build` unless it exists, under a lock; `build` gets a scratch directory
/// that becomes `dir` on success.
fn ensure_template(dir: &Path, build: impl FnOnce(&Path) -> Result<(), ServerError>) -> Result<(), ServerError> {
    if dir.join("data/PG_VERSION").is_file() {
        return Ok(());
    }
    let parent = dir.parent().ok_or_else(|| ServerError::new(Kind::Io, "template path has no parent"))?;
    std::fs::create_dir_all(parent)
        .map_err(|e| ServerError::with(Kind::Io, format!("failed to create cache dir {}", parent.display()), e))?;
    let lock = File::create(dir.with_extension("lock")).map_err(ServerError::io)?;
    let _guard = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| ServerError::of(Kind::Io, e))?;
    if dir.join("data/PG_VERSION").is_file() {
        return Ok(());
    }
    // Build in a world-traversable scratch dir: the server user must reach it even when the
    // cache lives in root's home.
    let scratch = crate::cleanup::Scratch::new("template").map_err(ServerError::io)?;
    make_traversable(scratch.path()).map_err(ServerError::io)?;
    let work = scratch.path().join("t");
    std::fs::create_dir(&work).map_err(ServerError::io)?;
    build(&work)?;
    let staged = dir.with_extension("new");
    let _ = std::fs::remove_dir_all(&staged);
    process::copy_tree(&work, &staged).map_err(ServerError::io)?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&staged, dir).map_err(ServerError::io)
}

fn make_traversable(p: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
}

impl Backend for NativeBackend {
    fn info(&self) -> &ServerInfo {
        &self.info
    }

    fn id(&self) -> String {
        format!("native:{}", self.bins.bindir.display())
    }

    fn create<'a>(&'a self, bootstrap: &'a Bootstrap) -> BoxFuture<'a, Result<Box<dyn Instance>, ServerError>> {
        Box::pin(async move {
            let template = tokio::task::block_in_place(|| self.bootstrap_template(bootstrap))
                .map_err(|e| e.context("failed to prepare the bootstrap template"))?;
            let scratch = crate::cleanup::Scratch::new("server")
                .map_err(|e| ServerError::with(Kind::Io, "failed to create a server dir", e))?;
            let root = scratch.path().join("server");
            let data = root.join("data");
            tokio::task::block_in_place(|| -> std::io::Result<()> {
                make_traversable(scratch.path())?;
                process::copy_tree(&template.join("data"), &data)?;
                std::fs::create_dir_all(root.join("ssl"))?;
                self.user.chown_tree(&root)
            })
            .map_err(|e| ServerError::with(Kind::Io, "failed to copy the template", e))?;
            let mut inst = NativeInstance::new(self, root, data, "127.0.0.1".into());
            inst.scratch = Some(scratch);
            Ok(Box::new(inst) as Box<dyn Instance>)
        })
    }
}

/// One native server.
pub struct NativeInstance {
    bins: Binaries,
    user: ServerUser,
    root: PathBuf,
    data: PathBuf,
    listen: String,
    port: u16,
    log_path: PathBuf,
    child: Option<Child>,
    /// The directory the instance lives in, removed after the server stopped.
    scratch: Option<crate::cleanup::Scratch>,
}

impl NativeInstance {
    fn new(backend: &NativeBackend, root: PathBuf, data: PathBuf, listen: String) -> Self {
        NativeInstance {
            bins: backend.bins.clone(),
            user: backend.user.clone(),
            log_path: root.join("server.log"),
            root,
            data,
            listen,
            port: free_port(),
            child: None,
            scratch: None,
        }
    }

    fn socket_dir(&self) -> PathBuf {
        self.root.clone()
    }

    fn ssl_dir(&self) -> PathBuf {
        self.root.join("ssl")
    }

    async fn start_inner(&mut self) -> Result<(), StartFailure> {
        let log =
            File::options().create(true).append(true).open(&self.log_path).map_err(|e| start_err(e.to_string()))?;
        let log2 = log.try_clone().map_err(|e| start_err(e.to_string()))?;
        let mut cmd = self.bins.command(&self.user, "postgres");
        cmd.arg("-D").arg(&self.data).stdin(Stdio::null()).stdout(log).stderr(log2);
        let offset = self.log_offset().await;
        let child = process::spawn_tied(cmd).map_err(|e| start_err(format!("failed to spawn postgres: {e}")))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.forget_child();
                return Err(self.start_failure(offset, format!("postgres exited with {status}")).await);
            }
            if self.admin().await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.shutdown(Signal::SIGKILL).await;
                return Err(self.start_failure(offset, "not ready within 30 s".into()).await);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn start_failure(&self, offset: u64, summary: String) -> StartFailure {
        let log_tail = self.log_since(offset).await;
        let fatal = super::log::parse(&log_tail).into_iter().rev().find(|e| e.severity == "FATAL");
        StartFailure { summary, fatal, log_tail }
    }

    fn forget_child(&mut self) {
        if let Some(c) = self.child.take() {
            crate::cleanup::unregister_pid(c.id() as i32);
        }
    }

    async fn shutdown(&mut self, sig: Signal) {
        let Some(child) = self.child.as_mut() else { return };
        let pid = Pid::from_raw(child.id() as i32);
        let _ = kill(pid, sig);
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        self.forget_child();
    }
}

fn start_err(summary: String) -> StartFailure {
    StartFailure { summary, fatal: None, log_tail: String::new() }
}

/// A port nothing listens on now and that this process has not handed out before.
fn free_port() -> u16 {
    use std::sync::Mutex;
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    for _ in 0..100 {
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0);
        if port != 0 && given.insert(port) {
            return port;
        }
    }
    0
}

impl Instance for NativeInstance {
    fn write_files(&mut self, config: &ServerConfig) -> std::io::Result<()> {
        let harness = harness_settings(self.port, &self.listen, &self.socket_dir().to_string_lossy());
        let (ssl_dir, data) = (self.ssl_dir(), &self.data);
        let files = |name: &str| ssl_dir.join(name).to_string_lossy().into_owned();
        let extra = |name: &str| data.join(name).to_string_lossy().into_owned();
        let layout = ConfigLayout {
            dir: data,
            include: CONF_INCLUDE,
            mode: 0o600,
            ssl_dir: &ssl_dir,
            paths: super::Paths { files: &files, extra: &extra },
            hba: &super::render_hba,
            owner: (self.user.uid, self.user.gid),
        };
        super::write_config(&layout, &harness, config)?;
        self.user.chown_tree(&self.data)
    }

    fn start(&mut self) -> BoxFuture<'_, Result<(), StartFailure>> {
        Box::pin(self.start_inner())
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(self.shutdown(Signal::SIGINT))
    }

    fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The superuser over the unix socket; pg_hba's first line is `local all postgres trust`.
    fn admin_config(&self) -> tokio_postgres::Config {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host_path(self.socket_dir()).port(self.port).user("postgres").dbname("postgres");
        cfg.connect_timeout(Duration::from_secs(5));
        cfg
    }

    fn log_path(&self) -> PathBuf {
        self.log_path.clone()
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint {
            addr: std::net::Ipv4Addr::LOCALHOST.into(),
            port: self.port,
            socket: Some((self.socket_dir(), self.port)),
        }
    }

    fn postmaster_pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }
}

impl Drop for NativeInstance {
    fn drop(&mut self) {
        // Immediate shutdown: nothing of a throwaway server needs flushing.
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            let _ = kill(pid, Signal::SIGQUIT);
            let deadline = Instant::now() + Duration::from_secs(5);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
            let _ = child.kill();
            let _ = child.wait();
            crate::cleanup::unregister_pid(pid.as_raw());
        }
    }
}
