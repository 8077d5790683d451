//! Test helpers: parse a TOML layout, generate it, and check results with two independent
//! verifiers (the `openssl` CLI and the openssl crate's `X509StoreContext`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use openssl::stack::Stack;
use openssl::x509::store::{X509Lookup, X509StoreBuilder};
use openssl::x509::verify::X509VerifyFlags;
use openssl::x509::{X509, X509StoreContext};
use pgtls_certs::{GenerateOptions, Pki, PkiSpec};

/// The key caches are process-wide and the tests of one file run on parallel threads: a test
/// that clears them holds this lock exclusively, a test that relies on a cache hit between two
/// generations holds it shared, so a clear never lands between its two generations.
static KEY_CACHES: RwLock<()> = RwLock::new(());

/// Held while a test relies on the key caches keeping what an earlier generation put there.
pub fn key_caches_kept() -> RwLockReadGuard<'static, ()> {
    KEY_CACHES.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Held while a test clears the key caches.
pub fn key_caches_cleared() -> RwLockWriteGuard<'static, ()> {
    KEY_CACHES.write().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Parses the `[pki]` table of a scenario-like TOML document.
pub fn spec(toml_text: &str) -> PkiSpec {
    let doc: toml::Table = toml::from_str(toml_text).expect("test TOML parses");
    doc["pki"].clone().try_into().expect("[pki] deserializes")
}

/// Generates into a fresh temp dir (kept alive by the returned guard).
pub fn generate(spec: &PkiSpec) -> (tempfile::TempDir, Pki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = pgtls_certs::generate(spec, dir.path(), &GenerateOptions::default()).expect("generate");
    (dir, pki)
}

pub fn load_cert(path: &Path) -> X509 {
    X509::from_pem(&std::fs::read(path).unwrap()).unwrap()
}

/// Output of an `openssl` CLI run.
pub struct Cli {
    pub ok: bool,
    pub out: String,
}

impl Cli {
    /// The first `error N at` code printed by `openssl verify`, if any.
    pub fn verify_error(&self) -> Option<i32> {
        let i = self.out.find("error ")?;
        let rest = &self.out[i + 6..];
        rest.split_whitespace().next()?.parse().ok()
    }
}

pub fn openssl<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Cli {
    let o = Command::new("openssl").args(args).output().expect("openssl CLI runs");
    let mut out = String::from_utf8_lossy(&o.stdout).into_owned();
    out.push_str(&String::from_utf8_lossy(&o.stderr));
    Cli { ok: o.status.success(), out }
}

/// The chain of `entity` per the spec: (root, intermediates from root downward).
pub fn chain_of(spec: &PkiSpec, entity: &str) -> (String, Vec<String>) {
    let mut chain = Vec::new();
    let mut cur = entity.to_owned();
    while let Some(issuer) = spec.entity(&cur).unwrap().issuer.clone() {
        if issuer == cur {
            break;
        }
        chain.push(issuer.clone());
        cur = issuer;
    }
    let root = chain.pop().unwrap_or_else(|| entity.to_owned());
    chain.reverse();
    (root, chain)
}

/// Writes the intermediates of `entity` into one PEM file for `-untrusted`.
pub fn untrusted_file(pki: &Pki, intermediates: &[String], scratch: &Path) -> Option<PathBuf> {
    if intermediates.is_empty() {
        return None;
    }
    let mut pem = Vec::new();
    for i in intermediates {
        pem.extend(std::fs::read(pki.cert_path(i).unwrap()).unwrap());
    }
    let path = scratch.join(format!("untrusted-{}.pem", intermediates.join("+")));
    std::fs::write(&path, pem).unwrap();
    Some(path)
}

/// `openssl verify -CAfile root [-untrusted ints] [extra] leaf` for `entity`.
pub fn cli_verify(spec: &PkiSpec, pki: &Pki, entity: &str, extra: &[&str]) -> Cli {
    let (root, ints) = chain_of(spec, entity);
    let scratch = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = vec!["verify".into(), "-CAfile".into()];
    args.push(pki.cert_path(&root).unwrap().display().to_string());
    if let Some(u) = untrusted_file(pki, &ints, scratch.path()) {
        args.push("-untrusted".into());
        args.push(u.display().to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(pki.cert_path(entity).unwrap().display().to_string());
    openssl(&args)
}

/// Verifies `entity` with the openssl crate; `Ok(())` or the raw X509 verify error code.
/// `crls`: CRL files to load with CRL_CHECK | CRL_CHECK_ALL.
pub fn crate_verify(spec: &PkiSpec, pki: &Pki, entity: &str, crls: &[PathBuf]) -> Result<(), i32> {
    let (root, ints) = chain_of(spec, entity);
    let mut store = X509StoreBuilder::new().unwrap();
    store.add_cert(load_cert(&pki.cert_path(&root).unwrap())).unwrap();
    if !crls.is_empty() {
        let lookup = store.add_lookup(X509Lookup::file()).unwrap();
        for c in crls {
            lookup.load_crl_file(c, openssl::ssl::SslFiletype::PEM).unwrap();
        }
        store.set_flags(X509VerifyFlags::CRL_CHECK | X509VerifyFlags::CRL_CHECK_ALL).unwrap();
    }
    let store = store.build();
    let mut chain = Stack::new().unwrap();
    for i in &ints {
        chain.push(load_cert(&pki.cert_path(i).unwrap())).unwrap();
    }
    let leaf = load_cert(&pki.cert_path(entity).unwrap());
    let mut ctx = X509StoreContext::new().unwrap();
    let code = ctx
        .init(&store, &leaf, &chain, |c| {
            c.verify_cert()?;
            Ok(c.error().as_raw())
        })
        .unwrap();
    if code == 0 { Ok(()) } else { Err(code) }
}

/// Asserts that both verifiers accept `entity`.
pub fn assert_verifies(spec: &PkiSpec, pki: &Pki, entity: &str) {
    let cli = cli_verify(spec, pki, entity, &[]);
    assert!(cli.ok, "openssl verify {entity}: {}", cli.out);
    assert_eq!(crate_verify(spec, pki, entity, &[]), Ok(()), "X509StoreContext {entity}");
}

/// Every certificate-bearing entity of `spec` except `skip`.
pub fn cert_entities<'a>(spec: &'a PkiSpec, skip: &[&str]) -> Vec<&'a str> {
    spec.entities().iter().filter(|(n, e)| e.cert && !skip.contains(&n.as_str())).map(|(n, _)| n.as_str()).collect()
}
