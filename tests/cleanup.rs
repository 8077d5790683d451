//! Nothing a run starts may outlive it: servers, containers and scratch directories are gone
//! after a normal end and after a run killed by SIGINT, SIGTERM or SIGKILL.
//!
//! The killed runs are real child processes of the `pgtls` binary, signalled while their
//! servers run; what they left is counted by the pid in scratch-dir names, in postgres command
//! lines and in the containers' owner label. Without a Docker engine or image the Docker
//! test ends ignored with that reason, unless `PGTLS_REQUIRE_DOCKER=1`.

use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

fn main() -> std::process::ExitCode {
    let trials = vec![
        Trial::test("a_normal_run_leaves_nothing", a_normal_run_leaves_nothing),
        Trial::test("native_run_killed_by_sigint_sigterm_or_sigkill_leaves_nothing", native_killed_runs),
        Trial::ignorable_test("docker_run_killed_by_sigint_sigterm_or_sigkill_leaves_no_container", docker_killed_runs),
    ];
    libtest_mimic::run(&Arguments::from_args(), trials).exit_code()
}

fn pgtls(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pgtls"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("failed to start pgtls")
}

/// Scratch directories of `pid` under the temp dir.
fn scratch_dirs(pid: u32) -> usize {
    let prefix = format!("pgtls-{pid}-");
    std::fs::read_dir(pgtls_harness::cleanup::scratch_base())
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(&prefix)).count())
        .unwrap_or(0)
}

/// Postgres processes whose command line points into a scratch dir of `pid`.
fn servers(pid: u32) -> usize {
    let needle = format!("pgtls-{pid}-");
    std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
                .filter(|c| {
                    String::from_utf8_lossy(c).contains(&needle) && String::from_utf8_lossy(c).contains("postgres")
                })
                .count()
        })
        .unwrap_or(0)
}

fn containers(pid: u32) -> usize {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label={}={pid}", pgtls_harness::cleanup::OWNER_LABEL)])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn killed_run_leaves_nothing(signal: Signal, image: Option<&str>) {
    let docker = image.is_some();
    let mut args = vec!["run", "scenarios/docs", "--jobs", "1", "--client", "rust"];
    if let Some(image) = image {
        args.extend(["--backend", "docker", "--image", image]);
    }
    let mut child = pgtls(&args);
    let pid = child.id();
    let running = |pid| if docker { containers(pid) > 0 } else { servers(pid) > 0 };
    wait_until("the child runs a server", Duration::from_secs(120), || running(pid));
    kill(Pid::from_raw(pid as i32), signal).expect("kill");
    let _ = child.wait();
    wait_until("everything of the killed run is gone", Duration::from_secs(30), || {
        servers(pid) == 0 && scratch_dirs(pid) == 0 && (!docker || containers(pid) == 0)
    });
}

fn native_killed_runs() -> Result<(), Failed> {
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGKILL] {
        killed_run_leaves_nothing(sig, None);
    }
    Ok(())
}

fn docker_killed_runs() -> Result<Completion, Failed> {
    let image = match pgtls_harness::testing::local_images() {
        Ok(images) => images[0].clone(),
        Err(reason) if std::env::var("PGTLS_REQUIRE_DOCKER").as_deref() == Ok("1") => {
            return Err(format!("Docker is required (PGTLS_REQUIRE_DOCKER=1) but unavailable: {reason}").into());
        }
        Err(reason) => return Ok(Completion::ignored_with(format!("Docker unavailable: {reason}"))),
    };
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGKILL] {
        killed_run_leaves_nothing(sig, Some(&image));
    }
    Ok(Completion::Completed)
}

fn a_normal_run_leaves_nothing() -> Result<(), Failed> {
    let mut child = pgtls(&["run", "scenarios/docs/manual-root-server.toml", "--client", "rust"]);
    let pid = child.id();
    assert!(child.wait().expect("wait").success());
    assert_eq!((servers(pid), scratch_dirs(pid)), (0, 0));
    assert!(!Path::new(&pgtls_harness::cleanup::scratch_base()).join(format!("pgtls-{pid}-x")).exists());
    Ok(())
}
