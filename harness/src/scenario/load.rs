//! Loads a scenario file: parse with serde, then convert into the validated model.
//!
//! Every problem becomes a [`Diagnostic`] with file, line, column, key path and, where one is
//! known, a hint. Conversion keeps going after the first problem so a user sees all of them at
//! once; serde stops at its first error, so a syntax or shape error is reported alone.

use std::fmt;
use std::path::{Path, PathBuf};

use pgtls_certs::PkiSpec;

use super::keywords::{self, HARNESS_SETTINGS, ValueKind, file_setting_kind};
use super::locate::{KeyPath, SourceMap};
use super::raw::{
    RawCase, RawExpect, RawKeyFile, RawLogPattern, RawMessage, RawRequires, RawScenario, RawStep, RawValue,
};
use super::{
    Case, ClientSettings, Expectation, ExpectedOutcome, FileExpectation, FileOwner, FileRef, FileRefOr, KeyFilePerms,
    LogPattern, MessageExpectation, PasswordEncryption, Requires, Role, Scenario, ServerSpec, SettingValue, Step,
    VersionReq,
};
use crate::outcome::{FailureClass, Side};
use crate::util::did_you_mean;

/// One located problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    /// Key path such as `case[2].client.sslmode`; empty for the whole file.
    pub key: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: failed to load scenario", self.file.display(), self.line, self.col)?;
        if !self.key.is_empty() {
            write!(f, ": {}", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " (hint: {hint})")?;
        }
        Ok(())
    }
}

/// Every problem found in one scenario file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ScenarioError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Loads `path`; the scenario's name is its path relative to `root`, without `.toml`.
pub fn load_file(path: &Path, root: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
        diagnostics: vec![Diagnostic {
            file: path.to_owned(),
            line: 0,
            col: 0,
            key: String::new(),
            message: format!("cannot read file: {e}"),
            hint: None,
        }],
    })?;
    let rel = path.strip_prefix(root).unwrap_or(path);
    let name = rel.with_extension("").to_string_lossy().replace('\\', "/");
    load_str(&text, path, &name)
}

/// Loads scenario text; `path` is only used in diagnostics.
pub fn load_str(text: &str, path: &Path, name: &str) -> Result<Scenario, ScenarioError> {
    let src = SourceMap::new(path, text);
    let raw: RawScenario =
        toml::from_str(text).map_err(|e| ScenarioError { diagnostics: vec![serde_diagnostic(&src, &e)] })?;
    let mut pki = raw.pki.clone().unwrap_or_default();
    pki.add_ocsp_responses(raw.ocsp.clone().unwrap_or_default());
    let mut cx = Convert { src, diags: Vec::new(), pki };
    let scenario = cx.scenario(raw, name);
    if cx.diags.is_empty() { Ok(scenario) } else { Err(ScenarioError { diagnostics: cx.diags }) }
}

fn serde_diagnostic(src: &SourceMap, e: &toml::de::Error) -> Diagnostic {
    let start = e.span().map_or(0, |s| s.start);
    let (line, col) = src.line_col(start);
    let message = e.message().trim().to_owned();
    Diagnostic {
        file: src.path().to_owned(),
        line,
        col,
        key: src.path_at(start).to_string(),
        hint: hint_for_serde_message(&message),
        message,
    }
}

/// For serde's "unknown field `x`, expected one of `a`, `b`" (and the variant form), the
/// closest expected name; for an axis value that is no table, its shape. serde's wording
/// here is stable and it is our own presentation.
fn hint_for_serde_message(message: &str) -> Option<String> {
    if message.ends_with("expected struct RawPatch") {
        return Some(
            "an axis value is a table, e.g. `require = { client = { sslmode = \"require\" } }`, or `{}`".into(),
        );
    }
    let (head, expected) = message.split_once("expected one of ")?;
    let got = head.split('`').nth(1)?;
    let names: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    did_you_mean(got, names)
}

pub(super) struct Convert {
    pub(super) src: SourceMap,
    diags: Vec<Diagnostic>,
    pki: PkiSpec,
}

