#!/usr/bin/env bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# Run the TFTP request fuzzer for a bounded time from a small seed corpus.
# Usage: run-fuzz.sh FUZZER SECONDS.  Last line: "N passed, N failed".
set -uo pipefail

fuzzer=$1
secs=${2:-20}
work=$(mktemp -d /tmp/tft-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/corpus"
seed() { printf "$2" >"$work/corpus/$1"; }
seed plain '\0\001SEP001122334455.cnf.xml\0octet\0'
seed opts '\0\001f.bin\0octet\0blksize\0001428\0tsize\0000\0timeout\0003\0windowsize\00016\0'
seed ascii '\0\001a.txt\0netascii\0blksize\0008\0'
seed wrq '\0\002up\0octet\0'
seed trick '\0\001a\0../../etc/passwd\0octet\0'

if timeout $((secs + 30)) "$fuzzer" -max_total_time="$secs" -max_len=1024 \
	-print_final_stats=1 "$work/corpus" >"$work/log" 2>&1; then
	grep -E '^stat::number_of_executed_units' "$work/log" || true
	echo "1 passed, 0 failed"
else
	tail -n 40 "$work/log"
	echo "0 passed, 1 failed"
	exit 1
fi
