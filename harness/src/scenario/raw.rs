//! Serde structs that mirror a scenario file exactly, before any name is resolved.
//!
//! Every struct denies unknown fields, so a typo such as `ssl-mode` is an error rather than a
//! silently dropped expectation. Where one key accepts two shapes (`expect = "connected"` or a
//! table, a step given as `"reload"` or `{ set = … }`) a small visitor says what it expected;
//! untagged enums would only say "did not match any variant".

use std::collections::BTreeMap;
use std::fmt;

use pgtls_certs::{OcspResponses, PkiSpec};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    pub description: Option<String>,
    /// Where the example comes from (document and section, or upstream test case).
    pub source: Option<String>,
    #[serde(default)]
    pub requires: RawRequires,
    #[serde(default)]
    pub pki: Option<PkiSpec>,
    /// OCSP responses about PKI certificates, for `ssl_ocsp_file`.
    #[serde(default)]
    pub ocsp: Option<OcspResponses>,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub client: BTreeMap<String, RawValue>,
    #[serde(rename = "case", default)]
    pub cases: Vec<RawCase>,
    /// Named axes whose cartesian product becomes generated cases (docs/scenario-format.md).
    pub matrix: Option<RawMatrix>,
}

/// `[matrix]`: axes of named values, crossed into cases named `axis=value/axis=value/…`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMatrix {
    /// The axes to cross, in the order their names appear in a cell's name.
    pub cross: Vec<String>,
    /// Axis name → value name → what the value changes in a case.
    #[serde(default)]
    pub axes: BTreeMap<String, BTreeMap<String, RawPatch>>,
    /// Cells to leave out: each table maps axis names to a value name and drops the cells
    /// that have all of them.
    #[serde(default)]
    pub exclude: Vec<BTreeMap<String, String>>,
    pub mirrors: Option<String>,
    pub source: Option<String>,
    /// Every cell's expectation; `"reference"`: what the reference client (libpq) did.
    #[serde(deserialize_with = "outcome_or_table")]
    pub expect: RawExpect,
}