impl Convert {
    pub(super) fn error(&mut self, path: &KeyPath, message: impl Into<String>, hint: Option<String>) {
        let (line, col) = self.src.span_of(path).map_or((1, 1), |s| self.src.line_col(s.start));
        self.diags.push(Diagnostic {
            file: self.src.path().to_owned(),
            line,
            col,
            key: path.to_string(),
            message: message.into(),
            hint,
        });
    }

    fn scenario(&mut self, raw: RawScenario, name: &str) -> Scenario {
        let root = KeyPath::root();
        self.check_pki();
        let requires = self.requires(&raw.requires, &root.key("requires"));
        let server = self.server(raw.server, &root.key("server"));
        let defaults = self.client(&raw.client, &root.key("client"), &ClientSettings::default());
        if raw.cases.is_empty() && raw.matrix.is_none() {
            self.error(
                &root,
                "the scenario has no cases",
                Some("add at least one [[case]] table or a [matrix]".into()),
            );
        }
        let mut cases: Vec<Case> = Vec::new();
        for (i, rc) in raw.cases.into_iter().enumerate() {
            let path = root.key("case").index(i);
            if cases.iter().any(|c| c.name == rc.name) {
                self.error(&path.key("name"), format!("duplicate case name \"{}\"", rc.name), None);
            }
            let case = self.case(rc, &path, &defaults);
            cases.push(case);
        }
        if let Some(m) = raw.matrix {
            self.matrix(m, &root.key("matrix"), &defaults, &mut cases);
        }
        let mut requires = requires;
        requires.root |= server.key_file.needs_root()
            || cases.iter().any(|c| c.steps.iter().any(|s| matches!(s, Step::KeyFile(p) if p.needs_root())));
        Scenario {
            name: name.to_owned(),
            path: self.src.path().to_owned(),
            description: raw.description,
            source: raw.source,
            requires,
            pki: self.pki.clone(),
            server,
            cases,
        }
    }

    fn check_pki(&mut self) {
        if let Err(e) = pgtls_certs::validate(&self.pki) {
            let (table, name) = match (e.response(), e.entity()) {
                (Some(r), _) => ("ocsp", Some(r)),
                (None, e) => ("pki", e),
            };
            let mut path = KeyPath::root().key(table);
            if let Some(name) = name {
                path = path.key(name);
                if let Some(field) = e.field() {
                    path = path.key(field);
                }
            }
            self.error(&path, e.to_string(), None);
        }
    }

    pub(super) fn requires(&mut self, raw: &RawRequires, path: &KeyPath) -> Requires {
        let pg = raw.pg.as_deref().and_then(|text| match VersionReq::parse(text) {
            Ok(r) => Some(r),
            Err(msg) => {
                self.error(&path.key("pg"), msg.to_string(), Some("write e.g. \">=14\" or \">=14, <17\"".into()));
                None
            }
        });
        Requires { pg, settings: raw.settings.clone(), root: false }
    }

