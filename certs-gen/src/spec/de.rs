//! Hand-written serde visitors for the fields that accept more than one shape.
//!
//! `#[serde(untagged)]` and `#[serde(flatten)]` are avoided on purpose: their errors say only
//! "data did not match any variant". A visitor states in `expecting()` what is allowed, and the
//! TOML deserializer adds the line and key path.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::{EntitySpec, ExtendedKeyUsage, KeySource, PkiSpec, Revocation, SerialSpec};
use crate::keys::KeyType;

impl<'de> Deserialize<'de> for PkiSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(PkiVisitor)
    }
}

struct PkiVisitor;

impl<'de> Visitor<'de> for PkiVisitor {
    type Value = PkiSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of entities (`[pki.<name>]`) plus optional `bundles`, `crl_files`, `crl_dirs` lists")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<PkiSpec, A::Error> {
        let mut spec = PkiSpec::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "bundles" => spec.bundles = map.next_value_seed(MemberLists("bundles"))?,
                "crl_files" => spec.crl_files = map.next_value_seed(MemberLists("crl_files"))?,
                "crl_dirs" => spec.crl_dirs = map.next_value_seed(MemberLists("crl_dirs"))?,
                _ => {
                    check_entity_key::<A::Error>(&spec, &key)?;
                    let entity: EntitySpec = map.next_value()?;
                    spec.entities.push((key, entity));
                }
            }
        }
        Ok(spec)
    }
}

fn check_entity_key<E: de::Error>(spec: &PkiSpec, key: &str) -> Result<(), E> {
    if KeyType::from_name(key).is_some() {
        return Err(E::custom(format!(
            "entity name {key:?} is reserved: it names a key type, so `key = {key:?}` would be ambiguous"
        )));
    }
    if spec.entity(key).is_some() {
        return Err(E::custom(format!("entity {key:?} is declared more than once")));
    }
    Ok(())
}

/// `["a+b", "c"]` → `[["a", "b"], ["c"]]`; names are checked later by `validate`.
struct MemberLists(&'static str);

impl<'de> DeserializeSeed<'de> for MemberLists {
    type Value = Vec<Vec<String>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for MemberLists {
    type Value = Vec<Vec<String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a list of strings such as \"root_ca+server_ca\" (`{}` is a reserved key and cannot name an entity)",
            self.0
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out: Vec<Vec<String>> = Vec::new();
        while let Some(s) = seq.next_element::<String>()? {
            let members: Vec<String> = s.split('+').map(str::to_owned).collect();
            if !out.contains(&members) {
                out.push(members);
            }
        }
        Ok(out)
    }
}

/// `key = "ec-p256"` (a type) or `key = "server"` (reuse that entity's key).
pub(super) fn key_source<'de, D: Deserializer<'de>>(d: D) -> Result<Option<KeySource>, D::Error> {
    d.deserialize_str(KeySourceVisitor).map(Some)
}

struct KeySourceVisitor;

impl Visitor<'_> for KeySourceVisitor {
    type Value = KeySource;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a key type ({}) or the name of another entity whose key is reused", KeyType::names().join(", "))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeySource, E> {
        Ok(match KeyType::from_name(v) {
            Some(t) => KeySource::Generate(t),
            None => KeySource::Reuse(v.to_owned()),
        })
    }
}

/// `serial = "2023071316352302"` (hex) or `serial = 4096` (integer).
pub(super) fn serial<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SerialSpec>, D::Error> {
    d.deserialize_any(SerialVisitor).map(Some)
}

struct SerialVisitor;

impl Visitor<'_> for SerialVisitor {
    type Value = SerialSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a hexadecimal string such as \"2023071316352302\" or a positive integer")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SerialSpec, E> {
        Ok(SerialSpec::Hex(v.to_owned()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<SerialSpec, E> {
        Ok(SerialSpec::Int(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<SerialSpec, E> {
        u64::try_from(v).map(SerialSpec::Int).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }
}

/// `revoked = true` or `revoked = { reason = "keyCompromise", date = "-1h" }`.
pub(super) fn revoked<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Revocation>, D::Error> {
    d.deserialize_any(RevokedVisitor)
}

struct RevokedVisitor;

impl<'de> Visitor<'de> for RevokedVisitor {
    type Value = Option<Revocation>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("true, false, or a table { reason = \"keyCompromise\", date = \"-1h\" }")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.then(Revocation::default))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Revocation::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }
}

impl<'de> Deserialize<'de> for ExtendedKeyUsage {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(EkuVisitor)
    }
}

struct EkuVisitor;

impl Visitor<'_> for EkuVisitor {
    type Value = ExtendedKeyUsage;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "serverAuth, clientAuth, codeSigning, emailProtection, timeStamping, OCSPSigning, any, or a dotted OID",
        )
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ExtendedKeyUsage, E> {
        ExtendedKeyUsage::parse(v).map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}
