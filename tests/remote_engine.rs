//! Docker copy mode on an engine that shares no filesystem path with pgtls: Podman's
//! Docker-compatible API service, started by this test on TCP loopback only
//! (`podman system service tcp:127.0.0.1:PORT`) and reached through `DOCKER_HOST`, the way CI
//! users reach a remote engine, Docker-in-Docker or Podman.
//!
//! - The docs scenarios (and upstream's negotiation cases, whose Unix-socket cases copy mode
//!   skips with the reason) pass there, with copy mode chosen automatically (the run header says so)
//!   and every container the run starts showing no bind mount in the engine's own inspect output
//!   (`PGTLS_AUDIT_CONTAINERS`); a bind-mode run on the local engine is the control that the
//!   audit does see bind mounts.
//! - A failing run and a run interrupted by SIGINT leave no container on that engine.
//!
//! Without `podman`, or without the image in either engine, the tests end ignored with the
//! reason, unless `PGTLS_REQUIRE_REMOTE_ENGINE=1` (set by `.ci/run`).

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};

fn main() -> std::process::ExitCode {
    let trials = vec![
        Trial::ignorable_test(
            "docs_scenarios_pass_on_a_tcp_engine_in_copy_mode_without_bind_mounts",
            docs_in_copy_mode,
        ),
        Trial::ignorable_test("a_failing_or_interrupted_copy_mode_run_leaves_no_container", failing_and_interrupted),
        Trial::ignorable_test("the_audit_sees_bind_mounts_in_bind_mode", bind_mode_control),
    ];
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}

/// The image the tests run: PostgreSQL 18 under `PGTLS_IMAGE_PATTERN`.
fn image() -> String {
    std::env::var("PGTLS_IMAGE_PATTERN").unwrap_or_else(|_| "pgtls/postgres:{major}".into()).replace("{major}", "18")
}

/// An unmet prerequisite: ignored with the reason, or a failure when it is required.
fn unmet(reason: String) -> Result<Completion, Failed> {
    if std::env::var("PGTLS_REQUIRE_REMOTE_ENGINE").as_deref() == Ok("1") {
        return Err(format!("a remote engine is required (PGTLS_REQUIRE_REMOTE_ENGINE=1): {reason}").into());
    }
    Ok(Completion::ignored_with(reason))
}

/// Podman's API service on a free loopback port; stopped on drop.
struct Engine {
    child: Child,
    host: String,
    _conf: tempfile::TempDir,
}

