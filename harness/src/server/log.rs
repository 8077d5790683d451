//! Reads the server log the harness configured into reports.
//!
//! The harness owns the log format: `log_line_prefix = '%m [%p] '`, `lc_messages = 'C'` and
//! `log_error_verbosity = verbose`, so every report carries its SQLSTATE and a `LOCATION:` line
//! naming the C routine. What a window of reports says about one connection attempt is
//! classification's business (`crate::classify::evidence`).

use std::sync::OnceLock;

use regex::Regex;

/// One log report: a severity line and the DETAIL/HINT/LOCATION lines that follow it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogEntry {
    pub pid: u32,
    pub severity: String,
    pub sqlstate: Option<String>,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
    /// The C function that raised the report (`LOCATION:  ClientAuthentication, auth.c:428`).
    pub routine: Option<String>,
}

fn line_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(\d+)\] ([A-Z]+[0-9]?):  (?:([0-9A-Z]{5}): )?(.*)$",
        )
        .expect("static regex")
    })
}

/// Parses log text into reports. Lines that do not start with the prefix continue the
/// previous report's message.
pub fn parse(text: &str) -> Vec<LogEntry> {
    let mut out: Vec<LogEntry> = Vec::new();
    for line in text.lines() {
        let Some(c) = line_re().captures(line) else {
            if let Some(last) = out.last_mut() {
                last.message.push('\n');
                last.message.push_str(line);
            }
            continue;
        };
        let pid: u32 = c[1].parse().unwrap_or(0);
        let kind = &c[2];
        let text = c.get(4).map_or("", |m| m.as_str()).to_owned();
        let attach = out.last_mut().filter(|l| l.pid == pid);
        match (kind, attach) {
            ("DETAIL", Some(last)) => last.detail = Some(text),
            ("HINT", Some(last)) => last.hint = Some(text),
            ("LOCATION", Some(last)) => {
                last.routine = text.split(',').next().map(|r| r.trim().to_owned());
            }
            ("STATEMENT" | "CONTEXT" | "QUERY", Some(_)) => {}
            _ => out.push(LogEntry {
                pid,
                severity: kind.to_owned(),
                sqlstate: c.get(3).map(|m| m.as_str().to_owned()),
                message: text,
                ..LogEntry::default()
            }),
        }
    }
    out
}

/// The reports of a log window that `log_like`/`log_unlike` expectations are matched against:
/// `SEVERITY:  message` for each report, and `DETAIL:  …`/`HINT:  …` lines after it, leaving
/// out backends of earlier attempts. The log line prefix and SQLSTATE are not part of the
/// lines, so a pattern does not depend on the harness's log format.
pub fn report_lines(text: &str, earlier: &std::collections::BTreeSet<u32>) -> Vec<String> {
    let mut out = Vec::new();
    for e in parse(text).into_iter().filter(|e| !earlier.contains(&e.pid)) {
        out.push(format!("{}:  {}", e.severity, e.message));
        out.extend(e.detail.map(|d| format!("DETAIL:  {d}")));
        out.extend(e.hint.map(|h| format!("HINT:  {h}")));
    }
    out
}

/// A log window of two backends (a failed TLS accept, a FATAL), for tests here and in
/// `crate::classify`.
#[cfg(test)]
pub(crate) const SAMPLE_WINDOW: &str = "\
2026-11-23 01:23:37.277 UTC [7801] LOG:  00000: connection received: host=127.0.0.1 port=37108
2026-11-23 01:23:37.277 UTC [7801] LOCATION:  BackendInitialize, postmaster.c:4411
2026-11-23 01:23:37.282 UTC [7801] LOG:  08P01: could not accept SSL connection: tlsv1 alert unknown ca
2026-11-23 01:23:37.282 UTC [7801] LOCATION:  be_tls_open_server, be-secure-openssl.c:552
2026-11-23 01:23:37.327 UTC [7803] FATAL:  28000: connection requires a valid client certificate
2026-11-23 01:23:37.327 UTC [7803] LOCATION:  ClientAuthentication, auth.c:428
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_carry_sqlstate_and_routine() {
        let e = parse(SAMPLE_WINDOW);
        assert_eq!(e.len(), 3);
        assert_eq!((e[2].sqlstate.as_deref(), e[2].routine.as_deref()), (Some("28000"), Some("ClientAuthentication")));
    }

    #[test]
    fn report_lines_leave_out_earlier_backends_and_the_prefix() {
        let earlier = [7801].into_iter().collect();
        let lines = report_lines(SAMPLE_WINDOW, &earlier);
        assert_eq!(lines, ["FATAL:  connection requires a valid client certificate"]);
        let all = report_lines(SAMPLE_WINDOW, &Default::default());
        assert_eq!(all.len(), 3);
        assert_eq!(all[1], "LOG:  could not accept SSL connection: tlsv1 alert unknown ca");
    }

    #[test]
    fn continuation_lines_join_the_message() {
        let e = parse("2026-11-23 01:00:00.000 UTC [1] LOG:  00000: first\n\tsecond\n");
        assert_eq!(e[0].message, "first\n\tsecond");
    }
}
