//! CRLs: contents and signatures, `openssl verify -crl_check[_all]`, hashed CRL directories.

mod common;

use std::path::Path;

use common::{crate_verify, load_cert, openssl, spec};
use openssl::x509::{CrlReason, ReasonCode, X509Crl};

const LAYOUT: &str = r#"
[pki.root_ca]
ca = true
subject = "CN=Test root CA"
crl = { number = 4096, next_update = "+30d" }

[pki.server_ca]
issuer = "root_ca"
ca = true
subject = "CN=Test CA for server certs"

[pki.server]
issuer = "server_ca"

[pki.server-revoked]
issuer = "server_ca"
revoked = { reason = "keyCompromise", date = "2024-01-02T03:04:05Z" }

[pki.server-revoked-plain]
issuer = "server_ca"
revoked = true
serial = 4096

[pki.revoked-ca]
issuer = "root_ca"
ca = true
revoked = { reason = "cACompromise" }

[pki.under-revoked-ca]
issuer = "revoked-ca"

[pki]
crl_files = ["root_ca+server_ca"]
crl_dirs = ["root_ca+server_ca", "server_ca", "root_ca+revoked-ca"]
"#;

fn load_crl(path: &Path) -> X509Crl {
    X509Crl::from_pem(&std::fs::read(path).unwrap()).unwrap()
}

fn revoked_serials(crl: &X509Crl) -> Vec<(String, Option<i64>)> {
    let Some(list) = crl.get_revoked() else {
        return Vec::new();
    };
    list.iter()
        .map(|r| {
            let hex = r.serial_number().to_bn().unwrap().to_hex_str().unwrap().to_string();
            let reason = r.extension::<ReasonCode>().unwrap().map(|(_, e)| e.get_i64().unwrap());
            (hex, reason)
        })
        .collect()
}

#[test]
fn every_ca_has_a_signed_v2_crl_listing_exactly_its_revocations() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    for ca in ["root_ca", "server_ca", "revoked-ca"] {
        let crl = load_crl(&pki.crl_path(ca).unwrap());
        let ca_cert = load_cert(&pki.cert_path(ca).unwrap());
        assert!(crl.verify(&ca_cert.public_key().unwrap()).unwrap(), "{ca} CRL signature");
        assert_eq!(crl.issuer_name().to_der().unwrap(), ca_cert.subject_name().to_der().unwrap());
        let text = openssl(&["crl", "-noout", "-text", "-in", pki.crl_path(ca).unwrap().to_str().unwrap()]).out;
        assert!(text.contains("Version 2 (0x1)") && text.contains("X509v3 Authority Key Identifier"), "{text}");
        assert!(text.contains("X509v3 CRL Number") && text.contains("Next Update"), "{text}");
    }
    let root = load_crl(&pki.crl_path("root_ca").unwrap());
    let mut want =
        vec![(pki.serial("revoked-ca").unwrap().hex().to_owned(), Some(CrlReason::CA_COMPROMISE.as_raw() as i64))];
    assert_eq!(revoked_serials(&root), want);
    let text = openssl(&["crl", "-noout", "-text", "-in", pki.crl_path("root_ca").unwrap().to_str().unwrap()]).out;
    assert!(text.contains("X509v3 CRL Number: \n                4096"), "{text}");

    let server = load_crl(&pki.crl_path("server_ca").unwrap());
    want = vec![
        (pki.serial("server-revoked-plain").unwrap().hex().to_owned(), None),
        (pki.serial("server-revoked").unwrap().hex().to_owned(), Some(CrlReason::KEY_COMPROMISE.as_raw() as i64)),
    ];
    let mut got = revoked_serials(&server);
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let text = openssl(&["crl", "-noout", "-text", "-in", pki.crl_path("server_ca").unwrap().to_str().unwrap()]).out;
    assert!(text.contains("Revocation Date: Jan  2 03:04:05 2024 GMT"), "{text}");
    assert!(text.contains("Serial Number: 1000"), "{text}");
    assert_eq!(revoked_serials(&load_crl(&pki.crl_path("revoked-ca").unwrap())), vec![], "empty CRL");
}

