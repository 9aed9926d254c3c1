// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Table-driven BPF_PROG_TEST_RUN tests of the NAPPT programs.
 *
 * Each row: a description, the input frame, the expected verdict, the
 * expected output frame (built from scratch, checksums included) and the
 * counter that must move.  The same rows run through the XDP programs and
 * the TC programs.  Rows run in order: the fragment rows rely on the first
 * fragment having been seen by an earlier row, as on the wire.
 *
 * Runs inside the namespace tests/bpf/run-datapath.sh builds (lan0/wan0
 * with fixed MACs, routes and permanent neighbours) so that the FIB
 * lookups in the programs give known answers.
 */
#include <errno.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/if_link.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cmocka.h>

#include "libnappt.h"
#include "private-maps.h"
#include "pktgen.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (b) << 16 | (c) << 8 | (d))

static const uint8_t MAC_LAN0[6] = { 2, 0, 0, 0, 1, 1 };
static const uint8_t MAC_WAN0[6] = { 2, 0, 0, 0, 2, 1 };
static const uint8_t MAC_A[6] = { 2, 0, 0, 0, 0, 0x0a };
static const uint8_t MAC_B[6] = { 2, 0, 0, 0, 0, 0x0b };
static const uint8_t MAC_EVIL[6] = { 2, 0, 0, 0, 0, 0x66 };
static const uint8_t MAC_NH[6] = { 2, 0, 0, 0, 0xff, 2 }; /* 198.18.0.2 */

#define LAN_NET IP(100, 64, 0, 0)
#define PUB_NET IP(203, 0, 113, 0)
#define NO_LEASE IP(100, 64, 0, 99) /* no phone's: see setup_env() */
#define GW_LAN IP(100, 64, 0, 1)
#define PUB1 IP(203, 0, 113, 1)
#define PUB2 IP(203, 0, 113, 2)
#define FAR IP(198, 51, 100, 7)
#define FAR_SMALL_MTU IP(198, 51, 100, 200)
#define NEXTHOP IP(198, 18, 0, 2)
#define ONLINK_NO_NEIGH IP(198, 18, 0, 99)
#define FAR_UNCACHED IP(198, 51, 100, 9)
#define FOREIGN IP(192, 0, 2, 55)
#define LAN_MTU 1400 /* lan0's MTU, set after the config said 1500 */

static const uint8_t MAC_C[6] = { 2, 0, 0, 0, 0, 0x0c };

/*
 * A phone's private address is derived from its public address and first
 * slot (struct nappt_slot), so the phones' addresses are computed from
 * their leases (derive_addrs()), never written down here; host order.
 * run-datapath.sh asks for them (--addrs) to set up neighbours and
 * routes.  A: PUB1 ports 2048-3071; B: PUB1 3072-4095; C: PUB1 4096-5119
 * (behind an unreachable route); D: PUB1 5120-7167 (two slots) with A's
 * MAC, written raw by the rows that need it; D2: the key of D's second
 * slot as an address, which is no one's; E: PUB1 8192-10239 (two slots).
 */
static uint32_t phone_a, phone_b, phone_c, phone_d, phone_d2, phone_e;
#define PHONE_A phone_a
#define PHONE_B phone_b
#define PHONE_C phone_c
#define PHONE_D phone_d
#define PHONE_D2 phone_d2
#define PHONE_E phone_e

enum side { LAN, WAN };
enum expect {
	X_PASS, /* untouched, to the kernel */
	X_DROP, /* untouched, dropped */
	X_REDIRECT, /* translated, MACs from the FIB, TTL - 1 */
	X_PASS_XLATED, /* XDP: translated, kernel resolves ARP; TC: redirect
			* through bpf_redirect_neigh with TTL - 1 */
	X_TX, /* an ICMP error back out of the ingress interface: XDP_TX,
	       * TC bpf_redirect to the ingress device */
};

struct row {
	const char *name;
	enum side side;
	void (*setup)(struct pktspec *in, struct pktspec *out);
	enum expect expect;
	enum nappt_stat stat;
	int xdp_only; /* skb test runs need a whole Ethernet header */
	int tc_only;
	/* Optional: the expected frame as raw bytes (ICMP errors the hook
	 * builds), a change of state before and after the row, config
	 * flags for the row, a GSO segment size for the TC run. */
	size_t (*expect_raw)(const struct pktspec *in, uint8_t *out);
	void (*pre)(void);
	void (*post)(void);
	uint32_t cfg_flags;
	uint16_t gso_size;
	uint16_t lan_vid; /* config: the LAN parent's voice VLAN */
};

/* --- building blocks -------------------------------------------------- */

struct env {
	struct nappt_bpf *skel;
	struct nappt_maps maps;
	int lan_if, wan_if;
	int tc; /* run the TC programs */
};

static struct env E;

static void base_out(struct pktspec *p)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->dmac, MAC_LAN0, 6);
	memcpy(p->smac, MAC_A, 6);
	p->ip.saddr = PHONE_A;
	p->ip.daddr = FAR;
	p->ip.ttl = 64;
	p->ip.id = 0x1234;
	p->ip.frag = 0x4000; /* DF */
	p->ip.proto = IPPROTO_UDP;
	p->ip.sport = 2100;
	p->ip.dport = 5060;
	p->ip.payload = 32;
}

static void base_in(struct pktspec *p)
{
	memset(p, 0, sizeof(*p));
	memcpy(p->dmac, MAC_WAN0, 6);
	memcpy(p->smac, MAC_NH, 6);
	p->ip.saddr = FAR;
	p->ip.daddr = PUB1;
	p->ip.ttl = 60;
	p->ip.id = 0x4321;
	p->ip.frag = 0x4000;
	p->ip.proto = IPPROTO_UDP;
	p->ip.sport = 5060;
	p->ip.dport = 2100;
	p->ip.payload = 32;
}

/* What a translated outbound frame looks like after a FIB hit. */
static void xlate_out(const struct pktspec *in, struct pktspec *out)
{
	*out = *in;
	memcpy(out->dmac, MAC_NH, 6);
	memcpy(out->smac, MAC_WAN0, 6);
	out->ip.saddr = PUB1;
	out->ip.ttl = in->ip.ttl - 1;
}

static void xlate_in(const struct pktspec *in, struct pktspec *out,
		     uint32_t phone, const uint8_t *mac)
{
	*out = *in;
	memcpy(out->dmac, mac, 6);
	memcpy(out->smac, MAC_LAN0, 6);
	out->ip.daddr = phone;
	out->ip.ttl = in->ip.ttl - 1;
}

/* --- rows ------------------------------------------------------------- */

static void udp_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	xlate_out(in, out);
}

static void udp_in(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	xlate_in(in, out, PHONE_A, MAC_A);
}

static void tcp_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.proto = IPPROTO_TCP;
	in->ip.tcp_flags = 0x02;
	in->ip.dport = 443;
	xlate_out(in, out);
}

static void tcp_in(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.proto = IPPROTO_TCP;
	in->ip.tcp_flags = 0x12;
	in->ip.sport = 443;
	xlate_in(in, out, PHONE_A, MAC_A);
}

static void out_first_port(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.sport = 2048;
	xlate_out(in, out);
}

static void out_last_port(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.sport = 3071;
	xlate_out(in, out);
}

static void out_below_range(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.sport = 2047;
	*out = *in;
}

static void out_above_range(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.sport = 3072; /* phone B's first port */
	*out = *in;
}

static void in_last_port(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.dport = 3071;
	xlate_in(in, out, PHONE_A, MAC_A);
}

static void in_next_phone(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.dport = 3072;
	xlate_in(in, out, PHONE_B, MAC_B);
}

static void in_below_range(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.dport = 2047; /* slot 1: not leased */
	*out = *in;
}

static void in_reserved_port(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.proto = IPPROTO_TCP;
	in->ip.dport = 22; /* the gateway's own ssh */
	*out = *in;
}

static void in_unleased_ip(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.daddr = PUB2;
	*out = *in;
}

static void out_unknown_phone(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.saddr = NO_LEASE;
	*out = *in;
}

static void out_spoofed_mac(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	memcpy(in->smac, MAC_EVIL, 6);
	*out = *in;
}

static void out_phone_b_as_a(struct pktspec *in, struct pktspec *out)
{
	/* B's MAC and A's address: the lease binds both. */
	base_out(in);
	memcpy(in->smac, MAC_B, 6);
	*out = *in;
}

static void ipv6_frame(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ethertype = 0x86dd;
	in->raw = 60;
	*out = *in;
}

static void arp_frame(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	memset(in->dmac, 0xff, 6);
	in->ethertype = 0x0806;
	in->raw = 28;
	*out = *in;
}

static void vlan_frame(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->vlan = 100;
	*out = *in;
}

static void trunc_eth(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->trunc = 14;
	*out = *in;
}

static void trunc_ip(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->trunc = 14 + 12;
	*out = *in;
}

static void trunc_ip_totlen(struct pktspec *in, struct pktspec *out)
{
	/* tot_len says more than the frame holds. */
	base_out(in);
	in->trunc = 14 + 20 + 8 + 10;
	*out = *in;
}

static void trunc_udp(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.l4_trunc = 4;
	*out = *in;
}

static void trunc_tcp_in(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.proto = IPPROTO_TCP;
	in->ip.l4_trunc = 12;
	*out = *in;
}

static void ip_options_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.opt_words = 2;
	xlate_out(in, out);
}

static void ip_options_in(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.opt_words = 10; /* IHL 15, the maximum */
	in->ip.proto = IPPROTO_TCP;
	xlate_in(in, out, PHONE_A, MAC_A);
}

static void ttl1_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.ttl = 1;
	*out = *in;
}

static void ttl1_in(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.ttl = 1;
	*out = *in;
}

static void udp_csum0_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.udp_csum_zero = 1;
	xlate_out(in, out);
}

static void udp_csum0_in(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.udp_csum_zero = 1;
	xlate_in(in, out, PHONE_A, MAC_A);
}

static void frag_first_in(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.id = 0x7001;
	in->ip.frag = 0x2000; /* MF, offset 0 */
	in->ip.payload = 64;
	in->ip.udp_len_extra = 100;
	xlate_in(in, out, PHONE_A, MAC_A);
}

static void frag_next_in(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.id = 0x7001;
	in->ip.frag = 9; /* offset 72 bytes, last */
	in->ip.no_l4 = 1;
	in->ip.payload = 100;
	xlate_in(in, out, PHONE_A, MAC_A);
}

static void frag_unknown_in(struct pktspec *in, struct pktspec *out)
{
	/* Out of order: no first fragment seen for this id. */
	base_in(in);
	in->ip.id = 0x7002;
	in->ip.frag = 0x2000 | 9;
	in->ip.no_l4 = 1;
	in->ip.payload = 64;
	*out = *in;
}

static void frag_first_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.frag = 0x2000;
	in->ip.payload = 64;
	in->ip.udp_len_extra = 100;
	xlate_out(in, out);
}

static void frag_next_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.frag = 9;
	in->ip.no_l4 = 1;
	in->ip.payload = 100;
	xlate_out(in, out);
}

static void frag_next_out_spoof(struct pktspec *in, struct pktspec *out)
{
	frag_next_out(in, out);
	memcpy(in->smac, MAC_EVIL, 6);
	*out = *in;
}

