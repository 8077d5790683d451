#!/usr/bin/env bash
# Smoke-test and time the pgtls/postgres:NN images built by ci/build-images.sh.
#
#   ci/check-images.sh [--repeat N] [MAJOR...]
#
# For each image (default: every pgtls/postgres:{13,15,17,18,19} present):
#   1. fresh: `docker run -d --rm -p 127.0.0.1::5432 -e POSTGRES_HOST_AUTH_METHOD=trust
#      IMAGE postgres -c ssl=on -c ssl_cert_file=<snakeoil> -c ssl_key_file=<snakeoil>`,
#      wait until the host's psql connects to 127.0.0.1:<published> with
#      sslmode=require, then report version(), pg_stat_ssl (ssl, TLS version)
#      and ssl_library, and check the snakeoil key is root:ssl-cert 0640 with
#      the server process in group ssl-cert, and that the ready line is on
#      stderr once (none on stdout).
#   2. fresh, no fsync: the same with POSTGRES_INITDB_ARGS=--no-sync.
#   3. committed: an initialised, cleanly stopped container is `docker commit`ed
#      (PGDATA is not a volume, so the data dir is in the image), then started.
#   4. the harness's command: `bash -c 'install -o postgres ... /staging/server.key
#      /etc/pgtls/server.key && exec docker-entrypoint.sh postgres -c ...'` with a
#      throwaway certificate `docker cp`ed in, checked with sslmode=verify-full.
# Times are from just before `docker run` to the first successful TLS
# connection, in ms. Every container (and the committed image) is removed on
# exit, also on failure or ^C. Exits non-zero if any check failed.
#
# Environment: PGTLS_IMAGE_REPO (default pgtls/postgres),
#   PGTLS_CHECK_TIMEOUT (seconds per start, default 90).
set -euo pipefail

repo="${PGTLS_IMAGE_REPO:-pgtls/postgres}"
timeout_s="${PGTLS_CHECK_TIMEOUT:-90}"
repeat=1
majors=()
while [ $# -gt 0 ]; do
	case "$1" in
		--repeat) [ $# -ge 2 ] || { echo "--repeat needs a number" >&2; exit 2; }; repeat="$2"; shift ;;
		-h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
		[0-9]*) majors+=("$1") ;;
		*) echo "check-images: unknown argument '$1'" >&2; exit 2 ;;
	esac
	shift
done
[[ "$repeat" =~ ^[1-9][0-9]*$ ]] || { echo "--repeat wants a positive number" >&2; exit 2; }

die() { printf 'check-images: error: %s\n' "$*" >&2; exit 1; }
command -v docker >/dev/null || die "the docker CLI is not installed"
docker_err="$(docker version --format '{{.Server.Version}}' 2>&1 >/dev/null)" \
	|| die "cannot reach the Docker daemon (DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}): $docker_err"
command -v psql >/dev/null || die "the host's psql is needed (apt-get install postgresql-client)"

