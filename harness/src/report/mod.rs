//! Reports of a run, all rendered from one JSON [`Report`] (the source of truth, with a
//! versioned schema in `docs/report-schema.md`).
//!
//! A run is assembled into a report ([`assemble`]); from it come the terminal text
//! ([`text`]), the agreement with the reference client ([`agreement`]), JUnit XML ([`junit`]), the Markdown job summary ([`markdown`]) and the HTML
//! matrix ([`html`]). Reports read back from JSON merge ([`merge`], for shards) and compare
//! ([`diff`], for a new build against the last one).

mod agreement;
mod assemble;
mod diff;
mod diff_view;
mod html;
mod junit;
mod markdown;
mod matrix;
mod merge;
mod schema;
mod text;

pub use agreement::{Agreement, agreement, agreement_table};
pub use assemble::{RunMeta, assemble, check_stale, generator, stale};
pub use diff::{Change, ChangeKind, Diff, DiffOptions, diff};
pub use html::{diff_html, html};
pub use junit::junit;
pub use markdown::{GITHUB_SUMMARY_LIMIT, markdown};
pub use matrix::Tally;
pub use merge::merge;
pub use schema::{
    CaseMeta, ClientMeta, DivergenceEntry, Divergences, Report, ReportError, SCHEMA_MINOR, SCHEMA_VERSION,
    ScenarioMeta, ServerMeta, ShardSet, now_rfc3339, write,
};
pub use text::{closing_line, describe, failures, major_differences, timings, totals};

/// Renderings of a diff: terminal text and Markdown.
pub mod diff_render {
    pub use super::diff_view::{headline, markdown, text};
}