static void echo_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.proto = IPPROTO_ICMP;
	in->ip.icmp_type = 8;
	in->ip.icmp_id = 2500;
	in->ip.icmp_seq = 1;
	xlate_out(in, out);
}

static void echo_reply_in(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.proto = IPPROTO_ICMP;
	in->ip.icmp_type = 0;
	in->ip.icmp_id = 2500;
	in->ip.icmp_seq = 1;
	xlate_in(in, out, PHONE_A, MAC_A);
}

static void echo_out_bad_id(struct pktspec *in, struct pktspec *out)
{
	echo_out(in, out);
	in->ip.icmp_id = 7;
	*out = *in;
}

static void echo_request_in(struct pktspec *in, struct pktspec *out)
{
	echo_reply_in(in, out);
	in->ip.icmp_type = 8;
	*out = *in;
}

/* The phone's UDP packet as it left the gateway (public source). */
static struct ipspec quoted_udp, quoted_udp_priv, quoted_tcp, quoted_tcp_priv,
	quoted_in, quoted_in_pub;

static void quotes(void)
{
	memset(&quoted_udp, 0, sizeof(quoted_udp));
	quoted_udp.saddr = PUB1;
	quoted_udp.daddr = FAR_SMALL_MTU;
	quoted_udp.ttl = 63;
	quoted_udp.frag = 0x4000;
	quoted_udp.proto = IPPROTO_UDP;
	quoted_udp.sport = 2100;
	quoted_udp.dport = 5060;
	quoted_udp.payload = 40;
	quoted_udp_priv = quoted_udp;
	quoted_udp_priv.saddr = PHONE_A;

	quoted_tcp = quoted_udp;
	quoted_tcp.proto = IPPROTO_TCP;
	quoted_tcp.tcp_flags = 0x18;
	quoted_tcp.payload = 0;
	quoted_tcp_priv = quoted_tcp;
	quoted_tcp_priv.saddr = PHONE_A;

	/* A packet the phone received, quoted in its own error. */
	memset(&quoted_in, 0, sizeof(quoted_in));
	quoted_in.saddr = FAR;
	quoted_in.daddr = PHONE_A;
	quoted_in.ttl = 59;
	quoted_in.proto = IPPROTO_UDP;
	quoted_in.sport = 5060;
	quoted_in.dport = 2100;
	quoted_in.payload = 12;
	quoted_in_pub = quoted_in;
	quoted_in_pub.daddr = PUB1;
}

static void icmp_err_in(struct pktspec *in, struct pktspec *out,
			const struct ipspec *q, const struct ipspec *q_priv,
			uint8_t type, uint8_t code, uint16_t mtu)
{
	base_in(in);
	in->ip.saddr = NEXTHOP; /* a router on the path */
	in->ip.frag = 0;
	in->ip.proto = IPPROTO_ICMP;
	in->ip.icmp_type = type;
	in->ip.icmp_code = code;
	in->ip.icmp_seq = mtu; /* next-hop MTU sits in the low word */
	in->ip.payload = 0;
	in->ip.inner = q;
	xlate_in(in, out, PHONE_A, MAC_A);
	out->ip.inner = q_priv;
}

static void frag_needed_in(struct pktspec *in, struct pktspec *out)
{
	icmp_err_in(in, out, &quoted_udp, &quoted_udp_priv, 3, 4, 1000);
}

static void port_unreach_in(struct pktspec *in, struct pktspec *out)
{
	icmp_err_in(in, out, &quoted_udp, &quoted_udp_priv, 3, 3, 0);
}

static void time_exceeded_tcp_in(struct pktspec *in, struct pktspec *out)
{
	icmp_err_in(in, out, &quoted_tcp, &quoted_tcp_priv, 11, 0, 0);
}

static void frag_needed_short_quote(struct pktspec *in, struct pktspec *out)
{
	/* RFC 792 minimum: IP header + 8 bytes; TCP's checksum not quoted. */
	icmp_err_in(in, out, &quoted_tcp, &quoted_tcp_priv, 3, 4, 1000);
	in->ip.inner_quote = 28;
	out->ip.inner_quote = 28;
}

static void icmp_err_in_foreign(struct pktspec *in, struct pktspec *out)
{
	/* Quotes a source that is not the outer destination. */
	icmp_err_in(in, out, &quoted_udp_priv, &quoted_udp_priv, 3, 3, 0);
	*out = *in;
}

static void port_unreach_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.frag = 0;
	in->ip.proto = IPPROTO_ICMP;
	in->ip.icmp_type = 3;
	in->ip.icmp_code = 3;
	in->ip.payload = 0;
	in->ip.inner = &quoted_in;
	xlate_out(in, out);
	out->ip.inner = &quoted_in_pub;
}

static void hairpin(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.daddr = PUB1;
	in->ip.dport = 3100; /* phone B's range */
	*out = *in;
	memcpy(out->dmac, MAC_B, 6);
	memcpy(out->smac, MAC_LAN0, 6);
	out->ip.saddr = PUB1;
	out->ip.daddr = PHONE_B;
	out->ip.ttl = 63;
}

static void hairpin_unleased(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.daddr = PUB2;
	*out = *in;
}

static void to_gateway(struct pktspec *in, struct pktspec *out)
{
	/* TFTP to the gateway from an ephemeral port outside the range. */
	base_out(in);
	in->ip.daddr = GW_LAN;
	in->ip.sport = 50000;
	in->ip.dport = 69;
	*out = *in;
}

static void dhcp_discover(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	memset(in->dmac, 0xff, 6);
	in->ip.saddr = 0;
	in->ip.daddr = 0xffffffff;
	in->ip.sport = 68;
	in->ip.dport = 67;
	in->ip.payload = 240;
	*out = *in;
}

static void no_neigh_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.daddr = ONLINK_NO_NEIGH;
	*out = *in;
	out->ip.saddr = PUB1; /* MACs and TTL: set per hook below */
}

static void no_route_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.daddr = IP(192, 0, 2, 1); /* no route, no default route */
	*out = *in;
}

static void big_df_out(struct pktspec *in, struct pktspec *out)
{
	/* Over the route MTU with DF: the kernel sends Frag Needed. */
	base_out(in);
	in->ip.daddr = FAR_SMALL_MTU;
	in->ip.payload = 1200;
	*out = *in;
}

static void small_to_small_mtu(struct pktspec *in, struct pktspec *out)
{
	/* Fills the next-hop cache for this route with a small max_len. */
	base_out(in);
	in->ip.daddr = FAR_SMALL_MTU;
	xlate_out(in, out);
}

static void big_in(struct pktspec *in, struct pktspec *out)
{
	/* Larger than the LAN MTU (not than the WAN's: that would be a
	 * super-packet): the FIB says frag needed, the hook answers. */
	base_in(in);
	in->ip.payload = 1422;
	*out = *in;
}

static void gre_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.proto = 47;
	*out = *in;
}

static void not_our_pool_in(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.daddr = IP(198, 18, 0, 1); /* the gateway's WAN address */
	*out = *in;
}

/* --- hostile hosts and errors owed (issue 9) ---------------------------- */

/*
 * The ICMP error the gateway owes for `in` (RFC 792, RFC 1812 4.3.2.3):
 * from `src` to the packet's source, back to the L2 sender, quoting the
 * first 128 bytes of the packet as it arrived.  The quoted TCP/UDP
 * checksum is set to the value that leaves a partial-checksum completion
 * of the quoted L4 bytes unchanged (see bpf/lib/icmp.h); ICMP checksum
 * over everything.  Built here from scratch, independently of the hook.
 */
static size_t icmp_error(const struct pktspec *in, uint8_t type, uint8_t code,
			 uint16_t mtu, uint32_t src, uint8_t *out)
{
	uint8_t f[PKT_MAX], *q, *ip, *ic;
	size_t n = build_pkt(in, f), tot, hl, qlen;
	uint16_t frag;

	tot = (size_t)(f[16] << 8 | f[17]);
	hl = (f[14] & 0xf) * 4;
	qlen = tot < 128 ? tot : 128;
	(void)n;
	memcpy(out, f + 6, 6); /* to the L2 sender */
	memcpy(out + 6, f, 6);
	put16(out + 12, 0x0800);
	ip = out + 14;
	ic = ip + 20;
	q = ic + 8;
	memcpy(q, f + 14, qlen);
	frag = (uint16_t)(q[6] << 8 | q[7]);
	if (!(frag & 0x1fff) && (q[9] == IPPROTO_TCP || q[9] == IPPROTO_UDP)) {
		size_t off = hl + (q[9] == IPPROTO_TCP ? 16 : 6);

		if (off + 2 <= qlen) {
			uint32_t a;
			uint16_t x;

			q[off] = q[off + 1] = 0;
			a = csum_add_bytes(0, q + hl, qlen - hl);
			while (a >> 16)
				a = (a & 0xffff) + (a >> 16);
			x = (uint16_t)~a;
			x = (uint16_t)(x >> 1 | x << 15);
			if (!x)
				x = 0xffff;
			put16(q + off, x);
		}
	}
	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[1] = 0xc0;
	put16(ip + 2, (uint16_t)(28 + qlen));
	ip[8] = 64;
	ip[9] = IPPROTO_ICMP;
	put32(ip + 12, src);
	memcpy(ip + 16, f + 14 + 12, 4);
	put16(ip + 10, csum_finish(csum_add_bytes(0, ip, 20)));
	memset(ic, 0, 8);
	ic[0] = type;
	ic[1] = code;
	put16(ic + 6, mtu);
	put16(ic + 2, csum_finish(csum_add_bytes(0, ic, 8 + qlen)));
	return 14 + 28 + qlen;
}

static size_t te_from_pub(const struct pktspec *in, uint8_t *out)
{
	return icmp_error(in, 11, 0, 0, PUB1, out);
}

static size_t te_from_gw(const struct pktspec *in, uint8_t *out)
{
	return icmp_error(in, 11, 0, 0, GW_LAN, out);
}

static size_t fn_lan_mtu(const struct pktspec *in, uint8_t *out)
{
	return icmp_error(in, 3, 4, LAN_MTU, PUB1, out);
}

static size_t fn_route_1000(const struct pktspec *in, uint8_t *out)
{
	return icmp_error(in, 3, 4, 1000, GW_LAN, out);
}

static size_t unreach_from_pub(const struct pktspec *in, uint8_t *out)
{
	return icmp_error(in, 3, 1, 0, PUB1, out);
}

/* 1: a LAN host sending from a public address with phone B's port. */
static void lan_src_public(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.saddr = PUB1;
	in->ip.sport = 3100;
	*out = *in;
}

/* 2: other hosts' sources are not forwarded by default. */
static void lan_src_foreign(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.saddr = FOREIGN;
	*out = *in;
}

static void lan_src_foreign_to_gw(struct pktspec *in, struct pktspec *out)
{
	to_gateway(in, out);
	in->ip.saddr = FOREIGN;
	*out = *in;
}

static void lan_unleased_to_gw(struct pktspec *in, struct pktspec *out)
{
	to_gateway(in, out);
	in->ip.saddr = NO_LEASE;
	*out = *in;
}

