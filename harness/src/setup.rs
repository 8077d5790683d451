//! Turns command-line style choices into scenarios and targets (backends with their clients).
//! Shared by the `pgtls` command and the integration tests, so both run the same way.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::client::libpq::LibpqClient;
use crate::client::{BUILT_IN, Client, MakeContext};
use crate::runner::Target;
use crate::scenario::{self, Scenario, ScenarioError};
use crate::server::Backend;
use crate::server::docker::FileTransfer;
use crate::server::native::{Binaries, NativeBackend};

/// Every `*.toml` scenario under `paths` (files or directories), sorted, with the root its
/// name is relative to: the nearest ancestor named `scenarios`, else the given directory.
pub fn scenario_files(paths: &[PathBuf]) -> Result<Vec<(PathBuf, PathBuf)>, String> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("failed to read {}: {e}", p.display()))?;
        let root = scenarios_root(p)
            .unwrap_or_else(|| if meta.is_dir() { p.clone() } else { p.parent().unwrap_or(Path::new(".")).to_owned() });
        if meta.is_dir() {
            collect(p, &root, &mut out)?;
        } else {
            out.push((p.clone(), root));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn collect(dir: &Path, root: &Path, out: &mut Vec<(PathBuf, PathBuf)>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("failed to read {}: {e}", dir.display()))?;
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            collect(&path, root, out)?;
        } else if path.extension().is_some_and(|x| x == "toml") && !is_registry(&path) {
            out.push((path, root.to_owned()));
        }
    }
    Ok(())
}

/// `divergences.toml` is the registry, not a scenario.
pub fn is_registry(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "divergences.toml")
}

fn scenarios_root(p: &Path) -> Option<PathBuf> {
    let abs = p.canonicalize().ok()?;
    abs.ancestors().find(|a| a.file_name().is_some_and(|n| n == "scenarios")).map(Path::to_owned)
}

/// Loads every scenario; all errors of all files are returned together.
pub fn load_scenarios(files: &[(PathBuf, PathBuf)]) -> Result<Vec<Scenario>, Vec<ScenarioError>> {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (path, root) in files {
        let root = root.canonicalize().unwrap_or_else(|_| root.clone());
        let abs = path.canonicalize().unwrap_or_else(|_| path.clone());
        match scenario::load_file(&abs, &root) {
            Ok(s) => ok.push(s),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() { Ok(ok) } else { Err(errors) }
}

/// Which clients to run.
#[derive(Debug, Clone)]
pub struct ClientChoice {
    /// `libpq`, `rust`, or an adapter name.
    pub names: Vec<String>,
    /// psql to use instead of the one from the build under test.
    pub psql: Option<PathBuf>,
}

impl Default for ClientChoice {
    /// The built-in clients and every installed adapter.
    fn default() -> Self {
        let mut names: Vec<String> = BUILT_IN.iter().map(|b| b.name.to_owned()).collect();
        names.extend(crate::client::adapter::installed().0);
        ClientChoice { names, psql: None }
    }
}

/// Where servers run, as the command line says it; each backend reads its part.
#[derive(Debug, Clone, Default)]
pub struct TargetArgs {
    /// Native: binary directories (none: discover one).
    pub pg_bin: Vec<PathBuf>,
    /// Docker: images, with `--pg` majors already resolved through the image pattern.
    pub images: Vec<String>,
    /// Docker: `auto`, `bind` or `copy`.
    pub docker_files: String,
}

/// A backend's targets, and a line for the run's header (e.g. which engine), if it has one.
pub type MadeTargets = Result<(Vec<Target>, Option<String>), String>;

/// A backend: its name, what it is, and how it makes targets.
#[derive(Debug)]
pub struct BackendEntry {
    pub name: &'static str,
    pub about: &'static str,
    /// The targets for `args`, each with the clients of `clients`.
    pub targets: fn(&TargetArgs, &ClientChoice) -> MadeTargets,
}

/// The backends, by name, the default first: the one table the CLI's `--backend` (a value
/// enum over it) and messages use. Adding a backend: its module under `server/` and one line
/// here.
pub const BACKENDS: &[BackendEntry] = &[
    BackendEntry {
        name: "native",
        about: "local PostgreSQL binaries: --pg-bin, else the newest installed, else fetched",
        targets: |a, clients| Ok((native_targets(&a.pg_bin, clients)?, None)),
    },
    BackendEntry {
        name: "docker",
        about: "containers of PostgreSQL images: --image, or --pg with --image-pattern",
        targets: docker_targets_for,
    },
];

fn docker_targets_for(a: &TargetArgs, clients: &ClientChoice) -> MadeTargets {
    if a.images.is_empty() {
        return Err("--backend docker needs --image IMAGE or --pg MAJORS".into());
    }
    let (files, why) = FileTransfer::choose(&a.docker_files)?;
    let engine = std::env::var("DOCKER_HOST").unwrap_or_else(|_| "the local socket".into());
    let header = format!("docker engine: {engine}; files: {} ({why})", files.name());
    Ok((docker_targets(&a.images, clients, files)?, Some(header)))
}

/// Native targets, one per binary directory (none given: discover one).
pub fn native_targets(pg_bins: &[PathBuf], clients: &ClientChoice) -> Result<Vec<Target>, String> {
    let dirs: Vec<Option<&Path>> =
        if pg_bins.is_empty() { vec![None] } else { pg_bins.iter().map(|p| Some(p.as_path())).collect() };
    let mut out = Vec::new();
    for dir in dirs {
        let backend = NativeBackend::new(Binaries::discover(dir)?)?;
        let psql = clients.psql.clone().unwrap_or_else(|| backend.bindir().join("psql"));
        let backend: Arc<dyn Backend> = Arc::new(backend);
        out.push(Target { clients: make_clients(clients, &psql)?, backend });
    }
    Ok(out)
}

/// The clients named in `choice`, with libpq from `psql`.
pub fn make_clients(choice: &ClientChoice, psql: &Path) -> Result<Vec<Arc<dyn Client>>, String> {
    clients_with(choice, || Ok(LibpqClient::new(psql)?))
}

/// The clients named in `choice` ([`crate::client::BUILT_IN`], else an adapter), with libpq
/// made by `libpq` when it is chosen.
fn clients_with(
    choice: &ClientChoice,
    libpq: impl Fn() -> Result<LibpqClient, String>,
) -> Result<Vec<Arc<dyn Client>>, String> {
    let cx = MakeContext { libpq: &libpq };
    let mut out: Vec<Arc<dyn Client>> = Vec::new();
    for (i, name) in choice.names.iter().enumerate() {
        if choice.names[..i].contains(name) {
            return Err(format!("client `{name}` is chosen twice"));
        }
        match BUILT_IN.iter().find(|b| b.name == name) {
            Some(b) => out.push((b.make)(&cx)?),
            None => out.push(crate::client::adapter::load(name)?),
        }
    }
    Ok(out)
}

/// Docker targets, one per image, each with its clients: libpq is the image's own psql
/// (as the backend reports it) unless `clients.psql` names another.
pub fn docker_targets(images: &[String], clients: &ClientChoice, files: FileTransfer) -> Result<Vec<Target>, String> {
    let rt = tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for backend in crate::server::docker::backends(images, files)? {
        let libpq = || match &clients.psql {
            Some(p) => Ok(LibpqClient::new(p)?),
            None => tokio::task::block_in_place(|| {
                rt.block_on(async { Ok(LibpqClient::from_launcher(backend.psql().await?).await?) })
            }),
        };
        let list = clients_with(clients, libpq)?;
        out.push(Target { backend: Arc::new(backend), clients: list });
    }
    Ok(out)
}
