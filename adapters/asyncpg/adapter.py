#!/usr/bin/env python3
"""pgtls client adapter for asyncpg (docs/client-adapters.md).

Reads one JSON request on stdin, connects with asyncpg and answers one JSON line on stdout:

    {"result": "connected", "session": "<SESSION_QUERY's single text value>"}
    {"result": "connected", "session": "...", "query": {"rows": "t"}}   (request with "query")
    {"result": "connected", "session": "...", "cancel": {"requests": 1, "sqlstate": "57014"}}
                                                                        (request with "cancel")
    {"result": "failed", "evidence": {...}}

asyncpg speaks the PostgreSQL protocol in Python and does TLS with Python's ``ssl`` module
(OpenSSL underneath, but none of libpq's TLS code). The libpq keywords of the request are handed
to asyncpg as a ``postgresql://?k=v&...`` DSN, so asyncpg's own DSN parser decides what they
mean (``asyncpg/connect_utils.py: _parse_connect_dsn_and_args``). The adapter adds exactly one
shim, for ``hostaddr``, which asyncpg lacks (see :class:`HarnessLoop`). Everything it observes
is turned into the harness's evidence fields by :func:`evidence_of`; the harness classifies.

Nothing but the answer is written to stdout; diagnostics go to stderr.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import ssl
import sys
import time
import traceback
import urllib.parse
from typing import Any, Optional

import asyncpg
from asyncpg import exceptions as apg_exc

# Keywords put into asyncpg's DSN unchanged. asyncpg's DSN parser reads host, port, user,
# dbname, password, sslmode, sslrootcert, sslcert, sslkey, sslpassword, sslcrl, sslnegotiation,
# ssl_min_protocol_version and ssl_max_protocol_version itself; every other query parameter
# becomes a startup-packet setting (``server_settings``), which is what libpq does with
# application_name and options too. Must match ``keywords`` in adapter.toml (minus hostaddr).
DSN_KEYWORDS = (
    "host",
    "port",
    "user",
    "dbname",
    "password",
    "application_name",
    "options",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslnegotiation",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
)

# Received TLS alerts: OpenSSL's reason symbol (as Python's ssl.SSLError.reason carries it) to
# the alert number (RFC 8446 section 6 / RFC 5246 section 7.2). OpenSSL names a received alert
# SSL_R_<prefix>_ALERT_<description>; the prefix says in which protocol version the alert was
# first defined, not which version is in use. Python's table lacks a few symbols; those errors
# come with reason None and OpenSSL's text, which alert_of() turns into the same symbol.
ALERT_BY_REASON = {
    "SSLV3_ALERT_UNEXPECTED_MESSAGE": 10,  # unexpected_message
    "SSLV3_ALERT_BAD_RECORD_MAC": 20,  # bad_record_mac
    "TLSV1_ALERT_DECRYPTION_FAILED": 21,  # decryption_failed (reserved)
    "TLSV1_ALERT_RECORD_OVERFLOW": 22,  # record_overflow
    "SSLV3_ALERT_DECOMPRESSION_FAILURE": 30,  # decompression_failure (reserved)
    "SSLV3_ALERT_HANDSHAKE_FAILURE": 40,  # handshake_failure
    "SSLV3_ALERT_NO_CERTIFICATE": 41,  # no_certificate (SSLv3 only)
    "SSLV3_ALERT_BAD_CERTIFICATE": 42,  # bad_certificate
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": 43,  # unsupported_certificate
    "SSLV3_ALERT_CERTIFICATE_REVOKED": 44,  # certificate_revoked
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": 45,  # certificate_expired
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": 46,  # certificate_unknown
    "SSLV3_ALERT_ILLEGAL_PARAMETER": 47,  # illegal_parameter
    "TLSV1_ALERT_UNKNOWN_CA": 48,  # unknown_ca
    "TLSV1_ALERT_ACCESS_DENIED": 49,  # access_denied
    "TLSV1_ALERT_DECODE_ERROR": 50,  # decode_error
    "TLSV1_ALERT_DECRYPT_ERROR": 51,  # decrypt_error
    "TLSV1_ALERT_EXPORT_RESTRICTION": 60,  # export_restriction (reserved)
    "TLSV1_ALERT_PROTOCOL_VERSION": 70,  # protocol_version
    "TLSV1_ALERT_INSUFFICIENT_SECURITY": 71,  # insufficient_security
    "TLSV1_ALERT_INTERNAL_ERROR": 80,  # internal_error
    "TLSV1_ALERT_INAPPROPRIATE_FALLBACK": 86,  # inappropriate_fallback
    "TLSV1_ALERT_USER_CANCELLED": 90,  # user_canceled
    "TLSV1_ALERT_NO_RENEGOTIATION": 100,  # no_renegotiation (reserved)
    "TLSV13_ALERT_MISSING_EXTENSION": 109,  # missing_extension
    "TLSV1_UNSUPPORTED_EXTENSION": 110,  # unsupported_extension
    "TLSV1_CERTIFICATE_UNOBTAINABLE": 111,  # certificate_unobtainable (reserved)
    "TLSV1_UNRECOGNIZED_NAME": 112,  # unrecognized_name
    "TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE": 113,  # bad_certificate_status_response
    "TLSV1_BAD_CERTIFICATE_HASH_VALUE": 114,  # bad_certificate_hash_value (reserved)
    "TLSV1_ALERT_UNKNOWN_PSK_IDENTITY": 115,  # unknown_psk_identity
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": 116,  # certificate_required
    "TLSV1_ALERT_NO_APPLICATION_PROTOCOL": 120,  # no_application_protocol
}

# TLS failures OpenSSL decides on the client side without an alert from the server: no version
# both sides accept (the server picked one the client does not allow, or answered in another
# version).
# What asyncpg's "root certificate file ... does not exist" check is raised while handling.
ROOT_FILE_MISSING = (FileNotFoundError, NotADirectoryError, apg_exc.ClientConfigurationError)

# The evidence ``basis`` for a decision that rests on text: an exception's message, OpenSSL's
# reason text, or a traceback's source line (docs/client-adapters.md).
WORDING = "message-wording"

LOCAL_PROTOCOL_REASONS = {"UNSUPPORTED_PROTOCOL", "WRONG_SSL_VERSION", "VERSION_TOO_LOW", "VERSION_TOO_HIGH"}
# The client's own protocol bounds leave no version to offer (min above max): OpenSSL refuses
# before sending anything, so this is a parameter problem, not a negotiation.
LOCAL_CONFIG_REASONS = {"NO_PROTOCOLS_AVAILABLE", "NO_CIPHERS_AVAILABLE"}


# Diagnostics (tracebacks, timings) on stderr; the harness shows stderr only when the answer is
# not a response. Tests turn them off.
VERBOSE = True


def log(*args: Any) -> None:
    if VERBOSE:
        print("asyncpg-adapter:", *args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The hostaddr shim and per-attempt tracking


@dataclasses.dataclass
class Attempt:
    """One TCP connection asyncpg opened (``prefer``/``allow`` may open two)."""

    tls: bool = False  # TLS established on it (STARTTLS or direct)
    # For reading an alert asyncio dropped (see buffered_alert): asyncio's SSLProtocol of the
    # session and a duplicate descriptor of its TCP socket, both taken once TLS is up.
    ssl_protocol: Any = None
    raw: Optional[socket.socket] = None

    def keep(self, ssl_transport: Any, plain_transport: Any) -> None:
        """Called when TLS is established on this connection."""
        self.tls = True
        self.ssl_protocol = getattr(ssl_transport, "_ssl_protocol", None)
        sock = plain_transport.get_extra_info("socket") if plain_transport is not None else None
        if sock is not None:
            try:
                self.raw = socket.fromfd(sock.fileno(), sock.family, sock.type)
            except OSError:
                self.raw = None

    def close(self) -> None:
        if self.raw is not None:
            self.raw.close()
            self.raw = None


class HarnessLoop(asyncio.SelectorEventLoop):
    """The event loop asyncpg runs on, with two additions that do not change asyncpg's logic.

    hostaddr shim: libpq connects to ``hostaddr`` while it verifies the certificate against,
    and sends SNI for, ``host``. asyncpg has no ``hostaddr``; it hands ``host`` to
    ``loop.create_connection()`` and uses the same name as ``server_hostname`` for the TLS
    handshake (connect_utils.py ``_create_ssl_connection``: ``start_tls(...,
    server_hostname=host)``; direct TLS: ``create_connection(..., ssl=...)``, where asyncio
    defaults ``server_hostname`` to the host). So the adapter gives asyncpg the real ``host``
    and this loop opens the TCP connection to ``hostaddr`` whenever asyncpg asks for that
    host, keeping the host as asyncio's default ``server_hostname``: asyncpg behaves exactly as
    it would if ``host`` resolved to that address. This is done in ``create_connection`` rather
    than ``getaddrinfo`` because asyncio never resolves an IP-literal host (a case may name
    one that is not the server's address; no packet may go there).

    Tracking: each ``create_connection`` is a new attempt; a successful ``start_tls`` (or a
    ``create_connection`` with ``ssl=``) marks it as encrypted. That is how the adapter knows
    whether the attempt that produced a server error ran over TLS (the ``tls`` evidence field),
    which asyncpg's exceptions do not say. Once TLS is up the attempt also keeps asyncio's
    SSLProtocol and a duplicate of the socket descriptor, only to read an alert asyncio left
    unread after a reset (:func:`buffered_alert`); the duplicates are closed when the attempt
    ends.
    """

    def __init__(self, resolve: Optional[dict[str, str]] = None) -> None:
        super().__init__()
        self.resolve = dict(resolve or {})
        self.attempts: list[Attempt] = []

    async def create_connection(self, protocol_factory, host=None, port=None, *args, **kwargs):
        if host is not None and host in self.resolve:
            if kwargs.get("ssl") and kwargs.get("server_hostname") is None and kwargs.get("sock") is None:
                kwargs["server_hostname"] = host  # asyncio's own default: the host asked for
            host = self.resolve[host]
        attempt = Attempt()
        self.attempts.append(attempt)
        result = await super().create_connection(protocol_factory, host, port, *args, **kwargs)
        if kwargs.get("ssl"):
            # Direct TLS: the SSL transport's "socket" extra is the TCP socket.
            attempt.keep(result[0], result[0])
        return result

    async def start_tls(self, transport, protocol, sslcontext, **kwargs):
        result = await super().start_tls(transport, protocol, sslcontext, **kwargs)
        if result is not None and self.attempts:
            self.attempts[-1].keep(result, transport)
        return result


# A connection the peer reset or closed under asyncio's feet.
RESET_ERRORS = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)


def buffered_alert(attempt: Attempt) -> Optional[ssl.SSLError]:
    """The TLS alert the server sent before closing, when asyncio dropped it unread.

    Under TLS 1.3 the server verifies the client certificate after the client's side of the
    handshake has finished: it sends an alert and closes while asyncpg writes its startup
    packet. When that write meets the server's reset first, asyncio's socket transport fails
    with ConnectionResetError (selector_events.py ``write`` -> ``_fatal_error`` ->
    ``_force_close``) and never reads the alert already waiting in the socket buffer; asyncpg
    then reports ``ConnectionDoesNotExistError`` caused by the reset (about one attempt in five
    here). The failure is the same either way; to report *why*, the adapter reads what is left
    through its duplicate descriptor and feeds it to the session's SSLObject, which decrypts
    the alert record and raises it. This runs after asyncpg has given up and changes nothing it
    does; the adapter's stderr says when an alert was recovered this way (the evidence reads as
    if asyncpg had read it, so the detail does not depend on the race). (The Rust client does
    the same for the same race.)
    """
    proto, raw = attempt.ssl_protocol, attempt.raw
    incoming = getattr(proto, "_incoming", None)
    sslobj = getattr(proto, "_sslobj", None)
    if raw is None or incoming is None or sslobj is None:
        return None
    data = bytearray()
    try:
        raw.setblocking(False)
        while len(data) < (1 << 20):
            chunk = raw.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    if data:
        incoming.write(bytes(data))
    try:
        for _ in range(64):
            if not sslobj.read(65536):
                break
    except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
        return None
    except ssl.SSLError as e:
        return e
    except (OSError, ValueError):
        return None
    return None


# --------------------------------------------------------------------------------------------
# Request handling


def build_dsn(params: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The DSN asyncpg gets, and the name-to-address map for the hostaddr shim.

    Values are percent-encoded; asyncpg's parser (``urllib.parse.parse_qs``) drops parameters
    with an empty value, so an empty keyword means "not set", as in libpq.
    """
    host = params.get("host", "")
    hostaddr = params.get("hostaddr", "")
    resolve: dict[str, str] = {}
    if hostaddr:
        if host:
            resolve[host] = hostaddr
        else:
            host = hostaddr
    # asyncpg splits an unbracketed host at its first ':' (host:port), so an IPv6 literal such
    # as 2001:DB8::1 must be bracketed; asyncpg strips the brackets again.
    dsn_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    pairs = [("host", dsn_host)] if host else []
    pairs += [(k, v) for k, v in params.items() if k not in ("host", "hostaddr")]
    return "postgresql://?" + urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote), resolve


