"""Unit tests of the asyncpg adapter's request and evidence mapping (no server needed).

Run: adapters/asyncpg/.venv/bin/python -m unittest discover -s adapters/asyncpg -v
"""

import asyncio
import os
import shutil
import ssl
import subprocess
import tempfile
import tomllib
import unittest
import urllib.parse

from asyncpg import exceptions as apg_exc

import adapter
from adapter import Attempt, HarnessLoop, evidence_of

HERE = os.path.dirname(os.path.abspath(__file__))
adapter.VERBOSE = False


def ssl_error(reason, text, cls=ssl.SSLError):
    e = cls(1, f"[SSL: {reason}] {text} (_ssl.c:1)" if reason else f"[SSL] {text} (_ssl.c:1)")
    e.reason = reason
    e.library = "SSL"
    return e


def server_error(sqlstate, routine, message="boom"):
    """A PostgresError as asyncpg builds it from a server's ErrorResponse fields."""
    return apg_exc.PostgresError.new({"S": "FATAL", "V": "FATAL", "C": sqlstate, "M": message, "R": routine})


def raised(exc):
    """``exc`` with a traceback, as the adapter sees it."""
    try:
        raise exc
    except BaseException as e:  # noqa: BLE001
        return e


class ManifestTest(unittest.TestCase):
    def test_keywords_are_the_dsn_keywords_plus_hostaddr(self):
        with open(os.path.join(HERE, "adapter.toml"), "rb") as f:
            manifest = tomllib.load(f)
        self.assertEqual(manifest["name"], "asyncpg")
        self.assertEqual(manifest["command"], [".venv/bin/python", "adapter.py", "--serve"])
        self.assertTrue(manifest["persistent"])
        self.assertTrue(manifest["queries"])
        self.assertEqual(sorted(manifest["keywords"]), sorted(adapter.DSN_KEYWORDS + ("hostaddr",)))


class QueryTest(unittest.TestCase):
    def test_copy_text_becomes_psql_unaligned_rows(self):
        self.assertEqual(adapter.copy_text_to_psql(b"CA:FALSE\tt\n"), "CA:FALSE|t")
        self.assertEqual(adapter.copy_text_to_psql(b"a\t\\N\nb\tx\n"), "a|\nb|x")
        self.assertEqual(adapter.copy_text_to_psql(b"tab\\there\tback\\\\slash\n"), "tab\there|back\\slash")
        self.assertEqual(adapter.copy_text_to_psql(b""), "")


class DsnTest(unittest.TestCase):
    def test_hostaddr_becomes_a_resolver_entry_and_values_are_encoded(self):
        dsn, resolve = adapter.build_dsn(
            {"host": "dbhost.yourdomain.com", "hostaddr": "127.0.0.1", "port": "5433", "user": "postgres",
             "password": "p&w=d %x", "sslrootcert": "/tmp/a b/root.crt", "sslmode": "verify-full"})
        self.assertEqual(resolve, {"dbhost.yourdomain.com": "127.0.0.1"})
        self.assertTrue(dsn.startswith("postgresql://?"))
        query = urllib.parse.parse_qs(urllib.parse.urlparse(dsn).query, strict_parsing=True)
        self.assertNotIn("hostaddr", query)
        self.assertEqual(query["host"], ["dbhost.yourdomain.com"])
        self.assertEqual(query["password"], ["p&w=d %x"])
        self.assertEqual(query["sslrootcert"], ["/tmp/a b/root.crt"])

    def test_hostaddr_without_host_is_the_host(self):
        dsn, resolve = adapter.build_dsn({"hostaddr": "127.0.0.1", "port": "1"})
        self.assertEqual(resolve, {})
        self.assertIn("host=127.0.0.1", dsn)

    def test_empty_values_are_unset_for_asyncpg(self):
        dsn, _ = adapter.build_dsn({"host": "h", "port": "1", "sslrootcert": ""})
        query = urllib.parse.parse_qs(urllib.parse.urlparse(dsn).query, strict_parsing=True)
        self.assertNotIn("sslrootcert", query)

    def test_loop_connects_to_hostaddr_for_the_host_only(self):
        import socket
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        port = listener.getsockname()[1]
        # An IP-literal host that is not the server's: asyncio would not resolve it, the loop
        # must still go to hostaddr (and nowhere else).
        loop = HarnessLoop({"dbhost.yourdomain.com": "127.0.0.1", "192.0.2.1": "127.0.0.1"})
        try:
            for host in ("dbhost.yourdomain.com", "192.0.2.1"):
                tr, _ = loop.run_until_complete(loop.create_connection(asyncio.Protocol, host, port))
                self.assertEqual(tr.get_extra_info("peername")[0], "127.0.0.1")
                tr.close()
            self.assertEqual([a.tls for a in loop.attempts], [False, False])
        finally:
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()
            listener.close()


