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

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use testcontainers::bollard::query_parameters::{DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder};
use testcontainers::core::WaitFor;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::channel::{self, Channels};
use super::split_image;
use crate::client::libpq::{RemotePsql, RemoteRun, RunOutput};

/// Where the client container keeps this machine's files: `/pgtls-host/<path here>`.
pub const REMOTE_ROOT: &str = "/pgtls-host";

/// Packs `dir` as the tar entry `name` (recursively) with each file's owner, group and mode;
/// `owner` replaces owner and group (a non-root harness cannot give files the server's).
pub fn tar_tree(dir: &Path, name: &str, owner: Option<(u32, u32)>) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    append(&mut tar, dir, name, owner)?;
    tar.into_inner()
}

fn append(tar: &mut tar::Builder<Vec<u8>>, path: &Path, name: &str, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    if let Some((uid, gid)) = owner {
        header.set_uid(u64::from(uid));
        header.set_gid(u64::from(gid));
    }
    if meta.is_dir() {
        header.set_size(0);
        tar.append_data(&mut header, name, std::io::empty())?;
        let mut entries: Vec<_> = std::fs::read_dir(path)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            append(tar, &e.path(), &format!("{name}/{}", e.file_name().to_string_lossy()), owner)?;
        }
    } else if meta.file_type().is_symlink() {
        header.set_size(0);
        tar.append_link(&mut header, name, std::fs::read_link(path)?)?;
    } else {
        tar.append_data(&mut header, name, std::fs::File::open(path)?)?;
    }
    Ok(())
}

/// Extracts `tar` into `dest` (a directory) in the container.
pub async fn upload(container: &str, dest: &str, tar: Vec<u8>) -> Result<(), String> {
    let docker = super::api().await?;
    let opts = UploadToContainerOptionsBuilder::default().path(dest).build();
    docker
        .upload_to_container(container, Some(opts), testcontainers::bollard::body_full(tar.into()))
        .await
        .map_err(|e| format!("failed to copy files into container {container}: {e}"))
}

/// A file's bytes and mode from the container, `None` if it does not exist.
async fn download(container: &str, path: &str) -> Result<Option<(Vec<u8>, u32)>, String> {
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
            Err(e) => return Err(format!("failed to copy {path} out of container {container}: {e}")),
        }
    }
    let mut archive = tar::Archive::new(bytes.as_slice());
    let entries = archive.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| e.to_string())?;
        if entry.header().entry_type().is_file() {
            let mode = entry.header().mode().map_err(|e| e.to_string())?;
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).map_err(|e| e.to_string())?;
            return Ok(Some((data, mode)));
        }
    }
    Ok(None)
}

/// A file as uploaded: path, size, modification time (s, ns), mode, owner, group.
type FileKey = (PathBuf, u64, i64, i64, u32, u32, u32);

/// A container of the image under test that only runs its `psql`: on the engine host's
/// network, without IPC namespace sharing, removed when the run ends.
pub struct ClientContainer {
    id: String,
    channels: Channels,
    /// Files already uploaded.
    uploaded: Mutex<HashSet<FileKey>>,
    container: Mutex<Option<ContainerAsync<GenericImage>>>,
}

impl ClientContainer {
    pub async fn start(image: &str) -> Result<ClientContainer, String> {
        let (repo, tag) = split_image(image);
        crate::cleanup::before_labelled_container();
        let c = GenericImage::new(repo, tag)
            .with_entrypoint("sleep")
            .with_wait_for(WaitFor::Nothing)
            .with_cmd(["infinity"])
            .with_network("host")
            .with_user("0:0")
            .with_label(crate::cleanup::OWNER_LABEL, std::process::id().to_string())
            .start()
            .await
            .map_err(|e| format!("failed to start a client container of {image}: {e}"))?;
        crate::cleanup::register_container(c.id());
        super::audit(c.id()).await;
        let user = format!("{}:{}", nix::unistd::Uid::current(), nix::unistd::Gid::current());
        Ok(ClientContainer {
            id: c.id().to_owned(),
            channels: Channels::new(c.id(), &user),
            uploaded: Mutex::new(HashSet::new()),
            container: Mutex::new(Some(c)),
        })
    }

    /// Uploads the files and directories in `paths` not uploaded yet (unchanged ones once).
    async fn provide(&self, paths: &[PathBuf]) -> Result<(), String> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut fresh = Vec::new();
        for p in paths {
            let Ok(meta) = std::fs::metadata(p) else { continue };
            let key = (p.clone(), meta.size(), meta.mtime(), meta.mtime_nsec(), meta.mode(), meta.uid(), meta.gid());
            if meta.is_file() && self.uploaded.lock().unwrap_or_else(|e| e.into_inner()).contains(&key) {
                continue;
            }
            let name = format!("{}{}", REMOTE_ROOT.trim_start_matches('/'), p.display());
            append(&mut tar, p, &name, None).map_err(|e| format!("failed to pack {}: {e}", p.display()))?;
            fresh.push(key);
        }
        if fresh.is_empty() {
            return Ok(());
        }
        let tar = tar.into_inner().map_err(|e| e.to_string())?;
        upload(&self.id, "/", tar).await?;
        self.uploaded.lock().unwrap_or_else(|e| e.into_inner()).extend(fresh);
        Ok(())
    }
}

impl RemotePsql for ClientContainer {
    fn path(&self, here: &Path) -> String {
        format!("{REMOTE_ROOT}{}", here.display())
    }

    fn run<'a>(&'a self, run: &'a RemoteRun) -> BoxFuture<'a, Result<RunOutput, String>> {
        Box::pin(async move {
            self.provide(&run.inputs).await?;
            let mut script = String::new();
            for dir in &run.dirs {
                script.push_str(&format!("mkdir -p {}\n", channel::quote(&self.path(dir))));
            }
            for (path, text, mode) in &run.files {
                let remote = channel::quote(&self.path(path));
                script
                    .push_str(&format!("printf '%s' {} >{remote} && chmod {mode:o} {remote}\n", channel::quote(text)));
            }
            // `timeout` kills a psql that hangs; the session itself answers within the limit.
            let secs = run.timeout.as_secs().max(1);
            script.push_str(&format!("exec env -i {} timeout -s KILL {secs} {}", words(&run.env), words_of(&run.argv)));
            let out = self.channels.run(&script, run.timeout + Duration::from_secs(10)).await?;
            for p in &run.outputs {
                if let Some((data, mode)) = download(&self.id, &self.path(p)).await? {
                    crate::server::process::write_file(p, data, mode)
                        .map_err(|e| format!("failed to write {}: {e}", p.display()))?;
                }
            }
            let here = |b: &[u8]| String::from_utf8_lossy(b).replace(&format!("{REMOTE_ROOT}/"), "/");
            Ok(RunOutput {
                // 137: `timeout -s KILL` fired.
                timed_out: out.code == 137,
                success: out.success(),
                stdout: here(&out.stdout),
                stderr: here(&out.stderr),
            })
        })
    }
}

fn words(env: &[(String, String)]) -> String {
    env.iter().map(|(k, v)| channel::quote(&format!("{k}={v}"))).collect::<Vec<_>>().join(" ")
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
