//! Certificate serial numbers: parsing, the deterministic default, and display forms.

use openssl::bn::BigNum;
use serde::Serialize;

use crate::spec::SerialSpec;

/// A positive serial number of at most 20 octets (RFC 5280 §4.1.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Serial {
    bytes: Vec<u8>,
    hex: String,
    decimal: String,
}

impl Serial {
    fn from_bytes(bytes: &[u8]) -> Result<Serial, String> {
        let start = bytes.iter().position(|&b| b != 0).ok_or("a serial must not be zero")?;
        let bytes = bytes[start..].to_vec();
        if bytes.len() > 20 {
            return Err("a serial has at most 20 octets (40 hex digits)".into());
        }
        let hex = hex::encode_upper(&bytes);
        let decimal = BigNum::from_slice(&bytes).and_then(|bn| bn.to_dec_str()).map_err(|e| e.to_string())?.to_string();
        Ok(Serial { bytes, hex, decimal })
    }

    /// Parses hex digits (optionally `0x`-prefixed or `:`-separated, as `openssl` prints them).
    pub fn from_hex(s: &str) -> Result<Serial, String> {
        let digits: String = s.trim_start_matches("0x").chars().filter(|&c| c != ':').collect();
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err("expected hexadecimal digits".into());
        }
        let padded = if digits.len() % 2 == 1 { format!("0{digits}") } else { digits };
        let bytes = hex::decode(padded).map_err(|e| e.to_string())?;
        Serial::from_bytes(&bytes)
    }

    /// The deterministic default: SHA-256("pgtls-serial:" + name), first 8 bytes, top bit
    /// cleared so the DER INTEGER stays positive without a pad byte.
    pub(crate) fn default_for(entity: &str) -> Serial {
        let digest = openssl::sha::sha256(format!("pgtls-serial:{entity}").as_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        bytes[0] &= 0x7f;
        if bytes.iter().all(|&b| b == 0) {
            bytes[7] = 1;
        }
        // Cannot fail: non-zero, 8 octets.
        Serial::from_bytes(&bytes).unwrap_or_else(|_| Serial::from_u64(1))
    }

    pub(crate) fn from_spec(spec: &SerialSpec) -> Result<Serial, String> {
        match spec {
            SerialSpec::Hex(s) => Serial::from_hex(s),
            SerialSpec::Int(n) => Serial::from_bytes(&n.to_be_bytes()),
        }
    }

    fn from_u64(n: u64) -> Serial {
        let hex = format!("{n:X}");
        let bytes = n.to_be_bytes();
        let start = bytes.iter().position(|&b| b != 0).unwrap_or(7);
        Serial {
            bytes: bytes[start..].to_vec(),
            hex: if hex.len() % 2 == 1 { format!("0{hex}") } else { hex },
            decimal: n.to_string(),
        }
    }

    /// Upper-case hex with an even number of digits, as `openssl x509 -serial` prints it.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// Decimal, as `pg_stat_ssl.client_serial` and `ssl_client_serial()` show it.
    pub fn decimal(&self) -> &str {
        &self.decimal
    }

    /// Big-endian magnitude without leading zero octets.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl std::fmt::Display for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.hex)
    }
}

impl Serialize for Serial {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_decimal() {
        let s = Serial::from_hex("2023071316352302").unwrap();
        assert_eq!(s.hex(), "2023071316352302");
        assert_eq!(s.decimal(), u64::from_str_radix("2023071316352302", 16).unwrap().to_string());
        assert_eq!(Serial::from_hex("0x0abc").unwrap().hex(), "0ABC");
        assert_eq!(Serial::from_hex("ce:c5:6e").unwrap().hex(), "CEC56E");
        assert_eq!(Serial::from_spec(&SerialSpec::Int(4096)).unwrap().hex(), "1000");
        assert_eq!(Serial::from_u64(4096), Serial::from_spec(&SerialSpec::Int(4096)).unwrap());
    }

    #[test]
    fn rejects() {
        assert!(Serial::from_hex("").is_err());
        assert!(Serial::from_hex("00").is_err());
        assert!(Serial::from_hex("xyz").is_err());
        assert!(Serial::from_hex(&"1".repeat(41)).is_err());
        assert!(Serial::from_spec(&SerialSpec::Int(0)).is_err());
    }

    #[test]
    fn default_is_stable_positive() {
        let a = Serial::default_for("server");
        assert_eq!(a, Serial::default_for("server"));
        assert_ne!(a, Serial::default_for("client"));
        assert!(a.as_bytes()[0] < 0x80 && a.as_bytes().len() <= 8);
    }
}
