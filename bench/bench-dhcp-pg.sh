# shellcheck shell=bash
# Sourced by bench/bench-dhcp.sh (its namespaces, cgroup, perf and measure
# functions): the same comparison with both servers on PostgreSQL (issue
# 14).  Ours: lease_db = postgresql://, one gateway owning the pool, every
# ACK after the COMMIT of its batch (synchronous_commit = on).  Kea 2.2:
# its PostgreSQL lease backend (`kea-admin db-init pgsql`), multi-threaded
# and single-threaded, the faster kept.  One throwaway cluster
# (tests/lib/pg.sh), a database per server, fsync on.  The cluster's
# processes run on the server's CPU and in the server's cgroup: the CPU
# budget covers server and database together, the same for both.
# Prints RESULT dhcp_pg and the per-exchange costs (server and database
# CPU, transactions, for the scaling note in README.md).

. "$SRC/tests/lib/pg.sh"
trap 'ns_cleanup; pg_cleanup; umount "$T/phones" 2>/dev/null; rm -rf "$T"; [ -n "$CG" ] && rmdir "$CG" 2>/dev/null' EXIT
pg_start || { echo "bench-dhcp: PostgreSQL did not start" >&2; exit 1; }
PG_MAIN=$(head -1 "$PG_DIR/data/postmaster.pid")

# The cluster's processes: the postmaster and its children.
pg_procs() { echo "$PG_MAIN"; ps -o pid= --ppid "$PG_MAIN"; }
pg_ticks() {
	local p t=0
	for p in $(pg_procs); do t=$((t + $(cpu_ticks "$p"))); done
	echo $t
}
# Later backends are forked by the postmaster: they inherit both.
for p in $(pg_procs); do
	taskset -a -p -c "$SRV_CPU" "$p" >/dev/null
	cg_join "$p"
done

OURS_DB=$(pg_createdb ours)
KEA_DB=kea
pg_createdb "$KEA_DB" >/dev/null
kea-admin db-init pgsql -u postgres -p unused -n "$KEA_DB" -h "$PG_DIR" >"$T/kea-admin.out" 2>&1 ||
	{ cat "$T/kea-admin.out" >&2; exit 1; }

commits() { PG_URI_SQL=$1 pg_sql "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"; }

# costs NAME PID DB_URI: one run at COST_RATE without a budget: the
# server's and the database's CPU per completed exchange, and the
# database's commits per exchange.
COST_RATE=${COST_RATE:-2000}
costs() {
	local d0 d1 c0 c1 acks
	cg_limit 0
	d0=$(pg_ticks)
	c0=$(commits "$3")
	RATE=$COST_RATE perf "$CLIENTS" "$2" >/dev/null
	d1=$(pg_ticks)
	c1=$(commits "$3")
	acks=$(awk '/Statistics for: REQUEST-ACK/ {s = 1} s && /received packets/ {print $3; exit}' "$T/perf.out")
	awk -v n="${acks:-0}" -v srv="$(cat "$T/cpu")" -v t=$((d1 - d0)) -v hz="$(getconf CLK_TCK)" \
		-v c=$((c1 - c0)) -v name="$1" 'BEGIN { if (n > 0)
		printf("%s_srv_us=%.0f %s_db_us=%.0f %s_tx_per_exchange=%.2f\n", name, srv, name,
		       t * 1e6 / hz / n, name, c / n); else print name "_srv_us=0" }'
}

# --- ours on PostgreSQL ---
ours_conf
sed -i "s|^lease_db = .*|lease_db = ${OURS_DB//&/\\&}|" "$T/prov.conf"
# The first start reconciles the maps with an empty database: the
# mappings of the SQLite run before go, which takes a while.
start_ours_pg() {
	start_ours >/dev/null && return 0
	for _ in $(seq 1200); do
		grep -q "serving DHCP" "$T/prov.log" && return 0
		sleep 0.1
	done
	cat "$T/prov.log"
	return 1
}
start_ours_pg || exit 1
read -r PO_FREE PO_FREE_CPU PO_RATE PO_CPU <<<"$(measure "ours (PostgreSQL)" $OURS)"
PO_LEASES=$(PG_URI_SQL=$OURS_DB pg_sql "SELECT count(*) FROM nappt_leases")
PO_COST=$(costs ours $OURS "$OURS_DB")
kill $OURS
wait $OURS 2>/dev/null
echo "ours (PostgreSQL): ${PO_FREE:-0} DORA/s free (${PO_FREE_CPU} us server CPU per exchange), ${PO_RATE:-0} within ${CPU_LIMIT}% of a CPU for server and database; $PO_LEASES leases stored; $PO_COST"

# --- Kea on PostgreSQL ---
kea_pg_run() {
	PG_URI_SQL=postgresql:///$KEA_DB?host=$PG_DIR\&user=postgres pg_sql "TRUNCATE lease4" >/dev/null
	kea_start "$1" '{ "type": "postgresql", "name": "'"$KEA_DB"'", "host": "'"$PG_DIR"'",
                      "user": "postgres", "password": "unused" }' \
		"kea PostgreSQL (multi-threading $1)"
	costs "kea_$2" $KEA "postgresql:///$KEA_DB?host=$PG_DIR&user=postgres" >"$T/kea-cost-$2"
	kill $KEA
	wait $KEA 2>/dev/null
}
read -r KPM_FREE KPM_FREE_CPU KPM KPM_CPU <<<"$(kea_pg_run true mt)"
read -r KPS_FREE KPS_FREE_CPU KPS KPS_CPU <<<"$(kea_pg_run false st)"
echo "kea PostgreSQL multi-threaded: ${KPM_FREE:-0} DORA/s free (${KPM_FREE_CPU:-0} us), ${KPM:-0} within ${CPU_LIMIT}% (${KPM_CPU:-0} us); $(cat "$T/kea-cost-mt")"
echo "kea PostgreSQL single-threaded: ${KPS_FREE:-0} DORA/s free (${KPS_FREE_CPU:-0} us), ${KPS:-0} within ${CPU_LIMIT}% (${KPS_CPU:-0} us); $(cat "$T/kea-cost-st")"
read -r KP_FREE KP_RATE KP_MODE <<<"$(awk -v a="${KPM:-0}" -v b="${KPS:-0}" \
	-v fa="${KPM_FREE:-0} ${KPM:-0}" -v fb="${KPS_FREE:-0} ${KPS:-0}" \
	'BEGIN { print ((a > b) ? fa " mt" : fb " st") }')"
pg_ratio() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { printf("%.2f", (b > 0) ? a / b : 0) }'; }
# ours/kea: within the same CPU budget for server and database together.
echo "RESULT dhcp_pg ours=${PO_RATE:-0} kea=${KP_RATE:-0} ratio=$(pg_ratio "$PO_RATE" "$KP_RATE") cpu_limit_pct=$CPU_LIMIT kea_mode=$KP_MODE free_ours=${PO_FREE:-0} free_kea=${KP_FREE:-0} free_ratio=$(pg_ratio "$PO_FREE" "$KP_FREE") $PO_COST $(cat "$T/kea-cost-$KP_MODE")"
