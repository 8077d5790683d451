//! Copy mode: files reach containers through the engine's archive API, never a bind mount, so
//! the engine may be anywhere (`DOCKER_HOST=tcp://…`, `ssh://…`, Docker-in-Docker, rootless
//! Docker, Podman's Docker-compatible API).
//!
//! - Server files are packed as a tar with the owner, group and mode each file has on this
//!   machine (as root, the ones the scenario asked for) and extracted by the engine, which keeps
//!   them.
//! - The libpq client is the image's own `psql`, run in a client container of the same image
//!   ([`ClientContainer`]) on the engine host's network, so it reaches the published port at the
//!   same address as the clients here. Files it reads are uploaded under [`REMOTE_ROOT`] at their
//!   path on this machine (once per content), files it writes are fetched back, and the prefix is
//!   taken out of its output again, so its messages read as in bind mode.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use testcontainers::bollard::query_parameters::DownloadFromContainerOptionsBuilder;
use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::channel::{self, Channels};
use super::split_image;
use crate::server::psql::{RemotePsql, RemoteRun, RunOutput};
use crate::server::{ServerError, ServerErrorKind as Kind};

/// Where the client container keeps this machine's files: `/pgtls-host/<path here>`.
pub const REMOTE_ROOT: &str = "/pgtls-host";

/// What a container holds of this machine's files, so that only changes travel. Files go as
/// shell commands over an exec session ([`channel`]): an archive upload through the API costs
/// 45–75 ms here whatever its size, a `printf` into a file over a session about a millisecond.
#[derive(Default)]
pub struct Mirror {
    /// By path in the container: kind, mode, owner, group and a hash of the content.
    sent: HashMap<String, Sig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sig {
    kind: u8,
    mode: u32,
    uid: u32,
    gid: u32,
    hash: u64,
}

impl Mirror {
    /// Appends to `script` the commands that make `remote` in the container what `here` is on
    /// this machine (a file, a symlink or a directory tree, with modes and owners; `owner`
    /// replaces owner and group). Unchanged entries cost nothing; entries gone here go there.
    pub fn sync(
        &mut self,
        here: &Path,
        remote: &str,
        owner: Option<(u32, u32)>,
        script: &mut String,
    ) -> std::io::Result<()> {
        let mut seen = HashSet::new();
        let mut attrs: BTreeMap<(u32, u32, u32), Vec<String>> = BTreeMap::new();
        self.walk(here, remote, owner, script, &mut seen, &mut attrs)?;
        let prefix = format!("{remote}/");
        let gone: Vec<String> =
            self.sent.keys().filter(|k| k.starts_with(&prefix) && !seen.contains(*k)).cloned().collect();
        for k in gone {
            script.push_str(&format!("rm -rf {}\n", channel::quote(&k)));
            self.sent.remove(&k);
        }
        for ((mode, uid, gid), paths) in attrs {
            let paths: Vec<String> = paths.iter().map(|p| channel::quote(p)).collect();
            script.push_str(&format!("chown -h {uid}:{gid} {0}\nchmod {mode:o} {0}\n", paths.join(" ")));
        }
        Ok(())
    }