if [ ${#majors[@]} -eq 0 ]; then
	for nn in 13 15 17 18 19; do
		docker image inspect "$repo:$nn" >/dev/null 2>&1 && majors+=("$nn")
	done
	[ ${#majors[@]} -gt 0 ] || die "no $repo:NN images found; run ci/build-images.sh first"
fi

# ------------------------------------------------------------- cleanup
# Every container this run starts carries the label pgtls.check-run=$run_id
# (containers from the committed image inherit it), so cleanup never touches
# anyone else's containers.
run_id="$$-$(date +%s%N)"
sweep() {
	local c
	for c in $(docker ps -aq --filter "label=pgtls.check-run=$run_id"); do
		docker rm -f "$c" >/dev/null 2>&1 || true
	done
	for c in $(docker images -q "pgtls-check/postgres" --filter "label=pgtls.check-run=$run_id"); do
		docker rmi -f "$c" >/dev/null 2>&1 || true
	done
}
cleanup() { sweep; [ -z "${tls_dir:-}" ] || rm -rf "$tls_dir"; [ -z "${res:-}" ] || rm -f "$res"; }
# Each image is checked in a background job with its own process group
# (set -m), so that on ^C/TERM the whole group (the subshell and its docker
# run/psql children) can be stopped before the sweep. A `docker run` whose
# client died may still complete in the daemon, hence the second sweep.
child=
on_signal() {
	trap - INT TERM
	if [ -n "$child" ]; then
		kill -TERM -- "-$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
		sweep
		sleep 1
	fi
	exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# ------------------------------------------------------------- helpers
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
cert=/etc/ssl/certs/ssl-cert-snakeoil.pem
key=/etc/ssl/private/ssl-cert-snakeoil.key
server_args=(postgres -c ssl=on -c "ssl_cert_file=$cert" -c "ssl_key_file=$key")
# sslrootcert points nowhere so that a ~/.postgresql/root.crt on the host
# cannot turn sslmode=require into verify-ca.
conninfo() { echo "host=127.0.0.1 port=$1 user=postgres dbname=postgres sslmode=require sslrootcert=/nonexistent/pgtls-check connect_timeout=3"; }
q() { PGOPTIONS= psql "$(conninfo "$1")" -XAtq -F ' | ' -c "$2"; }

# start IMAGE [docker run options...]: starts a container, waits for the first
# TLS connection; sets cid, port, run_ms (docker run), ready_ms (total).
start() {
	local image="$1" t0 t1
	shift
	t0="$(now_ms)"
	cid="$(docker run -d --label "pgtls.check-run=$run_id" -p 127.0.0.1::5432 \
		-e POSTGRES_HOST_AUTH_METHOD=trust "$@" "$image" "${server_args[@]}")"
	t1="$(now_ms)"
	run_ms=$((t1 - t0))
	wait_ready "$t0" "sslmode=require sslrootcert=/nonexistent/pgtls-check"
}

# wait_ready T0_MS SSLPARAMS: poll with the host's psql until a connection
# to the published port succeeds; sets port and ready_ms.
wait_ready() {
	local t0="$1" ssl="$2" deadline n=0
	port="$(docker port "$cid" 5432/tcp | sed -n 's/^127\.0\.0\.1:\([0-9]*\)$/\1/p')"
	[ -n "$port" ] || { echo "no published 127.0.0.1 port for $cid" >&2; return 1; }
	deadline=$((t0 + timeout_s * 1000))
	until PGOPTIONS= psql "host=127.0.0.1 port=$port user=postgres dbname=postgres connect_timeout=3 $ssl" \
		-XAtqc 'select 1' >/dev/null 2>&1; do
		n=$((n + 1))
		if [ $((n % 25)) = 0 ] && [ "$(docker inspect -f '{{.State.Running}}' "$cid" 2>/dev/null)" != true ]; then
			echo "container exited before accepting connections; its log:" >&2
			docker logs "$cid" 2>&1 | tail -n 30 | sed 's/^/    /' >&2
			return 1
		fi
		if [ "$(now_ms)" -gt "$deadline" ]; then
			echo "no TLS connection within ${timeout_s}s; container log:" >&2
			docker logs "$cid" 2>&1 | tail -n 30 | sed 's/^/    /' >&2
			return 1
		fi
		sleep 0.02
	done
	ready_ms=$(($(now_ms) - t0))
}

# The harness's pattern: a key copied in as root (0644), re-owned by the
# command before the entrypoint runs; checked with verify-full against a
# throwaway certificate for 127.0.0.1.
harness_cmd='install -o postgres -g postgres -m 0600 /staging/server.key /etc/pgtls/server.key && exec docker-entrypoint.sh postgres -c ssl=on -c ssl_cert_file=/staging/server.crt -c ssl_key_file=/etc/pgtls/server.key'
tls_dir=
start_harness_style() { # IMAGE
	local t0
	if [ -z "$tls_dir" ]; then
		tls_dir="$(mktemp -d)"
		openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
			-addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
			-keyout "$tls_dir/server.key" -out "$tls_dir/server.crt" 2>/dev/null
		chmod 0644 "$tls_dir/server.key"
		# mktemp -d is 0700, and `docker cp DIR/.` gives /staging that mode:
		# postgres could then not read the certificate
		chmod 0755 "$tls_dir"
	fi
	t0="$(now_ms)"
	cid="$(docker create --label "pgtls.check-run=$run_id" -p 127.0.0.1::5432 \
		-e POSTGRES_HOST_AUTH_METHOD=trust "$1" bash -c "$harness_cmd")"
	docker cp "$tls_dir/." "$cid:/staging/"
	docker start "$cid" >/dev/null
	wait_ready "$t0" "sslmode=verify-full sslrootcert=$tls_dir/server.crt"
}

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
remove() { docker rm -f "$1" >/dev/null 2>&1 || true; }

# ------------------------------------------------------------- checks
failures=0
summary=()
check_major() {
	local nn="$1" image="$repo:$1" row fresh=() nosync=() committed=() i out err v lib snap
	local size; size="$(docker image inspect -f '{{.Size}}' "$image")"
	echo "== $image ($(docker image inspect -f '{{ index .Config.Labels "pgtls.pg-version" }}, Debian {{ index .Config.Labels "pgtls.debian-suite" }}' "$image"), $(( (size + 524288) / 1048576 )) MiB)"

	# 1. fresh data dir (initdb at start), with the checks
	for i in $(seq 1 "$repeat"); do
		start "$image" --rm
		fresh+=("$ready_ms")
		echo "  fresh start #$i: first TLS connection after $ready_ms ms (docker run returned after $run_ms ms)"
		if [ "$i" = 1 ]; then
			row="$(q "$port" 'select version(), ssl, version from pg_stat_ssl where pid = pg_backend_pid()')"
			lib="$(q "$port" 'show ssl_library')"
			echo "  version() | ssl | TLS: $row"
			echo "  ssl_library: $lib"
			[[ "$row" == *" | t | TLSv1."* ]] || { echo "  FAIL: connection is not TLS" >&2; return 1; }
			[ "$lib" = OpenSSL ] || { echo "  FAIL: ssl_library is '$lib'" >&2; return 1; }
			snap="$(docker exec "$cid" sh -c "stat -c '%U:%G %a' $key; id -nG postgres; grep -E '^(Uid|Groups):' /proc/1/status | tr -s '\t' ' '; getent group ssl-cert")"
			echo "  key and server process:" $snap
			[[ "$snap" == "root:ssl-cert 640"* ]] || { echo "  FAIL: unexpected key ownership/mode" >&2; return 1; }
			local sslgid; sslgid="$(docker exec "$cid" getent group ssl-cert | cut -d: -f3)"
			docker exec "$cid" grep -qE "^Groups:.*\\b$sslgid\\b" /proc/1/status \
				|| { echo "  FAIL: the server process is not in group ssl-cert" >&2; return 1; }
			out="$(docker logs "$cid" 2>/dev/null)"
			err="$(docker logs "$cid" 2>&1 >/dev/null)"
			out="$(grep -c 'ready to accept connections' <<<"$out" || true)"
			err="$(grep -c 'ready to accept connections' <<<"$err" || true)"
			echo "  'ready to accept connections' lines: stderr $err, stdout $out"
			[ "$err" = 1 ] && [ "$out" = 0 ] || { echo "  FAIL: expected the ready line once on stderr only" >&2; return 1; }
		fi
		remove "$cid"
	done

	# 2. fresh data dir, initdb --no-sync
	for i in $(seq 1 "$repeat"); do
		start "$image" --rm -e POSTGRES_INITDB_ARGS=--no-sync
		nosync+=("$ready_ms")
		echo "  fresh start, initdb --no-sync #$i: first TLS connection after $ready_ms ms"
		remove "$cid"
	done

	# 3. committed initialised data dir
	start "$image"
	local init_cid="$cid" committed_image="pgtls-check/postgres:$nn-initialised"
	docker stop -t 30 "$init_cid" >/dev/null
	# (logs captured first: `docker logs | grep -q` can fail under pipefail when
	# grep exits early and docker logs gets SIGPIPE)
	[[ "$(docker logs "$init_cid" 2>&1)" == *'database system is shut down'* ]] \
		|| { echo "  FAIL: no clean shutdown on docker stop" >&2; return 1; }
	docker commit "$init_cid" "$committed_image" >/dev/null
	remove "$init_cid"
	for i in $(seq 1 "$repeat"); do
		start "$committed_image" --rm
		committed+=("$ready_ms")
		echo "  committed data dir #$i: first TLS connection after $ready_ms ms"
		[[ "$(docker logs "$cid" 2>/dev/null)" == *'Skipping initialization'* ]] \
			|| { echo "  FAIL: the committed image ran initdb again" >&2; return 1; }
		[ "$(q "$port" 'select ssl from pg_stat_ssl where pid = pg_backend_pid()')" = t ] \
			|| { echo "  FAIL: no TLS on the committed image" >&2; return 1; }
		remove "$cid"
	done
	# 4. the harness's command pattern (on the committed image: quick)
	if command -v openssl >/dev/null; then
		start_harness_style "$committed_image"
		echo "  harness-style start (key re-owned by the command, verify-full): TLS connection after $ready_ms ms:" \
			"$(PGOPTIONS= psql "host=127.0.0.1 port=$port user=postgres dbname=postgres sslmode=verify-full sslrootcert=$tls_dir/server.crt" \
				-XAtq -F ' | ' -c 'select ssl, version from pg_stat_ssl where pid = pg_backend_pid()')"
		remove "$cid"
	else
		echo "  (no openssl on the host: harness-style start skipped)"
	fi
	docker rmi "$committed_image" >/dev/null

	v="$(printf '%s' "$row" | sed -E 's/^PostgreSQL ([^ ]+).*/\1/')"
	summary+=("$(printf '%-18s %-9s %-8s %-8s %9s %9s %9s' "$image" "$v" "$lib" \
		"$(printf '%s' "$row" | grep -oE 'TLSv[0-9.]+')" \
		"$(median "${fresh[@]}")" "$(median "${nosync[@]}")" "$(median "${committed[@]}")")")
}

for nn in "${majors[@]}"; do
	if ! docker image inspect "$repo:$nn" >/dev/null 2>&1; then
		echo "== $repo:$nn: FAIL: image not found" >&2
		failures=$((failures + 1))
		continue
	fi
	# a subshell outside any `||` context, so errexit applies inside check_major;
	# the results come back through a file
	res="$(mktemp)"
	set -m
	(
		set -e
		check_major "$nn"
		printf '%s\n' "${summary[-1]}" >"$res"
	) </dev/null &
	child=$!
	set +m
	set +e
	wait "$child"
	rc=$?
	set -e
	child=
	if [ "$rc" = 0 ]; then
		summary+=("$(cat "$res")")
	else
		echo "== $repo:$nn: FAIL" >&2
		summary+=("$(printf '%-18s FAILED' "$repo:$nn")")
		failures=$((failures + 1))
	fi
	rm -f "$res"
	sweep # whatever a failed check left behind
done

echo
echo "median ms from docker run to the first TLS connection (repeat=$repeat):"
printf '%-18s %-9s %-8s %-8s %9s %9s %9s\n' image server ssl_lib TLS fresh no-sync committed
printf '%s\n' "${summary[@]}"
[ "$failures" = 0 ] || { echo "check-images: $failures image(s) FAILED" >&2; exit 1; }
