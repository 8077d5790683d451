//! TLS alerts and OpenSSL verify codes, and the classes they stand for.
//!
//! Numbers are the protocol's (RFC 8446 §6) and OpenSSL's (`X509_V_ERR_*`), so the rules here
//! do not move with OpenSSL's wording; [`alert_from_reason`] is the one place an alert number is
//! read from text, for the clients and server logs that report an alert only as OpenSSL's
//! reason string.

use crate::outcome::FailureClass;

/// TLS alert descriptions (RFC 8446 §6, RFC 5246 §7.2) by number, as OpenSSL names them in
/// its reason strings ("sslv3 alert certificate revoked", "tlsv1 alert unknown ca", OpenSSL 4:
/// "tls alert …"). The names are the protocol's, so they are stable where prefixes are not.
pub const TLS_ALERTS: &[(u8, &str)] = &[
    (10, "unexpected message"),
    (20, "bad record mac"),
    (40, "handshake failure"),
    (42, "bad certificate"),
    (43, "unsupported certificate"),
    (44, "certificate revoked"),
    (45, "certificate expired"),
    (46, "certificate unknown"),
    (47, "illegal parameter"),
    (48, "unknown ca"),
    (49, "access denied"),
    (50, "decode error"),
    (51, "decrypt error"),
    (70, "protocol version"),
    (71, "insufficient security"),
    (80, "internal error"),
    (86, "inappropriate fallback"),
    (90, "user cancelled"),
    (109, "missing extension"),
    (110, "unsupported extension"),
    (112, "unrecognized name"),
    (113, "bad certificate status response"),
    (116, "certificate required"),
    (120, "no application protocol"),
];

/// Finds the alert number in an OpenSSL reason string for a received alert: "… alert
/// <description>", or "tlsv1 unrecognized name", the one alert reason without the word.
pub fn alert_from_reason(reason: &str) -> Option<u8> {
    let reason = reason.trim().trim_end_matches('.');
    TLS_ALERTS
        .iter()
        .find(|(_, name)| reason.ends_with(name) && (reason.contains("alert ") || *name == "unrecognized name"))
        .map(|(n, _)| *n)
}

/// The class of a server certificate rejection, from the client's OpenSSL verify code.
pub fn class_of_server_verify_code(code: i32) -> FailureClass {
    match code {
        // Chain building: unable to get issuer (2, 20), leaf signature (21), self-signed
        // (18, 19), invalid CA (24), and CRL_CHECK_ALL without a CRL for some CA (3), which
        // OpenSSL reports to the peer as unknown_ca too.
        2 | 3 | 18 | 19 | 20 | 21 | 24 | 25 | 32 => FailureClass::ServerCertUntrusted,
        23 => FailureClass::ServerCertRevoked,
        10 => FailureClass::ServerCertExpired,
        9 => FailureClass::ServerCertNotYetValid,
        62 | 64 => FailureClass::HostnameMismatch,
        _ => FailureClass::ServerCertRejected,
    }
}

/// The class of a server certificate rejection, from the alert the client sent.
pub fn class_of_server_cert_alert(alert: u8) -> FailureClass {
    match alert {
        48 => FailureClass::ServerCertUntrusted,
        44 => FailureClass::ServerCertRevoked,
        45 => FailureClass::ServerCertExpired,
        _ => FailureClass::ServerCertRejected,
    }
}

/// The class of an alert the server sent to the client during the handshake.
pub fn class_of_server_alert(alert: u8) -> FailureClass {
    match alert {
        // The server only verifies client certificates, so certificate alerts are about the
        // client's certificate (be-secure-openssl.c: verify_cb + SSL_VERIFY_PEER).
        48 => FailureClass::ClientCertUntrusted,
        44 => FailureClass::ClientCertRevoked,
        45 => FailureClass::ClientCertExpired,
        42 | 43 | 46 | 49 | 51 | 116 => FailureClass::ClientCertRejected,
        70 | 71 => FailureClass::ProtocolVersionMismatch,
        112 => FailureClass::SniUnrecognized,
        _ => FailureClass::TlsHandshakeFailed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_from_openssl_reasons() {
        assert_eq!(alert_from_reason("sslv3 alert certificate revoked"), Some(44));
        assert_eq!(alert_from_reason("tlsv1 alert unknown ca"), Some(48));
        assert_eq!(alert_from_reason("tls alert certificate expired"), Some(45));
        assert_eq!(alert_from_reason("tlsv1 unrecognized name"), Some(112));
        assert_eq!(alert_from_reason("unexpected message"), None);
        assert_eq!(alert_from_reason("certificate verify failed"), None);
    }
}
