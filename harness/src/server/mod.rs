//! Server backends: where a scenario's PostgreSQL runs (local binaries, or a container).
//!
//! A [`Backend`] knows one PostgreSQL build and creates [`Instance`]s from it; an instance
//! receives a fully rendered configuration ([`ServerConfig`]) and starts, reloads, restarts
//! and stops. Backends decide where files live (a data directory here, a container path there)
//! and render paths themselves, so the runner never hard-codes a path or an image tag. A backend
//! reports facts (its [`ServerInfo`], how its psql runs: [`psql::PsqlLauncher`]); `setup`
//! assembles targets from them. Adding a backend means one new module implementing these two
//! traits plus one line in `setup::BACKENDS` (its name, description and the function that makes
//! its targets).

pub use crate::pki::{ConfValue, FileSource, Paths, ServerFile, render_text};

pub mod docker;
pub mod embedded;
mod error;
pub mod log;
pub mod native;
pub mod process;
pub mod psql;

pub(crate) use error::Joined;
pub use error::{Cause, ServerError, ServerErrorKind};

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

use futures_util::future::BoxFuture;

use crate::scenario::{FileOwner, PgVersion, Role};

/// What a backend knows about the build it runs.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub version: PgVersion,
    /// `postgres --version` output.
    pub version_text: String,
    /// `ssl_library` (e.g. `OpenSSL`), or `None` for builds without SSL support.
    pub ssl_library: Option<String>,
    /// Every setting (GUC) this build knows, for `requires.settings`.
    pub settings: BTreeSet<String>,
    /// Short label for reports, e.g. `native 15.18` or `docker pgtls/postgres:17`.
    pub label: String,
}

/// Roles and databases an instance needs before the first case.
#[derive(Debug, Clone, Default, Hash, PartialEq, Eq)]
pub struct Bootstrap {
    pub roles: Vec<Role>,
    pub databases: Vec<String>,
}

/// A PostgreSQL build instances are created from.
pub trait Backend: Send + Sync {
    fn info(&self) -> &ServerInfo;

    /// Identifies the build (binary directory, image): instances of equal ids are
    /// interchangeable, so the runner may reuse one for another scenario.
    fn id(&self) -> String;

    /// Creates a stopped instance with `bootstrap` applied; it owns its files.
    fn create<'a>(&'a self, bootstrap: &'a Bootstrap) -> BoxFuture<'a, Result<Box<dyn Instance>, ServerError>>;
}

