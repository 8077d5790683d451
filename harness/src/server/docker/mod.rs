//! The Docker backend: PostgreSQL in containers started through testcontainers.
//!
//! Same scenario semantics as the native backend, with three choices that keep it exact and
//! fast:
//! - Configuration and the server log live in a host directory bind-mounted at `/pgtls`:
//!   steps rewrite files on the host (owner, group and mode as the scenario says, with the
//!   container's postgres uid), and postgres writes its stderr straight into that file, so the
//!   log is as synchronous as the native one and per-attempt windows stay exact.
//! - Each (image, roles and databases) pair is initialised once through the image's own
//!   entrypoint (`/docker-entrypoint-initdb.d`) and `docker commit`ted as
//!   `pgtls-cache/<image>:<key>`; instances start from it with `PGDATA` outside the image's
//!   volume, so a start is a postgres start, not an initdb.
//! - Clients connect through the port published on the engine's host (127.0.0.1 for a local
//!   engine); the server sees them coming from the bridge, so pg_hba lines written for the
//!   loopback address are widened to `all` (the only clients are the harness's own).
//!
//! The libpq client runs the image's own `psql` on the host through the image's dynamic
//! loader ([`rootfs`]), so the libpq and OpenSSL under test are the image's.
//!
//! That is bind mode, for an engine on this machine. Where host paths mean nothing to the
//! engine (`DOCKER_HOST` naming another machine, Docker-in-Docker, Podman's API service), copy
//! mode ([`copy`]) moves every file through the engine's API instead, reads the log and the
//! supervisor's state over an exec session ([`channel`]) and runs the image's `psql` in a
//! client container; [`FileTransfer`] chooses.

mod channel;
mod copy;
mod instance;
mod rootfs;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use testcontainers::core::{ExecCommand, IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

use super::psql::PsqlLauncher;
use super::{Backend, Bootstrap, Instance, ServerError, ServerErrorKind as Kind, ServerInfo};
use crate::scenario::PgVersion;

pub use instance::DockerInstance;

/// PGDATA inside containers: not the image's VOLUME, so `docker commit` keeps it.
const PGDATA: &str = "/var/lib/pgtls/data";
/// Superuser the harness itself connects as (readiness, reloads).
pub const ADMIN_ROLE: &str = "pgtls_admin";
/// Bump when the cached-image recipe changes.
const RECIPE: &str = "v3 initdb.d bootstrap + include /pgtls/etc/pgtls.conf + pgtls_admin + data.tar + /pgtls tree";

/// How files reach containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTransfer {
    /// A host directory bind-mounted at `/pgtls` (an engine on this machine).
    Bind,
    /// The engine's archive and exec API only: no path is shared.
    Copy,
}

impl FileTransfer {
    /// `bind`, `copy` or `auto`: auto is bind for an engine on a local socket (no
    /// `DOCKER_HOST`, or `unix://…`) and copy for any other `DOCKER_HOST`. Returns the mode and
    /// why, for the run header.
    pub fn choose(choice: &str) -> Result<(FileTransfer, String), ServerError> {
        let host = std::env::var("DOCKER_HOST").unwrap_or_default();
        match choice {
            "bind" => Ok((FileTransfer::Bind, "--docker-files bind".into())),
            "copy" => Ok((FileTransfer::Copy, "--docker-files copy".into())),
            "auto" if host.is_empty() => Ok((FileTransfer::Bind, "the engine is on a local socket".into())),
            "auto" if host.starts_with("unix://") => {
                Ok((FileTransfer::Bind, format!("DOCKER_HOST={host} is a local socket")))
            }
            "auto" => Ok((FileTransfer::Copy, format!("DOCKER_HOST={host} is not a local socket"))),
            other => Err(ServerError::new(
                Kind::Unavailable,
                format!("unknown --docker-files value `{other}` (expected `auto`, `bind` or `copy`)"),
            )),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileTransfer::Bind => "bind",
            FileTransfer::Copy => "copy",
        }
    }
}

