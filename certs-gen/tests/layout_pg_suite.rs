//! The certificate layout of PostgreSQL's own `src/test/ssl` suite (notes/pg-ssl-suite.md §2),
//! reproduced as a spec: same CAs, subjects, SANs, issuers, serials, key variants, bundles,
//! CRLs and CRL directories. CRL hash file names must even equal the committed suite's, since
//! they depend only on the issuer DNs.

mod common;

use common::{assert_verifies, cli_verify, crate_verify, openssl, spec};
use openssl::pkey::{Id, PKey};
use openssl::x509::X509Crl;

const LAYOUT: &str = r#"
[pki.root_ca]
subject = "CN=Test root CA for PostgreSQL SSL regression test suite"
ca = true
key = "rsa-2048"
key_usage = []          # none of the suite's certificates carries keyUsage

[pki.server_ca]
subject = "CN=Test CA for PostgreSQL SSL regression test server certs"
issuer = "root_ca"
ca = true
key = "rsa-2048"
key_usage = []
serial = "2023071316352300"

[pki.client_ca]
subject = "CN=Test CA for PostgreSQL SSL regression test client certs"
issuer = "root_ca"
ca = true
key = "rsa-2048"
key_usage = []
serial = "2023071316352301"

[pki.server-cn-only]
subject = "CN=common-name.pg-ssltest.test,OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "2023071316352302"
extra_keys = [{ file = "server-password", format = "pkcs8-pem", passphrase = "secret1" }]

[pki.server-cn-and-alt-names]
subject = "CN=common-name.pg-ssltest.test,OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "2023071316352300"
san = ["DNS:dns1.alt-name.pg-ssltest.test", "DNS:dns2.alt-name.pg-ssltest.test"]

[pki.server-cn-and-ip-alt-names]
subject = "CN=common-name.pg-ssltest.test,OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "2023071316352301"
san = ["IP:192.0.2.1", "IP:2001:DB8::1"]

[pki.server-ip-alt-names]
subject = "OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "2023071316352303"
san = ["IP:192.0.2.1", "IP:2001:DB8::1"]

[pki.server-ip-cn-only]
subject = "CN=192.0.2.1,OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "2023071316352304"

[pki.server-ip-cn-and-alt-names]
subject = "CN=192.0.2.1,OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "2023071316352305"
san = ["IP:192.0.2.2", "IP:2001:DB8::1"]

[pki.server-ip-cn-and-dns-alt-names]
subject = "CN=192.0.2.1,OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "2023071316352306"
san = ["DNS:dns1.alt-name.pg-ssltest.test", "DNS:dns2.alt-name.pg-ssltest.test"]

[pki.server-ip-in-dnsname]
subject = "OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "2023071316352307"
san = ["DNS:192.0.2.1"]

[pki.server-single-alt-name]
subject = "OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "2023071316352308"
san = ["DNS:single.alt-name.pg-ssltest.test"]

[pki.server-multiple-alt-names]
subject = "OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "2023071316352309"
san = ["DNS:dns1.alt-name.pg-ssltest.test", "DNS:dns2.alt-name.pg-ssltest.test", "DNS:*.wildcard.pg-ssltest.test"]

[pki.server-localhost-alt-names]
subject = "OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "2026022714530700"
san = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]

[pki.server-no-names]
subject = "OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "202307131635230A"

[pki.server-revoked]
subject = "CN=common-name.pg-ssltest.test,OU=PostgreSQL test suite"
issuer = "server_ca"
key = "rsa-2048"
serial = "202307131635230B"
revoked = true

# Self-signed RSASSA-PSS, made with `req -x509` without -days: expired since 2023.
[pki.server-rsapss]
subject = "OU=PostgreSQL test suite,CN=common-name.pg-ssltest.test"
key = "rsa-pss"
not_before = "2023-02-13T00:00:00Z"
not_after = "2023-03-15T00:00:00Z"

