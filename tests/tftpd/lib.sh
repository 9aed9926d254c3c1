# shellcheck shell=bash
# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# The tftpd tests and bench: the shared namespace and check helpers
# (tests/lib/netns.sh) and the one link they use.  Addresses:
# 198.18.69.0/24 only, no default route.  TFT_TMP, if set, is removed by
# tft_cleanup (installed with trap EXIT before anything is created).

# shellcheck source=tests/lib/netns.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/netns.sh"

TFT_TMP=""

# tft_link SRV_NS CLI_NS: veth between them, server .1, client .2
tft_link() {
	veth "$1:tfs0" "$2:tfc0" || return 1
	ip -n "$(ns_name "$1")" addr add 198.18.69.1/24 dev tfs0
	ip -n "$(ns_name "$2")" addr add 198.18.69.2/24 dev tfc0
}

tft_cleanup() {
	ns_cleanup
	[ -z "$TFT_TMP" ] || rm -rf "$TFT_TMP"
}