    fn walk(
        &mut self,
        here: &Path,
        remote: &str,
        owner: Option<(u32, u32)>,
        script: &mut String,
        seen: &mut HashSet<String>,
        attrs: &mut BTreeMap<(u32, u32, u32), Vec<String>>,
    ) -> std::io::Result<()> {
        use std::hash::{Hash, Hasher};
        let meta = std::fs::symlink_metadata(here)?;
        let (uid, gid) = owner.unwrap_or((meta.uid(), meta.gid()));
        let mode = meta.mode() & 0o7777;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        let (kind, content) = if meta.is_dir() {
            (0, None)
        } else if meta.file_type().is_symlink() {
            (1, Some(std::fs::read_link(here)?.to_string_lossy().into_owned().into_bytes()))
        } else {
            (2, Some(std::fs::read(here)?))
        };
        content.hash(&mut hasher);
        let sig = Sig { kind, mode, uid, gid, hash: hasher.finish() };
        seen.insert(remote.to_owned());
        let before = self.sent.get(remote).copied();
        let q = channel::quote(remote);
        if before != Some(sig) {
            if before.is_some_and(|b| b.kind != kind) {
                script.push_str(&format!("rm -rf {q}\n"));
            }
            match (kind, &content) {
                (0, _) => script.push_str(&format!("mkdir -p {q}\n")),
                (1, Some(target)) => {
                    script.push_str(&format!("ln -sfn {} {q}\n", channel::quote(&String::from_utf8_lossy(target))));
                }
                (_, Some(bytes)) if before.is_none_or(|b| b.hash != sig.hash) => {
                    script.push_str(&format!("printf -- '{}' >{q}\n", printf_escape(bytes)));
                }
                _ => {}
            }
            if before.is_none_or(|b| (b.mode, b.uid, b.gid) != (mode, uid, gid)) {
                attrs.entry((mode, uid, gid)).or_default().push(remote.to_owned());
            }
            self.sent.insert(remote.to_owned(), sig);
        }
        if meta.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(here)?.collect::<Result<_, _>>()?;
            entries.sort_by_key(std::fs::DirEntry::file_name);
            for e in entries {
                let child = format!("{remote}/{}", e.file_name().to_string_lossy());
                self.walk(&e.path(), &child, owner, script, seen, attrs)?;
            }
        }
        Ok(())
    }
}

/// Bytes as a `printf` format that prints exactly them (any byte, NUL included).
fn printf_escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + bytes.len() / 8);
    for &b in bytes {
        match b {
            b'%' => out.push_str("%%"),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b' '..=b'~' if b != b'\'' => out.push(char::from(b)),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out
}

/// A file's bytes and mode from the container, `None` if it does not exist.
async fn download(container: &str, path: &str) -> Result<Option<(Vec<u8>, u32)>, ServerError> {
    let docker = super::api().await?;
    let opts = DownloadFromContainerOptionsBuilder::default().path(path).build();
    let mut stream = docker.download_from_container(container, Some(opts));
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => bytes.extend_from_slice(&c),
            // Not found is the engine's 404: the client did not write the file.
            Err(e) if e.to_string().contains("404") || e.to_string().to_lowercase().contains("no such") => {
                return Ok(None);
            }
            Err(e) => {
                return Err(ServerError::with(
                    Kind::Engine,
                    format!("failed to copy {path} out of container {container}"),
                    e,
                ));
            }
        }
    }
    let mut archive = tar::Archive::new(bytes.as_slice());
    let entries = archive.entries().map_err(ServerError::io)?;
    for entry in entries {
        let mut entry = entry.map_err(ServerError::io)?;
        if entry.header().entry_type().is_file() {
            let mode = entry.header().mode().map_err(ServerError::io)?;
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).map_err(ServerError::io)?;
            return Ok(Some((data, mode)));
        }
    }
    Ok(None)
}

/// A container of the image under test that only runs its `psql`: on the engine host's
/// network (so the published port is where it is for the clients here), removed when the run
/// ends.
pub struct ClientContainer {
    id: String,
    channels: Channels,
    /// The files of this machine the container holds.
    sent: tokio::sync::Mutex<Mirror>,
    container: Mutex<Option<ContainerAsync<GenericImage>>>,
}

impl ClientContainer {
    pub async fn start(image: &str) -> Result<ClientContainer, ServerError> {
        let (repo, tag) = split_image(image);
        let creating = crate::cleanup::before_labelled_container();
        let c = GenericImage::new(repo, tag)
            .with_entrypoint("sleep")
            .with_wait_for(WaitFor::Nothing)
            .with_cmd(["infinity"])
            // As host config, not `with_network`: Podman lists no `host` network, and
            // testcontainers would try to create one.
            .with_host_config_modifier(|hc| hc.network_mode = Some("host".into()))
            .with_user("0:0")
            .with_label(crate::cleanup::OWNER_LABEL, std::process::id().to_string())
            .start()
            .await
            .map_err(|e| {
                ServerError::with(Kind::Engine, format!("failed to start a client container of {image}"), e)
            })?;
        crate::cleanup::register_container(c.id());
        drop(creating);
        super::audit(c.id()).await;
        let user = format!("{}:{}", nix::unistd::Uid::current(), nix::unistd::Gid::current());
        Ok(ClientContainer {
            id: c.id().to_owned(),
            channels: Channels::new(c.id(), &user),
            sent: tokio::sync::Mutex::new(Mirror::default()),
            container: Mutex::new(Some(c)),
        })
    }

