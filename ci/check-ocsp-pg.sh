#!/usr/bin/env bash
# End-to-end smoke test of the OCSP stapling build (ci/build-ocsp-pg.sh).
#
#   ci/check-ocsp-pg.sh [--bindir DIR] [--verbose]
#
# Uses only the openssl CLI and the build's own binaries. In a temporary directory it
# makes a root CA, a server certificate, a delegated OCSP responder (EKU OCSPSigning),
# a responder without that EKU, a responder of another root and a second server
# certificate; it writes OCSP responses with `openssl ocsp -reqin ... -respout` (good,
# revoked, unknown, about the other certificate, expiring after a minute, badly signed), plus
# hand-made DER ones (trylater, no basic response) and garbage; it initdbs and starts the
# patched server (as PGTLS_SERVER_USER, default postgres, when run as root) and checks:
#   * `openssl s_client -starttls postgres -status` sees the staple;
#   * psql with sslocspstapling=1 connects on a good response (TLS 1.2 and 1.3) and
#     fails with the documented message on every other one, with OpenSSL's
#     "SSL error: ocsp callback failure";
#   * the server's WARNINGs for an unset, unreadable or unparseable ssl_ocsp_file;
#   * the ssl_ocsp_stapling alias, PGSSLOCSPSTAPLING, and the invalid-value error;
#   * sslocspstapling=0 connects whatever is stapled; sslmode=disable ignores stapling;
#   * a reload picks up another ssl_ocsp_file, and a rewritten file is used at once.
# The server is stopped and the directory removed on exit. Exit status 1 on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bindir="" verbose=0
while [ $# -gt 0 ]; do
	case "$1" in
		--bindir) [ $# -ge 2 ] || { echo "--bindir needs a directory" >&2; exit 2; }; bindir="$2"; shift ;;
		--verbose|-v) verbose=1 ;;
		-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; exit 0 ;;
		*) echo "unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
[ -n "$bindir" ] || bindir="$("$here/build-ocsp-pg.sh" --print-bindir)"
[ -x "$bindir/postgres" ] && [ -x "$bindir/psql" ] || { echo "no postgres/psql in $bindir" >&2; exit 2; }
command -v openssl >/dev/null || { echo "the openssl CLI is missing" >&2; exit 2; }