def copy_text_to_psql(data: bytes) -> str:
    """COPY's text format as ``psql -At`` prints the same rows: ``|`` between columns, NULL
    (``\\N``) as the empty string, COPY's backslash escapes undone."""
    escapes = {"\\\\": "\\", "\\t": "\t", "\\n": "\n", "\\r": "\r", "\\b": "\b", "\\f": "\f", "\\v": "\v"}

    def field(text: str) -> str:
        if text == "\\N":
            return ""
        out, i = [], 0
        while i < len(text):
            pair = text[i:i + 2]
            if pair in escapes:
                out.append(escapes[pair])
                i += 2
            else:
                out.append(text[i])
                i += 1
        return "".join(out)

    lines = data.decode().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return "\n".join("|".join(field(f) for f in line.split("\t")) for line in lines)


async def run_query(conn: Any, query: str, timeout: float) -> dict[str, Any]:
    """The case's query, through ``COPY (query) TO STDOUT``: the server renders every value as
    text, as it does for psql, so no Python type conversion stands in between."""
    chunks: list[bytes] = []

    async def sink(chunk: bytes) -> None:
        chunks.append(bytes(chunk))

    try:
        await asyncio.wait_for(conn.copy_from_query(query, output=sink, format="text"), timeout)
    except asyncpg.PostgresError as exc:
        return {"error": {"sqlstate": exc.sqlstate, "message": str(exc)}}
    return {"rows": copy_text_to_psql(b"".join(chunks))}


