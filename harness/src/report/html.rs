//! The HTML matrix report and the HTML diff: single self-contained files (CSS and script
//! embedded from `assets/`, no network), readable at 1280 px for the whole pg-suite on five
//! majors × three clients.
//!
//! The matrix page embeds the JSON report and builds the table in its script, so the page and
//! `--json` can never disagree; the diff page is plain HTML.

use std::fmt::Write;

use super::diff::Diff;
use super::schema::Report;

const CSS: &str = include_str!("assets/report.css");
const JS: &str = include_str!("assets/report.js");

/// Records script errors in the page (`#pgtls-errors`), where a test reading the DOM sees them.
const ERROR_HOOK: &str = r#"window.onerror = function (m, s, l, c) {
  var u = document.getElementById("pgtls-errors");
  if (u) { var li = document.createElement("li"); li.className = "script-error"; li.textContent = m + " (" + s + ":" + l + ":" + c + ")"; u.appendChild(li); }
  return false;
};"#;

/// The matrix report of `report`.
pub fn html(report: &Report) -> String {
    // `<` only occurs inside JSON strings, where `\u003c` means the same and cannot close
    // the script element.
    let data = serde_json::to_string(report).unwrap_or_else(|_| "null".into()).replace('<', "\\u003c");
    let mut out = String::with_capacity(data.len() + CSS.len() + JS.len() + 1024);
    out.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>pgtls report: {}</title>", esc(&title(report)));
    let _ = writeln!(out, "<style>\n{CSS}</style>\n<script>\n{ERROR_HOOK}\n</script>\n</head>\n<body>");
    out.push_str("<ul id=\"pgtls-errors\"></ul>\n<noscript>This report needs JavaScript to draw its matrix; the data is the JSON below.</noscript>\n");
    out.push_str("<div id=\"app\"></div>\n<script type=\"application/json\" id=\"pgtls-data\">");
    out.push_str(&data);
    let _ = writeln!(out, "</script>\n<script>\n{JS}</script>\n</body>\n</html>");
    out
}

fn title(report: &Report) -> String {
    let servers: Vec<String> = report.servers.iter().map(|s| s.short()).collect();
    format!("{} on {}", report.started_at, servers.join(", "))
}

/// The diff as a page: one table row per change.
pub fn diff_html(d: &Diff, base: &str, new: &str) -> String {
    let mut out = String::new();
    out.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        out,
        "<title>pgtls diff: {} → {}</title>\n<style>\n{CSS}</style>\n</head>\n<body>",
        esc(base),
        esc(new)
    );
    let _ = writeln!(
        out,
        "<header class=\"run\"><h1>pgtls diff</h1><div class=\"facts\">{} → {}: {}</div>",
        esc(base),
        esc(new),
        esc(&super::diff_view::headline(d))
    );
    for line in super::diff_view::preamble(d) {
        let _ = writeln!(out, "<div>{}</div>", esc(&line));
    }
    out.push_str("</header>\n");
    if !d.changes.is_empty() {
        out.push_str("<table class=\"diff\"><thead><tr><th>change</th><th>scenario › case</th><th>client</th><th>servers</th><th>field</th><th>before</th><th>after</th></tr></thead><tbody>\n");
        for c in &d.changes {
            for (field, old, cur) in super::diff_view::rows_of(c) {
                let _ = writeln!(
                    out,
                    "<tr><td class=\"kind\">{}</td><td>{} › {}</td><td>{}</td><td>{} → {}</td><td>{}</td><td class=\"old\">{}</td><td class=\"new\">{}</td></tr>",
                    c.kind.label(),
                    esc(&c.scenario),
                    esc(&c.case),
                    esc(&c.client),
                    esc(&c.base_server),
                    esc(&c.new_server),
                    esc(&field),
                    esc(&old),
                    esc(&cur)
                );
            }
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// Escapes text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
