//! Nothing a run starts may outlive it: server processes, containers and scratch directories
//! are registered here while they exist.
//!
//! Normal ends and panics are covered by `Drop` on the owners (servers stop, `TempDir`s are
//! removed). SIGINT and SIGTERM are covered by a handler thread that kills the registered
//! processes, removes the registered containers and directories, then exits. SIGKILL cannot be
//! caught: server processes are started with `PR_SET_PDEATHSIG` (see [`crate::server::process`])
//! so the kernel stops them, and [`sweep_stale`] removes what a killed run left on disk and in
//! Docker the next time pgtls starts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, Once};

#[derive(Default)]
struct Registry {
    pids: BTreeSet<i32>,
    containers: BTreeSet<String>,
    dirs: BTreeSet<PathBuf>,
}

static REGISTRY: Mutex<Registry> =
    Mutex::new(Registry { pids: BTreeSet::new(), containers: BTreeSet::new(), dirs: BTreeSet::new() });

static INSTALL: Once = Once::new();

/// Prefix of every scratch directory a run creates under [`scratch_base`].
pub const SCRATCH_PREFIX: &str = "pgtls-";

/// Where scratch directories go: `PGTLS_SCRATCH_DIR`, else `/dev/shm` when it is a writable
/// tmpfs, else the system temp dir. A run creates and deletes thousands of small files
/// (certificates, keys, data directories, service files); on ext4 allocating their inodes
/// costs more than generating them.
pub fn scratch_base() -> PathBuf {
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        if let Some(dir) = std::env::var_os("PGTLS_SCRATCH_DIR") {
            return PathBuf::from(dir);
        }
        let shm = Path::new("/dev/shm");
        let tmpfs = nix::sys::statfs::statfs(shm).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC);
        if tmpfs && nix::unistd::access(shm, nix::unistd::AccessFlags::W_OK).is_ok() {
            shm.to_owned()
        } else {
            std::env::temp_dir()
        }
    })
    .clone()
}

/// Docker label carrying the pid of the pgtls process that owns a container.
pub const OWNER_LABEL: &str = "dev.pgtls.owner-pid";

fn with<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    let mut guard = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut guard)
}

pub fn register_pid(pid: i32) {
    install_signal_handlers();
    with(|r| r.pids.insert(pid));
}

pub fn unregister_pid(pid: i32) {
    with(|r| r.pids.remove(&pid));
}

pub fn register_container(id: &str) {
    install_signal_handlers();
    ensure_reaper();
    with(|r| r.containers.insert(id.to_owned()));
}

/// Containers being created (a [`Creating`] guard each), and whether a signal is being handled.
static CREATING: AtomicUsize = AtomicUsize::new(0);
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Held while a labelled container is created, until it is registered or removed: the signal
/// handler waits for it, so a create request still in flight when Ctrl-C arrives cannot leave a
/// container that appears after the cleanup swept (seen with Podman's API service).
#[must_use = "the guard covers the container's creation"]
pub struct Creating(());

