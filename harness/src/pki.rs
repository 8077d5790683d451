//! Generates a scenario's PKI and turns its file references into paths.
//!
//! Clients read files straight from the generated directory. The server gets copies (its own
//! user must own its key, with the mode the scenario asks for), described as
//! [`ServerFile`]s that the backend places where it wants them.

use std::path::{Path, PathBuf};

use pgtls_certs::{GenerateOptions, Pki, PkiSpec};

use crate::scenario::{FileOwner, FileRef, KeyFilePerms, SettingValue};

/// A generated PKI.
pub struct Materialized {
    pki: Pki,
}

impl Materialized {
    /// Generates `spec` into `dir`, with RSA and other keys cached under the cache dir.
    pub fn generate(spec: &PkiSpec, dir: &Path) -> Result<Materialized, pgtls_certs::Error> {
        let opts = GenerateOptions { key_cache: Some(crate::cache::dir().join("keys")), ..GenerateOptions::default() };
        let pki = pgtls_certs::generate(spec, dir, &opts)?;
        Ok(Materialized { pki })
    }

    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// The path a generated file reference points at.
    fn path(&self, r: &FileRef) -> Option<PathBuf> {
        fn names(v: &[String]) -> Vec<&str> {
            v.iter().map(String::as_str).collect()
        }
        match r {
            FileRef::Certs(m) if m.len() == 1 => self.pki.cert_path(&m[0]),
            FileRef::Certs(m) => self.pki.bundle_path(&names(m)),
            FileRef::Key(k) => self.pki.key_path(k).or_else(|| self.pki.extra_key_path(k)),
            FileRef::Crls(m) if m.len() == 1 => self.pki.crl_path(&m[0]),
            FileRef::Crls(m) => self.pki.crl_file_path(&names(m)),
            FileRef::CrlDir(m) => self.pki.crl_dir_path(&names(m)),
            FileRef::Ocsp(name) => self.pki.ocsp_path(name),
            _ => None,
        }
    }

    /// A client keyword's value: a path, `""`, a non-existent path, or a verbatim value.
    pub fn client_value(&self, keyword: &str, r: &FileRef, scratch: &Path) -> String {
        match r {
            FileRef::Empty => String::new(),
            FileRef::Missing => scratch.join("missing").join(keyword).to_string_lossy().into_owned(),
            FileRef::Verbatim(v) => v.clone(),
            FileRef::Output(name) => scratch.join(name).to_string_lossy().into_owned(),
            other => self.path(other).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
        }
    }

    /// A server setting's value and the file it needs placed, if any.
    pub fn server_value(
        &self,
        setting: &str,
        v: &SettingValue,
        key_perms: KeyFilePerms,
    ) -> (ConfValue, Option<ServerFile>) {
        let r = match v {
            SettingValue::Literal(s) => return (ConfValue::Literal(s.clone()), None),
            SettingValue::File(r) => r,
        };
        let name = server_file_name(r);
        let Some(path) = self.path(r) else {
            return match r {
                FileRef::Missing => (ConfValue::Missing(setting.to_owned()), None),
                FileRef::Extra(name) => (ConfValue::Extra(name.clone()), None),
                FileRef::Verbatim(v) => (ConfValue::Literal(v.clone()), None),
                _ => (ConfValue::Literal(String::new()), None),
            };
        };
        let source = if path.is_dir() { FileSource::Dir(path) } else { FileSource::Concat(vec![path]) };
        let (mode, owner, group) = if matches!(r, FileRef::Key(_)) {
            (key_perms.mode, key_perms.owner, key_perms.group)
        } else {
            (0o644, crate::scenario::FileOwner::Server, crate::scenario::FileOwner::Server)
        };
        let file = ServerFile { name: name.clone(), source, mode, owner, group };
        (ConfValue::File(name), Some(file))
    }
}

fn server_file_name(r: &FileRef) -> String {
    match r {
        FileRef::Certs(m) => format!("{}.crt", m.join("+")),
        FileRef::Key(k) => format!("{k}.key"),
        FileRef::Crls(m) => format!("{}.crl", m.join("+")),
        FileRef::CrlDir(m) => format!("{}.crldir", m.join("+")),
        FileRef::Ocsp(name) => format!("{name}.resp"),
        _ => "unused".into(),
    }
}

// ---- What the server is given: files and setting values, placed by a backend ----------

/// A setting's value before the backend places files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfValue {
    Literal(String),
    /// A file (or directory) from `ServerConfig::files`, by name.
    File(String),
    /// A path that does not exist.
    Missing(String),
    /// An extra file (`ServerConfig::extra_files`), by name.
    Extra(String),
}

/// Where a backend keeps TLS files and extra files, for rendering paths.
pub struct Paths<'a> {
    pub files: &'a dyn Fn(&str) -> String,
    pub extra: &'a dyn Fn(&str) -> String,
}

impl ConfValue {
    /// The value as the server should read it.
    pub fn render(&self, paths: &Paths) -> String {
        match self {
            ConfValue::Literal(s) => s.clone(),
            ConfValue::File(name) => (paths.files)(name),
            ConfValue::Missing(name) => (paths.files)(&format!("missing-{name}")),
            ConfValue::Extra(name) => (paths.extra)(name),
        }
    }
}

/// An extra file's text with its placeholders rendered.
pub fn render_text(pieces: &[ConfValue], paths: &Paths) -> String {
    pieces.iter().map(|p| p.render(paths)).collect()
}

/// A TLS file for the server.
#[derive(Debug, Clone)]
pub struct ServerFile {
    pub name: String,
    pub source: FileSource,
    pub mode: u32,
    pub owner: FileOwner,
    pub group: FileOwner,
}

#[derive(Debug, Clone)]
pub enum FileSource {
    /// These files concatenated.
    Concat(Vec<PathBuf>),
    /// A directory copied as is.
    Dir(PathBuf),
}