# Client certificates share a fixed window (sslinfo tests read notBefore/notAfter).
[pki.client]
subject = "CN=ssltestuser"
issuer = "client_ca"
key = "rsa-2048"
key_format = "pkcs1-pem"
serial = "2023071316352400"
not_before = "2023-06-29T01:01:01Z"
not_after = "2050-01-01T01:01:01Z"
extra_keys = [
  { file = "client-der", format = "pkcs1-der" },
  { file = "client-encrypted-pem", format = "pkcs8-pem", passphrase = "dUmmyP^#+" },
  # Inspected: the committed file is byte-identical to client-der.key (not encrypted).
  { file = "client-encrypted-der", format = "pkcs1-der" },
]

[pki.client-revoked]
subject = "CN=ssltestuser"
issuer = "client_ca"
key = "rsa-2048"
serial = "2023071316352402"
not_before = "2023-06-29T01:01:01Z"
not_after = "2050-01-01T01:01:01Z"
revoked = true

[pki.client-dn]
subject = "CN=ssltestuser-dn,OU=Testing,OU=Engineering,O=PGDG"
issuer = "client_ca"
key = "rsa-2048"
serial = "2023071316352401"
not_before = "2023-06-29T01:01:01Z"
not_after = "2050-01-01T01:01:01Z"

[pki.client_ext]
subject = "CN=ssltestuser"
issuer = "client_ca"
key = "rsa-2048"
serial = "2023071316352403"
extended_key_usage = ["clientAuth"]
not_before = "2023-06-29T01:01:01Z"
not_after = "2050-01-01T01:01:01Z"

[pki.client-long]
subject = "CN=ssl-123456789012345678901234567890123456789012345678901234567890,OU=Some Organizational Unit,O=PostgreSQL Global Development Group"
issuer = "client_ca"
key = "rsa-2048"
serial = "2023071316352404"
not_before = "2023-06-29T01:01:01Z"
not_after = "2050-01-01T01:01:01Z"

[pki.client-revoked-utf8]
subject = "CN=Οδυσσέας"
issuer = "client_ca"
key = "rsa-2048"
serial = "2023071316352405"
not_before = "2023-06-29T01:01:01Z"
not_after = "2050-01-01T01:01:01Z"
revoked = true

[pki]
bundles = [
  "root_ca+client_ca+server_ca",     # both-cas-1.crt
  "root_ca+server_ca+client_ca",     # both-cas-2.crt
  "root_ca+server_ca",               # root+server_ca.crt
  "root_ca+client_ca",               # root+client_ca.crt
  "client+client_ca",
  "server-cn-only+server_ca",
]
crl_files = ["root_ca+server_ca", "root_ca+client_ca"]   # root+server.crl, root+client.crl
crl_dirs = ["client_ca", "server_ca", "root_ca+client_ca", "root_ca+server_ca"]
"#;

fn setup() -> (pgtls_certs::PkiSpec, tempfile::TempDir, pgtls_certs::Pki) {
    let s = spec(LAYOUT);
    let (d, pki) = common::generate(&s);
    (s, d, pki)
}

fn path(p: Option<std::path::PathBuf>) -> String {
    p.unwrap().display().to_string()
}

