//! Runs an image's own `psql` on this host, so the libpq client of a Docker target is the
//! libpq (and OpenSSL) of the build under test.
//!
//! `docker exec` costs 0.1–0.8 s per call on a small machine, which would dominate every
//! attempt. Instead the image's libraries and PostgreSQL binaries are extracted once (cached by
//! image ID) and psql is started through the image's dynamic loader with the image's library
//! path: its glibc, libpq and libssl are used even when they are newer than the host's.

use std::path::Path;
use std::process::{Command, Stdio};

use super::ImageFacts;
use crate::server::psql::Launch;
use crate::server::{ServerError, ServerErrorKind as Kind};

/// Directories extracted from the image: libraries, PostgreSQL, OpenSSL's configuration.
const PARTS: &[&str] = &["lib", "lib64", "usr/lib", "usr/lib64", "etc/ssl"];

/// How to start the image's psql on this host.
pub fn psql_launch(image: &str, facts: &ImageFacts) -> Result<Launch, ServerError> {
    let root = crate::cache::dir().join("rootfs").join(facts.id.trim_start_matches("sha256:").get(..16).unwrap_or("x"));
    extract(image, &root)?;
    let loader = resolve_in(&root, Path::new("lib64/ld-linux-x86-64.so.2"));
    if !loader.is_file() {
        return Err(ServerError::new(
            Kind::Unavailable,
            format!(
                "cannot run the psql of {image} on this host: no x86_64 loader in the image (hint: pass --psql PATH)"
            ),
        ));
    }
    let libs = ["usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu", "usr/lib64", "lib64"]
        .iter()
        .map(|d| root.join(d).to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let psql = root.join(facts.bindir.trim_start_matches('/')).join("psql");
    let conf = Some(root.join("etc/ssl/openssl.cnf")).filter(|p| p.exists());
    Ok(Launch { psql, loader: Some((loader, libs, conf)) })
}

/// Follows symlinks of `rel` inside `root`: an absolute target (`/lib/x86_64-linux-gnu/…`, as
/// in the bullseye and bookworm images) means a path inside the image, not on this host.
fn resolve_in(root: &Path, rel: &Path) -> std::path::PathBuf {
    let mut path = root.join(rel);
    for _ in 0..16 {
        let Ok(target) = std::fs::read_link(&path) else { break };
        path = if target.is_absolute() {
            root.join(target.strip_prefix("/").unwrap_or(&target))
        } else {
            path.parent().unwrap_or(root).join(target)
        };
    }
    path
}

fn extract(image: &str, root: &Path) -> Result<(), ServerError> {
    let done = root.join(".extracted");
    if done.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(root).map_err(ServerError::io)?;
    let lock = std::fs::File::create(root.with_extension("lock")).map_err(ServerError::io)?;
    let _guard = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| ServerError::of(Kind::Io, e))?;
    if done.exists() {
        return Ok(());
    }
    let id = run(Command::new("docker").args(["create", image]))?;
    let result = export_into(id.trim(), root);
    let _ = Command::new("docker").args(["rm", "-f", id.trim()]).output();
    result?;
    std::fs::write(&done, image).map_err(ServerError::io)
}

fn export_into(container: &str, root: &Path) -> Result<(), ServerError> {
    let mut export = Command::new("docker")
        .args(["export", container])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| ServerError::with(Kind::Io, "failed to run docker export", e))?;
    let stdout = export.stdout.take().ok_or_else(|| ServerError::new(Kind::Io, "docker export has no stdout"))?;
    let status = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(root)
        .arg("--wildcards")
        .args(PARTS.iter().map(|p| format!("{p}/*")))
        .args(PARTS)
        .stdin(stdout)
        .stderr(Stdio::null())
        .status()
        .map_err(|e| ServerError::with(Kind::Io, "failed to run tar", e))?;
    let _ = export.wait();
    // tar exits 2 when some listed member (e.g. usr/lib64) does not exist; what matters is
    // the loader and psql, checked by the caller.
    if status.code().is_some_and(|c| c > 2) {
        return Err(ServerError::new(Kind::Command, format!("tar failed extracting the image: {status}")));
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<String, ServerError> {
    let out = cmd.output().map_err(ServerError::io)?;
    if !out.status.success() {
        return Err(ServerError::of(Kind::Command, String::from_utf8_lossy(&out.stderr).trim().to_owned()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