    /// The commands that bring the files and directories in `paths` (and their parents) into
    /// the container as they are now.
    async fn provide(&self, paths: &[PathBuf], script: &mut String) -> Result<(), ServerError> {
        let mut sent = self.sent.lock().await;
        for p in paths.iter().filter(|p| p.exists()) {
            let remote = self.path(p);
            if let Some(parent) = Path::new(&remote).parent() {
                let parent = channel::quote(&parent.to_string_lossy());
                script.push_str(&format!("[ -d {parent} ] || mkdir -p {parent}\n"));
            }
            sent.sync(p, &remote, None, script)
                .map_err(|e| ServerError::with(Kind::Io, format!("failed to read {}", p.display()), e))?;
        }
        Ok(())
    }
}

impl RemotePsql for ClientContainer {
    fn path(&self, here: &Path) -> String {
        format!("{REMOTE_ROOT}{}", here.display())
    }

    fn run<'a>(&'a self, run: &'a RemoteRun) -> BoxFuture<'a, Result<RunOutput, ServerError>> {
        Box::pin(async move {
            let mut script = String::new();
            self.provide(&run.inputs, &mut script).await?;
            for p in &run.outputs {
                if let Some(dir) = p.parent() {
                    script.push_str(&format!("mkdir -p {}\n", channel::quote(&self.path(dir))));
                }
            }
            // A subshell with the environment emptied (builtins only: each process started in
            // the container costs a few milliseconds), the service file in the session's own
            // private directory (`$d`). The harness bounds the run; a psql that hangs keeps
            // only its session, which is dropped.
            script.push_str("(\nfor v in $(compgen -e); do unset \"$v\"; done\n");
            if let Some(service) = &run.service {
                script.push_str(&format!(
                    "umask 077; printf '%s' {} >\"$d/pg_service.conf\"; export PGSERVICEFILE=\"$d/pg_service.conf\"\n",
                    channel::quote(service)
                ));
            }
            for (k, v) in &run.env {
                script.push_str(&format!("export {}\n", channel::quote(&format!("{k}={v}"))));
            }
            script.push_str(&format!("exec {}\n)", words_of(&run.argv)));
            let out = match self.channels.run(&script, run.timeout + Duration::from_secs(2)).await {
                Err(e) if e.kind == Kind::NoAnswer => {
                    let stderr = e.to_string();
                    return Ok(RunOutput { timed_out: true, success: false, stdout: String::new(), stderr });
                }
                other => other?,
            };
            for p in &run.outputs {
                if let Some((data, mode)) = download(&self.id, &self.path(p)).await? {
                    crate::server::process::write_file(p, data, mode)
                        .map_err(|e| ServerError::with(Kind::Io, format!("failed to write {}", p.display()), e))?;
                }
            }
            let here = |b: &[u8]| String::from_utf8_lossy(b).replace(&format!("{REMOTE_ROOT}/"), "/");
            Ok(RunOutput {
                timed_out: false,
                success: out.success(),
                stdout: here(&out.stdout),
                stderr: here(&out.stderr),
            })
        })
    }
}

fn words_of(argv: &[String]) -> String {
    argv.iter().map(|a| channel::quote(a)).collect::<Vec<_>>().join(" ")
}

impl Drop for ClientContainer {
    fn drop(&mut self) {
        let c = self.container.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(c) = c {
            // As `DockerInstance`: the handle removes the container inside a runtime, the CLI
            // outside one.
            if tokio::runtime::Handle::try_current().is_ok() {
                drop(c);
            } else {
                std::mem::forget(c);
                let _ = std::process::Command::new("docker").args(["rm", "-f", &self.id]).output();
            }
            crate::cleanup::unregister_container(&self.id);
        }
    }
}