static void lan_src_loopback(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.saddr = IP(127, 0, 0, 1);
	*out = *in;
}

static void lan_src_gateway(struct pktspec *in, struct pktspec *out)
{
	to_gateway(in, out);
	in->ip.saddr = GW_LAN;
	*out = *in;
}

static void lan_src_zero_unicast(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.saddr = 0;
	*out = *in;
}

/* 3: the WAN never reaches a phone's private address. */
static void wan_to_private(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.proto = IPPROTO_TCP;
	in->ip.tcp_flags = 0x02;
	in->ip.daddr = PHONE_A;
	in->ip.dport = 22;
	*out = *in;
}

static void wan_to_gw_lan(struct pktspec *in, struct pktspec *out)
{
	wan_to_private(in, out);
	in->ip.daddr = GW_LAN;
	in->ip.dport = 69;
	*out = *in;
}

static void wan_src_lan_pool(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.saddr = PHONE_B;
	*out = *in;
}

static void wan_src_public(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.saddr = PUB2;
	*out = *in;
}

static void wan_src_loopback(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.saddr = IP(127, 0, 0, 1);
	*out = *in;
}

static void wan_src_zero(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.saddr = 0;
	*out = *in;
}

static void wan_src_mcast(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.saddr = IP(224, 0, 0, 9);
	*out = *in;
}

static void wan_src_class_e(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.saddr = IP(240, 0, 0, 1);
	*out = *in;
}

/* 12: the lease's MAC is checked before the local pass, and in ARP. */
static void spoofed_mac_to_gw(struct pktspec *in, struct pktspec *out)
{
	to_gateway(in, out);
	memcpy(in->smac, MAC_EVIL, 6);
	*out = *in;
}

static void arp_base(struct pktspec *in, uint32_t spa, const uint8_t *mac)
{
	base_out(in);
	memset(in->dmac, 0xff, 6);
	memcpy(in->smac, mac, 6);
	in->ethertype = 0x0806;
	in->arp_op = 1;
	memcpy(in->arp_sha, mac, 6);
	in->arp_spa = spa;
	in->arp_tpa = GW_LAN;
}

static void arp_leased_own_mac(struct pktspec *in, struct pktspec *out)
{
	arp_base(in, PHONE_A, MAC_A);
	*out = *in;
}

static void arp_leased_other_mac(struct pktspec *in, struct pktspec *out)
{
	arp_base(in, PHONE_A, MAC_EVIL);
	*out = *in;
}

static void arp_leased_sha_only(struct pktspec *in, struct pktspec *out)
{
	/* Ethernet source is the phone's, the ARP sender hardware not. */
	arp_base(in, PHONE_A, MAC_A);
	memcpy(in->arp_sha, MAC_EVIL, 6);
	*out = *in;
}

static void arp_public_sender(struct pktspec *in, struct pktspec *out)
{
	arp_base(in, PUB1, MAC_EVIL);
	*out = *in;
}

static void arp_unleased(struct pktspec *in, struct pktspec *out)
{
	arp_base(in, NO_LEASE, MAC_EVIL);
	*out = *in;
}

/*
 * 13: a priority tag (802.1Q, VID 0: IP phones send 802.1p voice
 * priority this way) is stripped by the kernel, which then handles the
 * frame as untagged on lan0/wan0; XDP sees it before that, so it must
 * strip it too and run every check.  The output is the untagged frame.
 */
#define TCI_PRIO5 0xa000 /* PCP 5 (voice), VID 0 */

static void prio_tag(struct pktspec *in, int tags, uint16_t tpid)
{
	in->tags = tags;
	in->vlan = TCI_PRIO5;
	in->tpid = tpid;
}

static void vlan0_src_public(struct pktspec *in, struct pktspec *out)
{
	lan_src_public(in, out);
	prio_tag(in, 1, 0);
}

static void vlan0_arp_spoof(struct pktspec *in, struct pktspec *out)
{
	arp_leased_other_mac(in, out);
	prio_tag(in, 1, 0);
}

static void vlan0_udp_out(struct pktspec *in, struct pktspec *out)
{
	udp_out(in, out);
	prio_tag(in, 1, 0);
}

static void vlan0_udp_in(struct pktspec *in, struct pktspec *out)
{
	udp_in(in, out);
	prio_tag(in, 1, 0);
}

static void vlan0_wan_to_private(struct pktspec *in, struct pktspec *out)
{
	wan_to_private(in, out);
	prio_tag(in, 1, 0);
}

/* 802.1ad: the kernel strips an outer VID-0 S-tag the same way. */
static void vlan0_ad_src_public(struct pktspec *in, struct pktspec *out)
{
	lan_src_public(in, out);
	prio_tag(in, 1, 0x88a8);
}

/* A VID-0 tag under a VID-0 tag: the kernel strips both. */
static void vlan0_twice_src_public(struct pktspec *in, struct pktspec *out)
{
	lan_src_public(in, out);
	prio_tag(in, 2, 0x88a8);
}

/* Three: no sender has a reason; not worth following the kernel. */
static void vlan0_thrice(struct pktspec *in, struct pktspec *out)
{
	udp_out(in, out);
	prio_tag(in, 3, 0);
	*out = *in;
	out->tags = 1;
}

/* TC: the kernel moved the outer tag of two VID-0 tags out of the data
 * (the skb test run cannot set it: none is the same case); it strips the
 * inner one after the hook and would skip the checks. */
static void tc_vlan0_inner(struct pktspec *in, struct pktspec *out)
{
	lan_src_public(in, out);
	prio_tag(in, 1, 0);
	*out = *in;
}

/* A real VLAN ID: only a VLAN sub-interface takes it, the kernel's job. */
static void vlan5_src_public(struct pktspec *in, struct pktspec *out)
{
	lan_src_public(in, out);
	in->vlan = 0xa005;
	*out = *in;
}

static void vlan5_wan_to_private(struct pktspec *in, struct pktspec *out)
{
	wan_to_private(in, out);
	in->vlan = 5;
	*out = *in;
}

/*
 * Voice VLAN (issue 12): the LAN is the parent of VLAN 100 (config
 * lan_vid), native XDP.  The phones' frames carry the tag; the program
 * matches it, translates, and frames to phones leave with it.  Untagged
 * and other-VLAN frames belong to other networks on the same wire: the
 * kernel's, untouched.
 */
#define VOICE_VID 100
#define TCI_VOICE (0xa000 | VOICE_VID) /* PCP 5, VID 100 */

static void voice_tag(struct pktspec *p, uint16_t tci)
{
	p->vlan = tci;
	p->tags = 1;
}

static void voice_udp_out(struct pktspec *in, struct pktspec *out)
{
	udp_out(in, out);
	voice_tag(in, TCI_VOICE); /* leaves untagged on the WAN */
}

static void voice_udp_in(struct pktspec *in, struct pktspec *out)
{
	udp_in(in, out);
	voice_tag(out, VOICE_VID);
}

static void voice_hairpin(struct pktspec *in, struct pktspec *out)
{
	hairpin(in, out);
	voice_tag(in, TCI_VOICE);
	voice_tag(out, TCI_VOICE);
}

/* DHCP and TFTP for the gateway: the kernel gets the frame as it came,
 * tag and priority bits included, so the VLAN device serves it. */
static void voice_dhcp(struct pktspec *in, struct pktspec *out)
{
	dhcp_discover(in, out);
	voice_tag(in, TCI_VOICE);
	*out = *in;
}

static void voice_spoofed_mac(struct pktspec *in, struct pktspec *out)
{
	out_spoofed_mac(in, out);
	voice_tag(in, TCI_VOICE);
	*out = *in;
}

/* The untagged network of the same wire (PCs behind the phones). */
static void voice_untagged(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.saddr = FOREIGN;
	*out = *in;
}

static void voice_other_vid(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	voice_tag(in, 0xa000 | 200);
	*out = *in;
}

/* A priority tag on the parent is the untagged network's. */
static void voice_vid0(struct pktspec *in, struct pktspec *out)
{
	voice_untagged(in, out);
	voice_tag(in, TCI_PRIO5);
	*out = *in;
}

/* The untagged network to one of the gateway's own addresses (not the
 * voice VLAN's gateway): the kernel delivers it locally. */
static void voice_untagged_local(struct pktspec *in, struct pktspec *out)
{
	voice_untagged(in, out);
	in->ip.daddr = IP(198, 18, 0, 1);
	*out = *in;
}

static void voice_vid0_local(struct pktspec *in, struct pktspec *out)
{
	voice_untagged_local(in, out);
	voice_tag(in, TCI_PRIO5);
	*out = *in;
}

/* 6: the kernel forwards the untagged network (forwarding is on for the
 * parent): a phone's address or a public one from there must not leave,
 * untagged or under a priority tag the kernel strips. */
static void voice_untagged_phone_src(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	*out = *in;
}

static void voice_untagged_public_src(struct pktspec *in, struct pktspec *out)
{
	lan_src_public(in, out);
}

static void voice_vid0_public_src(struct pktspec *in, struct pktspec *out)
{
	lan_src_public(in, out);
	voice_tag(in, TCI_PRIO5);
	*out = *in;
}

static void voice_vid0_thrice(struct pktspec *in, struct pktspec *out)
{
	voice_untagged(in, out);
	prio_tag(in, 3, 0);
	*out = *in;
}

/* An 802.1ad S-tag with the voice VID is not the voice VLAN. */
static void voice_stag(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	voice_tag(in, TCI_VOICE);
	in->tpid = 0x88a8;
	*out = *in;
}

/*
 * 6: a priority tag around the voice tag.  The kernel strips the VID-0
 * tag and then finds the voice VLAN's device for the inner one
 * (__netif_receive_skb_core()), which forwards: unchecked, a forged
 * phone or public source would leave untranslated, and a forged ARP
 * would reach the VLAN device's neighbour table.
 */
static void voice_prio_over_voice(struct pktspec *in, struct pktspec *out)
{
	lan_src_public(in, out);
	prio_tag(in, 2, 0);
	in->vlan_in = TCI_VOICE;
	*out = *in;
}

static void voice_prio_over_voice_phone(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	memcpy(in->smac, MAC_EVIL, 6);
	prio_tag(in, 2, 0x88a8);
	in->vlan_in = TCI_VOICE;
	*out = *in;
}

static void voice_truncated(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	voice_tag(in, TCI_VOICE);
	in->trunc = 16;
	*out = *in;
}

/* 8: fragments follow the lease, not an old entry. */
static void frag_first_in_b(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.id = 0x7003;
	in->ip.dport = 3100;
	in->ip.frag = 0x2000;
	in->ip.payload = 64;
	in->ip.udp_len_extra = 100;
	xlate_in(in, out, PHONE_B, MAC_B);
}

static void frag_next_in_b(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.id = 0x7003;
	in->ip.frag = 9;
	in->ip.no_l4 = 1;
	in->ip.payload = 100;
	*out = *in;
}

static void frag_first_in_b2(struct pktspec *in, struct pktspec *out)
{
	frag_first_in_b(in, out);
	in->ip.id = 0x7005;
	out->ip.id = 0x7005;
}

static void frag_next_in_b2(struct pktspec *in, struct pktspec *out)
{
	frag_next_in_b(in, out);
	in->ip.id = 0x7005;
	*out = *in;
}