/// One server: files in place, then started and changed by steps.
pub trait Instance: Send + Sync {
    /// Writes the configuration files (postgresql.conf include, pg_hba, pg_ident, TLS files)
    /// where the server reads them ([`write_config`] does the writing).
    fn write_files(&mut self, config: &ServerConfig) -> std::io::Result<()>;
    /// Makes the configuration files the server's: [`Instance::write_files`], and for an
    /// instance whose server reads no files of this machine, the copy that reaches it.
    fn apply<'a>(&'a mut self, config: &'a ServerConfig) -> BoxFuture<'a, Result<(), ServerError>> {
        Box::pin(async move {
            self.write_files(config)
                .map_err(|e| ServerError::with(ServerErrorKind::Io, "failed to write the server configuration", e))
        })
    }
    fn start(&mut self) -> BoxFuture<'_, Result<(), StartFailure>>;
    fn stop(&mut self) -> BoxFuture<'_, ()>;
    /// Stops (if running) and starts again with the files as they are now.
    fn restart(&mut self) -> BoxFuture<'_, Result<(), StartFailure>> {
        Box::pin(async move {
            self.stop().await;
            self.start().await
        })
    }
    fn is_running(&self) -> bool;
    /// How the harness itself connects as a superuser (never a client's way in).
    fn admin_config(&self) -> tokio_postgres::Config;
    /// Where clients on this machine connect.
    fn endpoint(&self) -> Endpoint;
    /// The server's log file (its stderr).
    fn log_path(&self) -> PathBuf;
    fn postmaster_pid(&self) -> Option<u32>;

    /// A superuser connection.
    fn admin(&self) -> BoxFuture<'_, Result<tokio_postgres::Client, tokio_postgres::Error>> {
        Box::pin(connect_admin(self.admin_config()))
    }

    /// Asks the server to reload and waits until it has: a new backend inherits the
    /// postmaster's `pg_conf_load_time`, and the postmaster finishes its SIGHUP work
    /// (configuration, pg_hba, SSL context) before it forks again.
    fn reload(&mut self) -> BoxFuture<'_, Result<(), ServerError>> {
        Box::pin(async move {
            const Q: &str = "select pg_conf_load_time()::text";
            let admin = self
                .admin()
                .await
                .map_err(|e| ServerError::with(ServerErrorKind::Admin, "failed to connect for reload", e))?;
            let before: String = admin
                .query_one(Q, &[])
                .await
                .map_err(|e| ServerError::with(ServerErrorKind::Admin, "failed to reload", e))?
                .get(0);
            admin
                .execute("select pg_reload_conf()", &[])
                .await
                .map_err(|e| ServerError::with(ServerErrorKind::Admin, "failed to reload", e))?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while std::time::Instant::now() < deadline {
                if let Ok(c) = self.admin().await
                    && c.query_one(Q, &[]).await.is_ok_and(|r| r.get::<_, String>(0) != before)
                {
                    return Ok(());
                }
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            Err(ServerError::with(
                ServerErrorKind::Admin,
                "failed to reload",
                "pg_conf_load_time did not change within 10 s",
            ))
        })
    }

    /// Runs statements as a superuser (the server must be running).
    fn execute<'a>(&'a self, statements: &'a [String]) -> BoxFuture<'a, Result<(), ServerError>> {
        let db = self.admin_config().get_dbname().unwrap_or("postgres").to_owned();
        Box::pin(async move { self.execute_in(&db, statements).await })
    }

    /// Runs statements as a superuser in database `db`.
    fn execute_in<'a>(&'a self, db: &'a str, statements: &'a [String]) -> BoxFuture<'a, Result<(), ServerError>> {
        Box::pin(async move {
            let mut cfg = self.admin_config();
            cfg.dbname(db);
            let c = connect_admin(cfg).await.map_err(|e| {
                ServerError::with(ServerErrorKind::Admin, format!("failed to connect as superuser to {db}"), e)
            })?;
            for s in statements {
                c.batch_execute(s)
                    .await
                    .map_err(|e| ServerError::with(ServerErrorKind::Admin, format!("`{s}` failed"), e))?;
            }
            Ok(())
        })
    }

    /// Current length of the server log, to mark the start of an attempt.
    fn log_offset(&self) -> BoxFuture<'_, u64> {
        Box::pin(std::future::ready(file_log_offset(&self.log_path())))
    }

    /// Server log text from `offset` to now.
    fn log_since(&self, offset: u64) -> BoxFuture<'_, String> {
        Box::pin(std::future::ready(file_log_since(&self.log_path(), offset)))
    }
}

/// The length of a log file (0 when it does not exist yet).
pub fn file_log_offset(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// A log file's text from `offset` on.
pub fn file_log_since(path: &std::path::Path, offset: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut buf = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path)
        && f.seek(SeekFrom::Start(offset)).is_ok()
    {
        let _ = f.read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A TCP address clients use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub addr: IpAddr,
    pub port: u16,
    /// The Unix-socket directory as this machine sees it, and the port in the socket's name
    /// (`.s.PGSQL.<port>`, the server's own port, which differs from a published one);
    /// `None` when this machine cannot reach it (a container in Docker copy mode).
    pub socket: Option<(PathBuf, u16)>,
}

/// The complete server configuration the runner wants in effect.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// postgresql.conf settings from the scenario, in order.
    pub settings: Vec<(String, ConfValue)>,
    pub hba: Vec<String>,
    pub ident: Vec<String>,
    /// TLS files the settings point at.
    pub files: Vec<ServerFile>,
    /// Other files written next to the configuration (scenario `files`); their text is
    /// rendered like setting values, so placeholders become paths.
    pub extra_files: Vec<(String, Vec<ConfValue>)>,
}

/// Why a server did not start.
#[derive(Debug, Clone, thiserror::Error)]
#[error("server failed to start: {summary}")]
pub struct StartFailure {
    pub summary: String,
    /// The last FATAL the server logged, if any.
    pub fatal: Option<log::LogEntry>,
    /// The log tail, for reports.
    pub log_tail: String,
}

