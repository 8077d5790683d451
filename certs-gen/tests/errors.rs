//! Every kind of spec mistake yields an `Error` naming the entity and field, never a panic,
//! from `validate` and identically from `generate` (which then writes nothing).

mod common;

use pgtls_certs::{EntitySpec, Error, ErrorKind, GenerateOptions, PkiSpec};

fn fails(toml_text: &str) -> Error {
    let s = common::spec(toml_text);
    let e = pgtls_certs::validate(&s).expect_err("spec should be rejected");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let g = pgtls_certs::generate(&s, &out, &GenerateOptions::default()).expect_err("generate rejects too");
    assert_eq!(e.to_string(), g.to_string());
    assert!(!out.exists(), "nothing written for a bad spec");
    e
}

fn at(e: &Error, entity: Option<&str>, field: Option<&str>) {
    assert_eq!((e.entity(), e.field()), (entity, field), "{e}");
}

const CAS: &str = r#"
[pki.root_ca]
ca = true
[pki.server_ca]
issuer = "root_ca"
ca = true
"#;

fn with_cas(rest: &str) -> String {
    format!("{CAS}\n{rest}")
}

#[test]
fn unknown_issuer_with_hint() {
    let e = fails(&with_cas("[pki.server]\nissuer = \"serverca\""));
    at(&e, Some("server"), Some("issuer"));
    assert_eq!(
        e.to_string(),
        r#"failed to generate pki: entity "server", field "issuer": unknown issuer "serverca" (hint: did you mean "server_ca"?)"#
    );
    let e = fails(&with_cas("[pki.server]\nissuer = \"zzzzzz\""));
    assert!(!e.to_string().contains("hint"), "{e}");
}

#[test]
fn issuer_cycle_is_named() {
    let e = fails(
        "[pki.a]\nca = true\nissuer = \"b\"\n[pki.b]\nca = true\nissuer = \"c\"\n[pki.c]\nca = true\nissuer = \"a\"",
    );
    at(&e, Some("a"), Some("issuer"));
    assert!(matches!(e.kind(), ErrorKind::IssuerCycle { .. }));
    assert!(e.to_string().ends_with("issuer cycle: a -> b -> c -> a"), "{e}");
}