impl Engine {
    fn start(image: &str) -> Result<Engine, String> {
        let version = Command::new("podman").arg("--version").output().map_err(|e| format!("no podman: {e}"))?;
        if !version.status.success() {
            return Err("`podman --version` failed".into());
        }
        ensure_image(image)?;
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?;
        // Podman gives containers its own default ulimits (nofile and nproc up to the system
        // maximum), which a sandboxed machine may not allow to be set: keep them modest.
        let conf = tempfile::tempdir().map_err(|e| e.to_string())?;
        let conf_file = conf.path().join("containers.conf");
        std::fs::write(&conf_file, "[containers]\ndefault_ulimits = [\"nofile=4096:4096\", \"nproc=4096:4096\"]\n")
            .map_err(|e| e.to_string())?;
        let child = Command::new("podman")
            .args(["system", "service", "--time=0", &format!("tcp:{port}")])
            .env("CONTAINERS_CONF", &conf_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("failed to start podman system service: {e}"))?;
        let engine = Engine { child, host: format!("tcp://{port}"), _conf: conf };
        let end = Instant::now() + Duration::from_secs(30);
        while !engine.docker(&["version"]).status.success() {
            if Instant::now() > end {
                return Err(format!("podman's API service did not answer on {} within 30 s", engine.host));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(engine)
    }

    /// The docker CLI against this engine.
    fn docker(&self, args: &[&str]) -> Output {
        Command::new("docker").args(args).env("DOCKER_HOST", &self.host).output().expect("failed to run docker")
    }

    fn pgtls(&self, args: &[&str], audit: &Path) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgtls"));
        cmd.args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DOCKER_HOST", &self.host)
            .env("PGTLS_AUDIT_CONTAINERS", audit)
            .env_remove("PGTLS_DOCKER_FILES");
        cmd
    }

    /// Containers on this engine owned by pgtls process `pid`.
    fn containers(&self, pid: u32) -> usize {
        let filter = format!("label={}={pid}", pgtls_harness::cleanup::OWNER_LABEL);
        String::from_utf8_lossy(&self.docker(&["ps", "-aq", "--filter", &filter]).stdout).lines().count()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// Podman has `image`, loaded from the local Docker engine if it lacks it.
fn ensure_image(image: &str) -> Result<(), String> {
    let has = Command::new("podman").args(["image", "exists", image]).status().is_ok_and(|s| s.success());
    if has {
        return Ok(());
    }
    let save = Command::new("docker")
        .args(["save", image])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("podman lacks {image} and docker cannot save it: {e}"))?;
    let load = Command::new("podman")
        .args(["load", "-q"])
        .stdin(save.stdout.ok_or("no pipe")?)
        .output()
        .map_err(|e| format!("podman load failed: {e}"))?;
    if !load.status.success() {
        return Err(format!(
            "podman lacks {image}, and loading it from Docker failed (build it with ci/build-images.sh): {}",
            String::from_utf8_lossy(&load.stderr).trim()
        ));
    }
    Ok(())
}

/// Every audited container's mounts: `(containers, those with a bind mount)`.
fn audited(audit: &Path) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(audit).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let binds = lines.iter().filter(|l| l.contains("\"bind\"")).map(|l| (*l).to_owned()).collect();
    (lines.len(), binds)
}

fn docs_in_copy_mode() -> Result<Completion, Failed> {
    let image = image();
    let engine = match Engine::start(&image) {
        Ok(e) => e,
        Err(reason) => return unmet(reason),
    };
    let dir = tempfile::tempdir()?;
    let (audit, json) = (dir.path().join("audit"), dir.path().join("report.json"));
    // negotiation.toml holds the Unix-socket cases, which copy mode skips with the reason;
    // cancel.toml runs the cancel helper in the client container.
    let paths = ["scenarios/docs", "scenarios/pg-suite/negotiation.toml", "scenarios/matrix/cancel.toml"];
    let mut cmd =
        engine.pgtls(&["run", paths[0], paths[1], paths[2], "--backend", "docker", "--image", &image], &audit);
    cmd.args(["--client", "libpq,rust"]);
    let child = cmd.arg("--json").arg(&json).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let pid = child.id();
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the docs scenarios failed in copy mode:\n{stdout}\n{stderr}");
    assert!(stderr.contains("files: copy"), "copy mode was not chosen for DOCKER_HOST={}:\n{stderr}", engine.host);
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json)?)?;
    let verdicts: Vec<&str> = report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["cases"].as_array().into_iter().flatten())
        .flat_map(|c| c["results"].as_array().into_iter().flatten())
        .filter_map(|r| r["verdict"]["verdict"].as_str())
        .collect();
    let passed = verdicts.iter().filter(|v| **v == "pass").count();
    let socket_skips = report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["cases"].as_array().into_iter().flatten())
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with("unix socket")))
        .flat_map(|c| c["results"].as_array().into_iter().flatten())
        .filter(|r| r["outcome"]["reason"].as_str().is_some_and(|m| m.contains("Unix socket is not reachable")))
        .count();
    assert_eq!(socket_skips, 6, "the three Unix-socket cases were not skipped for both clients with the reason");
    let libpq_cancels = report["results"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| s["cases"].as_array().into_iter().flatten())
        .flat_map(|c| c["results"].as_array().into_iter().flatten())
        .filter(|r| r["client"] == "libpq" && r["outcome"]["cancel"]["sqlstate"] == "57014")
        .count();
    assert!(libpq_cancels >= 10, "libpq's cancel action ran {libpq_cancels} times in copy mode, expected every case");
    assert!(passed >= 100, "expected the docs scenarios' attempts to pass, saw {passed} passing of {}", verdicts.len());
    let (containers, binds) = audited(&audit);
    // The image probe (once per image), the cached image's bootstrap (once per key), the
    // client container and at least one server container.
    assert!(containers >= 2, "only {containers} containers audited:\n{stderr}");
    assert!(binds.is_empty(), "copy mode started containers with bind mounts: {binds:?}");
    wait_until("the run's containers are gone", Duration::from_secs(10), || engine.containers(pid) == 0);
    eprintln!("{passed} attempts passed; {containers} containers audited, none with a bind mount");
    Ok(Completion::Completed)
}

