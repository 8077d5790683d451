//! The TOML shape of `[pki]`: shorthands, defaults, declaration order, and parse errors that
//! carry the TOML location.

use pgtls_certs::{ExtendedKeyUsage, KeyFormat, KeySource, KeyType, PkiSpec, Revocation, RevocationReason, SerialSpec};
use serde::Deserialize;

#[derive(Deserialize)]
struct Doc {
    pki: PkiSpec,
}

fn parse(s: &str) -> Result<PkiSpec, String> {
    toml::from_str::<Doc>(s).map(|d| d.pki).map_err(|e| e.to_string())
}

#[test]
fn shorthands_and_order() {
    let s = parse(
        r#"
[pki.zeta]
key = "rsa-2048"
serial = "2023071316352302"
revoked = true
[pki.alpha]
key = "zeta"
serial = 4096
revoked = { reason = "keyCompromise", date = "-1h" }
extended_key_usage = ["serverAuth", "1.2.3.4"]
key_format = "pkcs8-der"
[pki.mid]
revoked = false
[pki]
bundles = ["zeta+alpha", "zeta+alpha"]
crl_dirs = ["zeta"]
"#,
    )
    .unwrap();
    let names: Vec<&str> = s.entities().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["zeta", "alpha", "mid"], "declaration order");
    let zeta = s.entity("zeta").unwrap();
    assert_eq!(zeta.key, Some(KeySource::Generate(KeyType::Rsa2048)));
    assert_eq!(zeta.serial, Some(SerialSpec::Hex("2023071316352302".into())));
    assert_eq!(zeta.revoked, Some(Revocation::default()));
    assert!(zeta.cert, "cert defaults to true");
    let alpha = s.entity("alpha").unwrap();
    assert_eq!(alpha.key, Some(KeySource::Reuse("zeta".into())));
    assert_eq!(alpha.serial, Some(SerialSpec::Int(4096)));
    assert_eq!(alpha.revoked.as_ref().unwrap().reason, Some(RevocationReason::KeyCompromise));
    assert_eq!(alpha.extended_key_usage, [ExtendedKeyUsage::ServerAuth, ExtendedKeyUsage::Oid("1.2.3.4".into())]);
    assert_eq!(alpha.key_format, KeyFormat::Pkcs8Der);
    assert_eq!(s.entity("mid").unwrap().revoked, None);
    assert_eq!(s.bundles(), [vec!["zeta".to_owned(), "alpha".to_owned()]], "deduplicated");
    assert_eq!(s.crl_dirs(), [vec!["zeta".to_owned()]]);
}

#[test]
fn programmatic_outputs_dedup() {
    let mut s = PkiSpec::new();
    s.add_bundle(vec!["a".into(), "b".into()]);
    s.add_bundle(vec!["a".into(), "b".into()]);
    s.add_crl_file(vec!["a".into()]);
    s.add_crl_dir(vec!["a".into()]);
    s.add_crl_dir(vec!["a".into()]);
    assert_eq!((s.bundles().len(), s.crl_files().len(), s.crl_dirs().len()), (1, 1, 1));
}

#[test]
fn parse_errors_are_located_and_explain() {
    let cases = [
        ("[pki.s]\nsubjct = \"CN=x\"", "unknown field `subjct`"),
        ("[pki.s]\nrevoked = \"yes\"", "true, false, or a table"),
        ("[pki.s]\nrevoked = { reason = \"lost\" }", "unknown variant `lost`"),
        ("[pki.s]\nrevoked = { when = \"-1h\" }", "unknown field `when`"),
        ("[pki.s]\nserial = -5", "a hexadecimal string"),
        ("[pki.s]\nserial = 1.5", "a hexadecimal string"),
        ("[pki.s]\nkey = 3", "a key type (rsa-2048"),
        ("[pki.s]\nkey_usage = [\"signing\"]", "unknown variant `signing`"),
        ("[pki.s]\nextended_key_usage = [\"webServer\"]", "or a dotted OID"),
        ("[pki.s]\nhash = \"md5\"", "unknown variant `md5`"),
        ("[pki.s]\nkey_format = \"pem\"", "unknown variant `pem`"),
        ("[pki.s]\nextra_keys = [{ name = \"x\" }]", "unknown field `name`"),
        ("[pki.bundles]\nca = true", "`bundles` is a reserved key"),
        ("[pki.rsa-2048]\nca = true", "names a key type"),
        ("[pki]\ncrl_files = \"a+b\"", "a list of strings"),
    ];
    for (text, needle) in cases {
        let err = parse(text).expect_err(text);
        assert!(err.contains(needle), "{text}\n→ {err}");
        assert!(err.contains("line "), "located: {err}");
    }
}