async def run_cancel(conn: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The cancel action: ``spec["query"]``, and a cancel request every ``interval_ms`` while it
    runs. The request goes through asyncpg's own cancel path, ``connect_utils._cancel`` with the
    connection's address and parameters, which is what asyncpg runs when a query's task is
    cancelled; called directly, so that the query's own error (57014) stays observable instead of
    turning into the task's CancelledError."""
    from asyncpg import connect_utils  # private: asyncpg has no public "send a cancel" call

    out: dict[str, Any] = {"requests": 0}
    task = asyncio.ensure_future(conn.execute(spec["query"]))
    while True:
        done, _ = await asyncio.wait({task}, timeout=spec["interval_ms"] / 1000.0)
        if done:
            try:
                task.result()
            except asyncpg.PostgresError as exc:
                out["sqlstate"] = exc.sqlstate
            return out
        if out["requests"] == spec["max"]:
            out["error"] = f"the query still ran after {out['requests']} cancel requests"
            task.cancel()
            return out
        out["requests"] += 1
        try:
            await connect_utils._cancel(loop=conn._loop, addr=conn._addr, params=conn._params,
                                        backend_pid=conn._protocol.backend_pid,
                                        backend_secret=conn._protocol.backend_secret)
        except Exception as exc:  # noqa: BLE001 - reported, the loop tries again
            out["error"] = describe(exc)


async def attempt(request: dict[str, Any], loop: HarnessLoop, dsn: str) -> tuple[str, Optional[dict[str, Any]], Optional[dict[str, Any]]]:
    timeout = max(request.get("timeout_ms", 10000), 1) / 1000.0
    deadline = time.monotonic() + timeout
    conn = await asyncpg.connect(dsn, timeout=timeout)
    query = cancel = None
    try:
        remaining = max(deadline - time.monotonic(), 0.001)
        value = await asyncio.wait_for(conn.fetchval(request["session_query"]), remaining)
        if request.get("query") is not None:
            query = await run_query(conn, request["query"], max(deadline - time.monotonic(), 0.001))
        if request.get("cancel") is not None:
            cancel = await run_cancel(conn, request["cancel"])
    finally:
        try:
            await asyncio.wait_for(conn.close(), 2)
        except Exception:  # noqa: BLE001 - closing is best effort
            conn.terminate()
    if not isinstance(value, str):
        raise TypeError(f"session query returned {type(value).__name__}, not text")
    return value, query, cancel


def clean_environment(scratch: Optional[str]) -> None:
    """Only the request may configure asyncpg: drop PG* variables and SSLKEYLOGFILE, which
    asyncpg reads as defaults. HOME is the attempt's scratch directory (set by the harness),
    so ~/.postgresql/ and ~/.pgpass are empty there, as for the other clients."""
    for name in list(os.environ):
        if name.startswith("PG") or name == "SSLKEYLOGFILE":
            del os.environ[name]
    # Per request: a persistent adapter serves many attempts, each with its own scratch dir.
    if scratch:
        os.environ["HOME"] = scratch


def run(request: dict[str, Any]) -> dict[str, Any]:
    params = {str(k): str(v) for k, v in request.get("params", {}).items()}
    clean_environment(request.get("scratch"))
    dsn, resolve = build_dsn(params)
    loop = HarnessLoop(resolve)
    asyncio.set_event_loop(loop)
    started = time.monotonic()
    try:
        session, query, cancel = loop.run_until_complete(attempt(request, loop, dsn))
        answer: dict[str, Any] = {"result": "connected", "session": session}
        if query is not None:
            answer["query"] = query
        if cancel is not None:
            answer["cancel"] = cancel
        return answer
    except BaseException as exc:  # noqa: BLE001 - every failure becomes evidence
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        log("".join(traceback.format_exception(exc)).rstrip())
        recovered = None
        chain = cause_chain(exc, loop.attempts)
        if (loop.attempts and loop.attempts[-1].tls and any(isinstance(e, RESET_ERRORS) for e in chain)
                and not any(isinstance(e, ssl.SSLError) or is_server_error(e) for e in chain)):
            recovered = buffered_alert(loop.attempts[-1])
            if recovered is not None:
                log(f"alert recovered from the socket buffer: {describe(recovered)}")
        return {"result": "failed", "evidence": evidence_of(exc, loop.attempts, recovered)}
    finally:
        for a in loop.attempts:
            a.close()
        log(f"attempt took {(time.monotonic() - started) * 1000:.0f} ms over {len(loop.attempts)} connection(s)")
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


# --------------------------------------------------------------------------------------------
# Evidence


def describe(exc: BaseException) -> str:
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def message_of(exc: BaseException, chain: list[BaseException]) -> str:
    """The raw exception text, type and message, with its causes."""
    return " <- ".join(describe(e) for e in chain) if chain else describe(exc)


def cause_chain(exc: BaseException, attempts: list[Attempt]) -> list[BaseException]:
    """``exc`` and what caused it, as far as the causes belong to the same connection.

    asyncpg wraps a lost connection as ``ConnectionDoesNotExistError`` whose ``__cause__`` is
    the transport error (an ``ssl.SSLError`` carrying a received alert, for instance) or the
    server's error. But after a ``prefer``/``allow`` fallback it raises the second attempt's
    error ``from`` the first attempt's (connect_utils.py ``_connect_addr``: ``raise
    second_error from first_error``), so with two connections the causes describe the other
    attempt and are not followed.
    """
    chain = [exc]
    if len(attempts) > 1:
        return chain
    seen = {id(exc)}
    cur = exc
    while cur.__cause__ is not None and id(cur.__cause__) not in seen:
        cur = cur.__cause__
        seen.add(id(cur))
        chain.append(cur)
    return chain


def is_server_error(exc: BaseException) -> bool:
    """A PostgresError built from an ErrorResponse the server sent (it has a severity), not
    one asyncpg made up itself such as ConnectionDoesNotExistError (class SQLSTATE 08003)."""
    return isinstance(exc, apg_exc.PostgresError) and getattr(exc, "severity", None) is not None


def ssl_symbol(exc: ssl.SSLError) -> Optional[str]:
    """OpenSSL's reason symbol: ``exc.reason``, else derived from OpenSSL's reason text
    ("[SSL] tlsv1 alert no application protocol (_ssl.c:...)") for symbols Python's table
    lacks (see :func:`symbol_from_text`)."""
    if getattr(exc, "reason", None):
        return exc.reason
    text = str(exc)
    if "] " in text:
        text = text.split("] ", 1)[1].split(" (_ssl.c", 1)[0]
        return text.strip().upper().replace(" ", "_") or None
    return None


def symbol_from_text(exc: ssl.SSLError) -> bool:
    """Whether :func:`ssl_symbol` had to read OpenSSL's reason text (Python knows no symbol)."""
    return not getattr(exc, "reason", None)


def alert_of(exc: ssl.SSLError) -> Optional[int]:
    return ALERT_BY_REASON.get(ssl_symbol(exc) or "")


def note_wording(ev: dict[str, Any], exc: ssl.SSLError) -> None:
    """Marks the evidence as resting on message text when the reason symbol came from it."""
    if symbol_from_text(exc):
        ev["basis"] = WORDING


def asyncpg_frame(exc: BaseException, function: str) -> Optional[traceback.FrameSummary]:
    """The innermost frame of asyncpg's ``connect_utils.<function>`` in the traceback, if the
    exception passed through it."""
    found = None
    for fs in traceback.extract_tb(exc.__traceback__):
        if fs.name == function and fs.filename.replace(os.sep, "/").endswith("asyncpg/connect_utils.py"):
            found = fs
    return found


def asyncpg_locals(exc: BaseException, function: str) -> dict[str, Any]:
    """The local variables of asyncpg's ``connect_utils.<function>`` frame at the raise."""
    tb = exc.__traceback__
    out: dict[str, Any] = {}
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == function and code.co_filename.replace(os.sep, "/").endswith("asyncpg/connect_utils.py"):
            out = dict(tb.tb_frame.f_locals)
        tb = tb.tb_next
    return out


def contains_certificate(path: Any) -> bool:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=os.fspath(path))
        return True
    except (OSError, ValueError, TypeError):
        return False