#[test]
fn openssl_verify_crl_check_reports_revoked_leaves() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    let server_crl = pki.crl_path("server_ca").unwrap();
    let root_crl = pki.crl_path("root_ca").unwrap();
    let check = |e: &str, extra: &[&str]| common::cli_verify(&s, &pki, e, extra);
    let crl_check = ["-crl_check", "-CRLfile", server_crl.to_str().unwrap()];
    assert!(check("server", &crl_check).ok);
    let revoked = check("server-revoked", &crl_check);
    assert_eq!(revoked.verify_error(), Some(23), "{}", revoked.out);
    assert_eq!(check("server-revoked-plain", &crl_check).verify_error(), Some(23));

    let all = ["-crl_check_all", "-CRLfile", server_crl.to_str().unwrap(), "-CRLfile", root_crl.to_str().unwrap()];
    assert!(check("server", &all).ok, "{}", check("server", &all).out);
    assert_eq!(check("server-revoked", &all).verify_error(), Some(23));
    // CRL_CHECK_ALL without the root's CRL: "unable to get certificate CRL" (3), as PostgreSQL sees it.
    let missing = check("server", &["-crl_check_all", "-CRLfile", server_crl.to_str().unwrap()]);
    assert_eq!(missing.verify_error(), Some(3), "{}", missing.out);
    // A revoked intermediate revokes everything under it.
    let revoked_ca_crl = pki.crl_path("revoked-ca").unwrap();
    let under = check(
        "under-revoked-ca",
        &["-crl_check_all", "-CRLfile", root_crl.to_str().unwrap(), "-CRLfile", revoked_ca_crl.to_str().unwrap()],
    );
    assert_eq!(under.verify_error(), Some(23), "{}", under.out);
}

#[test]
fn crate_verifier_agrees_on_crls() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    let combined = pki.crl_file_path(&["root_ca", "server_ca"]).unwrap();
    assert_eq!(crate_verify(&s, &pki, "server", std::slice::from_ref(&combined)), Ok(()));
    assert_eq!(crate_verify(&s, &pki, "server-revoked", std::slice::from_ref(&combined)), Err(23));
    let only_server = pki.crl_path("server_ca").unwrap();
    assert_eq!(crate_verify(&s, &pki, "server", &[only_server]), Err(3));
}

#[test]
fn crl_file_is_the_concatenation() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    let mut want = std::fs::read(pki.crl_path("root_ca").unwrap()).unwrap();
    want.extend(std::fs::read(pki.crl_path("server_ca").unwrap()).unwrap());
    assert_eq!(std::fs::read(pki.crl_file_path(&["root_ca", "server_ca"]).unwrap()).unwrap(), want);
    assert_eq!(pki.crl_file_path(&["server_ca"]), pki.crl_path("server_ca"));
}

#[test]
fn hashed_crl_dirs_match_openssl_and_work_with_capath() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    let dir = pki.crl_dir_path(&["root_ca", "server_ca"]).unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let mut want: Vec<String> = ["root_ca", "server_ca"]
        .iter()
        .map(|ca| {
            let out = openssl(&["crl", "-hash", "-noout", "-in", pki.crl_path(ca).unwrap().to_str().unwrap()]).out;
            format!("{}.r0", out.trim())
        })
        .collect();
    want.sort();
    assert_eq!(names, want);

    let ca_bundle = tempfile::NamedTempFile::new().unwrap();
    let mut pem = std::fs::read(pki.cert_path("root_ca").unwrap()).unwrap();
    pem.extend(std::fs::read(pki.cert_path("server_ca").unwrap()).unwrap());
    std::fs::write(ca_bundle.path(), pem).unwrap();
    let verify = |leaf: &str| {
        openssl(&[
            "verify",
            "-crl_check_all",
            "-CAfile",
            ca_bundle.path().to_str().unwrap(),
            "-CApath",
            dir.to_str().unwrap(),
            pki.cert_path(leaf).unwrap().to_str().unwrap(),
        ])
    };
    assert!(verify("server").ok, "{}", verify("server").out);
    assert_eq!(verify("server-revoked").verify_error(), Some(23), "{}", verify("server-revoked").out);
    // A dir with only the intermediate's CRL is missing the root's.
    let partial = pki.crl_dir_path(&["server_ca"]).unwrap();
    let out = openssl(&[
        "verify",
        "-crl_check_all",
        "-CAfile",
        ca_bundle.path().to_str().unwrap(),
        "-CApath",
        partial.to_str().unwrap(),
        pki.cert_path("server").unwrap().to_str().unwrap(),
    ]);
    assert_eq!(out.verify_error(), Some(3), "{}", out.out);
}

#[test]
fn colliding_hashes_get_r1() {
    // Two CAs with the same subject hash to the same file name.
    let s = spec(
        r#"
[pki.a]
ca = true
subject = "CN=Same"
[pki.b]
ca = true
subject = "CN=Same"
[pki]
crl_dirs = ["a+b"]
"#,
    );
    let (_d, pki) = common::generate(&s);
    let dir = pki.crl_dir_path(&["a", "b"]).unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names.len(), 2);
    assert!(names[0].ends_with(".r0") && names[1].ends_with(".r1"), "{names:?}");
    assert_eq!(names[0][..8], names[1][..8]);
}
