//! `pgtls run`: scenarios × targets × clients, with progress, reports and exit status.
//!
//! The run is assembled into one JSON report (`pgtls_harness::report::Report`); the terminal
//! text, `--json`, `--junit`, `--markdown` and `--html` are all rendered from it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use pgtls_harness::report::{self, Report, RunMeta};
use pgtls_harness::runner::shard::{self, Shard};
use pgtls_harness::runner::{self, Registry, RunContext, Target};
use pgtls_harness::setup::{self, BackendEntry, ClientChoice};

#[derive(Args)]
pub struct RunArgs {
    /// Scenario files or directories.
    #[arg(default_value = "scenarios")]
    pub paths: Vec<PathBuf>,
    /// Only cases whose `<scenario>/<case>` contains this text.
    #[arg(long)]
    pub filter: Option<String>,
    /// Scenarios run at once (default: number of cores).
    #[arg(long, short = 'j')]
    pub jobs: Option<usize>,
    /// Where servers run.
    #[arg(long, value_enum, default_value_t = BackendArg(&setup::BACKENDS[0]))]
    pub backend: BackendArg,
    /// PostgreSQL binary directories (repeat or comma-separate for a matrix); default: discover.
    #[arg(long, value_delimiter = ',', env = "PGTLS_PG_BIN")]
    pub pg_bin: Vec<PathBuf>,
    /// Docker image to run (with --backend docker).
    #[arg(long)]
    pub image: Vec<String>,
    /// PostgreSQL majors for --backend docker, resolved with the image pattern.
    #[arg(long, value_delimiter = ',')]
    pub pg: Vec<u32>,
    /// How files reach containers: `bind` mounts a host directory (an engine on this machine),
    /// `copy` uses only the engine's API (remote engines, Podman, Docker-in-Docker), `auto`
    /// picks copy when DOCKER_HOST is set and is not a unix:// socket.
    #[arg(long, env = "PGTLS_DOCKER_FILES", default_value = "auto", value_parser = ["auto", "bind", "copy"])]
    pub docker_files: String,
    /// Image pattern; `{major}` is replaced.
    #[arg(long, env = "PGTLS_IMAGE_PATTERN", default_value = "postgres:{major}")]
    pub image_pattern: String,
    /// Clients: libpq, rust, adapter names (default: libpq, rust and every installed adapter).
    #[arg(long, value_delimiter = ',', value_parser = client_name)]
    pub client: Vec<String>,
    /// psql to use for the libpq client instead of the build under test's.
    #[arg(long)]
    pub psql: Option<PathBuf>,
    /// Seconds per connection attempt.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Known-divergence registry (default: divergences.toml in the scenarios root).
    #[arg(long)]
    pub divergences: Option<PathBuf>,
    /// Write results as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write results as JUnit XML.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write the HTML matrix report (one self-contained file).
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Write a Markdown summary (for $GITHUB_STEP_SUMMARY), kept under GitHub's 1 MiB.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Run only shard K of N (1-based): a deterministic partition of the scenarios.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// A previous JSON report whose scenario timings balance the shards (default: estimates).
    #[arg(long, value_name = "FILE", requires = "shard")]
    pub shard_timings: Option<PathBuf>,
    /// Print wall time per scenario and phase.
    #[arg(long)]
    pub timings: bool,
}

/// `--backend`: the harness's backend table ([`setup::BACKENDS`]) as clap's value enum.
#[derive(Clone, Copy, Debug)]
pub struct BackendArg(pub &'static BackendEntry);

impl clap::ValueEnum for BackendArg {
    fn value_variants<'a>() -> &'a [Self] {
        static VARIANTS: std::sync::LazyLock<Vec<BackendArg>> =
            std::sync::LazyLock::new(|| setup::BACKENDS.iter().map(BackendArg).collect());
        &VARIANTS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.0.name).help(self.0.about))
    }
}

/// `--client`: a client this machine can run.
fn client_name(name: &str) -> Result<String, String> {
    pgtls_harness::client::check_name(name).map(|()| name.to_owned())
}

pub fn run(a: RunArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(run_async(a))
}