#[test]
fn pg_suite_chains_subjects_and_serials() {
    let (s, _d, pki) = setup();
    for e in common::cert_entities(&s, &["server-rsapss"]) {
        assert_verifies(&s, &pki, e);
    }
    for (e, want) in [
        ("server-cn-only", "CN=common-name.pg-ssltest.test,OU=PostgreSQL test suite"),
        ("server-rsapss", "OU=PostgreSQL test suite,CN=common-name.pg-ssltest.test"),
        ("client-dn", "CN=ssltestuser-dn,OU=Testing,OU=Engineering,O=PGDG"),
        ("client-revoked-utf8", "CN=Οδυσσέας"),
    ] {
        let out =
            openssl(&["x509", "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb", "-in", &path(pki.cert_path(e))])
                .out;
        assert_eq!(out.trim(), format!("subject={want}"), "{e}");
    }
    let serial = |e: &str| {
        let out = openssl(&["x509", "-noout", "-serial", "-in", &path(pki.cert_path(e))]).out;
        out.trim().trim_start_matches("serial=").to_owned()
    };
    assert_eq!(serial("server-revoked"), "202307131635230B");
    assert_eq!(serial("client"), "2023071316352400");
    assert_eq!(
        pki.serial("client").unwrap().decimal(),
        u64::from_str_radix("2023071316352400", 16).unwrap().to_string()
    );
    let client = openssl(&["x509", "-noout", "-dates", "-in", &path(pki.cert_path("client"))]).out;
    assert!(
        client.contains("notBefore=Jun 29 01:01:01 2023 GMT") && client.contains("notAfter=Jan  1 01:01:01 2050 GMT"),
        "{client}"
    );
    let ext = openssl(&["x509", "-noout", "-text", "-in", &path(pki.cert_path("client_ext"))]).out;
    assert!(ext.contains("CA:FALSE") && ext.contains("TLS Web Client Authentication"), "{ext}");
    let local = openssl(&[
        "x509",
        "-noout",
        "-ext",
        "subjectAltName",
        "-in",
        &path(pki.cert_path("server-localhost-alt-names")),
    ])
    .out;
    assert!(local.contains("DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1"), "{local}");
}

#[test]
fn pg_suite_rsapss_is_self_signed_pss_and_expired() {
    let (s, _d, pki) = setup();
    let crt = path(pki.cert_path("server-rsapss"));
    let text = openssl(&["x509", "-noout", "-text", "-in", &crt]).out;
    assert!(
        text.contains("Signature Algorithm: rsassaPss") && text.contains("Public Key Algorithm: rsassaPss"),
        "{text}"
    );
    let out = openssl(&["verify", "-CAfile", &crt, &crt]);
    assert_eq!(out.verify_error(), Some(10), "{}", out.out);
    assert_eq!(crate_verify(&s, &pki, "server-rsapss", &[]), Err(10));
    let key = PKey::private_key_from_pem(&std::fs::read(pki.key_path("server-rsapss").unwrap()).unwrap()).unwrap();
    assert_eq!(key.id(), Id::RSA_PSS);
    assert!(common::load_cert(&pki.cert_path("server-rsapss").unwrap()).public_key().unwrap().public_eq(&key));
}

