// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * NAPPT data plane entry points: XDP for the LAN and WAN interfaces, and
 * the same core as TC ingress programs for interfaces or packets XDP
 * cannot serve.  All logic lives in lib/nat.h.
 */
#include "lib/nat.h"

SEC("xdp")
int xdp_lan(struct xdp_md *ctx)
{
	struct pkt p;

	pkt_from_xdp(&p, ctx);
	return verdict_xdp(&p, nappt_handle_lan(&p));
}

SEC("xdp")
int xdp_wan(struct xdp_md *ctx)
{
	struct pkt p;

	pkt_from_xdp(&p, ctx);
	return verdict_xdp(&p, nappt_handle_wan(&p));
}

SEC("tc")
int tc_lan(struct __sk_buff *skb)
{
	struct pkt p;

	pkt_from_skb(&p, skb);
	return verdict_tc(&p, nappt_handle_tc(&p, 0));
}

SEC("tc")
int tc_wan(struct __sk_buff *skb)
{
	struct pkt p;

	pkt_from_skb(&p, skb);
	return verdict_tc(&p, nappt_handle_tc(&p, 1));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