#[test]
fn issuer_must_be_a_ca_with_a_cert() {
    let e = fails(&with_cas("[pki.leaf]\nissuer = \"root_ca\"\n[pki.leaf2]\nissuer = \"leaf\""));
    at(&e, Some("leaf2"), Some("issuer"));
    assert!(e.to_string().contains(r#"issuer "leaf" is not a CA"#), "{e}");
    let e = fails("[pki.k]\ncert = false\n[pki.x]\nissuer = \"k\"");
    assert!(matches!(e.kind(), ErrorKind::IssuerNotCa { .. }), "{e}");
    let e = fails("[pki.k]\ncert = false\nca = true");
    at(&e, Some("k"), Some("ca"));
}

#[test]
fn duplicate_entities() {
    let mut s = PkiSpec::new();
    s.add_entity("x", EntitySpec::default());
    s.add_entity("x", EntitySpec::default());
    let e = pgtls_certs::validate(&s).unwrap_err();
    at(&e, Some("x"), None);
    assert!(matches!(e.kind(), ErrorKind::DuplicateEntity { .. }));
    // TOML refuses the duplicate table itself.
    assert!(toml::from_str::<toml::Table>("[pki.x]\n[pki.x]\n").is_err());
}

#[test]
fn bad_sans() {
    for (san, needle) in [
        ("FTP:x", "unknown prefix"),
        ("IP:192.0.2.300", "not an IPv4 or IPv6 address"),
        ("DNS:", "empty DNS name"),
        ("nocolon", "expected PREFIX:value"),
    ] {
        let e = fails(&format!("[pki.s]\nsan = [\"DNS:ok.test\", \"{san}\"]"));
        at(&e, Some("s"), Some("san"));
        assert!(e.to_string().contains(needle), "{e}");
    }
}

#[test]
fn bad_times() {
    for field in ["not_before", "not_after"] {
        let e = fails(&format!("[pki.s]\n{field} = \"-2x\""));
        at(&e, Some("s"), Some(field));
        assert!(matches!(e.kind(), ErrorKind::BadTime { .. }), "{e}");
    }
    let e = fails("[pki.s]\nnot_before = \"+2d\"\nnot_after = \"+1d\"");
    at(&e, Some("s"), Some("not_after"));
    let e = fails("[pki.ca]\nca = true\ncrl = { next_update = \"soon\" }");
    at(&e, Some("ca"), Some("crl"));
    let e = fails("[pki.ca]\nca = true\n[pki.s]\nissuer = \"ca\"\nrevoked = { date = \"yesterday\" }");
    at(&e, Some("s"), Some("revoked"));
}

#[test]
fn unknown_keys_with_hints() {
    let e = fails("[pki.s]\nkey = \"ec-p265\"");
    at(&e, Some("s"), Some("key"));
    assert!(
        e.to_string().contains(r#"unknown key "ec-p265""#) && e.to_string().contains(r#"did you mean "ec-p256"?"#),
        "{e}"
    );
    let e = fails("[pki.server]\n[pki.s]\nkey = \"servr\"");
    assert!(e.to_string().contains(r#"did you mean "server"?"#), "{e}");
    let e = fails("[pki.a]\nkey = \"b\"\n[pki.b]\nkey = \"a\"");
    assert!(matches!(e.kind(), ErrorKind::KeyCycle { .. }), "{e}");
    at(&e, Some("b"), Some("key"));
}

#[test]
fn incompatible_keys() {
    let e = fails("[pki.s]\nkey_format = \"pkcs1-pem\"");
    at(&e, Some("s"), Some("key_format"));
    assert!(e.to_string().contains("pkcs1-pem needs an rsa-2048/3072/4096 key (the key is ec-p256)"), "{e}");
    // Reusing an EC key does not make PKCS#1 possible.
    let e = fails("[pki.ec]\n[pki.s]\nkey = \"ec\"\nkey_format = \"pkcs1-der\"");
    at(&e, Some("s"), Some("key_format"));
    let e = fails("[pki.s]\nkey = \"rsa-pss\"\nkey_format = \"pkcs1-pem\"");
    at(&e, Some("s"), Some("key_format"));
    // hash with an Ed25519 signer (self-signed here, so the signer is its own key).
    let e = fails("[pki.s]\nkey = \"ed25519\"\nhash = \"sha256\"");
    at(&e, Some("s"), Some("hash"));
    let e = fails("[pki.ca]\nca = true\nkey = \"ed25519\"\n[pki.s]\nissuer = \"ca\"\nhash = \"sha384\"");
    at(&e, Some("s"), Some("hash"));
    let e = fails("[pki.s]\nkey = \"rsa-2048\"\nkey_format = \"pkcs1-pem\"\nkey_passphrase = \"x\"");
    at(&e, Some("s"), Some("key_passphrase"));
    let e = fails("[pki.s]\nextra_keys = [{ file = \"s2\", format = \"pkcs1-der\" }]");
    at(&e, Some("s"), Some("extra_keys"));
    let e = fails("[pki.s]\nextra_keys = [{ file = \"t\" }]\n[pki.t]");
    at(&e, Some("s"), Some("extra_keys"));
}

#[test]
fn bad_dns() {
    for (dn, needle) in [
        ("CN", "not of the form TYPE=value"),
        ("XX=1", "unknown attribute type"),
        ("CN=a+OU=b", "multi-valued"),
        ("C=Germany", "OpenSSL rejected"),
    ] {
        let e = fails(&format!("[pki.s]\nsubject = \"{dn}\""));
        at(&e, Some("s"), Some("subject"));
        assert!(e.to_string().contains(needle), "{e}");
    }
}

#[test]
fn bad_and_duplicate_serials() {
    for serial in ["\"xyz\"", "\"00\"", "0"] {
        let e = fails(&format!("[pki.s]\nserial = {serial}"));
        at(&e, Some("s"), Some("serial"));
    }
    let e = fails(&with_cas(
        "[pki.a]\nissuer = \"server_ca\"\nserial = 16\n[pki.b]\nissuer = \"server_ca\"\nserial = \"10\"",
    ));
    at(&e, Some("b"), Some("serial"));
    assert!(e.to_string().contains(r#"serial 10 is also used by "a", issued by the same CA "server_ca""#), "{e}");
    // Same serial under different issuers is fine.
    let s = common::spec(&with_cas(
        "[pki.a]\nissuer = \"server_ca\"\nserial = 16\n[pki.b]\nissuer = \"root_ca\"\nserial = 16",
    ));
    pgtls_certs::validate(&s).unwrap();
}

#[test]
fn bad_outputs() {
    let e = fails(&with_cas("[pki]\nbundles = [\"root_ca+servr_ca\"]"));
    at(&e, None, Some("bundles"));
    assert!(
        e.to_string()
            .contains(r#"entry "root_ca+servr_ca": unknown entity "servr_ca" (hint: did you mean "server_ca"?)"#),
        "{e}"
    );
    let e = fails(&with_cas("[pki.leaf]\nissuer = \"root_ca\"\n[pki]\ncrl_files = [\"root_ca+leaf\"]"));
    at(&e, None, Some("crl_files"));
    assert!(e.to_string().contains(r#""leaf" is not a CA"#), "{e}");
    let e = fails(&with_cas("[pki]\ncrl_dirs = [\"root_ca++server_ca\"]"));
    at(&e, None, Some("crl_dirs"));
    let e = fails("[pki.k]\ncert = false\n[pki]\nbundles = [\"k\"]");
    assert!(matches!(e.kind(), ErrorKind::MemberWithoutCert { .. }), "{e}");
    let mut s = common::spec(CAS);
    s.add_crl_dir(vec!["nope".into()]);
    let e = pgtls_certs::validate(&s).unwrap_err();
    at(&e, None, Some("crl_dirs"));
}

#[test]
fn reserved_entity_names() {
    // Programmatic specs can hold them; `validate` refuses.
    for name in ["bundles", "crl_files", "rsa-2048", "ed25519", "a+b", "", "../x"] {
        let mut s = PkiSpec::new();
        s.add_entity(name, EntitySpec::default());
        let e = pgtls_certs::validate(&s).unwrap_err();
        at(&e, Some(name), None);
    }
}

#[test]
fn revocation_errors() {
    let e = fails("[pki.root]\nca = true\nrevoked = true");
    at(&e, Some("root"), Some("revoked"));
    assert!(matches!(e.kind(), ErrorKind::RevokedRoot));
    let e = fails(&with_cas("[pki.s]\nissuer = \"server_ca\"\nalso_revoked_by = [\"root_ca\"]"));
    at(&e, Some("s"), Some("also_revoked_by"));
    let e = fails(&with_cas("[pki.s]\nissuer = \"server_ca\"\nrevoked = true\nalso_revoked_by = [\"rootca\"]"));
    assert!(e.to_string().contains(r#"did you mean "root_ca"?"#), "{e}");
    let e = fails(&with_cas("[pki.x]\n[pki.s]\nissuer = \"server_ca\"\nrevoked = true\nalso_revoked_by = [\"x\"]"));
    assert!(matches!(e.kind(), ErrorKind::MemberNotCa { .. }), "{e}");
}

#[test]
fn ca_only_options_on_leaves() {
    let e = fails("[pki.s]\npathlen = 1");
    at(&e, Some("s"), Some("pathlen"));
    let e = fails("[pki.s]\ncrl = { number = 2 }");
    at(&e, Some("s"), Some("crl"));
    let e = fails("[pki.s]\ncert = false\nder = true");
    at(&e, Some("s"), Some("der"));
}

#[test]
fn io_errors_say_what_and_why() {
    let s = common::spec("[pki.s]");
    let file = tempfile::NamedTempFile::new().unwrap();
    let e = pgtls_certs::generate(&s, file.path(), &GenerateOptions::default()).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Io { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("could not create") && msg.contains("File exists"), "{msg}");
}
