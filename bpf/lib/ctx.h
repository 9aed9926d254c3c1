/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The context layer: one translation core serves XDP (struct xdp_md) and
 * TC (struct __sk_buff).  The core sees a struct pkt and returns a verdict;
 * only the entry points in nappt.bpf.c know which hook they run in.
 */
#ifndef NAPPT_CTX_H
#define NAPPT_CTX_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "maps.h"

enum verdict {
	V_PASS,
	V_DROP,
	V_REDIRECT, /* to pkt.out_ifindex, MACs already rewritten */
	V_REDIRECT_NEIGH, /* TC only: kernel fills in the MACs */
};

struct pkt {
	void *ctx; /* xdp_md or __sk_buff, for helpers taking either */
	void *data;
	void *data_end;
	__u32 ifindex; /* ingress */
	__u32 len;
	__u32 out_ifindex;
	__u8 xdp;
	__u8 gso; /* TC: a GSO aggregate, segmented on transmit */
};

/* How much of the headers TC needs linear: Ethernet + IP with options +
 * ICMP + inner IP with options + inner L4 checksum. */
#define TC_PULL_LEN (14 + 60 + 8 + 60 + 20)

static __always_inline void pkt_from_xdp(struct pkt *p, struct xdp_md *ctx)
{
	p->ctx = ctx;
	p->data = (void *)(long)ctx->data;
	p->data_end = (void *)(long)ctx->data_end;
	p->ifindex = ctx->ingress_ifindex;
	p->len = p->data_end - p->data;
	p->out_ifindex = 0;
	p->xdp = 1;
	p->gso = 0;
}

static __always_inline void pkt_from_skb(struct pkt *p, struct __sk_buff *skb)
{
	__u32 want = skb->len < TC_PULL_LEN ? skb->len : TC_PULL_LEN;

	/* Direct packet access only sees the linear part. */
	if ((long)skb->data_end - (long)skb->data < want)
		bpf_skb_pull_data(skb, want);
	p->ctx = skb;
	p->data = (void *)(long)skb->data;
	p->data_end = (void *)(long)skb->data_end;
	p->ifindex = skb->ingress_ifindex;
	p->len = skb->len;
	p->out_ifindex = 0;
	p->xdp = 0;
	p->gso = skb->gso_size != 0;
}

static __always_inline int verdict_xdp(struct pkt *p, enum verdict v)
{
	switch (v) {
	case V_DROP:
		return XDP_DROP;
	case V_REDIRECT:
	case V_REDIRECT_NEIGH:
		/* A device missing from tx_ports falls back to the kernel. */
		return bpf_redirect_map(&tx_ports, p->out_ifindex, XDP_PASS);
	default:
		return XDP_PASS;
	}
}

static __always_inline int verdict_tc(struct pkt *p, enum verdict v)
{
	switch (v) {
	case V_DROP:
		return TC_ACT_SHOT;
	case V_REDIRECT:
		return bpf_redirect(p->out_ifindex, 0);
	case V_REDIRECT_NEIGH:
		return bpf_redirect_neigh(p->out_ifindex, NULL, 0, 0);
	default:
		return TC_ACT_OK;
	}
}

#endif /* NAPPT_CTX_H */