async fn run_async(a: RunArgs) -> anyhow::Result<ExitCode> {
    pgtls_harness::cleanup::sweep_stale();
    let started_at = report::now_rfc3339();
    let Some(all) = crate::load(&a.paths)? else { return Ok(ExitCode::from(2)) };
    let scenarios = select_shard(&a, all)?;
    let mut choice = ClientChoice { psql: a.psql.clone(), ..ClientChoice::default() };
    if !a.client.is_empty() {
        choice.names = a.client.clone();
    } else {
        for name in pgtls_harness::client::adapter::installed().1 {
            eprintln!("note: adapter {name} is not installed (see adapters/{name}), so it does not run");
        }
    }
    let targets = tokio::task::block_in_place(|| targets(&a, &choice)).map_err(anyhow::Error::msg)?;
    print_targets(&targets);
    let registry_path = a.divergences.clone().unwrap_or_else(|| default_registry(&a.paths));
    let divergences = Registry::load(&registry_path).map_err(anyhow::Error::msg)?;
    let cx = Arc::new(RunContext { timeout: Duration::from_secs(a.timeout), divergences, filter: a.filter.clone() });
    let jobs = a.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let bar = progress(scenarios.len() * targets.len());
    let b2 = bar.clone();
    let started = Instant::now();
    let results = runner::run_all(&scenarios, &targets, cx.clone(), jobs, move |r| {
        b2.inc(1);
        b2.set_message(r.scenario.clone());
    })
    .await;
    bar.finish_and_clear();
    let wall = started.elapsed();
    pgtls_harness::runner::pool::drain();
    let meta = RunMeta {
        scenarios: &scenarios,
        targets: &targets,
        registry: &cx.divergences,
        started_at,
        duration_ms: wall.as_millis() as u64,
        shard: a.shard.map(|s| (s.index, s.total)),
        filter: a.filter.clone(),
    };
    finish(&a, meta, results, wall)
}

/// Assembles the report, prints the summary and writes every report file.
fn finish(
    a: &RunArgs,
    meta: RunMeta<'_>,
    results: Vec<runner::ScenarioResult>,
    wall: Duration,
) -> anyhow::Result<ExitCode> {
    let reporting = Instant::now();
    let report = report::assemble(meta, results);
    print_summary(&report, a.shard);
    write_outputs(a, &report)?;
    if a.timings {
        print!("{}", report::timings(&report.results, wall));
        println!("reporting (assemble and write every report): {} ms", reporting.elapsed().as_millis());
    }
    println!("{}", report::closing_line(&report.results));
    let failed = report::totals(&report.results).1 > 0;
    Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// The scenarios of `--shard K/N` (all without it).
fn select_shard(
    a: &RunArgs,
    all: Vec<pgtls_harness::scenario::Scenario>,
) -> anyhow::Result<Vec<pgtls_harness::scenario::Scenario>> {
    let Some(k) = a.shard else { return Ok(all) };
    let timings = a.shard_timings.as_deref().map(Report::load).transpose()?;
    let n = all.len();
    let mine = shard::select(all, k, timings.as_ref().map(|r| r.results.as_slice()));
    eprintln!("shard {k}: {} of {n} scenarios", mine.len());
    Ok(mine)
}

fn print_targets(targets: &[Target]) {
    for t in targets {
        let info = t.backend.info();
        let clients: Vec<&str> = t.clients.iter().map(|c| c.name()).collect();
        eprintln!(
            "server: {} ({}, ssl_library {}); clients: {}",
            info.label,
            info.version_text,
            info.ssl_library.as_deref().unwrap_or("none"),
            clients.join(", ")
        );
    }
}

/// Failures, stale divergence entries (only where the report holds the whole run) and
/// outcomes that differ across servers.
pub fn print_summary(report: &Report, shard: Option<Shard>) {
    print!("{}", report::failures(&report.results));
    print!("{}", report::agreement_table(&report.agreement));
    match &report.divergences.stale {
        Some(stale) => {
            for e in stale {
                println!(
                    "STALE divergence entry: client {} case {} ({} → {}): matched nothing",
                    e.client, e.case, e.expected, e.actual
                );
            }
        }
        None if shard.is_some() => println!(
            "note: shard {}: the divergence registry's stale-entry check runs on the merged report (`pgtls report`)",
            shard.map(|s| s.to_string()).unwrap_or_default()
        ),
        None => {}
    }
    if report.servers.len() > 1 {
        let diff = report::major_differences(&report.results);
        if !diff.is_empty() {
            println!("outcomes that differ across servers:\n{diff}");
        }
    }
}

fn targets(a: &RunArgs, choice: &ClientChoice) -> Result<Vec<Target>, String> {
    let mut images = a.image.clone();
    images.extend(a.pg.iter().map(|m| a.image_pattern.replace("{major}", &m.to_string())));
    let args = setup::TargetArgs { pg_bin: a.pg_bin.clone(), images, docker_files: a.docker_files.clone() };
    let (targets, header) = (a.backend.0.targets)(&args, choice)?;
    if let Some(h) = header {
        eprintln!("{h}");
    }
    Ok(targets)
}

fn default_registry(paths: &[PathBuf]) -> PathBuf {
    setup::scenario_files(paths)
        .ok()
        .and_then(|f| f.first().map(|(_, root)| root.join("divergences.toml")))
        .unwrap_or_else(|| PathBuf::from("scenarios/divergences.toml"))
}

fn progress(n: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(n as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {bar:30} {pos}/{len} {msg}") {
        bar.set_style(style);
    }
    bar
}

fn write_outputs(a: &RunArgs, report: &Report) -> anyhow::Result<()> {
    crate::report_cmd::write_reports(
        report,
        &crate::report_cmd::Outputs {
            json: a.json.clone(),
            junit: a.junit.clone(),
            html: a.html.clone(),
            markdown: a.markdown.clone(),
        },
    )
}
