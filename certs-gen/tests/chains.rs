//! Certificate chains: good chains verify, wrong-CA / expired / not-yet-valid ones fail with the
//! right OpenSSL verify code, in both the CLI and the openssl crate.

mod common;

use common::{assert_verifies, cli_verify, crate_verify, load_cert, openssl, spec};
use openssl::nid::Nid;
use openssl::pkey::{Id, PKey};

const LAYOUT: &str = r#"
[pki.root_ca]
subject = "CN=Test root CA"
ca = true

[pki.other_root]
subject = "CN=Unrelated root"
ca = true

[pki.server_ca]
issuer = "root_ca"
ca = true
pathlen = 0
subject = "/CN=Test CA for server certs"

[pki.server]
issuer = "server_ca"
subject = "CN=common-name.pg-ssltest.test,OU=PostgreSQL test suite"
san = ["DNS:dns1.example.test", "DNS:*.wildcard.example.test", "IP:192.0.2.1", "IP:2001:DB8::1", "email:a@b.test", "URI:https://x.test/"]
key_usage = ["digitalSignature", "keyEncipherment"]
extended_key_usage = ["serverAuth", "clientAuth"]
hash = "sha384"

[pki.rsa_leaf]
issuer = "server_ca"
key = "rsa-2048"
hash = "sha512"

[pki.p384_leaf]
issuer = "root_ca"
key = "ec-p384"

[pki.san_only]
issuer = "server_ca"
subject = ""
san = ["DNS:only.example.test"]

[pki.foreign]
issuer = "other_root"

[pki.expired]
issuer = "server_ca"
not_before = "-10d"
not_after = "-1d"

[pki.future]
issuer = "server_ca"
not_before = "+1d"
"#;

#[test]
fn good_chains_verify_with_cli_and_crate() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    for e in ["root_ca", "server_ca", "server", "rsa_leaf", "p384_leaf", "san_only", "foreign"] {
        assert_verifies(&s, &pki, e);
        // Also RFC 5280 strictness as OpenSSL 3 checks it (AKI/SKI, critical SAN on empty DN, …).
        let strict = cli_verify(&s, &pki, e, &["-x509_strict"]);
        assert!(strict.ok, "-x509_strict {e}: {}", strict.out);
    }
}

#[test]
fn wrong_ca_fails_with_unable_to_get_issuer() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    let ca = pki.cert_path("root_ca").unwrap();
    let leaf = pki.cert_path("foreign").unwrap();
    let cli = openssl(&["verify".as_ref(), "-CAfile".as_ref(), ca.as_os_str(), leaf.as_os_str()]);
    assert!(!cli.ok);
    // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
    assert_eq!(cli.verify_error(), Some(20), "{}", cli.out);

    let mut wrong = s.clone();
    wrong.entity_mut("foreign").unwrap().issuer = Some("root_ca".into());
    // Verify the real `foreign` cert while pretending its chain is root_ca's.
    assert_eq!(crate_verify(&wrong, &pki, "foreign", &[]), Err(20));
}

#[test]
fn expired_and_not_yet_valid() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    for (entity, code) in [("expired", 10), ("future", 9)] {
        let cli = cli_verify(&s, &pki, entity, &[]);
        assert!(!cli.ok);
        assert_eq!(cli.verify_error(), Some(code), "{entity}: {}", cli.out);
        assert_eq!(crate_verify(&s, &pki, entity, &[]), Err(code), "{entity}");
    }
}

#[test]
fn extensions_are_as_specified() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    let text = openssl(&["x509", "-noout", "-text", "-in", pki.cert_path("server").unwrap().to_str().unwrap()]).out;
    for needle in [
        "Version: 3 (0x2)",
        "X509v3 Basic Constraints: critical\n                CA:FALSE",
        "X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "DNS:dns1.example.test, DNS:*.wildcard.example.test, IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:1, email:a@b.test, URI:https://x.test/",
        "X509v3 Subject Key Identifier",
        "X509v3 Authority Key Identifier",
        "Signature Algorithm: ecdsa-with-SHA384",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    let ca = openssl(&["x509", "-noout", "-text", "-in", pki.cert_path("server_ca").unwrap().to_str().unwrap()]).out;
    assert!(ca.contains("CA:TRUE, pathlen:0"), "{ca}");
    assert!(ca.contains("Certificate Sign, CRL Sign"), "{ca}");
    let root = openssl(&["x509", "-noout", "-text", "-in", pki.cert_path("root_ca").unwrap().to_str().unwrap()]).out;
    assert!(!root.contains("Authority Key Identifier"), "self-signed root has no AKI:\n{root}");
    let rsa = openssl(&["x509", "-noout", "-text", "-in", pki.cert_path("rsa_leaf").unwrap().to_str().unwrap()]).out;
    assert!(rsa.contains("Public-Key: (2048 bit)") && rsa.contains("ecdsa-with-SHA512"), "{rsa}");
}

