//! The same spec gives the same file names, subjects, SANs and serials on every run, even with
//! fresh keys; only fingerprints change.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use pgtls_certs::{GenerateOptions, Manifest};

const LAYOUT: &str = r#"
[pki.root_ca]
ca = true
[pki.server_ca]
issuer = "root_ca"
ca = true
[pki.server]
issuer = "server_ca"
san = ["DNS:db.test", "IP:2001:DB8::1"]
der = true
extra_keys = [{ file = "server-enc", passphrase = "pw" }]
[pki.server-revoked]
issuer = "server_ca"
revoked = true
[pki]
bundles = ["server+server_ca"]
crl_files = ["root_ca+server_ca"]
crl_dirs = ["root_ca+server_ca"]
"#;

fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        if e.file_type().unwrap().is_dir() {
            out.extend(files_under(&e.path()).into_iter().map(|f| format!("{name}/{f}")));
        } else {
            out.insert(name);
        }
    }
    out
}

fn without_hashes(m: &Manifest) -> Manifest {
    let mut m = m.clone();
    for f in &mut m.files {
        f.sha256.clear();
    }
    m
}

#[test]
fn two_runs_agree_on_everything_but_fingerprints() {
    let _clearing = common::key_caches_cleared();
    let s = common::spec(LAYOUT);
    let (d1, a) = common::generate(&s);
    pgtls_certs::clear_memory_key_cache();
    let (d2, b) = common::generate(&s);
    assert_eq!(without_hashes(a.manifest()), without_hashes(b.manifest()));
    assert_eq!(files_under(d1.path()), files_under(d2.path()));
    let key_hash =
        |p: &pgtls_certs::Pki| p.manifest().files.iter().find(|f| f.path == "server.key").unwrap().sha256.clone();
    assert_ne!(key_hash(&a), key_hash(&b), "fresh keys after clearing the cache");
    for e in ["root_ca", "server_ca", "server", "server-revoked"] {
        assert_eq!(a.serial(e), b.serial(e));
        let (ca, cb) = (common::load_cert(&a.cert_path(e).unwrap()), common::load_cert(&b.cert_path(e).unwrap()));
        assert_eq!(ca.subject_name().to_der().unwrap(), cb.subject_name().to_der().unwrap());
        assert_eq!(ca.serial_number().to_bn().unwrap(), cb.serial_number().to_bn().unwrap());
        let sans = |c: &openssl::x509::X509| {
            c.subject_alt_names()
                .map(|s| s.iter().map(|n| format!("{:?}{:?}", n.dnsname(), n.ipaddress())).collect::<Vec<_>>())
        };
        assert_eq!(sans(&ca), sans(&cb));
    }
}

#[test]
fn manifest_json_matches_and_describes_files() {
    let s = common::spec(LAYOUT);
    let (dir, pki) = common::generate(&s);
    let on_disk: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json")).unwrap()).unwrap();
    assert_eq!(on_disk, serde_json::to_value(pki.manifest()).unwrap());
    let mut listed: BTreeSet<String> = pki.manifest().files.iter().map(|f| f.path.clone()).collect();
    listed.insert("manifest.json".into());
    assert_eq!(listed, files_under(dir.path()), "the manifest lists every file written");
    for f in &pki.manifest().files {
        let bytes = std::fs::read(dir.path().join(&f.path)).unwrap();
        assert_eq!(f.sha256, hex::encode(openssl::sha::sha256(&bytes)), "{}", f.path);
    }
    let der = std::fs::read(pki.der_path("server").unwrap()).unwrap();
    let pem_cert = common::load_cert(&pki.cert_path("server").unwrap());
    let der_cert = openssl::x509::X509::from_der(&der).unwrap();
    assert_eq!(der_cert.to_der().unwrap(), pem_cert.to_der().unwrap(), "server.der is server.crt");
    let server = pki.manifest().files.iter().find(|f| f.path == "server.crt").unwrap();
    let json = serde_json::to_value(server).unwrap();
    assert_eq!(json["kind"], "certificate");
    assert_eq!(json["subject"], "CN=server");
    assert_eq!(json["issuer"], "CN=server_ca");
    assert_eq!(json["serial"], pki.serial("server").unwrap().hex());
    assert_eq!(json["san"], serde_json::json!(["DNS:db.test", "IP:2001:db8::1"]));
    let kinds: BTreeSet<String> = pki
        .manifest()
        .files
        .iter()
        .map(|f| serde_json::to_value(f.kind).unwrap().as_str().unwrap().to_owned())
        .collect();
    let want = ["bundle", "certificate", "certificate-der", "crl", "crl-bundle", "crl-dir-entry", "key"];
    assert_eq!(kinds, want.iter().map(|s| s.to_string()).collect());
}

#[test]
fn default_serials_and_subjects_are_stable_values() {
    let s = common::spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    // First 8 bytes of SHA-256("pgtls-serial:server"), top bit cleared: pinned so a change is noticed.
    let digest = openssl::sha::sha256(b"pgtls-serial:server");
    let mut want = digest[..8].to_vec();
    want[0] &= 0x7f;
    assert_eq!(pki.serial("server").unwrap().as_bytes(), want.as_slice());
    assert_eq!(pki.subject("server"), Some("CN=server"));
    let opts =
        GenerateOptions { now: time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000), ..Default::default() };
    let d = tempfile::tempdir().unwrap();
    let other_clock = pgtls_certs::generate(&s, d.path(), &opts).unwrap();
    assert_eq!(other_clock.serial("server"), pki.serial("server"), "serials do not depend on the clock");
}