def local_class_of_setup_error(exc: BaseException) -> Optional[tuple[str, Optional[str]]]:
    """The class of an error asyncpg raised while turning the DSN into parameters and an
    SSLContext (connect_utils.py ``_parse_connect_dsn_and_args``), before any connection, and
    the evidence ``basis`` when it rests on text ("message-wording": the exception's message
    or the traceback's source line); ``None`` as basis when the exception type decides.

    Decided by which of asyncpg's calls raised it:
    - ``ClientConfigurationError``: asyncpg rejected a parameter; its one file check, "root
      certificate file ... does not exist" (verify-ca/verify-full without a root file), is
      root-cert-missing: told apart by the error it was raised while handling, not its text.
    - ``ssl.load_verify_locations(cafile=sslrootcert)``: a missing/unreadable root file is
      root-cert-missing (asyncpg raises it for any sslmode >= require, where libpq only needs
      it for verify-ca/verify-full), an unparsable one client-config-invalid.
    - ``load_verify_locations(cafile=sslcrl)``: client-config-invalid (libpq ignores a CRL
      file it cannot load; asyncpg refuses to connect).
    - ``load_cert_chain(sslcert, keyfile=sslkey, password=...)``: OpenSSL does not say which
      of the two files failed, so the adapter looks at the certificate file asyncpg used: when
      it is missing or holds no certificate, client-config-invalid (libpq would just not send a
      certificate); otherwise the key is at fault (missing, wrong passphrase, not matching):
      client-key-unusable.
    - anything else raised there (a non-numeric port, ...): client-config-invalid.
    """
    if isinstance(exc, apg_exc.ClientConfigurationError):
        # asyncpg raises its "root certificate file ... does not exist" check while handling
        # the failed load of the root file (FileNotFoundError, NotADirectoryError) or its own
        # "cannot determine location" error; its other configuration errors are raised with
        # no such context (connect_utils.py 0.32, ``_parse_connect_dsn_and_args``).
        if isinstance(exc.__context__, ROOT_FILE_MISSING):
            return "root-cert-missing", None
        return "client-config-invalid", None
    frame = asyncpg_frame(exc, "_parse_connect_dsn_and_args")
    if frame is None:
        return None
    line = frame.line or ""
    if "load_verify_locations" in line and "sslrootcert" in line:
        missing = isinstance(exc, (FileNotFoundError, IsADirectoryError, PermissionError, NotADirectoryError))
        return ("root-cert-missing" if missing else "client-config-invalid"), WORDING
    if "load_verify_locations" in line and "sslcrl" in line:
        return "client-config-invalid", WORDING
    if "load_cert_chain" in line or "sslcert" in line or "sslkey" in line:
        cert = asyncpg_locals(exc, "_parse_connect_dsn_and_args").get("sslcert")
        if cert is None or not os.path.isfile(os.fspath(cert)) or not contains_certificate(cert):
            return "client-config-invalid", WORDING
        return "client-key-unusable", WORDING
    return "client-config-invalid", None