static struct nappt_phone lease_b;

/* libnappt forgets a phone's fragment entries when its lease changes;
 * the data plane must not depend on that (a writer killed between the
 * two steps, an entry created by a packet racing the writer).  These
 * rows change the lease and then put the old entries back, so that only
 * the data plane's own check stands between the fragment and the phone
 * that now owns the port. */
#define FRAGS_KEPT 64
static struct {
	struct nappt_frag_key k[FRAGS_KEPT];
	struct nappt_frag_val v[FRAGS_KEPT];
	int n;
} frags_kept;

static void frags_save(void)
{
	struct nappt_frag_key k, prev;
	int have_prev = 0, guard = 0;

	frags_kept.n = 0;
	while (frags_kept.n < FRAGS_KEPT && guard++ < 4096 &&
	       !bpf_map_get_next_key(E.maps.frags_fd, have_prev ? &prev : NULL,
				     &k)) {
		if (!bpf_map_lookup_elem(E.maps.frags_fd, &k,
					 &frags_kept.v[frags_kept.n]))
			frags_kept.k[frags_kept.n++] = k;
		prev = k;
		have_prev = 1;
	}
	assert_true(frags_kept.n > 0);
}

static void frags_restore(void)
{
	for (int i = 0; i < frags_kept.n; i++)
		assert_int_equal(bpf_map_update_elem(E.maps.frags_fd,
						     &frags_kept.k[i],
						     &frags_kept.v[i], BPF_ANY),
				 0);
}

static struct nappt_phone lease_a;

/* B's port to another phone: with derived addresses that is a phone
 * whose range starts below B's (the same first slot would be B's own
 * address), so C takes A's and B's slots, [2048, 4095], at the address
 * they derive (A's, with C's MAC). */
static struct nappt_phone lease_c_over_b(void)
{
	struct nappt_phone c = lease_a;

	c.port_last = lease_b.port_last;
	memcpy(c.mac, MAC_C, 6);
	return c;
}

static void move_b_to_c(void)
{
	struct nappt_phone c = lease_c_over_b();

	frags_save();
	assert_int_equal(nappt_phone_del(&E.maps, htonl(PHONE_B)), 0);
	assert_int_equal(nappt_phone_del(&E.maps, htonl(PHONE_A)), 0);
	assert_int_equal(nappt_phone_add(&E.maps, htonl(PHONE_A), &c), 0);
	frags_restore();
}

static void restore_b_from_c(void)
{
	assert_int_equal(nappt_phone_del(&E.maps, htonl(PHONE_A)), 0);
	assert_int_equal(nappt_phone_add(&E.maps, htonl(PHONE_A), &lease_a), 0);
	assert_int_equal(nappt_phone_add(&E.maps, htonl(PHONE_B), &lease_b), 0);
}

static void del_b(void)
{
	frags_save();
	assert_int_equal(nappt_phone_del(&E.maps, htonl(PHONE_B)), 0);
	frags_restore();
}

static void restore_b(void)
{
	assert_int_equal(nappt_phone_add(&E.maps, htonl(PHONE_B), &lease_b), 0);
}

static void hairpin_frag_first(struct pktspec *in, struct pktspec *out)
{
	hairpin(in, out);
	in->ip.id = 0x7004;
	in->ip.frag = 0x2000;
	in->ip.payload = 64;
	in->ip.udp_len_extra = 100;
	out->ip = in->ip;
	out->ip.saddr = PUB1;
	out->ip.daddr = PHONE_B;
	out->ip.ttl = 63;
}

static void hairpin_frag_next(struct pktspec *in, struct pktspec *out)
{
	hairpin(in, out);
	in->ip.id = 0x7004;
	in->ip.frag = 9;
	in->ip.no_l4 = 1;
	in->ip.payload = 100;
	out->ip = in->ip;
	out->ip.saddr = PUB1;
	out->ip.daddr = PHONE_B;
	out->ip.ttl = 63;
}

/*
 * 9: a slot names exactly one phone.  A leased source may send only from
 * the ports of its own slots: not from another phone's slot on the same
 * public address, whatever MAC it shows; and only the key of a phone's
 * first slot is an address (a non-first slot's key is no one's).  The
 * entries for D (two slots, A's MAC) and for a slot the LAN pool does
 * not reach are written raw: the first is a state no check may rely on
 * the provisioner to avoid (one MAC, two leases), the second what a pool
 * shrunk by a config change leaves.
 */
static void slot_put(__u32 key, const uint8_t *mac, __u16 owner)
{
	struct nappt_slot e = { .owner = owner };

	if (mac)
		memcpy(e.mac, mac, 6);
	assert_int_equal(
		bpf_map_update_elem(E.maps.slots_fd, &key, &e, BPF_ANY), 0);
}

static __u32 key_of(uint32_t addr)
{
	return addr - LAN_NET;
}

static void lease_d(void)
{
	slot_put(key_of(PHONE_D2), MAC_A, NAPPT_SLOT_VALID | 1);
	slot_put(key_of(PHONE_D), MAC_A, NAPPT_SLOT_VALID);
}

static void unlease_d(void)
{
	slot_put(key_of(PHONE_D), NULL, 0);
	slot_put(key_of(PHONE_D2), NULL, 0);
}

static void out_as_b_via_entry(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.sport = 3100; /* B's slot */
	*out = *in;
}

static void out_as_b_with_b_mac(struct pktspec *in, struct pktspec *out)
{
	out_as_b_via_entry(in, out);
	memcpy(in->smac, MAC_B, 6);
	*out = *in;
}

static void out_port_of_same_mac_phone(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.sport = 5200; /* D's first slot; D has A's MAC */
	*out = *in;
}

static void out_from_non_first_key(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.saddr = PHONE_D2;
	in->ip.sport = 6200; /* D's second slot, whose key is PHONE_D2 */
	*out = *in;
}

static void non_first_key_to_gw(struct pktspec *in, struct pktspec *out)
{
	to_gateway(in, out);
	in->ip.saddr = PHONE_D2;
	memcpy(in->smac, MAC_EVIL, 6);
	*out = *in;
}

static void arp_non_first_key(struct pktspec *in, struct pktspec *out)
{
	arp_base(in, PHONE_D2, MAC_EVIL);
	*out = *in;
}

/* The LAN pool shrunk to PUB_NET's first two addresses' keys (128): an
 * entry of PUB2 names index 130, outside it. */
#define SHRUNK_LAN 128
#define PUB2_KEY(port) (2 * 64 + ((port) >> 10))

static void shrink_lan(void)
{
	struct nappt_config cfg = E.maps.cfg;
	__u32 zero = 0;

	cfg.lan_size = SHRUNK_LAN;
	assert_int_equal(
		bpf_map_update_elem(E.maps.config_fd, &zero, &cfg, BPF_ANY), 0);
	slot_put(PUB2_KEY(2048), MAC_C, NAPPT_SLOT_VALID);
}

static void unshrink_lan(void)
{
	__u32 zero = 0;

	slot_put(PUB2_KEY(2048), NULL, 0);
	assert_int_equal(bpf_map_update_elem(E.maps.config_fd, &zero,
					     &E.maps.cfg, BPF_ANY),
			 0);
}

static void in_outside_lan_pool(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.daddr = PUB2;
	*out = *in;
}

static void hairpin_outside_lan_pool(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.daddr = PUB2;
	in->ip.dport = 2100;
	*out = *in;
}

/* A phone of two slots (E, through libnappt): one address, the key of
 * its first slot, for both; its second slot's entry names it by dist. */
static void lease_e(void)
{
	struct nappt_phone e = lease_a;

	e.port_first = 8192;
	e.port_last = 10239;
	memcpy(e.mac, MAC_C, 6);
	assert_int_equal(nappt_phone_add(&E.maps, htonl(PHONE_E), &e), 0);
}

static void unlease_e(void)
{
	assert_int_equal(nappt_phone_del(&E.maps, htonl(PHONE_E)), 0);
}

static void in_second_slot(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.dport = 9300; /* E's second slot */
	xlate_in(in, out, PHONE_E, MAC_C);
}

static void out_second_slot(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	memcpy(in->smac, MAC_C, 6);
	in->ip.saddr = PHONE_E;
	in->ip.sport = 9300;
	xlate_out(in, out);
}

/* 6: errors owed to a sender come from the hook, quoting its packet. */
static void ttl1_hairpin(struct pktspec *in, struct pktspec *out)
{
	hairpin(in, out);
	in->ip.ttl = 1;
	*out = *in;
}

/* 8 on the voice VLAN: the Time Exceeded the hook owes goes back to the
 * phone with the tag it came with. */
static void voice_ttl1_hairpin(struct pktspec *in, struct pktspec *out)
{
	ttl1_hairpin(in, out);
	voice_tag(in, TCI_VOICE);
	*out = *in;
}

static size_t voice_te_from_gw(const struct pktspec *in, uint8_t *out)
{
	struct pktspec u = *in;
	uint8_t f[PKT_MAX];
	size_t n;

	u.tags = 0;
	u.vlan = 0;
	n = te_from_gw(&u, f);
	memcpy(out, f, 12);
	put16(out + 12, 0x8100);
	put16(out + 14, TCI_VOICE);
	memcpy(out + 16, f + 12, n - 12);
	return n + 4;
}

static void ttl1_in_tcp(struct pktspec *in, struct pktspec *out)
{
	tcp_in(in, out);
	in->ip.ttl = 1;
	in->ip.payload = 200; /* quote cut at 128 bytes */
	*out = *in;
}

static void ttl1_in_icmp_error(struct pktspec *in, struct pktspec *out)
{
	/* RFC 1122 3.2.2: never an error about an error. */
	time_exceeded_tcp_in(in, out);
	in->ip.ttl = 1;
	*out = *in;
}

static void in_no_route(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.dport = 4100; /* phone C, behind an unreachable route */
	in->ip.payload = 1300; /* above the fast path's 1280 */
	*out = *in;
}

static void lease_c(void)
{
	struct nappt_phone c = lease_b;

	c.port_first = 4096;
	c.port_last = 5119;
	memcpy(c.mac, MAC_C, 6);
	assert_int_equal(nappt_phone_add(&E.maps, htonl(PHONE_C), &c), 0);
}

static void unlease_c(void)
{
	assert_int_equal(nappt_phone_del(&E.maps, htonl(PHONE_C)), 0);
}

/* 11: the LAN MTU shrank after attach (the config still says 1500). */
static void in_over_new_lan_mtu(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.payload = LAN_MTU + 50 - 28;
	*out = *in;
}

static void in_under_new_lan_mtu(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.payload = LAN_MTU - 28;
	xlate_in(in, out, PHONE_A, MAC_A);
}

/* 4, 5: super-packets (GRO/GSO aggregates) longer than the ingress MTU:
 * translated, segment size checked against the route; TCP's checksum
 * field in them is partial (pseudo header only). */
static void super_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.proto = IPPROTO_TCP;
	in->ip.tcp_flags = 0x10;
	in->ip.dport = 443;
	in->ip.daddr = FAR_UNCACHED;
	in->ip.payload = 2 * (LAN_MTU - 40);
	in->ip.l4_csum_partial = 1;
	xlate_out(in, out);
}

