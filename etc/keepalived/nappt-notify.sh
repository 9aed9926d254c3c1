#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#
# keepalived notify script of a nappt gateway pair (issue 14):
#
#   nappt-notify.sh MASTER|BACKUP|FAULT|STOP [ENVFILE]
#
# MASTER: this gateway now holds the service addresses (the LAN gateway
# address, which is also the DHCP server identifier, and the public
# addresses), so it takes over the pool parts it serves and starts the
# provisioner, which loads their leases from the database into this
# gateway's maps before it answers a single DHCP message: the phones'
# traffic flows again as soon as the maps hold their leases, and their
# RENEWING unicasts to the server identifier reach this provisioner.
# Anything else: the provisioner stops (a gateway without the addresses
# must not answer DHCP; the database's fencing epoch stops it allocating
# in any case).
#
# ENVFILE (default /etc/default/nappt-failover) sets
#   PROV=/usr/local/sbin/nappt-provisioner PROV_CONF=/etc/nappt/provisioner.conf
#   PEER=GATEWAY_ID            the other gateway's gateway_id, whose parts
#                              of the pool this one takes over on MASTER
# and either
#   PROV_UNIT=nappt-provisioner.service          (systemctl start/stop)
# or, to run it directly (the tests):
#   PROV_ARGS=... PROV_PIDFILE=FILE PROV_LOG=FILE
# and NOTIFY_LOG=FILE (else stderr, i.e. keepalived's log), NOTIFY_LOCK=FILE
# (default /run/nappt-notify.lock), NAPPT="nappt --pin-dir DIR" (default
# nappt), EMPTY_PIDFILE=FILE (default /run/nappt-notify-empty.pid).
#
# Anything but MASTER also empties this gateway's maps (in the
# background): a gateway without the addresses gets no frame addressed to
# it, but a switch floods a frame whose destination it forgot (ageing, or
# a MAC flood from an attacker on the segment), and a data plane still
# holding leases that have since moved or ended would translate it: a
# duplicate, or a phone's inbound traffic delivered to whoever held its
# range before.  MASTER stops the emptying first; its provisioner then
# maps every lease it owns again.
#
# keepalived runs notify scripts without waiting for them and may run
# the next one while this one runs, so each step is idempotent.
set -u
state=${1:-}
envf=${2:-/etc/default/nappt-failover}
PROV_UNIT=
PROV=/usr/local/sbin/nappt-provisioner
PROV_CONF=/etc/nappt/provisioner.conf
PEER=
PROV_ARGS=
PROV_PIDFILE=
PROV_LOG=/dev/null
NOTIFY_LOG=
NOTIFY_LOCK=
NAPPT=nappt
EMPTY_PIDFILE=/run/nappt-notify-empty.pid
# shellcheck disable=SC1090
. "$envf" || exit 1

log() {
	if [ -n "$NOTIFY_LOG" ]; then
		echo "$(date +%s.%N) $*" >>"$NOTIFY_LOG"
	else
		echo "nappt-notify: $*" >&2
	fi
}

prov_running() {
	[ -s "$PROV_PIDFILE" ] && kill -0 "$(cat "$PROV_PIDFILE")" 2>/dev/null
}

# The peer's parts become ours with epoch + 1 in the lease database: from
# that commit on, whatever the peer still runs (a split brain: VRRP
# silent, the peer alive) writes and ACKs nothing in them.  Before the
# provisioner starts, so that it loads their leases into this gateway's
# maps at once; a provisioner already running reloads on SIGHUP.
takeover() {
	[ -n "$PEER" ] || return 0
	"$PROV" takeover -c "$PROV_CONF" --from "$PEER" >>"${NOTIFY_LOG:-/dev/stderr}" 2>&1
	case $? in
	0) log "took over the parts of $PEER" ;;
	1) log "$PEER owned no part" ;;
	*) log "takeover from $PEER failed" ;;
	esac
}

prov_start() {
	if [ -n "$PROV_UNIT" ]; then
		if systemctl is-active -q "$PROV_UNIT"; then
			systemctl kill -s HUP --kill-whom=main "$PROV_UNIT"
		else
			systemctl start "$PROV_UNIT"
		fi
		return
	fi
	if prov_running; then
		kill -HUP "$(cat "$PROV_PIDFILE")"
		return 0
	fi
	# Its own session, so that stopping it reaches the parser and the
	# map writer too (kill of the process group).
	# Not with the lock (fd 9): it would hold it for its whole life.
	# shellcheck disable=SC2086
	setsid "$PROV" -c "$PROV_CONF" $PROV_ARGS </dev/null >>"$PROV_LOG" 2>&1 9>&- &
	echo $! >"$PROV_PIDFILE"
}

prov_stop() {
	if [ -n "$PROV_UNIT" ]; then
		systemctl stop "$PROV_UNIT"
		return
	fi
	prov_running || return 0
	pid=$(cat "$PROV_PIDFILE")
	kill -TERM "-$pid" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "-$pid" 2>/dev/null
	rm -f "$PROV_PIDFILE"
}

maps_empty() {
	# Its own session, without the lock: MASTER may have to stop it.
	# shellcheck disable=SC2016
	setsid sh -c '$1 phone list 2>/dev/null | while read -r priv _; do
		$1 phone del "$priv" >/dev/null 2>&1
	done' sh "$NAPPT" </dev/null >/dev/null 2>&1 9>&- &
	echo $! >"$EMPTY_PIDFILE"
}

maps_empty_stop() {
	[ -s "$EMPTY_PIDFILE" ] || return 0
	pid=$(cat "$EMPTY_PIDFILE")
	kill -KILL "-$pid" 2>/dev/null
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	rm -f "$EMPTY_PIDFILE"
}

# keepalived may run the next script while this one runs (a MASTER
# whose takeover waits for the database, then BACKUP): one at a time, in
# the order they started, or a stop could pass a start and leave a
# provisioner answering DHCP on a BACKUP.
lock=${NOTIFY_LOCK:-/run/nappt-notify.lock}
if touch "$lock" 2>/dev/null; then
	exec 9>>"$lock"
	flock 9
else
	log "no lock $lock: running unserialised"
fi

log "state $state"
case "$state" in
MASTER)
	maps_empty_stop
	takeover
	prov_start
	log "provisioner started"
	;;
BACKUP | FAULT | STOP)
	prov_stop
	maps_empty
	log "provisioner stopped, maps being emptied"
	;;
*)
	log "unknown state '$state'"
	exit 2
	;;
esac
exit 0