#[test]
fn pg_suite_key_variants() {
    let (_s, _d, pki) = setup();
    let read = |p: Option<std::path::PathBuf>| std::fs::read(p.unwrap()).unwrap();
    let server = PKey::private_key_from_pem(&read(pki.key_path("server-cn-only"))).unwrap();
    let password = read(pki.extra_key_path("server-password"));
    assert!(password.starts_with(b"-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    assert!(PKey::private_key_from_pem_passphrase(&password, b"secret1").unwrap().public_eq(&server));

    let client_pem = read(pki.key_path("client"));
    assert!(client_pem.starts_with(b"-----BEGIN RSA PRIVATE KEY-----"));
    let client = PKey::private_key_from_pem(&client_pem).unwrap();
    let der = read(pki.extra_key_path("client-der"));
    assert!(PKey::from_rsa(openssl::rsa::Rsa::private_key_from_der(&der).unwrap()).unwrap().public_eq(&client));
    assert_eq!(read(pki.extra_key_path("client-encrypted-der")), der, "byte-identical, as in the suite");
    let enc = read(pki.extra_key_path("client-encrypted-pem"));
    assert!(PKey::private_key_from_pem_passphrase(&enc, b"dUmmyP^#+").unwrap().public_eq(&client));
    assert!(PKey::private_key_from_pem_passphrase(&enc, b"wrong").is_err());
}

#[test]
fn pg_suite_bundles() {
    let (_s, _d, pki) = setup();
    let cat = |names: &[&str]| {
        names.iter().flat_map(|n| std::fs::read(pki.cert_path(n).unwrap()).unwrap()).collect::<Vec<u8>>()
    };
    for members in [
        &["root_ca", "client_ca", "server_ca"][..],
        &["root_ca", "server_ca", "client_ca"],
        &["root_ca", "server_ca"],
        &["root_ca", "client_ca"],
        &["client", "client_ca"],
        &["server-cn-only", "server_ca"],
    ] {
        assert_eq!(std::fs::read(pki.bundle_path(members).unwrap()).unwrap(), cat(members), "{members:?}");
    }
    // A server presenting its chain verifies against the root alone.
    let out = openssl(&[
        "verify",
        "-CAfile",
        &path(pki.cert_path("root_ca")),
        "-untrusted",
        &path(pki.bundle_path(&["server-cn-only", "server_ca"])),
        &path(pki.cert_path("server-cn-only")),
    ]);
    assert!(out.ok, "{}", out.out);
}

#[test]
fn pg_suite_crls_and_crl_dirs() {
    let (s, _d, pki) = setup();
    let revoked = |ca: &str| -> Vec<String> {
        let crl = X509Crl::from_pem(&std::fs::read(pki.crl_path(ca).unwrap()).unwrap()).unwrap();
        let mut v: Vec<String> = crl
            .get_revoked()
            .map(|l| l.iter().map(|r| r.serial_number().to_bn().unwrap().to_hex_str().unwrap().to_string()).collect())
            .unwrap_or_default();
        v.sort();
        v
    };
    assert!(revoked("root_ca").is_empty());
    assert_eq!(revoked("server_ca"), ["202307131635230B"]);
    assert_eq!(revoked("client_ca"), ["2023071316352402", "2023071316352405"]);

    // The hashes depend only on the issuer DNs, so they equal the committed suite's file names.
    for (ca, hash) in [("root_ca", "a3d11bff"), ("server_ca", "a836cc2d"), ("client_ca", "9bb9e3c3")] {
        let out = openssl(&["crl", "-hash", "-noout", "-in", &path(pki.crl_path(ca))]).out;
        assert_eq!(out.trim(), hash, "{ca}");
    }
    let listing = |cas: &[&str]| {
        let mut v: Vec<String> = std::fs::read_dir(pki.crl_dir_path(cas).unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    };
    assert_eq!(listing(&["client_ca"]), ["9bb9e3c3.r0"]);
    assert_eq!(listing(&["server_ca"]), ["a836cc2d.r0"]);
    assert_eq!(listing(&["root_ca", "client_ca"]), ["9bb9e3c3.r0", "a3d11bff.r0"]);
    assert_eq!(listing(&["root_ca", "server_ca"]), ["a3d11bff.r0", "a836cc2d.r0"]);

    // ssl_crl_file = root+client.crl (CRL_CHECK_ALL, as the server sets it).
    let root_client = path(pki.crl_file_path(&["root_ca", "client_ca"]));
    let all = ["-crl_check_all", "-CRLfile", root_client.as_str()];
    for (leaf, want) in
        [("client", None), ("client-dn", None), ("client-revoked", Some(23)), ("client-revoked-utf8", Some(23))]
    {
        let out = cli_verify(&s, &pki, leaf, &all);
        assert_eq!(out.verify_error(), want, "{leaf}: {}", out.out);
    }
    let root_server = path(pki.crl_file_path(&["root_ca", "server_ca"]));
    let out = cli_verify(&s, &pki, "server-revoked", &["-crl_check_all", "-CRLfile", &root_server]);
    assert_eq!(out.verify_error(), Some(23), "{}", out.out);
    assert!(cli_verify(&s, &pki, "server-cn-only", &["-crl_check_all", "-CRLfile", &root_server]).ok);

    // ssl_crl_dir = root+client-crldir.
    let cas = path(pki.bundle_path(&["root_ca", "client_ca"]));
    let dir = path(pki.crl_dir_path(&["root_ca", "client_ca"]));
    let via_dir = |leaf: &str| {
        openssl(&["verify", "-crl_check_all", "-CAfile", &cas, "-CApath", &dir, &path(pki.cert_path(leaf))])
    };
    assert!(via_dir("client").ok, "{}", via_dir("client").out);
    assert_eq!(via_dir("client-revoked").verify_error(), Some(23));
}