class EvidenceTest(unittest.TestCase):
    one = [Attempt(tls=False)]

    def test_verify_errors_carry_the_code(self):
        e = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: Hostname mismatch")
        e.verify_code = 62
        ev = evidence_of(e, self.one)
        self.assertTrue(ev["server_cert_rejected"])
        self.assertEqual(ev["verify_code"], 62)
        self.assertIn("SSLCertVerificationError", ev["message"])

    def test_alert_symbols_map_to_numbers(self):
        for reason, number in [("TLSV1_ALERT_UNKNOWN_CA", 48), ("SSLV3_ALERT_CERTIFICATE_REVOKED", 44),
                               ("SSLV3_ALERT_CERTIFICATE_EXPIRED", 45), ("SSLV3_ALERT_BAD_CERTIFICATE", 42),
                               ("TLSV1_ALERT_PROTOCOL_VERSION", 70), ("TLSV1_UNRECOGNIZED_NAME", 112),
                               ("SSLV3_ALERT_HANDSHAKE_FAILURE", 40), ("TLSV13_ALERT_CERTIFICATE_REQUIRED", 116)]:
            ev = evidence_of(ssl_error(reason, "alert"), self.one)
            self.assertEqual(ev.get("alert_received"), number, reason)
            self.assertNotIn("server_cert_rejected", ev)

    def test_alert_symbol_python_does_not_know_comes_from_the_text(self):
        ev = evidence_of(ssl_error(None, "tlsv1 alert no application protocol"), self.one)
        self.assertEqual(ev["alert_received"], 120)

    def test_alert_behind_a_lost_connection(self):
        lost = apg_exc.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        lost.__cause__ = ssl_error("TLSV1_ALERT_UNKNOWN_CA", "tlsv1 alert unknown ca")
        ev = evidence_of(lost, [Attempt(tls=True)])
        self.assertEqual(ev["alert_received"], 48)
        self.assertTrue(ev["tls"])
        self.assertIn("<- SSLError", ev["message"])

    def test_causes_of_a_fallback_belong_to_the_other_attempt(self):
        second = apg_exc.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        second.__cause__ = server_error("28000", "ClientAuthentication")
        ev = evidence_of(second, [Attempt(tls=False), Attempt(tls=True)])
        self.assertNotIn("sqlstate", ev)
        self.assertTrue(ev["tls"])

    def test_local_protocol_failures(self):
        ev = evidence_of(ssl_error("UNSUPPORTED_PROTOCOL", "unsupported protocol"), self.one)
        self.assertEqual(ev["local"], "protocol-version-mismatch")
        ev = evidence_of(ssl_error("NO_PROTOCOLS_AVAILABLE", "no protocols available"), self.one)
        self.assertEqual(ev["local"], "client-config-invalid")

    def test_server_errors_give_sqlstate_routine_and_tls(self):
        ev = evidence_of(server_error("28000", "ClientAuthentication"), [Attempt(tls=True)])
        self.assertEqual((ev["sqlstate"], ev["routine"], ev["tls"]), ("28000", "ClientAuthentication", True))
        ev = evidence_of(server_error("28P01", "auth_failed"), [Attempt(tls=True), Attempt(tls=False)])
        self.assertEqual((ev["sqlstate"], ev["tls"]), ("28P01", False))

    def test_made_up_sqlstates_are_not_server_errors(self):
        ev = evidence_of(apg_exc.ConnectionDoesNotExistError("closed"), self.one)
        self.assertNotIn("sqlstate", ev)

    def test_timeout(self):
        self.assertTrue(evidence_of(asyncio.TimeoutError(), self.one)["timed_out"])
        self.assertTrue(evidence_of(TimeoutError(), [])["timed_out"])

    def test_refused_has_no_fields(self):
        ev = evidence_of(ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 1)"), self.one)
        self.assertEqual(set(ev), {"message", "tls"})

    def test_alert_recovered_after_a_reset(self):
        lost = apg_exc.ConnectionDoesNotExistError("connection was closed in the middle of operation")
        lost.__cause__ = ConnectionResetError(104, "Connection reset by peer")
        alert = ssl_error("SSLV3_ALERT_CERTIFICATE_REVOKED", "sslv3 alert certificate revoked")
        ev = evidence_of(lost, [Attempt(tls=True)], recovered=alert)
        self.assertEqual(ev["alert_received"], 44)
        # Worded as if asyncpg had read the alert itself (the race must not change the detail).
        self.assertEqual(
            ev["message"],
            "ConnectionDoesNotExistError: connection was closed in the middle of operation"
            " <- SSLError: [SSL: SSLV3_ALERT_CERTIFICATE_REVOKED] sslv3 alert certificate revoked (_ssl.c:1)",
        )
        # Only a reset makes a recovered alert relevant.
        ev = evidence_of(apg_exc.ConnectionDoesNotExistError("closed"), [Attempt(tls=True)], recovered=alert)
        self.assertNotIn("alert_received", ev)

    def test_server_without_ssl(self):
        e = ConnectionError('PostgreSQL server at "h:1" rejected SSL upgrade')
        self.assertEqual(evidence_of(e, self.one)["local"], "ssl-not-supported")

    def test_client_configuration_errors(self):
        # asyncpg raises its root-file check while handling the failed load; the context
        # decides, not the text.
        try:
            try:
                raise FileNotFoundError(2, "No such file or directory")
            except FileNotFoundError:
                raise apg_exc.ClientConfigurationError('root certificate file "/x" does not exist or cannot be accessed')
        except apg_exc.ClientConfigurationError as caught:
            e = caught
        ev = evidence_of(e, [])
        self.assertEqual((ev["local"], ev.get("basis")), ("root-cert-missing", None))
        e = raised(apg_exc.ClientConfigurationError("`sslmode` parameter must be one of: disable"))
        self.assertEqual(evidence_of(e, [])["local"], "client-config-invalid")


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command to make test certificates")
class FilesTest(unittest.TestCase):
    """With real certificate files: errors asyncpg itself raises while building its
    SSLContext (no server is contacted: these fail before connecting, or at the closed port),
    and alert recovery on an in-memory TLS session."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="pgtls-asyncpg-test-")
        d = cls.dir

        def sh(*args):
            subprocess.run(args, check=True, capture_output=True, cwd=d)

        for name in ("a", "b"):
            sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.crt",
               "-subj", f"/CN={name}", "-days", "1")
            os.chmod(os.path.join(d, f"{name}.key"), 0o600)
        sh("openssl", "pkey", "-in", "a.key", "-aes256", "-passout", "pass:secret", "-out", "a-enc.key")
        with open(os.path.join(d, "garbage.crt"), "w") as f:
            f.write("not a certificate\n")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def outcome(self, **params):
        base = {"host": "dbhost.yourdomain.com", "hostaddr": "127.0.0.1", "port": "1", "user": "postgres"}
        base.update(params)
        answer = adapter.run({"version": 1, "params": base, "timeout_ms": 2000, "session_query": "SELECT ''",
                              "scratch": self.dir})
        self.assertEqual(answer["result"], "failed")
        return answer["evidence"]

    def test_missing_root_file(self):
        # verify-full: asyncpg's own check. require: asyncpg loads any root file named.
        for mode in ("verify-full", "require"):
            ev = self.outcome(sslmode=mode, sslrootcert=self.path("missing.crt"))
            self.assertEqual(ev.get("local"), "root-cert-missing", (mode, ev))

    def test_unreadable_root_file(self):
        ev = self.outcome(sslmode="verify-full", sslrootcert=self.path("garbage.crt"))
        self.assertEqual(ev.get("local"), "client-config-invalid", ev)

    def test_missing_crl(self):
        ev = self.outcome(sslmode="verify-full", sslrootcert=self.path("a.crt"), sslcrl=self.path("missing.crl"))
        self.assertEqual(ev.get("local"), "client-config-invalid", ev)

    def test_missing_certificate(self):
        ev = self.outcome(sslmode="require", sslcert=self.path("missing.crt"), sslkey=self.path("a.key"))
        self.assertEqual(ev.get("local"), "client-config-invalid", ev)

    def test_key_problems(self):
        cases = [
            {"sslkey": self.path("missing.key")},
            {"sslkey": self.path("b.key")},
            {"sslkey": self.path("a-enc.key")},
            {"sslkey": self.path("a-enc.key"), "sslpassword": "wrong"},
        ]
        for extra in cases:
            ev = self.outcome(sslmode="require", sslcert=self.path("a.crt"), **extra)
            self.assertEqual(ev.get("local"), "client-key-unusable", (extra, ev))

    def test_bad_parameters(self):
        for extra in ({"sslmode": "sometimes"}, {"sslmode": "require", "ssl_min_protocol_version": "TLSv9"},
                      {"sslnegotiation": "direct", "sslmode": "prefer"}):
            ev = self.outcome(**extra)
            self.assertEqual(ev.get("local"), "client-config-invalid", (extra, ev))

    def test_buffered_alert_is_decrypted_from_the_socket(self):
        """A TLS 1.3 server rejecting the client certificate after the client's handshake is
        done: the alert it sends is read from the socket and decrypted with the session."""
        import socket
        import types
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(self.path("a.crt"), self.path("a.key"))
        server.load_verify_locations(cafile=self.path("a.crt"))
        server.verify_mode = ssl.CERT_REQUIRED
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        client.minimum_version = ssl.TLSVersion.TLSv1_3
        client.load_cert_chain(self.path("b.crt"), self.path("b.key"))  # not trusted by the server
        c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
        cobj = client.wrap_bio(c_in, c_out)
        sobj = server.wrap_bio(s_in, s_out, server_side=True)
        client_done = server_failed = False
        for _ in range(10):
            if not client_done:
                try:
                    cobj.do_handshake()
                    client_done = True
                except ssl.SSLWantReadError:
                    pass
            s_in.write(c_out.read())
            if not server_failed:
                try:
                    sobj.do_handshake()
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError:
                    server_failed = True
            if client_done and server_failed:
                break
            c_in.write(s_out.read())
        self.assertTrue(client_done and server_failed)
        ours, theirs = socket.socketpair()
        try:
            theirs.sendall(s_out.read())  # the alert, still unread on our side
            theirs.close()
            attempt = Attempt(tls=True, ssl_protocol=types.SimpleNamespace(_incoming=c_in, _sslobj=cobj), raw=ours)
            err = adapter.buffered_alert(attempt)
        finally:
            ours.close()
        self.assertIsInstance(err, ssl.SSLError)
        self.assertEqual(adapter.alert_of(err), 48)

    def test_right_passphrase_gets_to_the_network(self):
        ev = self.outcome(sslmode="require", sslcert=self.path("a.crt"), sslkey=self.path("a-enc.key"), sslpassword="secret")
        self.assertNotIn("local", ev)
        self.assertIn("ConnectionRefusedError", ev["message"])


if __name__ == "__main__":
    unittest.main()
