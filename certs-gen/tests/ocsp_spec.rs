//! The TOML shape of `[ocsp.<name>]` and every spec mistake it can hold: each is an `Error`
//! naming the response and field, from `validate` and identically from `generate`.

use pgtls_certs::{Error, GenerateOptions, OcspCertStatus, OcspResponses, PkiSpec, ResponseStatus};

const PKI: &str = r#"
[pki.root]
ca = true
[pki.server]
issuer = "root"
[pki.ed]
ca = true
key = "ed25519"
[pki.keyonly]
cert = false
"#;

fn spec(ocsp: &str) -> Result<PkiSpec, String> {
    let doc: toml::Table = toml::from_str(&format!("{PKI}\n{ocsp}")).map_err(|e| e.to_string())?;
    let mut spec: PkiSpec = doc["pki"].clone().try_into().map_err(|e: toml::de::Error| e.to_string())?;
    let responses: OcspResponses = doc["ocsp"].clone().try_into().map_err(|e: toml::de::Error| e.to_string())?;
    spec.add_ocsp_responses(responses);
    Ok(spec)
}

fn fails(ocsp: &str) -> Error {
    let s = spec(ocsp).expect("parses");
    let e = pgtls_certs::validate(&s).expect_err("spec should be rejected");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let g = pgtls_certs::generate(&s, &out, &GenerateOptions::default()).expect_err("generate rejects too");
    assert_eq!(e.to_string(), g.to_string());
    e
}

fn at(e: &Error, response: &str, field: Option<&str>) {
    assert_eq!((e.response(), e.field(), e.entity()), (Some(response), field, None), "{e}");
}

#[test]
fn defaults_and_declaration_order() {
    let s = spec("[ocsp.zz]\nfor = \"server\"\n[ocsp.aa]\nfor = \"server\"\nstatus = \"revoked\"\nresponse_status = \"successful\"").unwrap();
    let names: Vec<&str> = s.ocsp_responses().iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["zz", "aa"]);
    let zz = s.ocsp_response("zz").unwrap();
    assert_eq!((zz.status, zz.signer.as_deref(), zz.embed_signer), (None, None, None));
    let aa = s.ocsp_response("aa").unwrap();
    assert_eq!((aa.status, aa.response_status), (Some(OcspCertStatus::Revoked), Some(ResponseStatus::Successful)));
    pgtls_certs::validate(&s).unwrap();
}

#[test]
fn typos_are_parse_errors() {
    let e = spec("[ocsp.a]\nfor = \"server\"\nsigner_cert = \"root\"").unwrap_err();
    assert!(e.contains("unknown field `signer_cert`"), "{e}");
    let e = spec("[ocsp.a]\nfor = \"server\"\nstatus = \"ok\"").unwrap_err();
    assert!(e.contains("unknown variant `ok`") && e.contains("`good`"), "{e}");
    let e = spec("[ocsp.a]\nfor = \"server\"\nresponse_status = \"trylater\"").unwrap_err();
    assert!(e.contains("`tryLater`"), "{e}");
    let e = spec("[ocsp.a]\nstatus = \"good\"").unwrap_err();
    assert!(e.contains("missing field `for`"), "{e}");
}

#[test]
fn unknown_entities_are_named_with_a_hint() {
    let e = fails("[ocsp.a]\nfor = \"sever\"");
    at(&e, "a", Some("for"));
    assert_eq!(
        e.to_string(),
        r#"failed to generate pki: OCSP response "a", field "for": unknown entity "sever" (hint: did you mean "server"?)"#
    );
    at(&fails("[ocsp.a]\nfor = \"server\"\nsigner = \"rot\""), "a", Some("signer"));
    at(&fails("[ocsp.a]\nfor = \"server\"\nissuer = \"keyonly\""), "a", Some("issuer"));
}

#[test]
fn fields_that_do_not_apply_are_errors() {
    let e = fails("[ocsp.a]\nfor = \"server\"\nreason = \"keyCompromise\"");
    at(&e, "a", Some("reason"));
    assert!(e.to_string().contains("needs `status = \"revoked\"`"), "{e}");
    let e = fails("[ocsp.a]\nfor = \"server\"\nresponse_status = \"tryLater\"\nsigner = \"root\"");
    at(&e, "a", Some("signer"));
    assert!(e.to_string().contains("response_status = \"tryLater\""), "{e}");
    at(&fails("[ocsp.a]\nfor = \"server\"\nmalformed = true\nnext_update = \"+1d\""), "a", Some("next_update"));
    at(&fails("[ocsp.a]\nfor = \"server\"\nresponse_bytes = false\nstatus = \"good\""), "a", Some("status"));
    at(&fails("[ocsp.a]\nfor = \"root\""), "a", Some("for"));
    let e = fails("[ocsp.a]\nfor = \"ed\"\nissuer = \"ed\"\nhash = \"sha256\"");
    at(&e, "a", Some("hash"));
}

#[test]
fn times_and_names_are_checked() {
    let e = fails("[ocsp.a]\nfor = \"server\"\nthis_update = \"yesterday\"");
    at(&e, "a", Some("this_update"));
    at(&fails("[ocsp.a]\nfor = \"server\"\nnext_update = \"never\""), "a", Some("next_update"));
    at(&fails("[ocsp.\"a b\"]\nfor = \"server\""), "a b", None);
    let mut s = spec("[ocsp.a]\nfor = \"server\"").unwrap();
    s.add_ocsp_response("a", s.ocsp_response("a").unwrap().clone());
    let e = pgtls_certs::validate(&s).unwrap_err();
    assert!(e.to_string().contains("declared more than once"), "{e}");
    let e = spec("[ocsp.a]\nfor = \"server\"\n[ocsp.b]\nfor = \"server\"").map(|_| ());
    assert!(e.is_ok());
}