impl Drop for Creating {
    fn drop(&mut self) {
        CREATING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Arms the signal handlers and the reaper before a container whose ID is not known yet is
/// created (the reaper finds it by its [`OWNER_LABEL`]). Once a signal is being handled, no
/// new creation starts: the caller waits here until the process exits.
pub fn before_labelled_container() -> Creating {
    install_signal_handlers();
    ensure_reaper();
    CREATING.fetch_add(1, Ordering::SeqCst);
    if STOPPING.load(Ordering::SeqCst) {
        CREATING.fetch_sub(1, Ordering::SeqCst);
        loop {
            std::thread::park();
        }
    }
    Creating(())
}

pub fn unregister_container(id: &str) {
    with(|r| r.containers.remove(id));
}

pub fn register_dir(path: &Path) {
    install_signal_handlers();
    ensure_reaper();
    with(|r| r.dirs.insert(path.to_owned()));
}

pub fn unregister_dir(path: &Path) {
    with(|r| r.dirs.remove(path));
}

/// Installs the SIGINT/SIGTERM handler once per process.
pub fn install_signal_handlers() {
    INSTALL.call_once(|| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        std::thread::Builder::new()
            .name("pgtls-cleanup".into())
            .spawn(move || {
                if let Some(sig) = signals.forever().next() {
                    eprintln!("pgtls: signal {sig}: stopping servers and removing scratch files");
                    STOPPING.store(true, Ordering::SeqCst);
                    // Creations in flight end registered (or failed, their container left to
                    // the reaper's sweep by label); bounded, so a hung engine cannot hold us.
                    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
                    while CREATING.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < end {
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    cleanup_now();
                    std::process::exit(128 + sig);
                }
            })
            .ok();
    });
}

/// Stops and removes everything registered. Safe to call more than once.
pub fn cleanup_now() {
    let (pids, containers, dirs) =
        with(|r| (std::mem::take(&mut r.pids), std::mem::take(&mut r.containers), std::mem::take(&mut r.dirs)));
    for pid in pids {
        // SIGQUIT is PostgreSQL's immediate shutdown: the postmaster stops its children.
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGQUIT);
    }
    if !containers.is_empty() {
        let _ = Command::new("docker").arg("rm").arg("-f").args(&containers).output();
    }
    for dir in dirs {
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Starts the reaper once. Its stdin is a pipe whose write end this process keeps open for
/// its whole life; EOF means we are gone, for whatever reason.
fn ensure_reaper() {
    static REAPER: std::sync::OnceLock<Option<std::os::fd::OwnedFd>> = std::sync::OnceLock::new();
    REAPER.get_or_init(|| {
        // Close-on-exec: no other child may hold the write end and keep the reaper waiting.
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).ok()?;
        let pid = std::process::id();
        let tmp = scratch_base();
        let script = format!(
            "read _ignored; ids=$(docker ps -aq --filter label={OWNER_LABEL}={pid} 2>/dev/null); \
             [ -n \"$ids\" ] && docker rm -f $ids >/dev/null 2>&1; rm -rf {}/{SCRATCH_PREFIX}{pid}-*",
            tmp.display()
        );
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .stdin(std::process::Stdio::from(read))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: setsid is async-signal-safe. Its own session keeps the reaper out of the
        // terminal's process group, so a Ctrl-C aimed at pgtls does not kill it too.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        cmd.spawn().ok()?;
        Some(write)
    });
}

/// Removes scratch directories and containers left by pgtls processes that no longer run.
pub fn sweep_stale() {
    let tmp = scratch_base();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = owner_pid(&name)
                && !pid_alive(pid)
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    sweep_stale_containers();
}

/// `pgtls-<pid>-<random>` → pid.
fn owner_pid(dir_name: &str) -> Option<i32> {
    dir_name.strip_prefix(SCRATCH_PREFIX)?.split('-').next()?.parse().ok()
}

fn pid_alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
}

fn sweep_stale_containers() {
    let filter = format!("label={OWNER_LABEL}");
    let Ok(out) = Command::new("docker")
        .args(["ps", "-a", "--filter", &filter, "--format", &format!("{{{{.ID}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}")])
        .output()
    else {
        return;
    };
    let stale: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, pid)| pid.parse::<i32>().is_ok_and(|p| !pid_alive(p)))
        .map(|(id, _)| id.to_owned())
        .collect();
    if !stale.is_empty() {
        let _ = Command::new("docker").arg("rm").arg("-f").args(&stale).output();
    }
}

/// A scratch directory under the system temp dir, named after this process so a later run
/// can tell it is stale, registered for signal cleanup and removed on drop.
pub struct Scratch {
    dir: Option<tempfile::TempDir>,
}

impl Scratch {
    pub fn new(label: &str) -> std::io::Result<Scratch> {
        let prefix = format!("{SCRATCH_PREFIX}{}-", std::process::id());
        let dir = tempfile::Builder::new().prefix(&prefix).suffix(&format!("-{label}")).tempdir_in(scratch_base())?;
        register_dir(dir.path());
        Ok(Scratch { dir: Some(dir) })
    }

    pub fn path(&self) -> &Path {
        self.dir.as_ref().map(|d| d.path()).unwrap_or(Path::new("/nonexistent"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            unregister_dir(dir.path());
            let _ = dir.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_carry_the_owner_pid() {
        let s = Scratch::new("unit").unwrap();
        let name = s.path().file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(owner_pid(&name), Some(std::process::id() as i32));
        let path = s.path().to_owned();
        drop(s);
        assert!(!path.exists());
    }
}
