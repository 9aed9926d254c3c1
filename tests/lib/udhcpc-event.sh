#!/bin/sh
# busybox udhcpc's event script for the simulated phones: apply the lease
# (a route to the internet hosts, never a default route out of the test's
# namespace) and keep what the server said in $OUT for the test to read.
case "$1" in
bound|renew)
	ip addr flush dev "$interface"
	ip addr add "$ip/$mask" dev "$interface"
	ip route add 198.51.100.0/24 via "$router" dev "$interface" 2>/dev/null
	env | grep -E '^(ip|mask|router|serverid|lease|boot_file|bootfile|tftp|opt150|siaddr|opt159)=' >"$OUT"
	;;
esac
exit 0