/// What one axis value contributes to a cell: client keywords, environment, requirements.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPatch {
    #[serde(default)]
    pub client: BTreeMap<String, RawValue>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub requires: RawRequires,
    /// The cancel action (see [`RawCase::cancel`]).
    pub cancel: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRequires {
    /// PostgreSQL version range, e.g. `">=14"`, `">=14, <17"`.
    pub pg: Option<String>,
    /// Server settings (GUCs) that must exist in the build under test.
    #[serde(default)]
    pub settings: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// postgresql.conf settings; `ssl_*_file`/`ssl_crl_dir` take PKI references.
    #[serde(default)]
    pub conf: BTreeMap<String, RawValue>,
    pub hba: Option<Vec<String>>,
    #[serde(default)]
    pub ident: Vec<String>,
    #[serde(default, rename = "role")]
    pub roles: Vec<RawRole>,
    #[serde(default)]
    pub databases: Vec<String>,
    pub key_file: Option<RawKeyFile>,
    /// Extra files written next to the configuration, by name.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    pub name: String,
    pub password: Option<String>,
    pub password_encryption: Option<String>,
    #[serde(default)]
    pub superuser: bool,
    #[serde(default)]
    pub member_of: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeyFile {
    /// Octal mode as a string, e.g. `"0640"`.
    pub mode: Option<String>,
    /// `"server"` (the user the server runs as) or `"root"`.
    pub owner: Option<String>,
    pub group: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCase {
    pub name: String,
    /// The upstream test this case mirrors, e.g. `001_ssltests.pl:296`.
    pub mirrors: Option<String>,
    pub source: Option<String>,
    #[serde(default)]
    pub requires: RawRequires,
    #[serde(default)]
    pub steps: Vec<RawStep>,
    #[serde(default)]
    pub client: BTreeMap<String, RawValue>,
    /// SQL each client runs after connecting.
    pub query: Option<String>,
    /// After connecting (and after `query`), run `SELECT pg_sleep(…)` and cancel it through the
    /// client's cancel API.
    #[serde(default)]
    pub cancel: bool,
    /// Environment variables of the client (`${cert:…}`-style placeholders allowed).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(deserialize_with = "outcome_or_table")]
    pub expect: RawExpect,
}

/// A scalar in `conf` or a client table: strings, integers, floats and booleans are accepted
/// and kept in their written form so that `sslsni = 1` and `sslsni = "1"` mean the same.
#[derive(Debug, Clone, PartialEq)]
pub struct RawValue(pub String);

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = RawValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, integer, float or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawValue, E> {
                Ok(RawValue(v.to_owned()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawValue, E> {
                Ok(RawValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawValue, E> {
                Ok(RawValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawValue, E> {
                Ok(RawValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawValue, E> {
                Ok(RawValue(if v { "on" } else { "off" }.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One step of a case: `"reload"`, `"restart"`, `"initial"`, or a one-key table.
#[derive(Debug)]
pub enum RawStep {
    Reload,
    Restart,
    Initial,
    Set(BTreeMap<String, RawValue>),
    Reset(Vec<String>),
    Hba(Vec<String>),
    Ident(Vec<String>),
    KeyFile(RawKeyFile),
    Extension(String),
}

impl<'de> Deserialize<'de> for RawStep {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StepVisitor)
    }
}

struct StepVisitor;

const STEP_KEYS: &[&str] = &["set", "reset", "hba", "ident", "key_file", "extension"];

impl<'de> Visitor<'de> for StepVisitor {
    type Value = RawStep;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(
            "a step: \"reload\", \"restart\", \"initial\", or a table with one of the keys \
             set, reset, hba, ident, key_file, extension",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawStep, E> {
        match v {
            "reload" => Ok(RawStep::Reload),
            "restart" => Ok(RawStep::Restart),
            "initial" => Ok(RawStep::Initial),
            other => Err(E::unknown_variant(other, &["reload", "restart", "initial"])),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawStep, A::Error> {
        let key: String = map.next_key()?.ok_or_else(|| de::Error::custom("empty step table"))?;
        let step = match key.as_str() {
            "set" => RawStep::Set(map.next_value()?),
            "reset" => RawStep::Reset(map.next_value()?),
            "hba" => RawStep::Hba(map.next_value()?),
            "ident" => RawStep::Ident(map.next_value()?),
            "key_file" => RawStep::KeyFile(map.next_value()?),
            "extension" => RawStep::Extension(map.next_value()?),
            other => return Err(de::Error::unknown_field(other, STEP_KEYS)),
        };
        if let Some(extra) = map.next_key::<String>()? {
            return Err(de::Error::custom(format!(
                "a step table has exactly one key, found `{key}` and `{extra}` \
                 (hint: write two steps)"
            )));
        }
        Ok(step)
    }
}

/// An expectation: a bare outcome name or a table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    pub outcome: String,
    pub sqlstate: Option<String>,
    pub message: Option<RawMessage>,
    pub alert: Option<u8>,
    pub side: Option<String>,
    pub ssl: Option<bool>,
    pub protocol: Option<String>,
    pub client_cert: Option<bool>,
    pub client_dn: Option<String>,
    /// A PKI entity whose certificate's serial `pg_stat_ssl.client_serial` must show.
    pub client_serial: Option<String>,
    pub issuer_dn: Option<String>,
    pub user: Option<String>,
    pub query_result: Option<String>,
    pub query_sqlstate: Option<String>,
    /// The SQLSTATE the cancelled query ends with (57014 when the cancel took effect).
    pub cancel_sqlstate: Option<String>,
    /// Whether the cancel requests travelled over TLS.
    pub cancel_ssl: Option<bool>,
    /// How the cancel connections opened.
    pub cancel_opening: Option<String>,
    #[serde(default)]
    pub files: Vec<RawFileExpectation>,
    #[serde(default)]
    pub log_like: Vec<RawLogPattern>,
    #[serde(default)]
    pub log_unlike: Vec<RawLogPattern>,
}

/// A file the client was told to write (`sslkeylogfile = "key.txt"`), by its name in the
/// attempt's scratch directory.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFileExpectation {
    pub name: String,
    pub exists: Option<bool>,
    /// Whether others (not owner or group) may read or write it.
    pub world_access: Option<bool>,
}

/// A value written either as a string or as a table, as several keys allow: `from_str`
/// builds it from the string, `from_table` from the table's form `M` (whose own derive rejects
/// unknown keys). `expecting` completes serde's "expected …" in errors.
fn string_or_table<'de, D, T, M>(
    d: D,
    expecting: &'static str,
    from_str: fn(&str) -> T,
    from_table: fn(M) -> T,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    M: Deserialize<'de>,
{
    struct V<T, M> {
        expecting: &'static str,
        from_str: fn(&str) -> T,
        from_table: fn(M) -> T,
    }
    impl<'de, T, M: Deserialize<'de>> Visitor<'de> for V<T, M> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            Ok((self.from_str)(v))
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            M::deserialize(de::value::MapAccessDeserializer::new(map)).map(self.from_table)
        }
    }
    d.deserialize_any(V { expecting, from_str, from_table })
}

/// `expect = "name"` or `expect = { outcome = "name", … }`.
fn outcome_or_table<'de, D: Deserializer<'de>>(d: D) -> Result<RawExpect, D::Error> {
    string_or_table(
        d,
        "an outcome name such as \"connected\", or a table with `outcome`",
        |v| RawExpect { outcome: v.to_owned(), ..RawExpect::default() },
        |t: RawExpect| t,
    )
}

/// A server-log regex, for every server (`"regex"`) or only for some versions
/// (`{ re = "regex", pg = ">=16" }`), since what the server logs grows with its version.
#[derive(Debug)]
pub struct RawLogPattern {
    pub re: String,
    pub pg: Option<String>,
}

impl<'de> Deserialize<'de> for RawLogPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            re: String,
            pg: Option<String>,
        }
        string_or_table(
            d,
            "a regex string, or a table { re = \"regex\", pg = \">=16\" }",
            |v| RawLogPattern { re: v.to_owned(), pg: None },
            |t: Table| RawLogPattern { re: t.re, pg: t.pg },
        )
    }
}

/// A message expectation: one regex for every client, or a regex per client name.
#[derive(Debug)]
pub enum RawMessage {
    All(String),
    PerClient(BTreeMap<String, String>),
}

impl<'de> Deserialize<'de> for RawMessage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        string_or_table(
            d,
            "a regex string, or a table of client name to regex",
            |v| RawMessage::All(v.to_owned()),
            RawMessage::PerClient,
        )
    }
}
