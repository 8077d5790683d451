//! One PostgreSQL container: files on the host under a bind mount (or copied in through the
//! API, see [`super::copy`]), lifecycle through testcontainers, readiness by a real connection.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use nix::unistd::{Gid, Uid};
use testcontainers::bollard::models::{HostConfig, PortBinding};
use testcontainers::core::{IntoContainerPort, Mount, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::channel::Channels;
use super::{ADMIN_ROLE, FileTransfer, ImageFacts, PGDATA, split_image};
use crate::server::{
    ConfigLayout, Endpoint, Instance, Paths, ServerConfig, StartFailure, harness_settings, write_config,
};
use crate::server::{ServerError, ServerErrorKind as Kind};

/// Where the host directory is mounted in the container.
const MOUNT: &str = "/pgtls";
/// The server log in the container.
const LOG: &str = "/pgtls/log/server.log";

/// PID 1 of every container, run as the image's postgres user: waits for `/pgtls/run/go` (the
/// configuration is in place), unpacks the data directory the
/// cached image holds (initialised through the image's own entrypoint, and packed as one tar
/// file, see `pack_data_dir`) onto a tmpfs, starts
/// postgres on it, restarts it on SIGUSR1, stops it on SIGINT/SIGTERM (`docker stop`), and
/// records in `/pgtls/run/state` whether it runs. A restart is then a postgres restart rather
/// than a container restart, and the server's writes skip the image's overlay filesystem.
const SUPERVISOR: &str = r#"
mkdir -p /pgtls/run
while [ ! -e /pgtls/run/go ]; do sleep 0.01; done
state=/pgtls/run/state
data=/pgtls-data/data
if [ ! -s "$data/PG_VERSION" ]; then
  if [ -f "$PGDATA.tar" ]; then tar -xf "$PGDATA.tar" -C /pgtls-data; else cp -a "$PGDATA" "$data"; fi
  chmod 700 "$data"
fi
start() { postgres -D "$data" 2>>/pgtls/log/server.log & pid=$!; echo "running $pid" >"$state"; }
restart=0
trap 'restart=1; kill -INT "$pid" 2>/dev/null' USR1
trap 'kill -INT "$pid" 2>/dev/null; wait "$pid"; exit 0' INT TERM
start
while :; do
  wait "$pid" 2>/dev/null
  kill -0 "$pid" 2>/dev/null && continue
  if [ "$restart" = 0 ]; then
    echo "exited $pid" >"$state"
    while [ "$restart" = 0 ]; do sleep 0.02; done
  fi
  restart=0
  start
done
"#;

/// A container created from a cached image.
pub struct DockerInstance {
    image: String,
    host_dir: PathBuf,
    uid: Uid,
    gid: Gid,
    files: FileTransfer,
    container: Option<ContainerAsync<GenericImage>>,
    /// Copy mode: exec sessions in the container, as root for the supervisor and the files, and
    /// as the server's user for the log (one session, which keeps the log file open).
    control: Option<Channels>,
    logs: Option<Channels>,
    /// Copy mode: what the container's configuration directory holds.
    sent: super::copy::Mirror,
    /// Copy mode: the server log read so far, over every container this instance started
    /// (offsets stay valid across a stop and a start, as the log file's do in bind mode).
    log: tokio::sync::Mutex<LogMirror>,
    addr: IpAddr,
    port: u16,
    running: bool,
    /// The postmaster's PID as the container sees it, once it ran.
    postmaster: Option<u32>,
    /// The supervisor's PID on this machine (the container's PID 1), when known.
    supervisor_pid: Option<i32>,
    /// Owns `host_dir`; declared last so it is removed after the container.
    _scratch: crate::cleanup::Scratch,
}

/// The server log of a copy-mode instance as read so far.
#[derive(Default)]
struct LogMirror {
    text: Vec<u8>,
    /// Where the current container's log starts in `text`.
    base: usize,
}

impl DockerInstance {
    pub fn new(image: String, facts: &ImageFacts, files: FileTransfer) -> std::io::Result<DockerInstance> {
        let scratch = crate::cleanup::Scratch::new("container")?;
        let host_dir = scratch.path().join("server");
        std::fs::create_dir_all(host_dir.join("etc/ssl"))?;
        std::fs::create_dir_all(host_dir.join("log"))?;
        Ok(DockerInstance {
            image,
            host_dir,
            uid: Uid::from_raw(facts.uid),
            gid: Gid::from_raw(facts.gid),
            files,
            container: None,
            control: None,
            logs: None,
            sent: super::copy::Mirror::default(),
            log: tokio::sync::Mutex::new(LogMirror::default()),
            addr: std::net::Ipv4Addr::LOCALHOST.into(),
            port: 0,
            running: false,
            postmaster: None,
            supervisor_pid: None,
            _scratch: scratch,
        })
    }

    async fn ensure_started(&mut self) -> Result<(), ServerError> {
        if let Some(c) = &self.container {
            return c.start().await.map_err(|e| ServerError::of(Kind::Engine, e));
        }
        let (repo, tag) = split_image(&self.image);
        let copy = self.files == FileTransfer::Copy;
        let _ = std::fs::remove_file(self.host_dir.join("run/state"));
        std::fs::create_dir_all(self.host_dir.join("run")).map_err(ServerError::io)?;
        if !copy {
            // The configuration is on the host already: the supervisor may start at once.
            std::fs::write(self.host_dir.join("run/go"), "").map_err(ServerError::io)?;
        }
        if Uid::current().is_root() {
            for d in ["run", "log"] {
                nix::unistd::chown(&self.host_dir.join(d), Some(self.uid), Some(self.gid))
                    .map_err(|e| ServerError::of(Kind::Io, e))?;
            }
        }
        let mut request = GenericImage::new(repo, tag)
            .with_exposed_port(5432.tcp())
            .with_wait_for(WaitFor::Nothing)
            .with_env_var("PGDATA", PGDATA)
            .with_user(format!("{}:{}", self.uid, self.gid))
            .with_mount(Mount::tmpfs_mount("/pgtls-data").with_mode(0o1777))
            .with_cmd(["bash", "-c", SUPERVISOR])
            .with_label(crate::cleanup::OWNER_LABEL, std::process::id().to_string())
            .with_host_config_modifier(publish_5432);
        if !copy {
            request = request.with_mount(Mount::bind_mount(self.host_dir.to_string_lossy().into_owned(), MOUNT));
        }
        let creating = crate::cleanup::before_labelled_container();
        let c = request.start().await.map_err(|e| {
            ServerError::with(Kind::Engine, format!("failed to start a container of {}", self.image), e)
        })?;
        crate::cleanup::register_container(c.id());
        drop(creating);
        super::audit(c.id()).await;
        self.addr = super::engine_address(&c).await?;
        if copy {
            let (control, logs) =
                (Channels::new(c.id(), "0:0"), Channels::new(c.id(), &format!("{}:{}", self.uid, self.gid)));
            let (a, b) = tokio::join!(control.warm(), logs.warm());
            a.and(b)?;
            self.control = Some(control);
            self.logs = Some(logs);
            self.container = Some(c);
            let log = self.log.get_mut();
            log.base = log.text.len();
            self.sent = super::copy::Mirror::default();
            self.upload_config().await?;
            self.control_run(": >/pgtls/run/go").await?;
        } else {
            // Only bind mode signals the supervisor directly (copy mode does it over `control`).
            self.supervisor_pid = host_pid(c.id()).await;
            self.container = Some(c);
        }
        Ok(())
    }

    /// Copy mode: the configuration directory, as written on the host, into the container
    /// (what changed since the last time).
    async fn upload_config(&mut self) -> Result<(), ServerError> {
        // As root the host files carry the owners the scenario asked for; otherwise they are
        // all the server's, as a bind mount would show them to it.
        let owner = (!Uid::current().is_root()).then_some((self.uid.as_raw(), self.gid.as_raw()));
        let mut script = String::new();
        self.sent
            .sync(&self.host_dir.join("etc"), &format!("{MOUNT}/etc"), owner, &mut script)
            .map_err(|e| ServerError::with(Kind::Io, "failed to read the configuration", e))?;
        if script.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.control_run(&script).await {
            // The container's files are unknown now: next time, all of them again.
            self.sent = super::copy::Mirror::default();
            return Err(e);
        }
        Ok(())
    }

    /// Copy mode: runs `script` as root in the container; a non-zero exit is an error.
    async fn control_run(&self, script: &str) -> Result<String, ServerError> {
        let Some(control) = &self.control else { return Err(ServerError::new(Kind::Engine, "no container")) };
        let out = control.run(script, CONTROL_TIMEOUT).await?;
        if !out.success() {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            return Err(ServerError::with(
                Kind::Command,
                format!("`{}` failed in the container", first_line(script)),
                stderr,
            ));
        }
        Ok(out.stdout_text())
    }

    /// The supervisor's view: `running <pid>` or `exited <pid>`.
    async fn state(&self) -> Option<(bool, String)> {
        let text = match &self.control {
            Some(c) => {
                c.run("IFS= read -r l </pgtls/run/state && printf %s \"$l\"", CONTROL_TIMEOUT).await.ok()?.stdout_text()
            }
            None => std::fs::read_to_string(self.host_dir.join("run/state")).ok()?,
        };
        let (what, pid) = text.trim().split_once(' ')?;
        Some((what == "running", pid.to_owned()))
    }

    async fn start_inner(&mut self) -> Result<(), StartFailure> {
        let offset = self.log_offset().await;
        if self.container.is_none() {
            if let Err(e) = self.ensure_started().await {
                return Err(self.failure(offset, e.to_string()).await);
            }
            let port = match &self.container {
                Some(c) => c.get_host_port_ipv4(5432).await.map_err(|e| e.to_string()),
                None => Err("no container".to_owned()),
            };
            match port {
                Ok(p) => self.port = p,
                Err(e) => return Err(self.failure(offset, e).await),
            }
            self.wait_ready(offset, None).await
        } else {
            self.restart_inner().await
        }
    }

    /// Copy mode: fetches the log the server wrote since the last read. The session keeps the
    /// file open on fd 3, so a read costs no process; a new session (the first, or one after a
    /// failed read) skips what was read before.
    async fn sync_log(&self) -> u64 {
        let mut log = self.log.lock().await;
        if let Some(logs) = &self.logs {
            let from = log.text.len() - log.base;
            let script = format!(
                "if [ -z \"$lfd\" ] && [ -r {LOG} ]; then exec 3<{LOG}; lfd=1; \
                 [ {from} -gt 0 ] && IFS= read -r -N {from} -u 3 _; fi\n\
                 if [ -n \"$lfd\" ]; then IFS= read -r -d '' -u 3 c; printf %s \"$c\"; fi"
            );
            if let Ok(out) = logs.run(&script, CONTROL_TIMEOUT).await {
                log.text.extend_from_slice(&out.stdout);
            }
        }
        log.text.len() as u64
    }

    /// Restarts postgres inside the running container through the supervisor.
    async fn restart_inner(&mut self) -> Result<(), StartFailure> {
        let offset = self.log_offset().await;
        let before = self.state().await.map(|(_, pid)| pid);
        let id = self.container.as_ref().map(|c| c.id().to_owned()).unwrap_or_default();
        if self.control.is_some() {
            // Copy mode: the supervisor is the container's PID 1.
            if let Err(e) = self.control_run("kill -USR1 1").await {
                return Err(self.failure(offset, e.to_string()).await);
            }
            return self.wait_ready(offset, before).await;
        }
        // Signalling the supervisor directly skips the Docker API's round trip through the
        // daemon (20-40 ms a restart here); without the permission to, the API does it.
        let direct = self.supervisor_pid.is_some_and(|pid| {
            // Still that container's process (a PID can be reused once a process is gone).
            let ours = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| c.contains(&id));
            ours && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGUSR1).is_ok()
        });
        if !direct && let Err(e) = signal(&id, "USR1").await {
            return Err(self.failure(offset, e.to_string()).await);
        }
        self.wait_ready(offset, before).await
    }

    /// Waits until postgres (a new one, when `old_pid` is given) accepts connections, or the
    /// supervisor reports that it exited.
    async fn wait_ready(&mut self, offset: u64, old_pid: Option<String>) -> Result<(), StartFailure> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.state().await {
                Some((false, pid)) if Some(&pid) != old_pid.as_ref() || old_pid.is_none() => {
                    self.running = false;
                    self.postmaster = pid.parse().ok();
                    return Err(self.failure(offset, "postgres exited: it did not start".into()).await);
                }
                Some((true, pid)) if Some(&pid) != old_pid.as_ref() && self.admin().await.is_ok() => {
                    self.running = true;
                    self.postmaster = pid.parse().ok();
                    return Ok(());
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(self.failure(offset, "not ready within 60 s".into()).await);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn failure(&self, offset: u64, summary: String) -> StartFailure {
        let log_tail = self.log_since(offset).await;
        let fatal = crate::server::log::parse(&log_tail).into_iter().rev().find(|e| e.severity == "FATAL");
        StartFailure { summary, fatal, log_tail }
    }
}

fn first_line(script: &str) -> &str {
    script.lines().next().unwrap_or_default()
}

/// The host PID of a running container's PID 1.
async fn host_pid(id: &str) -> Option<i32> {
    let docker = super::api().await.ok()?;
    let info = docker.inspect_container(id, None).await.ok()?;
    let pid = info.state?.pid?;
    (pid > 0).then(|| i32::try_from(pid).ok()).flatten()
}

/// Sends a signal to a container's PID 1 through the Docker API.
async fn signal(id: &str, sig: &str) -> Result<(), ServerError> {
    use testcontainers::bollard::query_parameters::KillContainerOptionsBuilder;
    let docker = super::api().await?;
    let opts = KillContainerOptionsBuilder::default().signal(sig).build();
    docker
        .kill_container(id, Some(opts))
        .await
        .map_err(|e| ServerError::with(Kind::Engine, "failed to signal the container", e))
}

/// How long a request to the supervisor or the log may take.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);

/// Publish 5432 on the engine host's loopback when the engine is reached on loopback (tests
/// touch loopback, never other interfaces), on all its interfaces when it is another machine.
pub(super) fn publish_5432(hc: &mut HostConfig) {
    let binding = PortBinding { host_ip: Some(super::publish_address().into()), host_port: Some(String::new()) };
    hc.port_bindings = Some([("5432/tcp".to_owned(), Some(vec![binding]))].into_iter().collect());
    hc.publish_all_ports = Some(false);
}

/// pg_hba for a container: the harness's line first, then the scenario's lines with loopback
/// addresses widened to `all` (clients arrive from the Docker bridge, not from 127.0.0.1).
fn render_hba(lines: &[String]) -> String {
    // Only the image's own superuser over the socket: other roles' socket connections meet the
    // scenario's lines, as on the native backend.
    let mut out = format!("# written by pgtls\nlocal all postgres trust\nhost all {ADMIN_ROLE} all trust\n");
    for l in lines {
        out.push_str(&crate::hba::widen_loopback(l));
        out.push('\n');
    }
    out
}

impl Instance for DockerInstance {
    fn write_files(&mut self, config: &ServerConfig) -> std::io::Result<()> {
        let etc = self.host_dir.join("etc");
        let mut harness = harness_settings(5432, "*", &format!("/var/run/postgresql,{MOUNT}/run"));
        harness.push(("hba_file", format!("{MOUNT}/etc/pg_hba.conf")));
        harness.push(("ident_file", format!("{MOUNT}/etc/pg_ident.conf")));
        let files = |name: &str| format!("{MOUNT}/etc/ssl/{name}");
        let extra = |name: &str| format!("{MOUNT}/etc/{name}");
        let layout = ConfigLayout {
            dir: &etc,
            include: "pgtls.conf",
            mode: 0o644,
            ssl_dir: &etc.join("ssl"),
            paths: Paths { files: &files, extra: &extra },
            hba: &render_hba,
            owner: (self.uid, self.gid),
        };
        write_config(&layout, &harness, config)?;
        if Uid::current().is_root() {
            nix::unistd::chown(&etc, Some(self.uid), Some(self.gid))?;
        }
        Ok(())
    }

    fn apply<'a>(&'a mut self, config: &'a ServerConfig) -> BoxFuture<'a, Result<(), ServerError>> {
        Box::pin(async move {
            self.write_files(config)
                .map_err(|e| ServerError::with(Kind::Io, "failed to write the server configuration", e))?;
            if self.control.is_none() {
                return Ok(());
            }
            self.upload_config().await.map_err(|e| e.context("failed to copy the server configuration"))
        })
    }

    fn start(&mut self) -> BoxFuture<'_, Result<(), StartFailure>> {
        Box::pin(self.start_inner())
    }

    fn stop(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // Copy mode: the log up to now (a stopped container takes no exec).
            self.sync_log().await;
            if let Some(c) = self.container.take() {
                let _ = c.stop_with_timeout(Some(10)).await;
                crate::cleanup::unregister_container(c.id());
                let _ = c.rm().await;
            }
            self.control = None;
            self.logs = None;
            self.running = false;
        })
    }

    fn restart(&mut self) -> BoxFuture<'_, Result<(), StartFailure>> {
        Box::pin(async move {
            if self.container.is_none() {
                return self.start_inner().await;
            }
            self.restart_inner().await
        })
    }

    fn is_running(&self) -> bool {
        self.running
    }

    /// The harness's own superuser over the published port (its pg_hba line is first).
    fn admin_config(&self) -> tokio_postgres::Config {
        let mut cfg = tokio_postgres::Config::new();
        cfg.host(self.addr.to_string()).port(self.port).user(ADMIN_ROLE).dbname("postgres");
        cfg.ssl_mode(tokio_postgres::config::SslMode::Disable).connect_timeout(Duration::from_secs(5));
        cfg
    }

    fn log_path(&self) -> PathBuf {
        self.host_dir.join("log/server.log")
    }

    fn endpoint(&self) -> Endpoint {
        // In bind mode the server also listens in the bind-mounted run/ directory, so a client
        // on this machine reaches its Unix socket; in copy mode nothing is shared.
        let socket = (self.files == FileTransfer::Bind).then(|| (self.host_dir.join("run"), 5432));
        Endpoint { addr: self.addr, port: self.port, socket }
    }

    fn postmaster_pid(&self) -> Option<u32> {
        // The supervisor (PID 1) records the postmaster's PID, as the container sees it, which
        // is the PID the server log shows.
        self.postmaster
    }

    fn log_offset(&self) -> BoxFuture<'_, u64> {
        match self.files {
            FileTransfer::Copy => Box::pin(self.sync_log()),
            FileTransfer::Bind => Box::pin(std::future::ready(crate::server::file_log_offset(&self.log_path()))),
        }
    }

    fn log_since(&self, offset: u64) -> BoxFuture<'_, String> {
        match self.files {
            FileTransfer::Copy => Box::pin(async move {
                self.sync_log().await;
                let log = self.log.lock().await;
                let from = usize::try_from(offset).unwrap_or(usize::MAX).min(log.text.len());
                String::from_utf8_lossy(&log.text[from..]).into_owned()
            }),
            FileTransfer::Bind => Box::pin(std::future::ready(crate::server::file_log_since(&self.log_path(), offset))),
        }
    }
}

impl Drop for DockerInstance {
    fn drop(&mut self) {
        if let Some(c) = self.container.take() {
            let id = c.id().to_owned();
            // testcontainers removes the container when its handle drops (inside a runtime);
            // without one, the docker CLI does it.
            if tokio::runtime::Handle::try_current().is_ok() {
                drop(c);
            } else {
                std::mem::forget(c);
                let _ = std::process::Command::new("docker").args(["rm", "-f", &id]).output();
            }
            crate::cleanup::unregister_container(&id);
        }
    }
}
