#!/usr/bin/env bash
# Run one test binary in a throw-away namespace (own bpffs, no pinned
# state of a live gateway in sight).
set -u
. "$(dirname "$0")/lib/netns.sh"
need_root
trap ns_cleanup EXIT
ns_add unit >/dev/null
nsx unit "$@"