#[test]
fn empty_subject_has_critical_san() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    let cert = load_cert(&pki.cert_path("san_only").unwrap());
    assert_eq!(cert.subject_name().entries().count(), 0);
    let text = openssl(&["x509", "-noout", "-text", "-in", pki.cert_path("san_only").unwrap().to_str().unwrap()]).out;
    assert!(text.contains("X509v3 Subject Alternative Name: critical"), "{text}");
}

#[test]
fn subjects_keep_order_repeats_and_utf8() {
    let s = spec(
        r#"
[pki.ca]
ca = true
subject = "/DC=com/DC=example/CN=Example CA"
[pki.dn]
issuer = "ca"
subject = "CN=ssltestuser-dn,OU=Testing,OU=Engineering,O=PGDG"
[pki.utf8]
issuer = "ca"
subject = "CN=Οδυσσέας"
[pki.long]
issuer = "ca"
subject = "CN=ssl-123456789012345678901234567890123456789012345678901234567890,OU=Some Organizational Unit,O=PostgreSQL Global Development Group"
[pki.oid]
issuer = "ca"
subject = 'CN=a\,b,2.5.4.45=x,C=DE,emailAddress=x@y.test,serialNumber=42'
"#,
    );
    let (_d, pki) = common::generate(&s);
    let rfc2253 = |e: &str| {
        let p = pki.cert_path(e).unwrap();
        let out =
            openssl(&["x509", "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb", "-in", p.to_str().unwrap()]).out;
        out.trim().trim_start_matches("subject=").to_owned()
    };
    assert_eq!(rfc2253("dn"), "CN=ssltestuser-dn,OU=Testing,OU=Engineering,O=PGDG");
    assert_eq!(rfc2253("ca"), "CN=Example CA,DC=example,DC=com");
    assert_eq!(rfc2253("utf8"), "CN=Οδυσσέας");
    assert_eq!(pki.subject("dn"), Some("CN=ssltestuser-dn,OU=Testing,OU=Engineering,O=PGDG"));
    assert_eq!(pki.subject("utf8"), Some("CN=Οδυσσέας"));
    let long = load_cert(&pki.cert_path("long").unwrap());
    let cn = long.subject_name().entries_by_nid(Nid::COMMONNAME).next().unwrap();
    assert_eq!(cn.data().to_string().unwrap().chars().count(), 64);
    // String types follow RFC 5280 / `openssl req -utf8`.
    let oid = openssl(&["asn1parse", "-in", pki.cert_path("oid").unwrap().to_str().unwrap()]).out;
    for needle in [":countryName", "PRINTABLESTRING   :DE", "IA5STRING         :x@y.test", "UTF8STRING        :a,b"] {
        assert!(oid.contains(needle), "missing {needle:?} in\n{oid}");
    }
    for e in ["dn", "utf8", "long", "oid"] {
        assert_verifies(&s, &pki, e);
    }
}

#[test]
fn ed25519_and_rsa_pss_load_and_match() {
    let s = spec(
        r#"
[pki.ed_ca]
ca = true
key = "ed25519"
[pki.ed_leaf]
issuer = "ed_ca"
key = "ed25519"
[pki.pss_ca]
ca = true
key = "rsa-pss"
[pki.pss_leaf]
issuer = "pss_ca"
key = "rsa-pss"
[pki.ec_under_pss]
issuer = "pss_ca"
hash = "sha384"
"#,
    );
    let (_d, pki) = common::generate(&s);
    for e in ["ed_ca", "ed_leaf", "pss_ca", "pss_leaf", "ec_under_pss"] {
        assert_verifies(&s, &pki, e);
        let crt = pki.cert_path(e).unwrap();
        let key = pki.key_path(e).unwrap();
        assert!(openssl(&["x509", "-noout", "-text", "-in", crt.to_str().unwrap()]).ok, "{e} x509");
        assert!(openssl(&["pkey", "-noout", "-in", key.to_str().unwrap()]).ok, "{e} pkey");
        let cert = load_cert(&crt);
        let pkey = PKey::private_key_from_pem(&std::fs::read(&key).unwrap()).unwrap();
        assert!(cert.public_key().unwrap().public_eq(&pkey), "{e}: key matches cert");
    }
    let pss = PKey::private_key_from_pem(&std::fs::read(pki.key_path("pss_leaf").unwrap()).unwrap()).unwrap();
    assert_eq!(pss.id(), Id::RSA_PSS);
    assert_eq!(pss.bits(), 2048);
    let text = |e: &str| openssl(&["x509", "-noout", "-text", "-in", pki.cert_path(e).unwrap().to_str().unwrap()]).out;
    assert!(text("pss_leaf").contains("Signature Algorithm: rsassaPss"), "{}", text("pss_leaf"));
    // An EC leaf signed by an RSA-PSS CA carries a PSS signature with the requested hash.
    let t = text("ec_under_pss");
    assert!(t.contains("Signature Algorithm: rsassaPss") && t.contains("Hash Algorithm: sha384"), "{t}");
    assert!(text("ed_leaf").contains("Signature Algorithm: ED25519"));
}