/// A scenario whose only case expects the wrong outcome.
const FAILING: &str = r#"
description = "fails on purpose: the server has TLS off, the case expects TLS"

[[case]]
name = "expects TLS from a server without it"
client = { sslmode = "disable" }
expect = { outcome = "connected", ssl = true }
"#;

fn failing_and_interrupted() -> Result<Completion, Failed> {
    let image = image();
    let engine = match Engine::start(&image) {
        Ok(e) => e,
        Err(reason) => return unmet(reason),
    };
    let dir = tempfile::tempdir()?;
    let scenario = dir.path().join("failing.toml");
    std::fs::write(&scenario, FAILING)?;
    let audit = dir.path().join("audit");
    let scenario = scenario.to_string_lossy().into_owned();
    let mut failing =
        engine.pgtls(&["run", &scenario, "--backend", "docker", "--image", &image, "--client", "rust"], &audit);
    let child = failing.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    let pid = child.id();
    let out = child.wait_with_output()?;
    assert_eq!(out.status.code(), Some(1), "the failing scenario did not fail");
    wait_until("the failing run's containers are gone", Duration::from_secs(30), || engine.containers(pid) == 0);

    let mut interrupted = engine.pgtls(
        &["run", "scenarios/docs", "--jobs", "1", "--backend", "docker", "--image", &image, "--client", "libpq,rust"],
        &audit,
    );
    let mut child = interrupted.stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
    let pid = child.id();
    // Two containers: the client container and a server.
    wait_until("the run has its containers", Duration::from_secs(120), || engine.containers(pid) >= 2);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGINT)?;
    let status = child.wait()?;
    assert!(!status.success(), "the interrupted run ended successfully");
    wait_until("the interrupted run's containers are gone", Duration::from_secs(30), || engine.containers(pid) == 0);
    // A create request in flight at the signal would show its container only later.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(engine.containers(pid), 0, "a container of the interrupted run appeared after its cleanup");
    Ok(Completion::Completed)
}

/// The control: on the local engine in bind mode, the same audit reports the bind mount, so
/// an empty audit in copy mode means something.
fn bind_mode_control() -> Result<Completion, Failed> {
    let image = image();
    if let Err(reason) = pgtls_harness::server::docker::engine_available() {
        return unmet(format!("no local Docker engine: {reason}"));
    }
    if pgtls_harness::server::docker::local_image_id(&image).is_none() {
        return unmet(format!("the local Docker engine lacks {image} (ci/build-images.sh builds it)"));
    }
    let dir = tempfile::tempdir()?;
    let audit = dir.path().join("audit");
    let out = Command::new(env!("CARGO_BIN_EXE_pgtls"))
        .args(["run", "scenarios/docs/manual-root-server.toml", "--backend", "docker", "--image", &image])
        .args(["--client", "rust", "--docker-files", "bind"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("DOCKER_HOST")
        .env("PGTLS_AUDIT_CONTAINERS", &audit)
        .output()?;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (containers, binds) = audited(&audit);
    assert!(containers >= 1 && !binds.is_empty(), "bind mode showed no bind mount in {containers} audited containers");
    Ok(Completion::Completed)
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
