//! Broken scenario files give located errors (file:line:col, key path, hint), never a panic,
//! and report every problem of a file at once. The messages are snapshotted inline, so a
//! change in wording or location is a reviewed change.

use std::path::Path;

use pgtls_harness::scenario::{self, ScenarioError};

fn errors(text: &str) -> String {
    match scenario::load_str(text, Path::new("scenarios/broken.toml"), "broken") {
        Ok(_) => panic!("the scenario should not load"),
        Err(ScenarioError { diagnostics }) => diagnostics.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("\n"),
    }
}

const PKI: &str = r#"
[pki.root]
ca = true
[pki.server]
issuer = "root"
"#;

#[test]
fn a_typo_in_a_libpq_keyword_is_located_with_a_hint() {
    let text =
        format!("{PKI}\n[[case]]\nname = \"a\"\nclient = {{ ssl-mode = \"require\" }}\nexpect = \"connected\"\n");
    insta::assert_snapshot!(errors(&text), @r#"scenarios/broken.toml:9:12: failed to load scenario: case[0].client.ssl-mode: unknown libpq keyword `ssl-mode` (hint: did you mean "sslmode"?)"#);
}

#[test]
fn an_unknown_key_in_the_file_shape_names_the_expected_keys() {
    let text = "[[case]]\nname = \"a\"\nexpected = \"connected\"\n";
    let e = errors(text);
    assert!(e.starts_with("scenarios/broken.toml:3:1: failed to load scenario"), "{e}");
    assert!(e.contains("unknown field `expected`") && e.contains("(hint: did you mean \"expect\"?)"), "{e}");
}

#[test]
fn bad_enum_values_and_references_are_all_reported_at_once() {
    let text = format!(
        "{PKI}\n[server]\nkey_file = {{ owner = \"nobody\" }}\n[server.conf]\nssl_cert_file = \"servr\"\nport = 5432\n\
         [[case]]\nname = \"a\"\nexpect = \"conected\"\n[[case]]\nname = \"a\"\nclient = {{ sslcrl = \"server\" }}\n\
         expect = {{ outcome = \"connected\", side = \"middle\" }}\n"
    );
    insta::assert_snapshot!(errors(&text), @r#"
    scenarios/broken.toml:11:1: failed to load scenario: server.conf.port: `port` is set by the harness (hint: remove it; the harness chooses ports, sockets and logging)
    scenarios/broken.toml:10:1: failed to load scenario: server.conf.ssl_cert_file: unknown PKI entity "servr" (hint: did you mean "server"?)
    scenarios/broken.toml:8:14: failed to load scenario: server.key_file.owner: unknown owner "nobody" (hint: use "server" (the user the server runs as) or "root")
    scenarios/broken.toml:14:1: failed to load scenario: case[0].expect.outcome: unknown outcome "conected" (hint: did you mean "connected"?)
    scenarios/broken.toml:16:1: failed to load scenario: case[1].name: duplicate case name "a"
    scenarios/broken.toml:17:12: failed to load scenario: case[1].client.sslcrl: "server" is not a CA, so it issues no CRL
    scenarios/broken.toml:18:35: failed to load scenario: case[1].expect.side: unknown side "middle" (hint: use "client", "server" or "harness")
    "#);
}

#[test]
fn pki_errors_name_the_entity_and_field() {
    let text =
        "[pki.server]\nissuer = \"roots\"\n[pki.roots2]\nca = true\n[[case]]\nname = \"a\"\nexpect = \"connected\"\n";
    let e = errors(text);
    assert!(e.starts_with("scenarios/broken.toml:2:1: failed to load scenario: pki.server.issuer:"), "{e}");
    assert!(e.contains("unknown issuer \"roots\""), "{e}");
}

#[test]
fn steps_and_versions_are_checked() {
    let text = "[[case]]\nname = \"a\"\nsteps = [\"reboot\", { set = {}, hba = [] }]\nexpect = \"connected\"\n";
    let e = errors(text);
    assert!(e.contains("unknown variant `reboot`, expected one of `reload`, `restart`, `initial`"), "{e}");
    let text = "[[case]]\nname = \"a\"\nrequires = { pg = \"fifteen\" }\nexpect = \"connected\"\n";
    insta::assert_snapshot!(errors(text), @r#"scenarios/broken.toml:3:14: failed to load scenario: case[0].requires.pg: `fifteen` is not a version comparison (hint: write e.g. ">=14" or ">=14, <17")"#);
}

#[test]
fn a_scenario_without_cases_and_a_syntax_error_are_errors_too() {
    assert!(
        errors("[server]\nhba = []\n")
            .contains("the scenario has no cases (hint: add at least one [[case]] table or a [matrix])")
    );
    let e = errors("[[case]\nname = 1\n");
    assert!(e.starts_with("scenarios/broken.toml:1:"), "{e}");
}

#[test]
fn every_checked_in_scenario_loads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = pgtls_harness::setup::scenario_files(&[root]).expect("scenario files");
    assert!(!files.is_empty(), "the scenario glob matched nothing");
    if let Err(errors) = pgtls_harness::setup::load_scenarios(&files) {
        panic!("{}", errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"));
    }
}

#[test]
fn bad_log_patterns_and_client_serial_entities_are_located() {
    let text = format!(
        "{PKI}\n[[case]]\nname = \"a\"\nexpect = {{ outcome = \"connected\", client_serial = \"sever\", log_like = [\
         \"(unclosed\", {{ re = \"ok\", pg = \">=x\" }}], log_unlike = [{{ re = \"ok\", since = \"16\" }}] }}\n"
    );
    let e = errors(&text);
    assert!(e.starts_with("scenarios/broken.toml:9:140: failed to load scenario:"), "{e}");
    assert!(e.contains("unknown field `since`, expected `re` or `pg`"), "{e}");
    let text = format!(
        "{PKI}\n[[case]]\nname = \"a\"\nexpect = {{ outcome = \"connected\", client_serial = \"sever\", log_like = [\
         \"(unclosed\", {{ re = \"ok\", pg = \">=x\" }}] }}\n"
    );
    let e = errors(&text);
    let lines: Vec<&str> = e.lines().filter(|l| l.contains("failed to load scenario")).collect();
    assert_eq!(lines.len(), 3, "{e}");
    assert!(
        lines[0]
            .contains("case[0].expect.client_serial: unknown PKI entity \"sever\" (hint: did you mean \"server\"?)"),
        "{e}"
    );
    assert!(lines[1].contains("case[0].expect.log_like[0]: invalid regex"), "{e}");
    assert!(lines[2].contains("case[0].expect.log_like[1].pg:"), "{e}");
    assert!(lines.iter().all(|l| l.starts_with("scenarios/broken.toml:9:")), "{e}");
}

#[test]
fn bad_client_environment_entries_are_located() {
    let text = format!(
        "{PKI}\n[[case]]\nname = \"a\"\nenv = {{ \"A=B\" = \"x\", SSL_CERT_FILE = \"${{cert:roots}}\" }}\nexpect = \"connected\"\n"
    );
    let e = errors(&text);
    assert!(e.contains("case[0].env.A=B: `A=B` is not an environment variable name"), "{e}");
    assert!(
        e.contains("case[0].env.SSL_CERT_FILE: unknown PKI entity \"roots\" (hint: did you mean \"root\"?)"),
        "{e}"
    );
}

#[test]
fn file_expectations_stay_inside_the_attempt_directory() {
    let text = format!(
        "{PKI}\n[[case]]\nname = \"a\"\nexpect = {{ outcome = \"connected\", files = [{{ name = \"../key.txt\" }}, {{ name = \"/tmp/k\" }}] }}\n"
    );
    let e = errors(&text);
    assert!(
        e.contains("case[0].expect.files[0].name: `../key.txt` is not a path inside the attempt's directory"),
        "{e}"
    );
    assert!(e.contains("case[0].expect.files[1].name: `/tmp/k` is not a path inside the attempt's directory"), "{e}");
}

const MATRIX: &str = r#"
[pki.root]
ca = true
[pki.server]
issuer = "root"

[matrix]
cross = ["sslmode", "hba"]
expect = "reference"

[matrix.axes.sslmode]
require = { client = { sslmode = "require" } }

[matrix.axes.hba]
hostssl = { client = { dbname = "m_hostssl" } }
"#;

#[test]
fn matrix_axes_are_checked_by_name_with_hints() {
    let text = MATRIX
        .replace(r#"cross = ["sslmode", "hba"]"#, r#"cross = ["sslmod", "hba", "hba"]"#)
        .replace("[matrix.axes.hba]", "[matrix.axes.\"bad/name\"]\n[matrix.axes.hba]");
    insta::assert_snapshot!(errors(&text), @r#"
    scenarios/broken.toml:8:10: failed to load scenario: matrix.cross[0]: unknown axis `sslmod` (hint: did you mean "sslmode"?)
    scenarios/broken.toml:8:27: failed to load scenario: matrix.cross[2]: axis `hba` is crossed twice (hint: list each axis once)
    scenarios/broken.toml:14:14: failed to load scenario: matrix.axes.bad/name: `bad/name` is not a valid axis name (hint: a cell is named `axis=value/…`: use letters, digits, `-`, `_` and `.`)
    scenarios/broken.toml:14:14: failed to load scenario: matrix.axes.bad/name: axis `bad/name` is not crossed (hint: add "bad/name" to matrix.cross, or remove the axis)
    scenarios/broken.toml:11:14: failed to load scenario: matrix.axes.sslmode: axis `sslmode` is not crossed (hint: add "sslmode" to matrix.cross, or remove the axis)
    "#);
}

#[test]
fn matrix_values_are_checked_like_case_tables() {
    let text = MATRIX.replace(
        r#"hostssl = { client = { dbname = "m_hostssl" } }"#,
        r#"hostssl = { client = { sslmode = "disable", ssl-mode = "x" } }"#,
    );
    insta::assert_snapshot!(errors(&text), @r#"
    scenarios/broken.toml:15:45: failed to load scenario: matrix.axes.hba.hostssl.client.ssl-mode: unknown libpq keyword `ssl-mode` (hint: did you mean "sslmode"?)
    scenarios/broken.toml:15:24: failed to load scenario: matrix.axes.hba.hostssl.client.sslmode: `sslmode` is also set by axis `sslmode` (hint: an axis owns the keywords it sets: set it in one axis only)
    "#);
    let text = MATRIX.replace(r#"hostssl = { client"#, r#"hostssl = { clients"#);
    let e = errors(&text);
    assert!(
        e.starts_with("scenarios/broken.toml:15:13: failed to load scenario: matrix.axes.hba.hostssl.clients: "),
        "{e}"
    );
    assert!(e.contains("unknown field `clients`") && e.contains("(hint: did you mean \"client\"?)"), "{e}");
    let text = MATRIX.replace(r#"hostssl = { client = { dbname = "m_hostssl" } }"#, "hostssl = 3");
    let e = errors(&text);
    assert!(e.starts_with("scenarios/broken.toml:15:11: failed to load scenario: matrix.axes.hba.hostssl: "), "{e}");
    assert!(e.contains("(hint: an axis value is a table"), "{e}");
}

#[test]
fn empty_axes_exclusions_and_reference_details_are_located() {
    let text = MATRIX
        .replace("[matrix.axes.hba]\nhostssl = { client = { dbname = \"m_hostssl\" } }\n", "[matrix.axes.hba]\n")
        .replace(
            "expect = \"reference\"",
            "expect = { outcome = \"reference\", ssl = true }\nexclude = [{ sslmode = \"requir\" }, {}]",
        );
    insta::assert_snapshot!(errors(&text), @r#"
    scenarios/broken.toml:15:14: failed to load scenario: matrix.axes.hba: axis `hba` has no values (hint: give it at least one value, e.g. `require = { client = { sslmode = "require" } }`)
    scenarios/broken.toml:10:14: failed to load scenario: matrix.exclude[0].sslmode: axis `sslmode` has no value `requir` (hint: did you mean "require"?)
    scenarios/broken.toml:10:36: failed to load scenario: matrix.exclude[1]: an empty exclusion drops every cell (hint: name at least one axis = value)
    scenarios/broken.toml:9:35: failed to load scenario: matrix.expect.ssl: `ssl` cannot be combined with outcome "reference" (hint: the reference client's outcome is the whole expectation; write `expect = "reference"`)
    "#);
    let text = MATRIX.replace("cross = [\"sslmode\", \"hba\"]", "cross = []");
    insta::assert_snapshot!(errors(&text), @r#"
    scenarios/broken.toml:8:1: failed to load scenario: matrix.cross: the matrix crosses no axes (hint: list the axes to cross, e.g. cross = ["sslmode", "host"])
    scenarios/broken.toml:14:14: failed to load scenario: matrix.axes.hba: axis `hba` is not crossed (hint: add "hba" to matrix.cross, or remove the axis)
    scenarios/broken.toml:11:14: failed to load scenario: matrix.axes.sslmode: axis `sslmode` is not crossed (hint: add "sslmode" to matrix.cross, or remove the axis)
    "#);
}