/// The engine's API client (`DOCKER_HOST` or the local socket, as testcontainers resolves it).
async fn api() -> Result<testcontainers::bollard::Docker, ServerError> {
    testcontainers::core::client::docker_client_instance()
        .await
        .map_err(|e| ServerError::with(Kind::Engine, "failed to reach the Docker engine", e))
}

/// With `PGTLS_AUDIT_CONTAINERS=FILE`, appends `<id> <mounts as JSON>` for each container the
/// harness starts, as the engine reports them (`docker inspect`): the proof that copy mode
/// mounts nothing from this machine.
async fn audit(id: &str) {
    let Some(file) = std::env::var_os("PGTLS_AUDIT_CONTAINERS") else { return };
    let mounts = match api().await {
        Ok(docker) => match docker.inspect_container(id, None).await {
            Ok(info) => serde_json::to_string(&info.mounts.unwrap_or_default()).unwrap_or_default(),
            Err(e) => format!("inspect failed: {e}"),
        },
        Err(e) => e.to_string(),
    };
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(file) {
        let _ = writeln!(f, "{id} {mounts}");
    }
}

/// Where published ports listen on the engine's host: loopback when the engine is reached on
/// loopback (tests touch loopback only), every interface when it is another machine.
fn publish_address() -> &'static str {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let authority = host.split_once("://").map_or("", |(_, rest)| rest);
    let name = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let name = name.split(['/', ':']).next().unwrap_or("");
    let loopback = name.is_empty()
        || name == "localhost"
        || host.starts_with("unix://")
        || name.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback());
    if loopback { "127.0.0.1" } else { "0.0.0.0" }
}

/// The address of the engine's host as testcontainers reports it, resolved (IPv4 first).
async fn engine_address(c: &testcontainers::ContainerAsync<GenericImage>) -> Result<std::net::IpAddr, ServerError> {
    use std::net::ToSocketAddrs;
    let host = c.get_host().await.map_err(|e| ServerError::with(Kind::Engine, "failed to get the engine's host", e))?;
    let name = host.to_string();
    let name = name.trim_start_matches('[').trim_end_matches(']');
    if let Ok(a) = name.parse::<std::net::IpAddr>() {
        return Ok(a);
    }
    if name == "localhost" {
        return Ok(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let addrs: Vec<_> = (name, 0)
        .to_socket_addrs()
        .map_err(|e| ServerError::with(Kind::Engine, format!("failed to resolve {name}"), e))?
        .collect();
    let first = addrs.iter().find(|a| a.is_ipv4()).or(addrs.first());
    first.map(|a| a.ip()).ok_or_else(|| ServerError::new(Kind::Engine, format!("{name} has no address")))
}

/// Whether a Docker engine answers; `Err` says why not.
pub fn engine_available() -> Result<(), ServerError> {
    let out = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let stderr = String::from_utf8_lossy(&o.stderr).trim().to_owned();
            Err(ServerError::with(Kind::Unavailable, "docker info failed", stderr))
        }
        Err(e) => Err(ServerError::with(Kind::Unavailable, "no docker command", e)),
    }
}