static void super_out_small_route(struct pktspec *in, struct pktspec *out)
{
	super_out(in, out);
	in->ip.daddr = IP(198, 51, 100, 201);
	*out = *in;
}

/* XDP cannot redirect a super-packet nor see its gso_size: translated to
 * the kernel, MACs and TTL untouched, checksum field partial. */
static void super_out_xdp(struct pktspec *in, struct pktspec *out)
{
	super_out(in, out);
	*out = *in;
	out->ip.saddr = PUB1;
}

static void super_out_small_route_xdp(struct pktspec *in, struct pktspec *out)
{
	super_out_small_route(in, out);
	out->ip.saddr = PUB1;
}

/* More of the same kind: the hook forwards, so what the kernel's
 * forwarding path refuses must be refused here too. */
static void in_lsrr(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.opt_words = 2;
	in->ip.opt_first = 0x83; /* loose source route */
	*out = *in;
}

static void out_ssrr(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.opt_words = 2;
	in->ip.opt_first = 0x89; /* strict source route */
	*out = *in;
}

static void in_record_route(struct pktspec *in, struct pktspec *out)
{
	base_in(in);
	in->ip.opt_words = 2;
	in->ip.opt_first = 0x07; /* record route: harmless, translated */
	xlate_in(in, out, PHONE_A, MAC_A);
}

/* 7: a next hop on a device missing from tx_ports: never a frame with
 * rewritten MACs to the kernel; the translated one, as it came. */
static void no_txport_out(struct pktspec *in, struct pktspec *out)
{
	base_out(in);
	in->ip.daddr = IP(198, 51, 100, 11);
	*out = *in;
	out->ip.saddr = PUB1;
}

static void drop_wan_txport(void)
{
	__u32 k = (__u32)if_nametoindex("wan0");

	assert_int_equal(bpf_map_delete_elem(E.maps.tx_ports_fd, &k), 0);
}

static void restore_wan_txport(void)
{
	__u32 k = (__u32)if_nametoindex("wan0");

	assert_int_equal(
		bpf_map_update_elem(E.maps.tx_ports_fd, &k, &k, BPF_ANY), 0);
}