def evidence_of(exc: BaseException, attempts: list[Attempt], recovered: Optional[ssl.SSLError] = None) -> dict[str, Any]:
    """Structured evidence (docs/client-adapters.md) from what asyncpg raised.

    ``recovered`` is an alert asyncio left unread after a reset (:func:`buffered_alert`); it is
    used only when asyncpg's own error carries nothing more specific."""
    chain = cause_chain(exc, attempts)
    ev: dict[str, Any] = {"message": message_of(exc, chain)}
    if attempts:
        ev["tls"] = attempts[-1].tls

    # The connect timeout (asyncpg's `timeout`, or ours around the query). In 3.11
    # asyncio.TimeoutError is TimeoutError, an OSError: test it first.
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        ev["timed_out"] = True
        return ev

    # Decided before any connection: asyncpg's parameter parsing and SSLContext set-up.
    if not attempts:
        decided = local_class_of_setup_error(exc)
        if decided is not None:
            ev["local"], basis = decided
            if basis is not None:
                ev["basis"] = basis
            # OpenSSL's file errors name no file: say which asyncpg call raised.
            frame = asyncpg_frame(exc, "_parse_connect_dsn_and_args")
            if frame is not None and not isinstance(exc, apg_exc.ClientConfigurationError):
                ev["message"] += f" (in asyncpg connect_utils.py:{frame.lineno}: {(frame.line or '').strip()})"
            return ev

    # The server's ErrorResponse: SQLSTATE and the server function that raised it (asyncpg
    # exposes the 'R' field as server_source_function).
    for e in chain:
        if is_server_error(e):
            ev["sqlstate"] = e.sqlstate
            routine = getattr(e, "server_source_function", None)
            if routine:
                ev["routine"] = routine
            return ev

    for e in chain:
        # We rejected the server's certificate (chain, validity, CRL, or Python's hostname
        # check, which OpenSSL reports as verify codes 62 host / 64 IP address mismatch).
        if isinstance(e, ssl.SSLCertVerificationError):
            ev["server_cert_rejected"] = True
            code = getattr(e, "verify_code", None)
            if isinstance(code, int) and code != 0:
                ev["verify_code"] = code
            return ev
        if isinstance(e, ssl.SSLError):
            alert = alert_of(e)
            if alert is not None:
                ev["alert_received"] = alert
                note_wording(ev, e)
                return ev
            symbol = ssl_symbol(e)
            if symbol in LOCAL_PROTOCOL_REASONS:
                ev["local"] = "protocol-version-mismatch"
                note_wording(ev, e)
            elif symbol in LOCAL_CONFIG_REASONS:
                ev["local"] = "client-config-invalid"
                note_wording(ev, e)
            return ev

    if recovered is not None and any(isinstance(e, RESET_ERRORS) for e in chain):
        alert = alert_of(recovered)
        if alert is not None:
            ev["alert_received"] = alert
            note_wording(ev, recovered)
            # Reported as if asyncpg had read the alert itself, so the detail does not depend
            # on which of the two racing paths this attempt took.
            ev["message"] = f"{describe(exc)} <- {describe(recovered)}"
            return ev

    # asyncpg's STARTTLS exchange: under sslmode=require and stricter, a server answering 'N'
    # to SSLRequest makes TLSUpgradeProto fail with this fixed ConnectionError text (its only
    # signal: connect_utils.py TLSUpgradeProto.data_received).
    if type(exc) is ConnectionError and str(exc).endswith("rejected SSL upgrade"):
        ev["local"] = "ssl-not-supported"
        ev["basis"] = WORDING
        return ev

    # TLS was up and the server dropped the connection without a word asyncpg read (the TLS
    # 1.3 client-certificate race of buffered_alert, when no alert was left in the buffer):
    # `reset` makes the harness wait, bounded, for the server's log of the failed accept,
    # which may trail the reset.
    if attempts and attempts[-1].tls and any(
            isinstance(e, RESET_ERRORS + (apg_exc.ConnectionDoesNotExistError,)) for e in chain):
        ev["reset"] = True

    # Anything else (connection refused, reset without an alert, a closed connection): no
    # structured field; the harness decides from the server log.
    return ev


def answer_one(raw: str) -> None:
    """Reads one request, writes one response line."""
    try:
        request = json.loads(raw)
        if request.get("version") != 1:
            log(f"protocol version {request.get('version')!r}; this adapter speaks version 1")
        answer = run(request)
    except Exception as exc:  # noqa: BLE001 - a broken request is still answered
        log("".join(traceback.format_exception(exc)).rstrip())
        answer = {"result": "failed", "evidence": {"local": "unclassified", "message": f"adapter error: {describe(exc)}"}}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


def main() -> int:
    # Persistent mode (docs/client-adapters.md): one request per line until stdin closes,
    # which happens when the harness exits, however it exits.
    if "--serve" in sys.argv[1:]:
        for line in sys.stdin:
            if line.strip():
                answer_one(line)
        return 0
    answer_one(sys.stdin.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