/// The image's ID if it is present locally.
pub fn local_image_id(image: &str) -> Option<String> {
    let out = Command::new("docker").args(["image", "inspect", "--format", "{{.Id}}", image]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The backends for `images`, after checking that an engine answers.
pub fn backends(images: &[String], files: FileTransfer) -> Result<Vec<DockerBackend>, ServerError> {
    engine_available()?;
    let rt = tokio::runtime::Handle::try_current().map_err(|e| ServerError::of(Kind::Io, e))?;
    images.iter().map(|image| tokio::task::block_in_place(|| rt.block_on(DockerBackend::new(image, files)))).collect()
}

/// What the harness learns about an image once (cached by image ID).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageFacts {
    pub id: String,
    pub version_text: String,
    pub uid: u32,
    pub gid: u32,
    pub bindir: String,
    pub settings: BTreeSet<String>,
}

/// One image.
pub struct DockerBackend {
    image: String,
    facts: ImageFacts,
    info: ServerInfo,
    files: FileTransfer,
}

impl DockerBackend {
    /// How the image's own psql runs for the libpq client: on this host through the image's
    /// loader (bind mode), or in a client container of the image (copy mode).
    pub async fn psql(&self) -> Result<PsqlLauncher, ServerError> {
        match self.files {
            FileTransfer::Bind => {
                tokio::task::block_in_place(|| rootfs::psql_launch(&self.image, &self.facts)).map(PsqlLauncher::Local)
            }
            FileTransfer::Copy => {
                let runner = Arc::new(copy::ClientContainer::start(&self.image).await?);
                Ok(PsqlLauncher::Remote { psql: format!("{}/psql", self.facts.bindir), runner })
            }
        }
    }

    pub async fn new(image: &str, files: FileTransfer) -> Result<DockerBackend, ServerError> {
        let facts = facts(image).await?;
        let version = PgVersion::parse(&facts.version_text).ok_or_else(|| {
            ServerError::new(
                Kind::Unavailable,
                format!("failed to parse the version of {image}: {}", facts.version_text),
            )
        })?;
        let info = ServerInfo {
            label: format!("docker {image}"),
            version,
            version_text: facts.version_text.clone(),
            // Checked for real when the cached image is built (SHOW ssl_library); a build
            // without SSL fails there with a clear error.
            ssl_library: Some("OpenSSL".into()),
            settings: facts.settings.clone(),
        };
        Ok(DockerBackend { image: image.to_owned(), facts, info, files })
    }

    /// The cached image for `bootstrap`, built on first use.
    async fn bootstrap_image(&self, bootstrap: &Bootstrap) -> Result<String, ServerError> {
        let sql = bootstrap_sql(bootstrap);
        let key = crate::server::native::template_key_of(&[&self.facts.id, &sql, RECIPE]);
        let tag = format!("pgtls-cache/{}:{key}", slug(&self.image));
        if local_image_id(&tag).is_some() {
            return Ok(tag);
        }
        let lock = build_lock(&tag);
        let _guard = lock.lock().await;
        if local_image_id(&tag).is_some() {
            return Ok(tag);
        }
        self.build_bootstrap_image(&tag, &sql).await.map_err(|e| e.context(format!("failed to prepare {tag}")))?;
        Ok(tag)
    }

    async fn build_bootstrap_image(&self, tag: &str, sql: &str) -> Result<(), ServerError> {
        let include = "echo \"include_if_exists '/pgtls/etc/pgtls.conf'\" >> \"$PGDATA/postgresql.conf\"\n".to_string();
        let (repo, version) = split_image(&self.image);
        let creating = crate::cleanup::before_labelled_container();
        let container = GenericImage::new(repo, version)
            .with_exposed_port(5432.tcp())
            .with_wait_for(WaitFor::message_on_stderr("database system is ready to accept connections"))
            .with_env_var("POSTGRES_HOST_AUTH_METHOD", "trust")
            .with_env_var("PGDATA", PGDATA)
            .with_env_var("POSTGRES_INITDB_ARGS", "-E UTF8 --locale=C")
            .with_copy_to("/docker-entrypoint-initdb.d/10-pgtls.sql", sql.as_bytes().to_vec())
            .with_copy_to("/docker-entrypoint-initdb.d/20-pgtls.sh", include.into_bytes())
            .with_label(crate::cleanup::OWNER_LABEL, std::process::id().to_string())
            .with_startup_timeout(Duration::from_secs(180))
            .with_host_config_modifier(instance::publish_5432)
            .start()
            .await
            .map_err(|e| ServerError::with(Kind::Engine, format!("failed to start {}", self.image), e))?;
        crate::cleanup::register_container(container.id());
        drop(creating);
        audit(container.id()).await;
        // The tree copy mode writes into (a bind mount hides it): the server's own.
        let (uid, gid) = (self.facts.uid, self.facts.gid);
        let tree = format!("mkdir -p /pgtls/etc/ssl /pgtls/log /pgtls/run && chown -R {uid}:{gid} /pgtls && echo ok");
        let mut res = container
            .exec(ExecCommand::new(["bash", "-c", &tree]))
            .await
            .map_err(|e| ServerError::with(Kind::Engine, format!("failed to create /pgtls in {}", self.image), e))?;
        let out = String::from_utf8_lossy(&res.stdout_to_vec().await.unwrap_or_default()).into_owned();
        if out.trim() != "ok" {
            let err = String::from_utf8_lossy(&res.stderr_to_vec().await.unwrap_or_default()).into_owned();
            return Err(ServerError::with(Kind::Command, format!("failed to create /pgtls in {}", self.image), err));
        }
        let mut res = container
            .exec(ExecCommand::new(["psql", "-U", "postgres", "-Atc", "show ssl_library"]))
            .await
            .map_err(|e| ServerError::of(Kind::Engine, e))?;
        let lib = String::from_utf8_lossy(&res.stdout_to_vec().await.unwrap_or_default()).trim().to_owned();
        if lib.is_empty() {
            return Err(ServerError::new(
                Kind::Unavailable,
                format!("{} has no SSL support (ssl_library is empty)", self.image),
            ));
        }
        container.stop_with_timeout(Some(30)).await.map_err(|e| ServerError::of(Kind::Engine, e))?;
        pack_data_dir(container.id())?;
        // Through the API: Podman's service rejects the docker CLI's commit request.
        let (repo, version) = split_image(tag);
        let opts = testcontainers::bollard::query_parameters::CommitContainerOptions {
            container: Some(container.id().to_owned()),
            repo: Some(repo),
            tag: Some(version),
            changes: Some(format!("LABEL pgtls.ssl_library={lib}")),
            ..Default::default()
        };
        let committed =
            api().await?.commit_container(opts, testcontainers::bollard::models::ContainerConfig::default()).await;
        crate::cleanup::unregister_container(container.id());
        let id = container.id().to_owned();
        container.rm().await.map_err(|e| ServerError::with(Kind::Engine, format!("failed to remove {id}"), e))?;
        committed.map_err(|e| ServerError::with(Kind::Engine, format!("failed to commit {id} as {tag}"), e))?;
        Ok(())
    }
}

impl Backend for DockerBackend {
    fn info(&self) -> &ServerInfo {
        &self.info
    }

    fn id(&self) -> String {
        format!("docker:{}", self.facts.id)
    }

    fn create<'a>(&'a self, bootstrap: &'a Bootstrap) -> BoxFuture<'a, Result<Box<dyn Instance>, ServerError>> {
        Box::pin(async move {
            let image = self.bootstrap_image(bootstrap).await?;
            let inst = DockerInstance::new(image, &self.facts, self.files)
                .map_err(|e| ServerError::with(Kind::Io, "failed to prepare the container", e))?;
            Ok(Box::new(inst) as Box<dyn Instance>)
        })
    }
}

/// Adds the stopped container's data directory to it as one tar file, `{PGDATA}.tar`, which
/// every instance unpacks onto its tmpfs. Copying the directory itself out of the image's
/// layer file by file is what made containers slow to start: measured here for a 2,192-file
/// data directory, `cp -a` 3.9–4.5 s against 0.2–0.3 s for `tar -x` of the same files.
fn pack_data_dir(container: &str) -> Result<(), ServerError> {
    let scratch = crate::cleanup::Scratch::new("pack").map_err(ServerError::io)?;
    let tar = scratch.path().join("data.tar");
    let file = std::fs::File::create(&tar)
        .map_err(|e| ServerError::with(Kind::Io, format!("failed to create {}", tar.display()), e))?;
    let docker_cp = |args: &[&str], stdout: std::process::Stdio| -> Result<(), ServerError> {
        let out = Command::new("docker").args(args).stdout(stdout).output().map_err(ServerError::io)?;
        if out.status.success() {
            Ok(())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
            Err(ServerError::with(Kind::Command, format!("docker {} failed", args.join(" ")), stderr))
        }
    };
    // `docker cp CONTAINER:DIR -` writes the directory as a tar stream (entries `data/...`).
    docker_cp(&["cp", &format!("{container}:{PGDATA}"), "-"], file.into())?;
    let tar = tar.to_string_lossy().into_owned();
    docker_cp(&["cp", &tar, &format!("{container}:{PGDATA}.tar")], std::process::Stdio::null())
}

/// The bootstrap SQL plus the harness's own superuser.
fn bootstrap_sql(b: &Bootstrap) -> String {
    let mut sql = vec![format!("CREATE ROLE {ADMIN_ROLE} LOGIN SUPERUSER")];
    sql.extend(super::bootstrap_sql(b));
    sql.iter().map(|s| format!("{s};\n")).collect()
}

/// Serialises builds of one cached image within this process (other processes see the
/// committed image or build their own; the result is identical).
fn build_lock(tag: &str) -> Arc<tokio::sync::Mutex<()>> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static LOCKS: Mutex<Option<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = Mutex::new(None);
    let mut g = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    g.get_or_insert_with(HashMap::new).entry(tag.to_owned()).or_default().clone()
}

