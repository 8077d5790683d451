//! `pgtls report` (merge JSON reports, render them) and `pgtls diff` (what changed between
//! two reports), plus the writing of every report format, shared with `pgtls run`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use pgtls_harness::report::{self, DiffOptions, GITHUB_SUMMARY_LIMIT, Report};

/// Room left below GitHub's 1 MiB for other steps writing to the same job summary.
const MARKDOWN_LIMIT: usize = GITHUB_SUMMARY_LIMIT - 48 * 1024;

#[derive(Args)]
pub struct ReportArgs {
    /// JSON reports written by `pgtls run --json` (shards, or runs on other servers).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub outputs: Outputs,
}

/// Report files to write.
#[derive(Args, Default)]
pub struct Outputs {
    /// Write the (merged) JSON report.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write JUnit XML.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// Write the HTML matrix report.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Write a Markdown summary (for $GITHUB_STEP_SUMMARY).
    #[arg(long)]
    pub markdown: Option<PathBuf>,
}

#[derive(Args)]
pub struct DiffArgs {
    /// The report to compare against (e.g. the last build's).
    pub base: PathBuf,
    /// The new report.
    pub new: PathBuf,
    /// Write the changes as an HTML page.
    #[arg(long)]
    pub html: Option<PathBuf>,
    /// Write the changes as Markdown.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Also compare client certificate serials.
    #[arg(long)]
    pub serials: bool,
}

/// `pgtls report`: exit 0 when the merged report has no failure, 1 otherwise.
pub fn report(a: ReportArgs) -> anyhow::Result<ExitCode> {
    let inputs = a.inputs.iter().map(|p| Report::load(p)).collect::<Result<Vec<_>, _>>()?;
    let merged = report::merge(inputs)?;
    crate::run::print_summary(&merged, None);
    if let Some(s) = &merged.shards {
        let missing: Vec<String> = (1..=s.total).filter(|i| !s.indices.contains(i)).map(|i| i.to_string()).collect();
        println!(
            "note: shards {} of {} are missing: the stale-entry check needs all of them",
            missing.join(", "),
            s.total
        );
    }
    write_reports(&merged, &a.outputs)?;
    println!("{}", report::closing_line(&merged.results));
    Ok(if report::totals(&merged.results).1 > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// `pgtls diff`: exit 0 when nothing changed, 1 when something did.
pub fn diff(a: DiffArgs) -> anyhow::Result<ExitCode> {
    let base = Report::load(&a.base)?;
    let new = Report::load(&a.new)?;
    let d = report::diff(&base, &new, DiffOptions { serials: a.serials });
    print!("{}", report::diff_render::text(&d));
    let (b, n) = (a.base.display().to_string(), a.new.display().to_string());
    if let Some(path) = &a.html {
        report::write(path, report::diff_html(&d, &b, &n).as_bytes())?;
    }
    if let Some(path) = &a.markdown {
        report::write(path, report::diff_render::markdown(&d, &b, &n, MARKDOWN_LIMIT).as_bytes())?;
    }
    Ok(if d.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Writes every report format asked for.
pub fn write_reports(r: &Report, out: &Outputs) -> anyhow::Result<()> {
    if let Some(path) = &out.json {
        r.save(path)?;
    }
    if let Some(path) = &out.junit {
        report::write(path, report::junit(r).as_bytes())?;
    }
    if let Some(path) = &out.html {
        report::write(path, report::html(r).as_bytes())?;
    }
    if let Some(path) = &out.markdown {
        report::write(path, report::markdown(r, MARKDOWN_LIMIT).as_bytes())?;
    }
    Ok(())
}
