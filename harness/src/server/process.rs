//! Starting PostgreSQL programs as the unprivileged server user, tied to our lifetime.
//!
//! PostgreSQL refuses to run as root, so when pgtls runs as root the server programs run as
//! a configurable user (`postgres` by default, `PGTLS_SERVER_USER`). Every child gets
//! `PR_SET_PDEATHSIG(SIGKILL)`: if pgtls dies, even by SIGKILL, the kernel kills the
//! postmaster, and its backends follow. The death signal fires when the *thread* that forked
//! the child exits, so all long-lived children are forked from one dedicated thread that
//! lives as long as the process.

use std::ffi::OsString;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use nix::unistd::{Gid, Uid, User};

use super::{ServerError, ServerErrorKind as Kind};

/// The account server processes run as.
#[derive(Debug, Clone)]
pub struct ServerUser {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
    /// True when we run as root and must switch to `uid`/`gid` for server programs.
    pub switch: bool,
}

impl ServerUser {
    /// The user to run servers as: ourselves unless we are root, in which case
    /// `PGTLS_SERVER_USER` or `postgres`.
    pub fn detect() -> Result<ServerUser, ServerError> {
        let me = Uid::current();
        if !me.is_root() {
            let name = User::from_uid(me).ok().flatten().map_or_else(|| me.to_string(), |u| u.name);
            return Ok(ServerUser { name, uid: me, gid: Gid::current(), switch: false });
        }
        let explicit = std::env::var("PGTLS_SERVER_USER").ok();
        let name = explicit.clone().unwrap_or_else(|| "postgres".to_owned());
        let lookup = |name: &str| {
            User::from_name(name)
                .map_err(|e| ServerError::with(Kind::Unavailable, format!("failed to look up server user `{name}`"), e))
        };
        let user = match (lookup(&name)?, explicit) {
            (Some(user), _) => user,
            (None, Some(_)) => {
                return Err(ServerError::new(
                    Kind::Unavailable,
                    format!(
                        "pgtls runs as root and PostgreSQL refuses to; PGTLS_SERVER_USER names `{name}`, which \
                         does not exist (hint: create it with `useradd --system {name}` or unset PGTLS_SERVER_USER)"
                    ),
                ));
            }
            (None, None) => fallback_user(lookup)?,
        };
        Ok(ServerUser { name: user.name, uid: user.uid, gid: user.gid, switch: true })
    }

    /// A command that will run as this user.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        if self.switch {
            cmd.uid(self.uid.as_raw()).gid(self.gid.as_raw());
            // Supplementary groups are dropped to those of the server user's primary group;
            // a scenario's root:<server group> 0640 key relies on the primary group.
            cmd.env("HOME", "/");
        }
        cmd.env("LC_ALL", "C");
        cmd
    }

    /// Makes `path` (recursively) owned by this user.
    pub fn chown_tree(&self, path: &Path) -> io::Result<()> {
        if !self.switch {
            return Ok(());
        }
        chown_recursive(path, self.uid, self.gid)
    }

    /// Makes one file owned by `uid`/`gid` as given (root or this user).
    pub fn chown(&self, path: &Path, uid: Uid, gid: Gid) -> io::Result<()> {
        if !Uid::current().is_root() {
            return Ok(());
        }
        nix::unistd::chown(path, Some(uid), Some(gid)).map_err(io::Error::from)
    }
}

/// As root without a `postgres` user: `nobody`, which every Debian-like system has, with a
/// one-line notice; the server files are made its own like any server user's.
fn fallback_user(lookup: impl Fn(&str) -> Result<Option<User>, ServerError>) -> Result<User, ServerError> {
    static NOTICE: std::sync::Once = std::sync::Once::new();
    let user = lookup("nobody")?.ok_or_else(|| {
        ServerError::new(
            Kind::Unavailable,
            "pgtls runs as root and PostgreSQL refuses to; there is no `postgres` user (nor `nobody`) to run \
             servers as (hint: create one with `useradd --system --create-home postgres`, or set PGTLS_SERVER_USER)",
        )
    })?;
    NOTICE.call_once(|| {
        eprintln!(
            "pgtls: running as root without a `postgres` user: test servers run as `nobody` \
             (create a postgres user or set PGTLS_SERVER_USER to change it)"
        )
    });
    Ok(user)
}

fn chown_recursive(path: &Path, uid: Uid, gid: Gid) -> io::Result<()> {
    nix::unistd::chown(path, Some(uid), Some(gid)).map_err(io::Error::from)?;
    if std::fs::symlink_metadata(path)?.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_recursive(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Copies a directory tree (files, dirs, symlinks), keeping modes.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::metadata(from)?.permissions())?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let ft = entry.file_type()?;
        if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

/// Writes a file with a mode.
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>, mode: u32) -> io::Result<()> {
    std::fs::write(path, contents)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

/// Spawns a long-lived child that dies with this process. See the module docs.
pub fn spawn_tied(mut cmd: Command) -> io::Result<Child> {
    // SAFETY: prctl and getppid are async-signal-safe; the closure allocates nothing.
    unsafe {
        let parent = libc::getpid();
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                return Err(io::Error::other("parent exited during spawn"));
            }
            // A session of its own: no controlling terminal, so a server asked for a key
            // passphrase without `ssl_passphrase_command` fails instead of prompting on /dev/tty.
            libc::setsid();
            Ok(())
        });
    }
    let (tx, rx) = mpsc::channel();
    spawner()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send((cmd, tx))
        .map_err(|_| io::Error::other("spawner thread is gone"))?;
    let child = rx.recv().map_err(|_| io::Error::other("spawner thread is gone"))??;
    crate::cleanup::register_pid(child.id() as i32);
    Ok(child)
}

fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("pgtls-spawner".into())
            .spawn(move || {
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            })
            .expect("failed to start the spawner thread");
        Mutex::new(tx)
    })
}

/// Runs a short-lived program to completion, capturing output.
pub fn run(cmd: &mut Command) -> io::Result<std::process::Output> {
    cmd.stdin(std::process::Stdio::null()).output()
}

/// Renders a command for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut parts: Vec<OsString> = vec![cmd.get_program().to_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_owned()));
    parts.iter().map(|p| p.to_string_lossy()).collect::<Vec<_>>().join(" ")
}