    fn server(&mut self, raw: super::raw::RawServer, path: &KeyPath) -> ServerSpec {
        let conf = self.settings(&raw.conf, &path.key("conf"));
        let roles = raw
            .roles
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let p = path.key("role").index(i).key("password_encryption");
                let password_encryption = self.password_encryption(r.password_encryption.as_deref(), &p);
                Role {
                    name: r.name,
                    password: r.password,
                    password_encryption,
                    superuser: r.superuser,
                    member_of: r.member_of,
                }
            })
            .collect();
        let key_file = match &raw.key_file {
            Some(k) => self.key_file(k, &path.key("key_file")),
            None => KeyFilePerms::default(),
        };
        ServerSpec {
            conf,
            hba: raw.hba.unwrap_or_else(default_hba),
            ident: raw.ident,
            roles,
            databases: raw.databases,
            key_file,
            files: raw
                .files
                .iter()
                .map(|(name, text)| (name.clone(), self.placeholders(text, &path.key("files").key(name))))
                .collect(),
        }
    }

    fn settings(
        &mut self,
        conf: &std::collections::BTreeMap<String, RawValue>,
        path: &KeyPath,
    ) -> Vec<(String, SettingValue)> {
        let mut out = Vec::new();
        for (name, RawValue(value)) in conf {
            let p = path.key(name);
            if HARNESS_SETTINGS.contains(&name.as_str()) {
                self.error(
                    &p,
                    format!("`{name}` is set by the harness"),
                    Some("remove it; the harness chooses ports, sockets and logging".into()),
                );
                continue;
            }
            let value =
                match file_setting_kind(name).or_else(|| value.starts_with("${file:").then_some(ValueKind::Cert)) {
                    Some(kind) => match self.file_ref(kind, value, &p) {
                        Some(FileRef::Empty) => SettingValue::Literal(String::new()),
                        Some(r) => SettingValue::File(r),
                        None => continue,
                    },
                    None => SettingValue::Literal(value.clone()),
                };
            out.push((name.clone(), value));
        }
        out
    }

    /// Splits a file's text at `${cert:a+b}`, `${key:x}`, `${crl:a+b}`, `${crldir:a+b}`
    /// placeholders, resolving each.
    fn placeholders(&mut self, text: &str, path: &KeyPath) -> Vec<SettingValue> {
        static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
        let re = RE.get_or_init(|| regex::Regex::new(r"\$\{([a-z]+):([^}]*)\}").expect("static regex"));
        let mut out = Vec::new();
        let mut last = 0;
        for c in re.captures_iter(text) {
            let m = c.get(0).expect("whole match");
            out.push(SettingValue::Literal(text[last..m.start()].to_owned()));
            last = m.end();
            let kind = match &c[1] {
                "cert" => ValueKind::Cert,
                "key" => ValueKind::Key,
                "crl" => ValueKind::Crl,
                "crldir" => ValueKind::CrlDir,
                "ocsp" => ValueKind::Ocsp,
                other => {
                    self.error(
                        path,
                        format!("unknown placeholder kind `{other}`"),
                        Some("use ${cert:…}, ${key:…}, ${crl:…}, ${crldir:…} or ${ocsp:…}".into()),
                    );
                    continue;
                }
            };
            if let Some(r) = self.file_ref(kind, &c[2], path) {
                out.push(SettingValue::File(r));
            }
        }
        out.push(SettingValue::Literal(text[last..].to_owned()));
        out
    }

    fn password_encryption(&mut self, raw: Option<&str>, path: &KeyPath) -> PasswordEncryption {
        match raw {
            None | Some("scram-sha-256") => PasswordEncryption::ScramSha256,
            Some("md5") => PasswordEncryption::Md5,
            Some(other) => {
                let hint = did_you_mean(other, ["scram-sha-256", "md5"]);
                self.error(
                    path,
                    format!("unknown password_encryption \"{other}\""),
                    hint.or(Some("use \"scram-sha-256\" or \"md5\"".into())),
                );
                PasswordEncryption::ScramSha256
            }
        }
    }

    fn key_file(&mut self, raw: &RawKeyFile, path: &KeyPath) -> KeyFilePerms {
        let mut perms = KeyFilePerms::default();
        if let Some(mode) = &raw.mode {
            match u32::from_str_radix(mode.trim_start_matches("0o"), 8) {
                Ok(m) if m <= 0o7777 => perms.mode = m,
                _ => self.error(
                    &path.key("mode"),
                    format!("\"{mode}\" is not an octal file mode"),
                    Some("write e.g. \"0640\"".into()),
                ),
            }
        }
        perms.owner = self.owner(raw.owner.as_deref(), &path.key("owner"));
        perms.group = self.owner(raw.group.as_deref(), &path.key("group"));
        perms
    }

    fn owner(&mut self, raw: Option<&str>, path: &KeyPath) -> FileOwner {
        match raw {
            None | Some("server") => FileOwner::Server,
            Some("root") => FileOwner::Root,
            Some(other) => {
                self.error(
                    path,
                    format!("unknown owner \"{other}\""),
                    Some("use \"server\" (the user the server runs as) or \"root\"".into()),
                );
                FileOwner::Server
            }
        }
    }

    pub(super) fn client(
        &mut self,
        raw: &std::collections::BTreeMap<String, RawValue>,
        path: &KeyPath,
        base: &ClientSettings,
    ) -> ClientSettings {
        let mut out = base.clone();
        for (name, RawValue(value)) in raw {
            let p = path.key(name);
            let Some(kw) = keywords::keyword(name) else {
                let hint = if name == "port" {
                    Some("the harness sets the port of the server it started".to_owned())
                } else {
                    keywords::closest(name).map(|c| format!("did you mean \"{c}\"?"))
                };
                self.error(&p, format!("unknown libpq keyword `{name}`"), hint);
                continue;
            };
            let v = match kw.kind {
                ValueKind::Plain | ValueKind::Secret => FileRefOr::Text(value.clone()),
                kind => match self.file_ref(kind, value, &p) {
                    Some(r) => FileRefOr::File(r),
                    None => continue,
                },
            };
            out.set(kw.name, v);
        }
        out
    }

    /// Resolves a PKI reference and registers the bundle/CRL file/CRL dir it needs.
    fn file_ref(&mut self, kind: ValueKind, value: &str, path: &KeyPath) -> Option<FileRef> {
        if let Some(name) = value.strip_prefix("${file:").and_then(|v| v.strip_suffix('}')) {
            return Some(FileRef::Extra(name.to_owned()));
        }
        match value {
            "" => return Some(FileRef::Empty),
            "missing" => return Some(FileRef::Missing),
            "system" if kind == ValueKind::RootCert => return Some(FileRef::Verbatim(value.to_owned())),
            _ => {}
        }
        match kind {
            ValueKind::OutputFile => Some(FileRef::Output(value.to_owned())),
            ValueKind::Key => self.key_ref(value, path),
            ValueKind::Cert | ValueKind::RootCert => {
                let members = self.members(value, path, false)?;
                if members.len() > 1 {
                    self.pki.add_bundle(members.clone());
                }
                Some(FileRef::Certs(members))
            }
            ValueKind::Crl => {
                let members = self.members(value, path, true)?;
                if members.len() > 1 {
                    self.pki.add_crl_file(members.clone());
                }
                Some(FileRef::Crls(members))
            }
            ValueKind::CrlDir => {
                let members = self.members(value, path, true)?;
                self.pki.add_crl_dir(members.clone());
                Some(FileRef::CrlDir(members))
            }
            ValueKind::Ocsp => self.ocsp_ref(value, path),
            ValueKind::Plain | ValueKind::Secret => None,
        }
    }

    fn key_ref(&mut self, value: &str, path: &KeyPath) -> Option<FileRef> {
        let is_extra = self.pki.entities().iter().any(|(_, e)| e.extra_keys.iter().any(|k| k.file == value));
        if self.pki.entity(value).is_some() || is_extra {
            return Some(FileRef::Key(value.to_owned()));
        }
        let mut names: Vec<&str> = self.pki.entities().iter().map(|(n, _)| n.as_str()).collect();
        names.extend(self.pki.entities().iter().flat_map(|(_, e)| e.extra_keys.iter().map(|k| k.file.as_str())));
        let hint = did_you_mean(value, names.iter().copied());
        self.error(
            path,
            format!("unknown key \"{value}\": not a PKI entity or extra key file"),
            hint.or_else(no_such_entity_hint),
        );
        None
    }

    fn ocsp_ref(&mut self, value: &str, path: &KeyPath) -> Option<FileRef> {
        if self.pki.ocsp_response(value).is_some() {
            return Some(FileRef::Ocsp(value.to_owned()));
        }
        let names: Vec<&str> = self.pki.ocsp_responses().iter().map(|(n, _)| n.as_str()).collect();
        let hint = did_you_mean(value, names.iter().copied())
            .or_else(|| Some(format!("declare it as [ocsp.\"{value}\"] with `for = \"<entity>\"`")));
        self.error(path, format!("unknown OCSP response \"{value}\""), hint);
        None
    }

    /// Splits `a+b+c` into PKI entity names, checking each exists (and is a CA for CRLs).
    fn members(&mut self, value: &str, path: &KeyPath, need_ca: bool) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut ok = true;
        for name in value.split('+') {
            match self.pki.entity(name) {
                Some(e) if need_ca && !e.ca => {
                    self.error(path, format!("\"{name}\" is not a CA, so it issues no CRL"), None);
                    ok = false;
                }
                Some(e) if !need_ca && !e.cert => {
                    self.error(path, format!("\"{name}\" is a key-only entity (cert = false)"), None);
                    ok = false;
                }
                Some(_) => out.push(name.to_owned()),
                None => {
                    let names: Vec<&str> = self.pki.entities().iter().map(|(n, _)| n.as_str()).collect();
                    let hint = did_you_mean(name, names.iter().copied());
                    self.error(path, format!("unknown PKI entity \"{name}\""), hint.or_else(no_such_entity_hint));
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn case(&mut self, raw: RawCase, path: &KeyPath, defaults: &ClientSettings) -> Case {
        let requires = self.requires(&raw.requires, &path.key("requires"));
        let steps =
            raw.steps.into_iter().enumerate().filter_map(|(i, s)| self.step(s, &path.key("steps").index(i))).collect();
        let client = self.client(&raw.client, &path.key("client"), defaults);
        let expect = self.expect(raw.expect, &path.key("expect"));
        if raw.query.is_none() && (expect.query_result.is_some() || expect.query_sqlstate.is_some()) {
            let key = if expect.query_result.is_some() { "query_result" } else { "query_sqlstate" };
            self.error(
                &path.key("expect").key(key),
                "the case has no query",
                Some("add `query = \"SELECT …\"` to the case".into()),
            );
        }
        let cancel_keys = [
            ("cancel_sqlstate", expect.cancel_sqlstate.is_some()),
            ("cancel_ssl", expect.cancel_ssl.is_some()),
            ("cancel_opening", expect.cancel_opening.is_some()),
        ];
        if !raw.cancel
            && let Some((key, _)) = cancel_keys.iter().find(|(_, set)| *set)
        {
            self.error(
                &path.key("expect").key(key),
                "the case has no cancel action",
                Some("add `cancel = true` to the case".into()),
            );
        }
        let env = self.env(&raw.env, &path.key("env"));
        Case {
            name: raw.name,
            line: self.line_of(path),
            mirrors: raw.mirrors,
            source: raw.source,
            requires,
            steps,
            client,
            query: raw.query,
            cancel: raw.cancel,
            env,
            expect,
            cell: None,
        }
    }

    /// A case's (or an axis value's) `env` table, with placeholders resolved.
    pub(super) fn env(
        &mut self,
        raw: &std::collections::BTreeMap<String, String>,
        path: &KeyPath,
    ) -> Vec<(String, Vec<SettingValue>)> {
        let mut env = Vec::new();
        for (name, text) in raw {
            let p = path.key(name);
            if name.is_empty() || name.contains('=') || name.contains('\0') {
                self.error(&p, format!("`{name}` is not an environment variable name"), None);
                continue;
            }
            env.push((name.clone(), self.placeholders(text, &p)));
        }
        env
    }

    /// The line a key path starts on (1 when it cannot be located).
    pub(super) fn line_of(&self, path: &KeyPath) -> usize {
        self.src.span_of(path).map_or(1, |s| self.src.line_col(s.start).0)
    }

    fn step(&mut self, raw: RawStep, path: &KeyPath) -> Option<Step> {
        Some(match raw {
            RawStep::Reload => Step::Reload,
            RawStep::Restart => Step::Restart,
            RawStep::Initial => Step::Initial,
            RawStep::Set(conf) => Step::Set(self.settings(&conf, &path.key("set"))),
            RawStep::Reset(names) => Step::Reset(names),
            RawStep::Hba(lines) => Step::Hba(lines),
            RawStep::Ident(lines) => Step::Ident(lines),
            RawStep::KeyFile(k) => Step::KeyFile(self.key_file(&k, &path.key("key_file"))),
            RawStep::Extension(name) => Step::Extension(name),
        })
    }

    pub(super) fn expect(&mut self, raw: RawExpect, path: &KeyPath) -> Expectation {
        let outcome = match raw.outcome.as_str() {
            "connected" => ExpectedOutcome::Connected,
            "reference" => {
                self.reference_only(&raw, path);
                ExpectedOutcome::Reference
            }
            name => match FailureClass::from_name(name) {
                Some(c) => ExpectedOutcome::Failed(c),
                None => {
                    let names =
                        ["connected", "reference"].into_iter().chain(FailureClass::ALL.iter().map(|c| c.name()));
                    let hint = did_you_mean(name, names).or(Some("see docs/outcomes.md for the classes".into()));
                    self.error(&path.key("outcome"), format!("unknown outcome \"{name}\""), hint);
                    ExpectedOutcome::Connected
                }
            },
        };
        let side = raw.side.as_deref().and_then(|s| match s {
            "client" => Some(Side::Client),
            "server" => Some(Side::Server),
            "harness" => Some(Side::Harness),
            other => {
                self.error(
                    &path.key("side"),
                    format!("unknown side \"{other}\""),
                    Some("use \"client\", \"server\" or \"harness\"".into()),
                );
                None
            }
        });
        let message = raw.message.and_then(|m| self.message(m, &path.key("message")));
        if outcome == ExpectedOutcome::Connected && (raw.sqlstate.is_some() || raw.alert.is_some()) {
            self.error(path, "a connected outcome has no sqlstate or alert", None);
        }
        if outcome != ExpectedOutcome::Connected && (raw.query_result.is_some() || raw.query_sqlstate.is_some()) {
            self.error(path, "only a connected outcome has a query result", None);
        }
        let cancel_set = raw.cancel_sqlstate.is_some() || raw.cancel_ssl.is_some() || raw.cancel_opening.is_some();
        if outcome != ExpectedOutcome::Connected && cancel_set {
            self.error(path, "only a connected outcome has a cancel result", None);
        }
        let cancel_opening = raw.cancel_opening.filter(|o| {
            let known = crate::outcome::CANCEL_OPENINGS.iter().map(|(t, _)| *t);
            if known.clone().any(|t| t == o) {
                return true;
            }
            let hint = did_you_mean(o, known.clone())
                .unwrap_or_else(|| format!("one of {}", known.collect::<Vec<_>>().join(", ")));
            self.error(&path.key("cancel_opening"), format!("unknown cancel opening \"{o}\""), Some(hint));
            false
        });
        let client_serial = raw.client_serial.filter(|name| {
            let p = path.key("client_serial");
            if name.contains('+') {
                self.error(&p, format!("\"{name}\" names several certificates"), Some("name one PKI entity".into()));
                return false;
            }
            self.members(name, &p, false).is_some()
        });
        let mut files = Vec::new();
        for (i, f) in raw.files.into_iter().enumerate() {
            let rel = std::path::Path::new(&f.name);
            if f.name.is_empty() || rel.is_absolute() || rel.components().any(|c| c == std::path::Component::ParentDir)
            {
                self.error(
                    &path.key("files").index(i).key("name"),
                    format!("`{}` is not a path inside the attempt's directory", f.name),
                    Some("write the name the client keyword got, e.g. \"key.txt\"".into()),
                );
                continue;
            }
            files.push(FileExpectation { name: f.name, exists: f.exists, world_access: f.world_access });
        }
        let log_like = self.log_patterns(&raw.log_like, &path.key("log_like"));
        let log_unlike = self.log_patterns(&raw.log_unlike, &path.key("log_unlike"));
        Expectation {
            outcome,
            sqlstate: raw.sqlstate,
            message,
            alert: raw.alert,
            side,
            ssl: raw.ssl,
            protocol: raw.protocol,
            client_cert: raw.client_cert,
            client_dn: raw.client_dn,
            client_serial,
            issuer_dn: raw.issuer_dn,
            user: raw.user,
            query_result: raw.query_result,
            query_sqlstate: raw.query_sqlstate,
            cancel_sqlstate: raw.cancel_sqlstate,
            cancel_ssl: raw.cancel_ssl,
            cancel_opening,
            files,
            log_like,
            log_unlike,
        }
    }

    /// `expect = "reference"` takes its every detail from the reference client's outcome.
    fn reference_only(&mut self, raw: &RawExpect, path: &KeyPath) {
        let set = [
            ("sqlstate", raw.sqlstate.is_some()),
            ("message", raw.message.is_some()),
            ("alert", raw.alert.is_some()),
            ("side", raw.side.is_some()),
            ("ssl", raw.ssl.is_some()),
            ("protocol", raw.protocol.is_some()),
            ("client_cert", raw.client_cert.is_some()),
            ("client_dn", raw.client_dn.is_some()),
            ("client_serial", raw.client_serial.is_some()),
            ("issuer_dn", raw.issuer_dn.is_some()),
            ("user", raw.user.is_some()),
            ("query_result", raw.query_result.is_some()),
            ("query_sqlstate", raw.query_sqlstate.is_some()),
            ("cancel_sqlstate", raw.cancel_sqlstate.is_some()),
            ("cancel_ssl", raw.cancel_ssl.is_some()),
            ("cancel_opening", raw.cancel_opening.is_some()),
            ("files", !raw.files.is_empty()),
            ("log_like", !raw.log_like.is_empty()),
            ("log_unlike", !raw.log_unlike.is_empty()),
        ];
        if let Some((key, _)) = set.iter().find(|(_, given)| *given) {
            self.error(
                &path.key(key),
                format!("`{key}` cannot be combined with outcome \"reference\""),
                Some("the reference client's outcome is the whole expectation; write `expect = \"reference\"`".into()),
            );
        }
    }

    fn regex(&mut self, re: &str, path: &KeyPath) -> Option<regex::Regex> {
        match regex::Regex::new(re) {
            Ok(r) => Some(r),
            Err(e) => {
                self.error(path, format!("invalid regex: {e}"), None);
                None
            }
        }
    }

    fn log_patterns(&mut self, list: &[RawLogPattern], path: &KeyPath) -> Vec<LogPattern> {
        let mut out = Vec::new();
        for (i, raw) in list.iter().enumerate() {
            let p = path.index(i);
            let pg = match raw.pg.as_deref().map(VersionReq::parse).transpose() {
                Ok(pg) => pg,
                Err(msg) => {
                    self.error(&p.key("pg"), msg.to_string(), Some("write e.g. \">=16\"".into()));
                    continue;
                }
            };
            let re_path = if raw.pg.is_some() { p.key("re") } else { p };
            if let Some(re) = self.regex(&raw.re, &re_path) {
                out.push(LogPattern { re, pg });
            }
        }
        out
    }

    fn message(&mut self, raw: RawMessage, path: &KeyPath) -> Option<MessageExpectation> {
        match raw {
            RawMessage::All(re) => self.regex(&re, path).map(MessageExpectation::All),
            RawMessage::PerClient(map) => {
                let v: Vec<_> = map
                    .into_iter()
                    .filter_map(|(client, re)| self.regex(&re, &path.key(&client)).map(|r| (client, r)))
                    .collect();
                Some(MessageExpectation::PerClient(v))
            }
        }
    }
}

impl KeyFilePerms {
    /// Making a file owned by root (or its group root) needs root privileges.
    pub fn needs_root(&self) -> bool {
        self.owner == FileOwner::Root || self.group == FileOwner::Root
    }
}

fn no_such_entity_hint() -> Option<String> {
    Some("declare it under [pki]".into())
}

/// pg_hba used when a scenario gives none: TLS or not, anyone from loopback.
fn default_hba() -> Vec<String> {
    vec!["host all all 127.0.0.1/32 trust".to_owned()]
}