/// Quotes a postgresql.conf value.
pub fn conf_literal(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "''"))
}

/// Quotes an SQL identifier.
pub fn sql_ident(v: &str) -> String {
    format!("\"{}\"", v.replace('"', "\"\""))
}

/// Quotes an SQL string literal.
pub fn sql_literal(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

/// Connects the harness's superuser, the connection driven by a task of its own.
async fn connect_admin(cfg: tokio_postgres::Config) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, conn) = cfg.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    Ok(client)
}

/// The SQL that creates roles and databases.
pub fn bootstrap_sql(b: &Bootstrap) -> Vec<String> {
    let mut sql = Vec::new();
    let mut known: BTreeSet<&str> = BTreeSet::from(["postgres"]);
    for r in &b.roles {
        sql.push(format!("SET password_encryption = {}", sql_literal(r.password_encryption.setting())));
        let verb = if known.contains(r.name.as_str()) { "ALTER" } else { "CREATE" };
        let mut s = format!("{verb} ROLE {} LOGIN", sql_ident(&r.name));
        if r.superuser {
            s.push_str(" SUPERUSER");
        }
        if let Some(pw) = &r.password {
            s.push_str(&format!(" PASSWORD {}", sql_literal(pw)));
        }
        sql.push(s);
        known.insert(&r.name);
    }
    for r in &b.roles {
        for g in &r.member_of {
            if !known.contains(g.as_str()) {
                sql.push(format!("CREATE ROLE {} NOLOGIN", sql_ident(g)));
                known.insert(g);
            }
            sql.push(format!("GRANT {} TO {}", sql_ident(g), sql_ident(&r.name)));
        }
    }
    for d in &b.databases {
        sql.push(format!("CREATE DATABASE {}", sql_ident(d)));
    }
    sql
}

/// The SQL that turns a server bootstrapped with `old` into one bootstrapped with `new`:
/// roles and databases of `old` that `new` lacks are dropped (a leftover could change an
/// outcome, e.g. a `role-missing` expectation), the rest is created or reset.
pub fn reconcile_sql(old: &Bootstrap, new: &Bootstrap) -> Vec<String> {
    let mut sql = Vec::new();
    for d in old.databases.iter().filter(|d| !new.databases.contains(d)) {
        sql.push(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", sql_ident(d)));
    }
    let mut old_roles: Vec<&str> = old.roles.iter().map(|r| r.name.as_str()).collect();
    old_roles.extend(old.roles.iter().flat_map(|r| r.member_of.iter().map(String::as_str)));
    old_roles.sort();
    old_roles.dedup();
    for r in old_roles.into_iter().filter(|r| *r != "postgres") {
        sql.push(format!("DROP ROLE IF EXISTS {}", sql_ident(r)));
    }
    if old.roles.iter().any(|r| r.name == "postgres") {
        sql.push("ALTER ROLE postgres PASSWORD NULL".into());
    }
    let fresh = Bootstrap {
        roles: new.roles.clone(),
        databases: new.databases.iter().filter(|d| !old.databases.contains(d)).cloned().collect(),
    };
    sql.extend(bootstrap_sql(&fresh));
    sql
}

/// The settings every instance gets from the harness, whatever the scenario says.
pub fn harness_settings(port: u16, listen: &str, socket_dir: &str) -> Vec<(&'static str, String)> {
    vec![
        ("port", port.to_string()),
        ("listen_addresses", listen.to_owned()),
        ("unix_socket_directories", socket_dir.to_owned()),
        ("logging_collector", "off".into()),
        ("log_destination", "stderr".into()),
        ("log_line_prefix", "%m [%p] ".into()),
        ("log_error_verbosity", "verbose".into()),
        ("lc_messages", "C".into()),
        ("log_connections", "on".into()),
        ("fsync", "off".into()),
        ("max_connections", "20".into()),
        ("shared_buffers", "16MB".into()),
        // Dynamic shared memory as files in the data directory, removed with it, rather than
        // /dev/shm segments that a killed server would leave behind.
        ("dynamic_shared_memory_type", "mmap".into()),
    ]
}

/// Renders the include file: harness settings first, scenario settings after, so a scenario
/// can override defaults like `log_connections` but never the harness-owned ones (the loader
/// rejects those).
/// Where an instance's configuration files are written on this machine, and what the
/// server calls them.
pub struct ConfigLayout<'a> {
    /// The directory of the settings include, pg_hba.conf, pg_ident.conf and the extra files.
    pub dir: &'a std::path::Path,
    /// File name of the settings include in `dir`.
    pub include: &'a str,
    /// Mode of the include, pg_hba.conf and pg_ident.conf (extra files are 0644).
    pub mode: u32,
    /// The TLS files' directory.
    pub ssl_dir: &'a std::path::Path,
    pub paths: Paths<'a>,
    /// pg_hba.conf from the scenario's lines ([`render_hba`], or a backend's variant).
    pub hba: &'a dyn Fn(&[String]) -> String,
    /// Owner and group of the server.
    pub owner: (nix::unistd::Uid, nix::unistd::Gid),
}