static const struct row rows[] = {
	{ "udp outbound", LAN, udp_out, X_REDIRECT, NAPPT_STAT_OUT_XLATE },
	{ "udp inbound", WAN, udp_in, X_REDIRECT, NAPPT_STAT_IN_XLATE },
	{ "tcp outbound", LAN, tcp_out, X_REDIRECT, NAPPT_STAT_OUT_XLATE },
	{ "tcp inbound", WAN, tcp_in, X_REDIRECT, NAPPT_STAT_IN_XLATE },
	{ "out: first port of range", LAN, out_first_port, X_REDIRECT,
	  NAPPT_STAT_OUT_XLATE },
	{ "out: last port of range", LAN, out_last_port, X_REDIRECT,
	  NAPPT_STAT_OUT_XLATE },
	{ "out: port below range", LAN, out_below_range, X_DROP,
	  NAPPT_STAT_DROP_PORT_RANGE },
	{ "out: port above range", LAN, out_above_range, X_DROP,
	  NAPPT_STAT_DROP_PORT_RANGE },
	{ "in: last port of range", WAN, in_last_port, X_REDIRECT,
	  NAPPT_STAT_IN_XLATE },
	{ "in: next port is next phone", WAN, in_next_phone, X_REDIRECT,
	  NAPPT_STAT_IN_XLATE },
	{ "in: port below range", WAN, in_below_range, X_PASS,
	  NAPPT_STAT_PASS_NO_MAPPING },
	{ "in: reserved port 22", WAN, in_reserved_port, X_PASS,
	  NAPPT_STAT_PASS_NO_MAPPING },
	{ "in: unleased public ip", WAN, in_unleased_ip, X_PASS,
	  NAPPT_STAT_PASS_NO_MAPPING },
	{ "in: not the public pool", WAN, not_our_pool_in, X_PASS,
	  NAPPT_STAT_PASS_NOT_OURS },
	{ "out: unknown phone", LAN, out_unknown_phone, X_DROP,
	  NAPPT_STAT_DROP_NO_LEASE },
	{ "out: spoofed mac", LAN, out_spoofed_mac, X_DROP,
	  NAPPT_STAT_DROP_SPOOF_MAC },
	{ "out: other phone's mac", LAN, out_phone_b_as_a, X_DROP,
	  NAPPT_STAT_DROP_SPOOF_MAC },
	{ "ipv6 passes", LAN, ipv6_frame, X_PASS, NAPPT_STAT_PASS_NON_IP },
	{ "arp passes", LAN, arp_frame, X_PASS, NAPPT_STAT_PASS_NON_IP },
	{ "arp passes (wan)", WAN, arp_frame, X_PASS, NAPPT_STAT_PASS_NON_IP },
	{ "vlan-tagged passes", LAN, vlan_frame, X_PASS, NAPPT_STAT_PASS_VLAN },
	/* A frame shorter than an Ethernet header cannot be fed through
	 * BPF_PROG_TEST_RUN (-EINVAL); parse_ethhdr() guards it on the wire.
	 * The skb test run also refuses an IPv4 frame without a full IP
	 * header, so that row is XDP only. */
	{ "truncated ip header", LAN, trunc_ip, X_DROP,
	  NAPPT_STAT_DROP_MALFORMED, 1 },
	{ "ethernet header only", LAN, trunc_eth, X_DROP,
	  NAPPT_STAT_DROP_MALFORMED, 1 },
	{ "ip tot_len beyond frame", LAN, trunc_ip_totlen, X_DROP,
	  NAPPT_STAT_DROP_MALFORMED },
	{ "truncated udp header", LAN, trunc_udp, X_DROP,
	  NAPPT_STAT_DROP_MALFORMED },
	{ "truncated tcp header (wan)", WAN, trunc_tcp_in, X_DROP,
	  NAPPT_STAT_DROP_MALFORMED },
	{ "ip options out (ihl 7)", LAN, ip_options_out, X_REDIRECT,
	  NAPPT_STAT_OUT_XLATE },
	{ "ip options in (ihl 15)", WAN, ip_options_in, X_REDIRECT,
	  NAPPT_STAT_IN_XLATE },
	{ "ttl 1 out: time exceeded from the gateway", LAN, ttl1_out, X_TX,
	  NAPPT_STAT_ICMP_TIME_EXCEEDED, .expect_raw = te_from_gw },
	{ "ttl 1 in: time exceeded from the public address", WAN, ttl1_in, X_TX,
	  NAPPT_STAT_ICMP_TIME_EXCEEDED, .expect_raw = te_from_pub },
	{ "udp checksum 0 out stays 0", LAN, udp_csum0_out, X_REDIRECT,
	  NAPPT_STAT_OUT_XLATE },
	{ "udp checksum 0 in stays 0", WAN, udp_csum0_in, X_REDIRECT,
	  NAPPT_STAT_IN_XLATE },
	{ "first fragment in", WAN, frag_first_in, X_REDIRECT,
	  NAPPT_STAT_IN_XLATE },
	{ "next fragment in follows first", WAN, frag_next_in, X_REDIRECT,
	  NAPPT_STAT_FRAG_IN },
	{ "fragment before its first", WAN, frag_unknown_in, X_PASS,
	  NAPPT_STAT_FRAG_MISS },
	{ "first fragment out", LAN, frag_first_out, X_REDIRECT,
	  NAPPT_STAT_OUT_XLATE },
	{ "next fragment out by source", LAN, frag_next_out, X_REDIRECT,
	  NAPPT_STAT_OUT_XLATE },
	{ "next fragment out, spoofed mac", LAN, frag_next_out_spoof, X_DROP,
	  NAPPT_STAT_DROP_SPOOF_MAC },
	{ "icmp echo out", LAN, echo_out, X_REDIRECT, NAPPT_STAT_ICMP_OUT },
	{ "icmp echo reply in", WAN, echo_reply_in, X_REDIRECT,
	  NAPPT_STAT_ICMP_IN },
	{ "icmp echo id outside range", LAN, echo_out_bad_id, X_DROP,
	  NAPPT_STAT_DROP_PORT_RANGE },
	{ "icmp echo request to public ip", WAN, echo_request_in, X_PASS,
	  NAPPT_STAT_PASS_LOCAL },
	{ "icmp frag needed in (pmtud)", WAN, frag_needed_in, X_REDIRECT,
	  NAPPT_STAT_ICMP_IN },
	{ "icmp port unreachable in", WAN, port_unreach_in, X_REDIRECT,
	  NAPPT_STAT_ICMP_IN },
	{ "icmp time exceeded in, tcp quote", WAN, time_exceeded_tcp_in,
	  X_REDIRECT, NAPPT_STAT_ICMP_IN },
	{ "icmp frag needed in, 8-byte quote", WAN, frag_needed_short_quote,
	  X_REDIRECT, NAPPT_STAT_ICMP_IN },
	{ "icmp error quoting foreign source", WAN, icmp_err_in_foreign, X_PASS,
	  NAPPT_STAT_PASS_NOT_OURS },
	{ "icmp port unreachable out", LAN, port_unreach_out, X_REDIRECT,
	  NAPPT_STAT_ICMP_OUT },
	{ "hairpin phone a -> phone b", LAN, hairpin, X_REDIRECT,
	  NAPPT_STAT_HAIRPIN },
	{ "hairpin to unleased public ip", LAN, hairpin_unleased, X_PASS,
	  NAPPT_STAT_PASS_LOCAL },
	{ "to the gateway itself", LAN, to_gateway, X_PASS,
	  NAPPT_STAT_PASS_LOCAL },
	{ "dhcp discover", LAN, dhcp_discover, X_PASS, NAPPT_STAT_PASS_LOCAL },
	{ "next hop without neighbour", LAN, no_neigh_out, X_PASS_XLATED,
	  NAPPT_STAT_OUT_XLATE },
	{ "no route", LAN, no_route_out, X_PASS, NAPPT_STAT_PASS_FIB },
	{ "small packet caches the small-mtu route", LAN, small_to_small_mtu,
	  X_REDIRECT, NAPPT_STAT_OUT_XLATE },
	{ "over route mtu with df, after caching: frag needed", LAN, big_df_out,
	  X_TX, NAPPT_STAT_ICMP_FRAG_NEEDED, .expect_raw = fn_route_1000 },
	{ "in: over the lan mtu with df: frag needed", WAN, big_in, X_TX,
	  NAPPT_STAT_ICMP_FRAG_NEEDED, .expect_raw = fn_lan_mtu },
	{ "protocol without ports", LAN, gre_out, X_DROP,
	  NAPPT_STAT_DROP_PROTO },
	/* issue 9 */
	{ "1: lan source in the public pool", LAN, lan_src_public, X_DROP,
	  NAPPT_STAT_DROP_SRC_PUBLIC },
	{ "2: lan foreign source, forwarded", LAN, lan_src_foreign, X_DROP,
	  NAPPT_STAT_DROP_SRC_FOREIGN },
	{ "2: lan foreign source with --lan-foreign", LAN, lan_src_foreign,
	  X_PASS, NAPPT_STAT_PASS_NOT_OURS,
	  .cfg_flags = NAPPT_CFG_LAN_FOREIGN },
	{ "2: lan foreign source to the gateway", LAN, lan_src_foreign_to_gw,
	  X_PASS, NAPPT_STAT_PASS_LOCAL },
	{ "2: unleased pool address to the gateway", LAN, lan_unleased_to_gw,
	  X_PASS, NAPPT_STAT_PASS_LOCAL },
	{ "2: lan source 127.0.0.1", LAN, lan_src_loopback, X_DROP,
	  NAPPT_STAT_DROP_SRC_BOGON },
	{ "2: lan source is the gateway's own", LAN, lan_src_gateway, X_DROP,
	  NAPPT_STAT_DROP_SRC_BOGON },
	{ "2: lan source 0.0.0.0 not to the gateway", LAN, lan_src_zero_unicast,
	  X_DROP, NAPPT_STAT_DROP_SRC_BOGON },
	{ "3: wan to a phone's private address, port 22", WAN, wan_to_private,
	  X_DROP, NAPPT_STAT_DROP_TO_PRIVATE },
	{ "3: wan to the gateway's lan address", WAN, wan_to_gw_lan, X_DROP,
	  NAPPT_STAT_DROP_TO_PRIVATE },
	{ "3: wan source in the lan pool", WAN, wan_src_lan_pool, X_DROP,
	  NAPPT_STAT_DROP_SRC_BOGON },
	{ "3: wan source in the public pool", WAN, wan_src_public, X_DROP,
	  NAPPT_STAT_DROP_SRC_BOGON },
	{ "3: wan source 127.0.0.1", WAN, wan_src_loopback, X_DROP,
	  NAPPT_STAT_DROP_SRC_BOGON },
	{ "3: wan source 0.0.0.0", WAN, wan_src_zero, X_DROP,
	  NAPPT_STAT_DROP_SRC_BOGON },
	{ "3: wan source 224.0.0.9", WAN, wan_src_mcast, X_DROP,
	  NAPPT_STAT_DROP_SRC_BOGON },
	{ "3: wan source 240.0.0.1", WAN, wan_src_class_e, X_DROP,
	  NAPPT_STAT_DROP_SRC_BOGON },
	{ "12: leased source, other mac, to the gateway", LAN,
	  spoofed_mac_to_gw, X_DROP, NAPPT_STAT_DROP_SPOOF_MAC },
	{ "12: arp from a leased ip with its mac", LAN, arp_leased_own_mac,
	  X_PASS, NAPPT_STAT_PASS_NON_IP },
	{ "12: arp from a leased ip, other mac", LAN, arp_leased_other_mac,
	  X_DROP, NAPPT_STAT_DROP_ARP_SPOOF },
	{ "12: arp from a leased ip, other sender hw address", LAN,
	  arp_leased_sha_only, X_DROP, NAPPT_STAT_DROP_ARP_SPOOF },
	{ "12: arp claiming a public address", LAN, arp_public_sender, X_DROP,
	  NAPPT_STAT_DROP_ARP_SPOOF },
	{ "12: arp from an unleased pool address", LAN, arp_unleased, X_PASS,
	  NAPPT_STAT_PASS_NON_IP },
	{ "13: vid 0, lan source in the public pool", LAN, vlan0_src_public,
	  X_DROP, NAPPT_STAT_DROP_SRC_PUBLIC },
	{ "13: vid 0, arp from a leased ip, other mac", LAN, vlan0_arp_spoof,
	  X_DROP, NAPPT_STAT_DROP_ARP_SPOOF },
	{ "13: vid 0, udp outbound from a phone", LAN, vlan0_udp_out,
	  X_REDIRECT, NAPPT_STAT_OUT_XLATE },
	{ "13: vid 0, udp inbound to a phone", WAN, vlan0_udp_in, X_REDIRECT,
	  NAPPT_STAT_IN_XLATE },
	{ "13: vid 0, wan to a phone's private address", WAN,
	  vlan0_wan_to_private, X_DROP, NAPPT_STAT_DROP_TO_PRIVATE },
	{ "13: 802.1ad vid 0, lan source in the public pool", LAN,
	  vlan0_ad_src_public, X_DROP, NAPPT_STAT_DROP_SRC_PUBLIC },
	{ "13: two vid 0 tags, lan source in the public pool", LAN,
	  vlan0_twice_src_public, X_DROP, NAPPT_STAT_DROP_SRC_PUBLIC, 1 },
	{ "13: three vid 0 tags", LAN, vlan0_thrice, X_DROP,
	  NAPPT_STAT_DROP_MALFORMED, 1 },
	{ "13: tc: vid 0 tag left under the kernel's strip", LAN,
	  tc_vlan0_inner, X_DROP, NAPPT_STAT_DROP_MALFORMED, .tc_only = 1 },
	{ "13: vid 5 passes (lan)", LAN, vlan5_src_public, X_PASS,
	  NAPPT_STAT_PASS_VLAN },
	{ "13: vid 5 passes (wan)", WAN, vlan5_wan_to_private, X_PASS,
	  NAPPT_STAT_PASS_VLAN },
	{ "8: first fragment to phone b", WAN, frag_first_in_b, X_REDIRECT,
	  NAPPT_STAT_IN_XLATE },
	{ "8: next fragment after b's range moved to c", WAN, frag_next_in_b,
	  X_DROP, NAPPT_STAT_DROP_FRAG_STALE, .pre = move_b_to_c,
	  .post = restore_b_from_c },
	{ "8: first fragment to phone b again", WAN, frag_first_in_b2,
	  X_REDIRECT, NAPPT_STAT_IN_XLATE },
	{ "8: next fragment after b's lease ended", WAN, frag_next_in_b2,
	  X_DROP, NAPPT_STAT_DROP_FRAG_STALE, .pre = del_b, .post = restore_b },
	{ "8: hairpin first fragment a -> b", LAN, hairpin_frag_first,
	  X_REDIRECT, NAPPT_STAT_HAIRPIN },
	{ "8: hairpin next fragment follows", LAN, hairpin_frag_next,
	  X_REDIRECT, NAPPT_STAT_HAIRPIN },
	/* issue 13: one slot entry decides */
	{ "9: a's address and mac, port of b's slot", LAN, out_as_b_via_entry,
	  X_DROP, NAPPT_STAT_DROP_PORT_RANGE },
	{ "9: a's address, b's mac and b's port", LAN, out_as_b_with_b_mac,
	  X_DROP, NAPPT_STAT_DROP_SPOOF_MAC },
	{ "9: a's address and mac, slot of another phone with a's mac", LAN,
	  out_port_of_same_mac_phone, X_DROP, NAPPT_STAT_DROP_PORT_RANGE,
	  .pre = lease_d, .post = unlease_d },
	{ "9: a non-first slot's key as source: no lease", LAN,
	  out_from_non_first_key, X_DROP, NAPPT_STAT_DROP_NO_LEASE,
	  .pre = lease_d, .post = unlease_d },
	{ "2: a non-first slot's key to the gateway, other mac", LAN,
	  non_first_key_to_gw, X_PASS, NAPPT_STAT_PASS_LOCAL, .pre = lease_d,
	  .post = unlease_d },
	{ "12: arp from a non-first slot's key, other mac", LAN,
	  arp_non_first_key, X_PASS, NAPPT_STAT_PASS_NON_IP, .pre = lease_d,
	  .post = unlease_d },
	{ "in: slot naming an index outside the lan pool", WAN,
	  in_outside_lan_pool, X_PASS, NAPPT_STAT_PASS_NO_MAPPING,
	  .pre = shrink_lan, .post = unshrink_lan },
	{ "hairpin to a slot naming an index outside the lan pool", LAN,
	  hairpin_outside_lan_pool, X_PASS, NAPPT_STAT_PASS_LOCAL,
	  .pre = shrink_lan, .post = unshrink_lan },
	{ "in: a two-slot phone's second slot reaches its address", WAN,
	  in_second_slot, X_REDIRECT, NAPPT_STAT_IN_XLATE, .pre = lease_e,
	  .post = unlease_e },
	{ "out: a two-slot phone from its second slot", LAN, out_second_slot,
	  X_REDIRECT, NAPPT_STAT_OUT_XLATE, .pre = lease_e, .post = unlease_e },
	{ "6: ttl 1 hairpin: time exceeded from the gateway", LAN, ttl1_hairpin,
	  X_TX, NAPPT_STAT_ICMP_TIME_EXCEEDED, .expect_raw = te_from_gw },
	{ "6: ttl 1 tcp in, long: quote of 128 bytes", WAN, ttl1_in_tcp, X_TX,
	  NAPPT_STAT_ICMP_TIME_EXCEEDED, .expect_raw = te_from_pub },
	{ "6: ttl 1 on an icmp error: no error about an error", WAN,
	  ttl1_in_icmp_error, X_DROP, NAPPT_STAT_DROP_ICMP_LIMIT },
	{ "6: in, no route to the phone: host unreachable", WAN, in_no_route,
	  X_TX, NAPPT_STAT_ICMP_UNREACH, .expect_raw = unreach_from_pub,
	  .pre = lease_c, .post = unlease_c },
	{ "11: in, over a lan mtu lowered after attach", WAN,
	  in_over_new_lan_mtu, X_TX, NAPPT_STAT_ICMP_FRAG_NEEDED,
	  .expect_raw = fn_lan_mtu },
	{ "11: in, exactly the lowered lan mtu", WAN, in_under_new_lan_mtu,
	  X_REDIRECT, NAPPT_STAT_IN_XLATE },
	{ "5: gso out, segments fit: translated", LAN, super_out, X_REDIRECT,
	  NAPPT_STAT_OUT_XLATE, .gso_size = LAN_MTU - 40, .tc_only = 1 },
	{ "5: gso out, segments over the route mtu: frag needed", LAN,
	  super_out_small_route, X_TX, NAPPT_STAT_ICMP_FRAG_NEEDED,
	  .expect_raw = fn_route_1000, .gso_size = LAN_MTU - 40, .tc_only = 1 },
	{ "4: super-packet out: translated to the kernel", LAN, super_out_xdp,
	  X_PASS_XLATED, NAPPT_STAT_OUT_XLATE, 1 },
	{ "4: super-packet over a small route: translated to the kernel", LAN,
	  super_out_small_route_xdp, X_PASS_XLATED, NAPPT_STAT_OUT_XLATE, 1 },
	{ "in: loose source route option", WAN, in_lsrr, X_DROP,
	  NAPPT_STAT_DROP_SRC_ROUTE },
	{ "out: strict source route option", LAN, out_ssrr, X_DROP,
	  NAPPT_STAT_DROP_SRC_ROUTE },
	{ "in: record route option translated", WAN, in_record_route,
	  X_REDIRECT, NAPPT_STAT_IN_XLATE },
	{ "vlan 100: tagged udp out translated, leaves untagged", LAN,
	  voice_udp_out, X_REDIRECT, NAPPT_STAT_OUT_XLATE, 1,
	  .lan_vid = VOICE_VID },
	{ "vlan 100: udp in to a phone leaves with the tag", WAN, voice_udp_in,
	  X_REDIRECT, NAPPT_STAT_IN_XLATE, 1, .lan_vid = VOICE_VID },
	{ "vlan 100: hairpin keeps the tag", LAN, voice_hairpin, X_REDIRECT,
	  NAPPT_STAT_HAIRPIN, 1, .lan_vid = VOICE_VID },
	{ "vlan 100: dhcp passes with its tag", LAN, voice_dhcp, X_PASS,
	  NAPPT_STAT_PASS_LOCAL, 1, .lan_vid = VOICE_VID },
	{ "vlan 100: spoofed mac dropped", LAN, voice_spoofed_mac, X_DROP,
	  NAPPT_STAT_DROP_SPOOF_MAC, 1, .lan_vid = VOICE_VID },
	{ "vlan 100: untagged frame to a far host dropped, not routed", LAN,
	  voice_untagged, X_DROP, NAPPT_STAT_DROP_SRC_FOREIGN, 1,
	  .lan_vid = VOICE_VID },
	{ "vlan 100: untagged frame to the gateway passes untouched", LAN,
	  voice_untagged_local, X_PASS, NAPPT_STAT_PASS_VLAN, 1,
	  .lan_vid = VOICE_VID },
	{ "vlan 100: untagged frame to a far host passes with lan_foreign", LAN,
	  voice_untagged, X_PASS, NAPPT_STAT_PASS_VLAN, 1, .lan_vid = VOICE_VID,
	  .cfg_flags = NAPPT_CFG_LAN_FOREIGN },
	{ "vlan 100: vlan 200 passes untouched", LAN, voice_other_vid, X_PASS,
	  NAPPT_STAT_PASS_VLAN, 1, .lan_vid = VOICE_VID },
	{ "vlan 100: priority tag to a far host dropped, not routed", LAN,
	  voice_vid0, X_DROP, NAPPT_STAT_DROP_SRC_FOREIGN, 1,
	  .lan_vid = VOICE_VID },
	{ "vlan 100: priority tag to the gateway passes untouched", LAN,
	  voice_vid0_local, X_PASS, NAPPT_STAT_PASS_VLAN, 1,
	  .lan_vid = VOICE_VID },
	{ "vlan 100: 802.1ad tag passes untouched", LAN, voice_stag, X_PASS,
	  NAPPT_STAT_PASS_VLAN, 1, .lan_vid = VOICE_VID },
	{ "vlan 100: ttl 1 hairpin: time exceeded back with the tag", LAN,
	  voice_ttl1_hairpin, X_TX, NAPPT_STAT_ICMP_TIME_EXCEEDED, 1,
	  .expect_raw = voice_te_from_gw, .lan_vid = VOICE_VID },
	{ "6: vlan 100: untagged from a phone's address dropped", LAN,
	  voice_untagged_phone_src, X_DROP, NAPPT_STAT_DROP_SRC_BOGON, 1,
	  .lan_vid = VOICE_VID },
	{ "6: vlan 100: untagged from a public address dropped", LAN,
	  voice_untagged_public_src, X_DROP, NAPPT_STAT_DROP_SRC_PUBLIC, 1,
	  .lan_vid = VOICE_VID },
	{ "6: vlan 100: priority-tagged from a public address dropped", LAN,
	  voice_vid0_public_src, X_DROP, NAPPT_STAT_DROP_SRC_PUBLIC, 1,
	  .lan_vid = VOICE_VID },
	{ "vlan 100: three priority tags dropped", LAN, voice_vid0_thrice,
	  X_DROP, NAPPT_STAT_DROP_MALFORMED, 1, .lan_vid = VOICE_VID },
	{ "6: vlan 100: voice tag under a priority tag, public source dropped",
	  LAN, voice_prio_over_voice, X_DROP, NAPPT_STAT_DROP_MALFORMED, 1,
	  .lan_vid = VOICE_VID },
	{ "6: vlan 100: voice tag under an 802.1ad priority tag dropped", LAN,
	  voice_prio_over_voice_phone, X_DROP, NAPPT_STAT_DROP_MALFORMED, 1,
	  .lan_vid = VOICE_VID },
	{ "vlan 100: truncated tag dropped", LAN, voice_truncated, X_DROP,
	  NAPPT_STAT_DROP_MALFORMED, 1, .lan_vid = VOICE_VID },
	{ "7: egress device not in tx_ports: translated to the kernel", LAN,
	  no_txport_out, X_PASS_XLATED, NAPPT_STAT_OUT_XLATE, 1,
	  .pre = drop_wan_txport, .post = restore_wan_txport },
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* --- harness ---------------------------------------------------------- */

static int verify_csums(const uint8_t *f, size_t len, char *why, size_t wl)
{
	size_t off = (f[12] == 0x81 && f[13] == 0) ? 18 : 14;
	const uint8_t *ip = f + off;
	size_t hl, tot;
	uint16_t frag;

	if (f[off - 2] != 0x08 || f[off - 1] != 0)
		return 0;
	hl = (ip[0] & 0xf) * 4;
	tot = (size_t)(ip[2] << 8 | ip[3]);
	if (csum_finish(csum_add_bytes(0, ip, hl)) != 0) {
		snprintf(why, wl, "bad IPv4 header checksum");
		return -1;
	}
	frag = (uint16_t)(ip[6] << 8 | ip[7]);
	if (frag & 0x3fff)
		return 0; /* L4 checksum spans fragments */
	if (ip[9] == IPPROTO_ICMP &&
	    csum_finish(csum_add_bytes(0, ip + hl, tot - hl)) != 0) {
		snprintf(why, wl, "bad ICMP checksum");
		return -1;
	}
	return 0;
}

static void hexdiff(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (a[i] != b[i])
			print_error("  byte %zu: got %02x want %02x\n", i, a[i],
				    b[i]);
}

static void set_cfg_flags(uint32_t flags, uint16_t lan_vid)
{
	struct nappt_config cfg = E.maps.cfg;
	__u32 zero = 0;

	cfg.flags |= flags;
	cfg.lan_vid = lan_vid;
	assert_int_equal(
		bpf_map_update_elem(E.maps.config_fd, &zero, &cfg, BPF_ANY), 0);
}

/*
 * A skb test run is CHECKSUM_NONE: bpf_l4_csum_replace() updates the
 * TCP checksum field as a full checksum even where the frame carries a
 * partial one (on the wire a GSO skb is CHECKSUM_PARTIAL and the helper
 * does the partial update).  Expected field: RFC 1624 update of the
 * input field for the source address the outbound rows translate.
 */
static void tc_full_sense(const uint8_t *in, uint8_t *want)
{
	size_t hl = (in[14] & 0xf) * 4, off = 14 + hl + 16;
	uint32_t sum = (uint16_t) ~(in[off] << 8 | in[off + 1]);
	uint32_t m =
		(uint32_t)(in[26] << 24 | in[27] << 16 | in[28] << 8 | in[29]);

	sum += (uint16_t) ~(m >> 16);
	sum += (uint16_t) ~(m & 0xffff);
	sum += PUB1 >> 16;
	sum += PUB1 & 0xffff;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(want + off, (uint16_t)~sum);
}

static int prog_fd(enum side side)
{
	struct bpf_program *p;

	if (E.tc)
		p = side == LAN ? E.skel->progs.tc_lan : E.skel->progs.tc_wan;
	else
		p = side == LAN ? E.skel->progs.xdp_lan : E.skel->progs.xdp_wan;
	return bpf_program__fd(p);
}

static void run_row(void **state)
{
	const struct row *r = *state;
	struct nappt_counter before[NAPPT_STAT_MAX], after[NAPPT_STAT_MAX];
	uint8_t in[PKT_MAX], want[PKT_MAX], got[PKT_MAX];
	struct pktspec si, so;
	size_t nin, nwant;
	uint64_t moved = 0;
	unsigned int k, verdict;
	char why[64] = "";
	int expect_verdict, fd, ret;
	LIBBPF_OPTS(bpf_test_run_opts, topts);
	struct xdp_md xctx = { 0 };
	struct __sk_buff sctx = { 0 };

	if ((E.tc && r->xdp_only) || (!E.tc && r->tc_only))
		skip();
	quotes();
	r->setup(&si, &so);
	if (E.tc && !r->tc_only && si.tags == 1 && !(si.vlan & 0x0fff)) {
		/* skb_vlan_untag() strips a priority tag before the TC hook
		 * (the skb test run does not): TC sees the untagged frame. */
		si.tags = 0;
		si.vlan = 0;
		si.tpid = 0;
	}
	if (r->expect == X_PASS_XLATED && E.tc) {
		/* bpf_redirect_neigh: the kernel writes the MACs later. */
		so.ip.ttl--;
	}
	nin = build_pkt(&si, in);
	nwant = r->expect_raw ? r->expect_raw(&si, want) : build_pkt(&so, want);
	if (E.tc && r->gso_size && si.ip.l4_csum_partial &&
	    r->expect == X_REDIRECT)
		tc_full_sense(in, want);

	switch (r->expect) {
	case X_PASS:
		expect_verdict = E.tc ? TC_ACT_OK : XDP_PASS;
		break;
	case X_DROP:
		expect_verdict = E.tc ? TC_ACT_SHOT : XDP_DROP;
		break;
	case X_PASS_XLATED:
		expect_verdict = E.tc ? TC_ACT_REDIRECT : XDP_PASS;
		break;
	case X_TX:
		expect_verdict = E.tc ? TC_ACT_REDIRECT : XDP_TX;
		break;
	default:
		expect_verdict = E.tc ? TC_ACT_REDIRECT : XDP_REDIRECT;
	}

	fd = prog_fd(r->side);
	topts.data_in = in;
	topts.data_size_in = (__u32)nin;
	topts.data_out = got;
	topts.data_size_out = sizeof(got);
	topts.repeat = 1;
	if (E.tc) {
		sctx.ifindex = r->side == LAN ? E.lan_if : E.wan_if;
		sctx.ingress_ifindex = sctx.ifindex;
		sctx.gso_size = r->gso_size;
		sctx.gso_segs = r->gso_size ? 2 : 0;
		topts.ctx_in = &sctx;
		topts.ctx_size_in = sizeof(sctx);
	} else {
		xctx.data_end = (__u32)nin;
		xctx.ingress_ifindex = r->side == LAN ? E.lan_if : E.wan_if;
		topts.ctx_in = &xctx;
		topts.ctx_size_in = sizeof(xctx);
	}

	if (r->cfg_flags || r->lan_vid)
		set_cfg_flags(r->cfg_flags, r->lan_vid);
	if (r->pre)
		r->pre();
	assert_int_equal(nappt_stats_read(&E.maps, before), 0);
	ret = bpf_prog_test_run_opts(fd, &topts);
	assert_int_equal(nappt_stats_read(&E.maps, after), 0);
	if (r->post)
		r->post();
	if (r->cfg_flags || r->lan_vid)
		set_cfg_flags(0, 0);
	assert_int_equal(ret, 0);
	verdict = topts.retval;

	if ((int)verdict != expect_verdict)
		fail_msg("%s: verdict %u, want %d", r->name, verdict,
			 expect_verdict);
	if (topts.data_size_out != nwant)
		fail_msg("%s: output %u bytes, want %zu", r->name,
			 topts.data_size_out, nwant);
	if (memcmp(got, want, nwant)) {
		hexdiff(got, want, nwant);
		fail_msg("%s: output bytes differ from expectation", r->name);
	}
	if ((r->expect == X_REDIRECT || r->expect == X_PASS_XLATED ||
	     r->expect == X_TX) &&
	    verify_csums(got, nwant, why, sizeof(why)))
		fail_msg("%s: %s", r->name, why);

	/* Exactly one disposition counter moves, and it is this one. */
	for (k = 0; k < NAPPT_STAT_MAX; k++)
		if (nappt_stat_is_disposition(k))
			moved += after[k].packets - before[k].packets;
	if (after[r->stat].packets - before[r->stat].packets != 1 ||
	    moved != 1) {
		for (k = 0; k < NAPPT_STAT_MAX; k++)
			if (after[k].packets != before[k].packets)
				print_error("  moved: %s\n",
					    nappt_stat_name(k));
		fail_msg("%s: counter %s moved %llu, %llu counters in all",
			 r->name, nappt_stat_name(r->stat),
			 (unsigned long long)(after[r->stat].packets -
					      before[r->stat].packets),
			 (unsigned long long)moved);
	}
	if (r->expect == X_REDIRECT &&
	    after[NAPPT_STAT_REDIRECT].packets -
			    before[NAPPT_STAT_REDIRECT].packets !=
		    1)
		fail_msg("%s: redirect counter did not move", r->name);
}

/*
 * Invariant 5: a malformed packet never crashes anything and is counted.
 * Random frames, biased towards IPv4 headers that almost parse (and
 * mutated valid frames), each must get a verdict of its hook and move
 * exactly one reason counter.
 */
static void random_frames(void **state)
{
	struct nappt_counter before[NAPPT_STAT_MAX], after[NAPPT_STAT_MAX];
	uint8_t in[PKT_MAX], got[PKT_MAX];
	unsigned int seed = 12345, i, k;
	uint64_t moved = 0;
	const int n = 20000;

	assert_int_equal(nappt_stats_read(&E.maps, before), 0);
	for (i = 0; i < (unsigned int)n; i++) {
		struct pktspec a, b;
		size_t len, j;
		LIBBPF_OPTS(bpf_test_run_opts, topts);
		struct xdp_md xctx = { 0 };
		struct __sk_buff sctx = { 0 };
		int side = rand_r(&seed) & 1, ret;

		quotes();
		if (rand_r(&seed) & 1) {
			(side ? port_unreach_in : udp_out)(&a, &b);
			len = build_pkt(&a, in);
		} else {
			len = 34 + (size_t)(rand_r(&seed) % 120);
			for (j = 0; j < len; j++)
				in[j] = (uint8_t)rand_r(&seed);
			in[12] = 0x08;
			in[13] = 0;
			in[14] = (uint8_t)(0x45 + rand_r(&seed) % 11);
		}
		/* Flip a few bytes past the Ethernet header. */
		for (j = 0; j < 1 + (size_t)(rand_r(&seed) % 4); j++)
			in[14 + (size_t)rand_r(&seed) % (len - 14)] ^=
				(uint8_t)(1u << (rand_r(&seed) % 8));
		if (rand_r(&seed) % 4 == 0)
			len = 34 + (size_t)rand_r(&seed) % (len - 33);
		if (rand_r(&seed) % 8 == 0) {
			/* A tag, mostly VID 0 (XDP strips it), any PCP. */
			memmove(in + 16, in + 12, len - 12);
			in[12] = rand_r(&seed) & 1 ? 0x88 : 0x81;
			in[13] = in[12] == 0x88 ? 0xa8 : 0;
			in[14] = (uint8_t)(rand_r(&seed) & 0xf0);
			in[15] = rand_r(&seed) % 4 ? 0 : 5;
			len += 4;
		}

		topts.data_in = in;
		topts.data_size_in = (__u32)len;
		topts.data_out = got;
		topts.data_size_out = sizeof(got);
		topts.repeat = 1;
		if (E.tc) {
			sctx.ifindex = side ? E.wan_if : E.lan_if;
			sctx.ingress_ifindex = sctx.ifindex;
			topts.ctx_in = &sctx;
			topts.ctx_size_in = sizeof(sctx);
		} else {
			xctx.data_end = (__u32)len;
			xctx.ingress_ifindex = side ? E.wan_if : E.lan_if;
			topts.ctx_in = &xctx;
			topts.ctx_size_in = sizeof(xctx);
		}
		ret = bpf_prog_test_run_opts(prog_fd(side ? WAN : LAN), &topts);
		if (ret == -EINVAL && E.tc) {
			/* The skb test run refuses some headers itself. */
			continue;
		}
		assert_int_equal(ret, 0);
		if (E.tc)
			assert_true(topts.retval == TC_ACT_OK ||
				    topts.retval == TC_ACT_SHOT ||
				    topts.retval == TC_ACT_REDIRECT);
		else
			assert_true(topts.retval == XDP_PASS ||
				    topts.retval == XDP_DROP ||
				    topts.retval == XDP_TX ||
				    topts.retval == XDP_REDIRECT);
		moved++;
	}
	assert_int_equal(nappt_stats_read(&E.maps, after), 0);
	for (k = 0; k < NAPPT_STAT_MAX; k++)
		if (nappt_stat_is_disposition(k))
			moved -= after[k].packets - before[k].packets;
	/* Every frame that ran moved exactly one reason counter. */
	assert_int_equal(moved, 0);
	assert_true(after[NAPPT_STAT_DROP_MALFORMED].packets >
		    before[NAPPT_STAT_DROP_MALFORMED].packets);
}

static int get_mac(const char *ifname, uint8_t mac[6])
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM, 0), r = 0;

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		r = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
	return r;
}

