//! The walkthrough in `seeds/digoal-postgresql-ssl-certificate-configuration.txt`, as a spec.
//!
//! root-ca1 issues client certificates; root-ca2 → intermediate → the database server. The
//! walkthrough re-issues certificates on existing keys (`server123.csr` from `server.key`,
//! `client123.csr` from `client.key`), revokes the client on ca1's CRL (CRL number 4098, next
//! update after 30 days) and the server on the intermediate's CRL and on root-ca2's CRL.
//!
//! root-ca2 did not issue the server certificate, so its CRL entry is modelled with
//! `also_revoked_by = ["ca2"]`: the serial is listed on ca2's CRL too, exactly as the
//! walkthrough's CRL would show it. OpenSSL matches CRL entries only against certificates
//! issued by the CRL's issuer, so that extra entry has no effect on verification: the test
//! below shows the leaf is revoked through the intermediate's CRL, and a different certificate
//! from the intermediate still verifies against ca2's CRL that lists the foreign serial.

mod common;

use common::{assert_verifies, cli_verify, openssl, spec};
use openssl::pkey::PKey;
use openssl::x509::X509Crl;

const LAYOUT: &str = r#"
# Server a: root CA 1, issues client certificates.
[pki.ca1]
subject = "/CN=root-ca1"
ca = true
key = "rsa-2048"
crl = { number = 4098, next_update = "+30d" }

# Server b: root CA 2.
[pki.ca2]
subject = "/CN=root-ca2"
ca = true
key = "rsa-2048"

# Server c: authority 3, signed by root CA 2, issues database server certificates.
[pki.intermediate]
subject = "/CN=intermediate.yourdomain.com"
issuer = "ca2"
ca = true
key = "rsa-2048"

# Server d: the database server (-days 365), later revoked.
[pki.server]
subject = "/CN=dbhost.domain.name.or.ipaddress"
issuer = "intermediate"
key = "rsa-2048"
not_after = "+365d"
revoked = true
also_revoked_by = ["ca2"]

# server123.csr: a new certificate on server.key.
[pki.server123]
subject = "/CN=dbhost.domain.name.or.ipaddress"
issuer = "intermediate"
key = "server"
not_after = "+365d"

# "Connection Test 1.2": subject /C=CN (no CN), two DNS SANs, v3_req key usages, signed by root CA 2.
[pki.server-san]
subject = "/C=CN"
issuer = "ca2"
key = "rsa-2048"
san = ["DNS:pgm-bp116zpg87qr8rx0.pg.rds.aliyuncs.com", "DNS:pgm-bp116zpg87qr8rx0no.pg.rds.aliyuncs.com"]
key_usage = ["nonRepudiation", "digitalSignature", "keyEncipherment"]
not_after = "+365d"

# Server e: the client, CN=dbuser1 from root CA 1, later revoked.
[pki.client]
subject = "/CN=dbuser1"
issuer = "ca1"
key = "rsa-2048"
not_after = "+365d"
revoked = true

# client123.csr: a new certificate on client.key.
[pki.client123]
subject = "/CN=dbuser1"
issuer = "ca1"
key = "client"
not_after = "+365d"

[pki]
bundles = ["ca2+intermediate"]      # ~/.postgresql/ca2_int.crt (sslrootcert)
crl_files = ["ca2+intermediate"]
"#;

fn revoked_on(pki: &pgtls_certs::Pki, ca: &str) -> Vec<String> {
    let crl = X509Crl::from_pem(&std::fs::read(pki.crl_path(ca).unwrap()).unwrap()).unwrap();
    let Some(list) = crl.get_revoked() else {
        return Vec::new();
    };
    list.iter().map(|r| r.serial_number().to_bn().unwrap().to_hex_str().unwrap().to_string()).collect()
}

#[test]
fn digoal_walkthrough() {
    let s = spec(LAYOUT);
    let (_d, pki) = common::generate(&s);
    for e in common::cert_entities(&s, &[]) {
        assert_verifies(&s, &pki, e);
    }

    // Re-issued certificates carry the original keys under new serials.
    for (old, new) in [("server", "server123"), ("client", "client123")] {
        let key = PKey::private_key_from_pem(&std::fs::read(pki.key_path(old).unwrap()).unwrap()).unwrap();
        let cert = common::load_cert(&pki.cert_path(new).unwrap());
        assert!(cert.public_key().unwrap().public_eq(&key), "{new} is on {old}.key");
        assert_ne!(pki.serial(old), pki.serial(new));
        assert_eq!(pki.subject(old), pki.subject(new));
    }

    // CRLs as in the walkthrough.
    let hex = |e: &str| pki.serial(e).unwrap().hex().to_owned();
    assert_eq!(revoked_on(&pki, "ca1"), [hex("client")]);
    assert_eq!(revoked_on(&pki, "intermediate"), [hex("server")]);
    assert_eq!(revoked_on(&pki, "ca2"), [hex("server")]);
    let ca1 = openssl(&["crl", "-noout", "-text", "-in", pki.crl_path("ca1").unwrap().to_str().unwrap()]).out;
    assert!(
        ca1.contains("Issuer: CN = root-ca1") && ca1.contains("X509v3 CRL Number: \n                4098"),
        "{ca1}"
    );

    // The client's revocation bites; its re-issued certificate is fine.
    let ca1_crl = pki.crl_path("ca1").unwrap();
    let crl_check = ["-crl_check", "-CRLfile", ca1_crl.to_str().unwrap()];
    assert_eq!(cli_verify(&s, &pki, "client", &crl_check).verify_error(), Some(23));
    assert!(cli_verify(&s, &pki, "client123", &crl_check).ok);

    // The server: revoked through the intermediate's CRL (depth 0), not through ca2's entry.
    let both = pki.crl_file_path(&["ca2", "intermediate"]).unwrap();
    let all = ["-crl_check_all", "-CRLfile", both.to_str().unwrap()];
    let out = cli_verify(&s, &pki, "server", &all);
    assert!(out.out.contains("error 23 at 0 depth lookup"), "{}", out.out);
    assert!(cli_verify(&s, &pki, "server123", &all).ok, "ca2's foreign entry does not hit server123");
    let only_ca2 = pki.crl_path("ca2").unwrap();
    let out = cli_verify(&s, &pki, "server-san", &["-crl_check", "-CRLfile", only_ca2.to_str().unwrap()]);
    assert!(out.ok, "{}", out.out);

    // The client trusts ca2_int.crt (ca2 then intermediate); verify-full needs the SAN names.
    let ca2_int = pki.bundle_path(&["ca2", "intermediate"]).unwrap();
    let mut want = std::fs::read(pki.cert_path("ca2").unwrap()).unwrap();
    want.extend(std::fs::read(pki.cert_path("intermediate").unwrap()).unwrap());
    assert_eq!(std::fs::read(&ca2_int).unwrap(), want);
    let verify_host = |leaf: &str, host: &str| {
        openssl(&[
            "verify",
            "-CAfile",
            ca2_int.to_str().unwrap(),
            "-verify_hostname",
            host,
            pki.cert_path(leaf).unwrap().to_str().unwrap(),
        ])
    };
    assert!(verify_host("server123", "dbhost.domain.name.or.ipaddress").ok);
    assert_eq!(verify_host("server123", "192.168.0.245").verify_error(), Some(62), "hostname mismatch");
    assert!(verify_host("server-san", "pgm-bp116zpg87qr8rx0no.pg.rds.aliyuncs.com").ok);
}