/// Writes `config` as `layout` says, the harness's own settings (`harness`) first.
pub fn write_config(layout: &ConfigLayout, harness: &[(&str, String)], config: &ServerConfig) -> std::io::Result<()> {
    let dir = layout.dir;
    let conf = render_conf(harness, &config.settings, &layout.paths);
    process::write_file(&dir.join(layout.include), conf, layout.mode)?;
    process::write_file(&dir.join("pg_hba.conf"), (layout.hba)(&config.hba), layout.mode)?;
    process::write_file(&dir.join("pg_ident.conf"), config.ident.join("\n") + "\n", layout.mode)?;
    for (name, pieces) in &config.extra_files {
        process::write_file(&dir.join(name), render_text(pieces, &layout.paths), 0o644)?;
    }
    place_files(layout.ssl_dir, &config.files, layout.owner.0, layout.owner.1)
}

pub fn render_conf(harness: &[(&str, String)], scenario: &[(String, ConfValue)], paths: &Paths) -> String {
    let mut out = String::from("# written by pgtls; do not edit\n");
    for (k, v) in harness {
        out.push_str(&format!("{k} = {}\n", conf_literal(v)));
    }
    for (k, v) in scenario {
        out.push_str(&format!("{k} = {}\n", conf_literal(&v.render(paths))));
    }
    out
}

/// pg_hba with the harness's own administrative line first (unix socket only, so it never
/// matches a client's TCP connection).
pub fn render_hba(lines: &[String]) -> String {
    let mut out = String::from("# written by pgtls\nlocal all postgres trust\n");
    for l in lines {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// Writes each TLS file into `dir` with the owner, group and mode the scenario asked for;
/// "server" means `server_uid`/`server_gid` (the server's own user, also inside a container).
pub fn place_files(
    dir: &std::path::Path,
    files: &[ServerFile],
    server_uid: nix::unistd::Uid,
    server_gid: nix::unistd::Gid,
) -> std::io::Result<()> {
    use nix::unistd::{Gid, Uid, chown};
    let as_root = Uid::current().is_root();
    std::fs::create_dir_all(dir)?;
    for f in files {
        let dest = dir.join(&f.name);
        if dest.is_dir() {
            std::fs::remove_dir_all(&dest)?;
        }
        match &f.source {
            FileSource::Concat(parts) => {
                let mut text = Vec::new();
                for p in parts {
                    text.extend(std::fs::read(p)?);
                }
                let _ = std::fs::remove_file(&dest);
                process::write_file(&dest, text, f.mode)?;
            }
            FileSource::Dir(src) => process::copy_tree(src, &dest)?,
        }
        if !as_root {
            continue;
        }
        let uid = if f.owner == FileOwner::Root { Uid::from_raw(0) } else { server_uid };
        let gid = if f.group == FileOwner::Root { Gid::from_raw(0) } else { server_gid };
        chown(&dest, Some(uid), Some(gid))?;
        if dest.is_dir() {
            for e in std::fs::read_dir(&dest)? {
                chown(&e?.path(), Some(uid), Some(gid))?;
            }
        }
    }
    if as_root {
        chown(dir, Some(server_uid), Some(server_gid))?;
    }
    Ok(())
}