/* The config of the rows (host side filled in by setup_env()). */
static void test_cfg(struct nappt_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->lan_net = htonl(LAN_NET);
	cfg->lan_size = 65536;
	cfg->pub_net = htonl(PUB_NET);
	cfg->pub_count = 16;
	cfg->slot_shift = 10;
	cfg->slots_per_ip = 64;
	cfg->lan_gw = htonl(GW_LAN);
	cfg->lan_mtu = 1500;
}

static int derive(const struct nappt_config *cfg, uint32_t pub, uint16_t first,
		  uint32_t *addr)
{
	uint32_t be;
	int r = nappt_phone_addr(cfg, htonl(pub), first, &be);

	if (!r)
		*addr = ntohl(be);
	return r;
}

/* The phones' addresses, from their leases (see phone_a). */
static int derive_addrs(const struct nappt_config *cfg)
{
	int r = derive(cfg, PUB1, 2048, &phone_a);

	if (!r)
		r = derive(cfg, PUB1, 3072, &phone_b);
	if (!r)
		r = derive(cfg, PUB1, 4096, &phone_c);
	if (!r)
		r = derive(cfg, PUB1, 5120, &phone_d);
	if (!r)
		r = derive(cfg, PUB1, 6144, &phone_d2);
	if (!r)
		r = derive(cfg, PUB1, 8192, &phone_e);
	if (r)
		return r;
	/* The rows' meaning rests on these: distinct, none the gateway's
	 * nor NO_LEASE. */
	if (phone_a == phone_b || phone_b == phone_c || phone_c == phone_d ||
	    phone_d2 != phone_d + 1 || phone_e <= phone_d2 ||
	    phone_a == GW_LAN || (NO_LEASE >= phone_a && NO_LEASE <= phone_e))
		return -EINVAL;
	return 0;
}