/// `repo:tag` → (`repo`, `tag`), default tag `latest`; a registry port is not a tag.
pub fn split_image(image: &str) -> (String, String) {
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo.to_owned(), tag.to_owned()),
        _ => (image.to_owned(), "latest".to_owned()),
    }
}

fn slug(image: &str) -> String {
    image.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// Probes an image (version, postgres uid/gid, settings, bin dir), cached by image ID.
async fn facts(image: &str) -> Result<ImageFacts, ServerError> {
    let id = match local_image_id(image) {
        Some(id) => id,
        None => pull(image)?,
    };
    let cache = crate::cache::dir().join("docker").join(format!("{}.json", id.trim_start_matches("sha256:")));
    if let Some(f) = std::fs::read(&cache).ok().and_then(|b| serde_json::from_slice::<ImageFacts>(&b).ok()) {
        return Ok(f);
    }
    let script = "id -u postgres; id -g postgres; bin=$(dirname \"$(command -v postgres || ls /usr/lib/postgresql/*/bin/postgres | tail -1)\"); \
                  echo \"$bin\"; \"$bin/postgres\" --version; \"$bin/postgres\" --describe-config | cut -f1";
    let (repo, tag) = split_image(image);
    let creating = crate::cleanup::before_labelled_container();
    let container = GenericImage::new(repo, tag)
        .with_entrypoint("bash")
        .with_wait_for(WaitFor::exit(testcontainers::core::wait::ExitWaitStrategy::new().with_exit_code(0)))
        .with_cmd(["-c", script])
        .with_label(crate::cleanup::OWNER_LABEL, std::process::id().to_string())
        .start()
        .await
        .map_err(|e| ServerError::with(Kind::Engine, format!("failed to probe {image}"), e))?;
    audit(container.id()).await;
    let stdout = container.stdout_to_vec().await.map_err(|e| ServerError::of(Kind::Engine, e))?;
    let out = String::from_utf8_lossy(&stdout).into_owned();
    let _ = container.rm().await;
    drop(creating);
    let mut lines = out.lines();
    let mut next = |what: &str| {
        let line = lines.next().map(str::trim).map(str::to_owned);
        line.ok_or_else(|| ServerError::new(Kind::Unavailable, format!("probe of {image}: no {what} in `{out}`")))
    };
    let probe = |e| ServerError::with(Kind::Unavailable, format!("probe of {image}"), e);
    let uid = next("uid")?.parse().map_err(probe)?;
    let gid = next("gid")?.parse().map_err(probe)?;
    let bindir = next("bindir")?;
    let version_text = next("version")?;
    let settings = lines.map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    let f = ImageFacts { id, version_text, uid, gid, bindir, settings };
    if let Some(dir) = cache.parent() {
        let _ = std::fs::create_dir_all(dir);
        let _ = std::fs::write(&cache, serde_json::to_vec_pretty(&f).unwrap_or_default());
    }
    Ok(f)
}

fn pull(image: &str) -> Result<String, ServerError> {
    let out = Command::new("docker").args(["pull", "-q", image]).output().map_err(ServerError::io)?;
    if !out.status.success() {
        return Err(ServerError::new(
            Kind::Unavailable,
            format!(
                "image {image} is not available locally and could not be pulled: {} (hint: build local images with ci/build-images.sh and set PGTLS_IMAGE_PATTERN=pgtls/postgres:{{major}})",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        ));
    }
    local_image_id(image)
        .ok_or_else(|| ServerError::new(Kind::Unavailable, format!("image {image} is missing after a pull")))
}
