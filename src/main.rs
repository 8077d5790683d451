//! The `pgtls` command: run scenarios, validate them, write their certificates, serve one,
//! merge and render reports, or compare two.
//!
//! Exit codes: 0 when every attempt passed (or was skipped with a reason), 1 when any failed
//! (`diff`: when something changed), 2 when scenarios or reports could not be loaded or the run
//! could not start.

mod report_cmd;
mod run;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(name = "pgtls", version, about = "End-to-end conformance harness for PostgreSQL TLS")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios against real servers with real clients.
    Run(Box<run::RunArgs>),
    /// Validate scenario files without starting anything.
    Check(CheckArgs),
    /// Write a scenario's certificates, keys, bundles, CRLs and OCSP responses for manual use.
    Certs(CertsArgs),
    /// Start a scenario's server and print a connection string per case; stop on Ctrl-C.
    Serve(serve::ServeArgs),
    /// Merge JSON reports (shards, or runs on other servers) and write JSON, HTML, JUnit, Markdown.
    Report(report_cmd::ReportArgs),
    /// List what changed between two JSON reports; exit 1 when anything did.
    Diff(report_cmd::DiffArgs),
}

#[derive(Args)]
struct CheckArgs {
    /// Scenario files or directories.
    #[arg(default_value = "scenarios")]
    paths: Vec<PathBuf>,
}

#[derive(Args)]
struct CertsArgs {
    scenario: PathBuf,
    /// Output directory (created).
    #[arg(long)]
    out: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(a) => run::run(*a),
        Command::Check(a) => check(a),
        Command::Certs(a) => certs(a),
        Command::Serve(a) => serve::serve(a),
        Command::Report(a) => report_cmd::report(a),
        Command::Diff(a) => report_cmd::diff(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("pgtls: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Loads scenarios, printing every located error; `None` when any failed to load.
pub fn load(paths: &[PathBuf]) -> anyhow::Result<Option<Vec<pgtls_harness::scenario::Scenario>>> {
    let files = pgtls_harness::setup::scenario_files(paths).map_err(anyhow::Error::msg)?;
    if files.is_empty() {
        anyhow::bail!("no scenario files under {paths:?}");
    }
    match pgtls_harness::setup::load_scenarios(&files) {
        Ok(s) => Ok(Some(s)),
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            Ok(None)
        }
    }
}

fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let Some(scenarios) = load(&a.paths)? else { return Ok(ExitCode::from(2)) };
    let cases: usize = scenarios.iter().map(|s| s.cases.len()).sum();
    for s in &scenarios {
        print_dependents(s);
    }
    println!("{} scenarios, {cases} cases: ok", scenarios.len());
    Ok(ExitCode::SUCCESS)
}

/// Notes the cases that a case skipped on some major takes along (grouped by culprit).
fn print_dependents(s: &pgtls_harness::scenario::Scenario) {
    let mut groups: Vec<(String, Vec<u32>, Vec<String>)> = Vec::new();
    for (case, reason, majors) in pgtls_harness::runner::dependents_by_major(s) {
        match groups.iter_mut().find(|(r, m, _)| *r == reason && *m == majors) {
            Some(g) => g.2.push(case),
            None => groups.push((reason, majors, vec![case])),
        }
    }
    for (reason, majors, cases) in groups {
        let majors: Vec<String> = majors.iter().map(u32::to_string).collect();
        let mut names: Vec<String> = cases.iter().take(3).map(|c| format!("\"{c}\"")).collect();
        if cases.len() > 3 {
            names.push(format!("and {} more", cases.len() - 3));
        }
        let n = if cases.len() == 1 { "1 case".to_owned() } else { format!("{} cases", cases.len()) };
        let verb = if cases.len() == 1 { "it depends" } else { "they depend" };
        println!(
            "note: {}: on PostgreSQL {}, {n} will be skipped ({}): {verb} {}",
            relative(&s.path).display(),
            majors.join(", "),
            names.join(", "),
            reason.trim_start_matches("depends ")
        );
    }
}

/// `path` relative to the working directory when it is below it.
fn relative(path: &std::path::Path) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_default();
    path.strip_prefix(&cwd).map_or_else(|_| path.to_owned(), std::path::Path::to_owned)
}

fn certs(a: CertsArgs) -> anyhow::Result<ExitCode> {
    let Some(scenarios) = load(std::slice::from_ref(&a.scenario))? else { return Ok(ExitCode::from(2)) };
    let s = &scenarios[0];
    let pki = pgtls_harness::pki::Materialized::generate(&s.pki, &a.out).map_err(anyhow::Error::msg)?;
    for f in &pki.pki().manifest().files {
        println!("{:<16} {}", format!("{:?}", f.kind).to_lowercase(), a.out.join(&f.path).display());
    }
    Ok(ExitCode::SUCCESS)
}