static int setup_env(void)
{
	struct nappt_config cfg;
	struct nappt_phone a = { 0 }, b = { 0 };
	uint8_t mac[6];
	__u32 ifx;
	int r;

	E.lan_if = (int)if_nametoindex("lan0");
	E.wan_if = (int)if_nametoindex("wan0");
	if (!E.lan_if || !E.wan_if) {
		fprintf(stderr, "test_datapath: lan0/wan0 missing; run via "
				"tests/bpf/run-datapath.sh\n");
		return -ENODEV;
	}
	if (get_mac("lan0", mac) || memcmp(mac, MAC_LAN0, 6) ||
	    get_mac("wan0", mac) || memcmp(mac, MAC_WAN0, 6)) {
		fprintf(stderr, "test_datapath: lan0/wan0 MACs not as set up "
				"by run-datapath.sh\n");
		return -EINVAL;
	}
	test_cfg(&cfg);
	r = derive_addrs(&cfg);
	if (r)
		return r;
	cfg.lan_ifindex = (__u32)E.lan_if;
	memcpy(cfg.lan_mac, MAC_LAN0, 6);
	r = private_maps(&E.skel, &E.maps, &cfg);
	if (r)
		return r;
	for (ifx = 0; ifx < 2; ifx++) {
		__u32 k = ifx ? (__u32)E.wan_if : (__u32)E.lan_if;

		if (bpf_map_update_elem(E.maps.tx_ports_fd, &k, &k, BPF_ANY))
			return -errno;
	}

	a.pub_ip = htonl(PUB1);
	a.port_first = 2048;
	a.port_last = 3071;
	memcpy(a.mac, MAC_A, 6);
	b = a;
	b.port_first = 3072;
	b.port_last = 4095;
	memcpy(b.mac, MAC_B, 6);
	lease_a = a;
	lease_b = b;
	r = nappt_phone_add(&E.maps, htonl(PHONE_A), &a);
	if (!r)
		r = nappt_phone_add(&E.maps, htonl(PHONE_B), &b);
	return r;
}

static int run_group(const char *name, int tc)
{
	struct CMUnitTest tests[NROWS + 1];
	size_t i;

	E.tc = tc;
	/* Fresh fragment state: each group replays the wire in order. */
	for (i = 0; i < NROWS; i++) {
		memset(&tests[i], 0, sizeof(tests[i]));
		tests[i].name = rows[i].name;
		tests[i].test_func = run_row;
		tests[i].initial_state = (void *)&rows[i];
	}
	memset(&tests[NROWS], 0, sizeof(tests[NROWS]));
	tests[NROWS].name = "20000 random and mutated frames";
	tests[NROWS].test_func = random_frames;
	return _cmocka_run_group_tests(name, tests, NROWS + 1, NULL, NULL);
}

int main(int argc, char **argv)
{
	struct nappt_config cfg;
	int r, fails = 0;

	/* For run-datapath.sh: the phones' derived addresses (A B C). */
	if (argc > 1 && !strcmp(argv[1], "--addrs")) {
		struct in_addr x[3];

		test_cfg(&cfg);
		if (derive_addrs(&cfg))
			return 1;
		x[0].s_addr = htonl(PHONE_A);
		x[1].s_addr = htonl(PHONE_B);
		x[2].s_addr = htonl(PHONE_C);
		printf("%s", inet_ntoa(x[0]));
		printf(" %s", inet_ntoa(x[1]));
		printf(" %s\n", inet_ntoa(x[2]));
		return 0;
	}
	r = setup_env();
	if (r) {
		fprintf(stderr, "test_datapath: setup failed: %s\n",
			strerror(-r));
		return 1;
	}
	fails += run_group("datapath_xdp", 0);
	fails += run_group("datapath_tc", 1);
	nappt_bpf__destroy(E.skel);
	return fails ? 1 : 0;
}
