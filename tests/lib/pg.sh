# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# A throwaway PostgreSQL 15 cluster for a test or a benchmark: initdb in a
# temporary directory, the server on a Unix socket in that directory only
# (listen_addresses = '': no TCP port, nothing reachable from outside),
# run as the postgres user (initdb refuses root).  Source this file, then:
#
#   trap pg_cleanup EXIT      (or call pg_cleanup from your own trap)
#   pg_start                  sets PG_DIR, PG_SOCK, PG_URI (database nappt)
#   pg_sql "SELECT 1"         psql as the superuser on PG_URI
#   pg_createdb NAME          another database; its URI on stdout
#
# Everything goes with pg_cleanup: the server stopped (immediate), the
# directory removed.  PG_OPTS adds server options (-c name=value ...).

PG_DIR=${PG_DIR:-}
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -n "$PG_BIN" ] || PG_BIN=$(dirname "$(command -v initdb 2>/dev/null || echo /usr/bin/initdb)")

_pg_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_start() {
	[ -x "$PG_BIN/initdb" ] || { echo "pg.sh: no initdb in $PG_BIN (install postgresql)" >&2; return 1; }
	PG_DIR=$(mktemp -d /tmp/nappt-pg.$$.XXXXXX) || return 1
	chmod 0755 "$PG_DIR"
	[ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR"
	PG_SOCK=$PG_DIR
	_pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -A trust -U postgres \
		--no-sync -E UTF8 >"$PG_DIR/initdb.log" 2>&1 ||
		{ cat "$PG_DIR/initdb.log" >&2; return 1; }
	# fsync stays on: the kill -9 tests count on commits being durable.
	_pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
		-o "-c listen_addresses='' -c unix_socket_directories='$PG_DIR' \
		    -c max_connections=50 -c shared_buffers=32MB ${PG_OPTS:-}" \
		start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
	_pg_as "$PG_BIN/psql" -h "$PG_DIR" -U postgres -d postgres -qAt \
		-c "CREATE DATABASE nappt" >/dev/null || return 1
	PG_URI="postgresql:///nappt?host=$PG_DIR&user=postgres"
	export PG_DIR PG_SOCK PG_URI
}

pg_createdb() {
	_pg_as "$PG_BIN/psql" -h "$PG_DIR" -U postgres -d postgres -qAt \
		-c "CREATE DATABASE $1" >/dev/null || return 1
	echo "postgresql:///$1?host=$PG_DIR&user=postgres"
}

pg_sql() {
	"$PG_BIN/psql" "${PG_URI_SQL:-$PG_URI}" -qAtX -v ON_ERROR_STOP=1 -c "$1"
}

pg_cleanup() {
	[ -n "$PG_DIR" ] && [ -d "$PG_DIR" ] || return 0
	if [ -f "$PG_DIR/data/postmaster.pid" ]; then
		_pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w -t 30 \
			stop >/dev/null 2>&1
	fi
	rm -rf "$PG_DIR"
	PG_DIR=
}