user=""
as_server() { if [ -n "$user" ]; then runuser -u "$user" -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then
	user="${PGTLS_SERVER_USER:-postgres}"
	id "$user" >/dev/null 2>&1 || { echo "no user $user to run the server as (PGTLS_SERVER_USER)" >&2; exit 2; }
fi
dir="$(mktemp -d /tmp/pgtls-ocsp-check.XXXXXX)"
chmod 0755 "$dir"
[ -z "$user" ] || chown "$user" "$dir"
pgdata="$dir/data"
stop() {
	if [ -f "$pgdata/postmaster.pid" ]; then
		as_server "$bindir/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

failures=0 checks=0
pass() { checks=$((checks + 1)); printf 'ok   %s\n' "$1"; }
fail() { checks=$((checks + 1)); failures=$((failures + 1)); printf 'FAIL %s\n' "$1"; [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/     | /'; }

# ---------------------------------------------------------------- PKI and responses
cd "$dir"
q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; }
cat >ext.cnf <<'EOF'
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[ocsp]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
extendedKeyUsage = OCSPSigning
authorityKeyIdentifier = keyid
[plain]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
authorityKeyIdentifier = keyid
EOF
ca() { # name subject
	q openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -days 30 \
		-subj "/CN=$2" -config ext.cnf -extensions ca
}
leaf() { # name subject issuer extensions
	q openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
	q openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -set_serial "0x$(openssl rand -hex 8)" \
		-days 10 -extfile ext.cnf -extensions "$4" -out "$1.crt"
}
ca root "pgtls OCSP test root"
ca otherroot "pgtls OCSP other root"
leaf server localhost root server
leaf server2 "another server" root server
leaf responder "OCSP responder" root ocsp
leaf norole "responder without OCSPSigning" root plain
leaf foreign "responder of another root" otherroot ocsp

index_line() { # V|R cert
	local end serial subj
	end="$(date -u -d "$(openssl x509 -in "$2" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)"
	serial="$(openssl x509 -in "$2" -noout -serial | cut -d= -f2)"
	subj="$(openssl x509 -in "$2" -noout -subject -nameopt compat | sed 's/^subject=//')"
	if [ "$1" = R ]; then
		printf 'R\t%s\t%s\t%s\tunknown\t%s\n' "$end" "$(date -u +%y%m%d%H%M%SZ),keyCompromise" "$serial" "$subj"
	else
		printf 'V\t%s\t\t%s\tunknown\t%s\n' "$end" "$serial" "$subj"
	fi
}
{ index_line V server.crt; index_line V server2.crt; } >good.idx
{ index_line R server.crt; index_line V server2.crt; } >revoked.idx
: >empty.idx
respond() { # out cert index signer [extra openssl ocsp args]
	local out="$1" cert="$2" idx="$3" signer="$4" ca=root
	shift 4
	[ "$signer" != foreign ] || ca=otherroot
	q openssl ocsp -issuer root.crt -cert "$cert" -no_nonce -reqout "$out.req"
	q openssl ocsp -index "$idx" -CA root.crt -rsigner "$signer.crt" -rkey "$signer.key" \
		-reqin "$out.req" -respout "$out" "$@"
}
respond good.der server.crt good.idx responder -ndays 1
respond good-by-ca.der server.crt good.idx root -ndays 1
respond good-no-next.der server.crt good.idx responder
respond revoked.der server.crt revoked.idx responder -ndays 1
respond unknown.der server.crt empty.idx responder -ndays 1
respond other-cert.der server2.crt good.idx responder -ndays 1
respond expired.der server.crt good.idx responder -nmin 1   # the shortest the CLI makes
expired_at="$(( $(date +%s) + 60 ))"
respond norole.der server.crt good.idx norole -ndays 1
respond foreign.der server.crt good.idx foreign -ndays 1
printf '\x30\x03\x0a\x01\x03' >trylater.der     # OCSPResponse { responseStatus tryLater }
printf '\x30\x03\x0a\x01\x06' >unauthorized.der # OCSPResponse { responseStatus unauthorized }
printf '\x30\x03\x0a\x01\x00' >nobasic.der      # successful, but no responseBytes
printf 'this is not DER\n' >garbage.der
: >empty.der

# ---------------------------------------------------------------- server
port="$(( 20000 + RANDOM % 20000 ))"
as_server "$bindir/initdb" -D "$pgdata" -A trust -U postgres --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
	|| { cat "$dir/initdb.log" >&2; exit 1; }
install -m 0644 server.crt "$pgdata/server.crt"
install -m 0600 server.key "$pgdata/server.key"
[ -z "$user" ] || chown "$user" "$pgdata/server.crt" "$pgdata/server.key"
cat >>"$pgdata/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ocsp_file = 'staple.der'
logging_collector = off
EOF
printf 'hostssl all all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\nlocal all all trust\n' >"$pgdata/pg_hba.conf"
log="$dir/server.log"
as_server touch "$log"
as_server "$bindir/pg_ctl" -D "$pgdata" -l "$log" -w start >/dev/null || { cat "$log" >&2; exit 1; }
staple() { # response file or "" (none)
	if [ -n "$1" ]; then cp "$1" "$pgdata/staple.der"; chmod 0644 "$pgdata/staple.der"; else rm -f "$pgdata/staple.der"; fi
}
reload() { as_server "$bindir/pg_ctl" -D "$pgdata" reload >/dev/null; sleep 0.5; }

base="host=127.0.0.1 port=$port dbname=postgres user=postgres connect_timeout=5"
export HOME="$dir" PGSSLCERTMODE=disable
unset PGSSLOCSPSTAPLING PGSSLMODE PGSSLROOTCERT 2>/dev/null || true
out=""
run_psql() { # conninfo...  -> $out (stderr), returns psql's status
	local rc=0
	out="$("$bindir/psql" -X -w -At -d "$*" -c "select coalesce((select version from pg_stat_ssl where pid = pg_backend_pid() and ssl), 'no ssl')" 2>&1)" || rc=$?
	[ "$verbose" = 0 ] || printf '     $ psql "%s"\n%s\n' "$*" "$(printf '%s\n' "$out" | sed 's/^/       /')"
	return "$rc"
}
expect_ok() { # name want-substring conninfo...
	local name="$1" want="$2"; shift 2
	if run_psql "$@" && [[ "$out" == *"$want"* ]]; then pass "$name ($out)"; else fail "$name" "$out"; fi
}
expect_fail() { # name message conninfo...
	local name="$1" msg="$2"; shift 2
	if run_psql "$@"; then fail "$name: connected" "$out"; return; fi
	if [[ "$out" == *"$msg"* ]] && { [[ "$msg" == invalid* ]] || [[ "$out" == *"SSL error: ocsp callback failure"* ]]; }; then
		pass "$name"
		printf '%s\n' "$out" | sed 's/^/     > /'
	else
		fail "$name" "$out"
	fi
}
log_mark() { wc -c <"$log"; }
expect_log() { # name since pattern
	if tail -c +"$(( $2 + 1 ))" "$log" | grep -qF -- "$3"; then
		pass "$1"
		tail -c +"$(( $2 + 1 ))" "$log" | grep -F -- "$3" | head -n1 | sed 's/^/     > /'
	else
		fail "$1" "$(tail -c +"$(( $2 + 1 ))" "$log")"
	fi
}

v="$base sslmode=verify-ca sslrootcert=$dir/root.crt"
F="sslocspstapling=1"

echo "== stapling: openssl s_client"
staple good.der
s="$(openssl s_client -connect "127.0.0.1:$port" -starttls postgres -status -CAfile root.crt </dev/null 2>&1 || true)"
if grep -q 'OCSP Response Status: successful' <<<"$s" && grep -q 'Cert Status: good' <<<"$s"; then
	pass "s_client -status sees the staple"
	grep -E 'OCSP response:|OCSP Response Status|Cert Status|This Update|Next Update|Responder Id' <<<"$s" | sed 's/^ */     > /'
else
	fail "s_client -status sees the staple" "$s"
fi

echo "== accepted"
expect_ok "good response from a delegated responder, TLS 1.3" TLSv1.3 "$v $F"
expect_ok "good response, TLS 1.2" TLSv1.2 "$v $F ssl_max_protocol_version=TLSv1.2"
expect_ok "good response, verify-full" TLSv1.3 "$v $F sslmode=verify-full host=localhost hostaddr=127.0.0.1"
staple good-by-ca.der
expect_ok "good response signed by the issuing CA itself" TLSv1.3 "$v $F"
staple good-no-next.der
expect_ok "good response without nextUpdate" TLSv1.3 "$v $F"
staple good.der
expect_ok "alias ssl_ocsp_stapling=1" TLSv1.3 "$v ssl_ocsp_stapling=1"
PGSSLOCSPSTAPLING=1 expect_ok "PGSSLOCSPSTAPLING=1" TLSv1.3 "$v"
staple revoked.der
expect_ok "sslocspstapling=0 ignores a revoked response" TLSv1.3 "$v sslocspstapling=0"
expect_ok "sslmode=disable does not use TLS, so no stapling" "no ssl" "$base sslmode=disable $F"

echo "== refused"
staple revoked.der
expect_fail "revoked" "server certificate is revoked according to the stapled OCSP response" "$v $F"
expect_fail "revoked, TLS 1.2" "server certificate is revoked according to the stapled OCSP response" "$v $F ssl_max_protocol_version=TLSv1.2"
expect_fail "revoked, alias" "server certificate is revoked according to the stapled OCSP response" "$v ssl_ocsp_stapling=1"
PGSSLOCSPSTAPLING=1 expect_fail "revoked, PGSSLOCSPSTAPLING=1" "server certificate is revoked according to the stapled OCSP response" "$v"
staple unknown.der
expect_fail "unknown" "server certificate status is unknown according to the stapled OCSP response" "$v $F"
staple other-cert.der
expect_fail "response about another certificate" "stapled OCSP response has no status for the server certificate" "$v $F"
staple trylater.der
expect_fail "status trylater" 'stapled OCSP response has status "trylater"' "$v $F"
staple unauthorized.der
expect_fail "status unauthorized" 'stapled OCSP response has status "unauthorized"' "$v $F"
staple nobasic.der
expect_fail "successful without a basic response" "stapled OCSP response contains no basic response" "$v $F"
staple norole.der
expect_fail "signed by a certificate without OCSPSigning" "could not verify the stapled OCSP response: " "$v $F"
staple foreign.der
expect_fail "signed by a responder of another root" "could not verify the stapled OCSP response: " "$v $F"
staple good.der
expect_fail "good response, but no root certificate (sslmode=require)" \
	"cannot check the stapled OCSP response without a root certificate" "$base sslmode=require sslrootcert=$dir/none.crt $F"
expect_fail "invalid sslocspstapling value" 'invalid sslocspstapling value: "x"' "$v sslocspstapling=x"
expect_fail "invalid value through the alias" 'invalid sslocspstapling value: "yes"' "$v ssl_ocsp_stapling=yes"
staple expired.der
while [ "$(date +%s)" -le "$expired_at" ]; do sleep 0.2; done
expect_fail "expired (nextUpdate passed)" "stapled OCSP response has expired" "$v $F"

echo "== nothing stapled (server WARNINGs)"
m="$(log_mark)"; staple ""
expect_fail "file missing" "no OCSP response was stapled by the server" "$v $F"
expect_log "WARNING for a missing file" "$m" 'WARNING:  could not read OCSP response file "staple.der": No such file or directory'
m="$(log_mark)"; staple garbage.der
expect_fail "garbage file" "no OCSP response was stapled by the server" "$v $F"
expect_log "WARNING for garbage" "$m" 'WARNING:  could not parse OCSP response file "staple.der"'
m="$(log_mark)"; staple empty.der
expect_fail "empty file" "no OCSP response was stapled by the server" "$v $F"
expect_log "WARNING for an empty file" "$m" 'WARNING:  could not parse OCSP response file "staple.der"'
m="$(log_mark)"; staple good.der; chmod 0000 "$pgdata/staple.der"
expect_fail "unreadable file" "no OCSP response was stapled by the server" "$v $F"
expect_log "WARNING for an unreadable file" "$m" 'WARNING:  could not read OCSP response file "staple.der": Permission denied'
m="$(log_mark)"; staple good.der
printf "ssl_ocsp_file = ''\n" >>"$pgdata/postgresql.conf"; reload
expect_fail "ssl_ocsp_file unset" "no OCSP response was stapled by the server" "$v $F"
expect_log "WARNING for an unset ssl_ocsp_file" "$m" 'WARNING:  "ssl_ocsp_file" is not set; no OCSP response is stapled'
expect_ok "ssl_ocsp_file unset, sslocspstapling=0" TLSv1.3 "$v"

echo "== reload and rewrite"
cp good.der "$pgdata/other.der"
printf "ssl_ocsp_file = '%s/revoked.der'\n" "$dir" >>"$pgdata/postgresql.conf"; reload
expect_fail "reload: absolute path to a revoked response" "server certificate is revoked according to the stapled OCSP response" "$v $F"
printf "ssl_ocsp_file = 'other.der'\n" >>"$pgdata/postgresql.conf"; reload
expect_ok "reload: ssl_ocsp_file = 'other.der' (good)" TLSv1.3 "$v $F"
cp revoked.der "$pgdata/other.der"
expect_fail "file rewritten, no reload" "server certificate is revoked according to the stapled OCSP response" "$v $F"

echo "== $checks checks, $failures failed"
[ "$failures" = 0 ]
