// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * site-client: a whole site of IP phones powering up at once, played by
 * one process so that the benchmark measures the gateway, not N client
 * processes (bench/bench-site.sh).
 *
 * Every phone has its own MAC; all of them speak through one AF_PACKET
 * socket on one interface, so the frames on the wire are what N phones
 * behind a switch would send.  Each phone, from the same instant:
 *   1. DHCP DORA (RFC 2131) with its vendor class (option 60, Cisco's,
 *      trailing NUL included) and the broadcast flag; retransmits after
 *      2 s, doubling up to 16 s (RFC 2131 4.1 has 4 s first);
 *   2. TFTP (RFC 1350) read of its config file (option 67, else
 *      SEP<MAC>.cnf.xml as a Cisco phone asks) and of the firmware image,
 *      asking blksize and optionally windowsize (RFC 2348, 7440; a server
 *      that does not grant it runs lock-step), from option 150, else
 *      siaddr, else the server identifier;
 *   3. one UDP datagram to the echo host through the data plane, from a
 *      port of its range (option 159, RFC 7618) or, without one, any port
 *      (the peer stack's NAT picks one), and its echo back.
 * It answers ARP for its leased address (the gateway's kernel asks before
 * it unicasts).  A phone is "in service" when its echo comes back.
 *
 * Usage: site-client -i IFACE -n PHONES [-m MAC_BASE] [-V VENDOR]
 *                    -f IMAGE -z IMAGE_BYTES -e ECHO_IP:PORT
 *                    [-b BLKSIZE] [-w WINDOW] [-l LIMIT_S] [-q]
 *        site-client -E ECHO_IP:PORT [-l LIMIT_S]   (the echo host)
 * Prints one line "phones= done= failed= last_s= p50_s= p99_s= ..." and
 * exits 0 when every phone is in service within LIMIT_S.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LAN_BASE 0x64400000u /* 100.64.0.0: the ARP index covers a /16 */
#define RX_BATCH 64
#define TX_MAX 256
#define FRAME_MAX 1600
#define TFTP_RTO 1.0
#define ECHO_RTO 1.0

enum stage { ST_DISCOVER, ST_REQUEST, ST_CFG, ST_IMG, ST_ECHO, ST_DONE };

struct phone {
	uint8_t mac[6];
	uint8_t stage;
	uint8_t have_range;
	uint32_t xid;
	uint32_t yiaddr, sid, tftp_ip; /* network order */
	uint16_t port; /* the echo's source port */
	uint16_t my_tid, srv_tid, last, acked, blksize, window;
	uint8_t got_srv;
	int tries;
	uint64_t bytes;
	double due, rto, t_bound, t_done;
	char cfg[128];
};

static struct phone *P;
static int nphones, fd = -1;
static int32_t *by_ip; /* (ip - LAN_BASE) & 0xffff -> phone + 1 */
static uint8_t gw_mac[6], have_gw;
static const char *vendor = "Cisco Systems, Inc. IP Phone CP-7940G";
static const char *image;
static uint64_t image_bytes;
static uint32_t echo_ip;
static uint16_t echo_port;
static int want_blksize = 1428, want_window = 16;
static uint16_t ip_id;
static unsigned long n_tx, n_rx, n_dhcp_rtx, n_tftp_rtx, n_tftp_err, n_echo_rtx,
	n_size_bad;

static uint8_t txbuf[TX_MAX][FRAME_MAX];
static struct iovec txiov[TX_MAX];
static struct mmsghdr txmh[TX_MAX];
static int ntx;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void flush_tx(void)
{
	int i = 0, r;

	while (i < ntx) {
		r = sendmmsg(fd, txmh + i, (unsigned int)(ntx - i), 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS || errno == EAGAIN) {
				/* the device queue is full: the frame is lost
				 * as on a wire; retransmission covers it */
				i++;
				continue;
			}
			perror("sendmmsg");
			break;
		}
		n_tx += (unsigned long)r;
		i += r;
	}
	ntx = 0;
}

static uint8_t *tx_frame(void)
{
	if (ntx == TX_MAX)
		flush_tx();
	return txbuf[ntx];
}

static void tx_commit(size_t len)
{
	txiov[ntx] = (struct iovec){ txbuf[ntx], len };
	txmh[ntx] = (struct mmsghdr){ .msg_hdr = { .msg_iov = &txiov[ntx],
						   .msg_iovlen = 1 } };
	ntx++;
}

static uint16_t csum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint32_t s = 0;

	for (; n > 1; n -= 2, b += 2)
		s += (uint32_t)(b[0] << 8 | b[1]);
	if (n)
		s += (uint32_t)(b[0] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return htons((uint16_t)~s);
}

/* Ethernet + IPv4 + UDP around payload (already at f + 42).  The UDP
 * checksum is 0 (RFC 768: none), which every hop leaves as it is. */
static void send_udp(const uint8_t *src_mac, const uint8_t *dst_mac,
		     uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport,
		     uint8_t *f, size_t plen)
{
	struct ether_header *eh = (void *)f;
	struct iphdr *ip = (void *)(f + 14);
	struct udphdr *uh = (void *)(f + 34);

	memcpy(eh->ether_dhost, dst_mac, 6);
	memcpy(eh->ether_shost, src_mac, 6);
	eh->ether_type = htons(ETHERTYPE_IP);
	memset(ip, 0, sizeof(*ip));
	ip->version = 4;
	ip->ihl = 5;
	ip->tot_len = htons((uint16_t)(20 + 8 + plen));
	ip->id = htons(ip_id++);
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = src;
	ip->daddr = dst;
	ip->check = csum(ip, 20);
	uh->source = htons(sport);
	uh->dest = htons(dport);
	uh->len = htons((uint16_t)(8 + plen));
	uh->check = 0;
	tx_commit(42 + plen);
}

static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static void dhcp_send(struct phone *p, int type)
{
	uint8_t *f = tx_frame(), *d = f + 42, *o;
	size_t vl = strlen(vendor) + 1; /* Cisco sends the NUL */
	static const uint8_t prl[] = { 1, 3, 6, 15, 42, 66, 67, 150, 159 };

	memset(d, 0, 240);
	d[0] = 1; /* BOOTREQUEST */
	d[1] = 1;
	d[2] = 6;
	memcpy(d + 4, &p->xid, 4);
	d[10] = 0x80; /* broadcast flag: no unicast before we have an IP */
	memcpy(d + 28, p->mac, 6);
	d[236] = 99, d[237] = 130, d[238] = 83, d[239] = 99;
	o = d + 240;
	*o++ = 53, *o++ = 1, *o++ = (uint8_t)type;
	*o++ = 61, *o++ = 7, *o++ = 1;
	memcpy(o, p->mac, 6), o += 6;
	*o++ = 60, *o++ = (uint8_t)vl;
	memcpy(o, vendor, vl), o += vl;
	*o++ = 55, *o++ = sizeof(prl);
	memcpy(o, prl, sizeof(prl)), o += sizeof(prl);
	*o++ = 57, *o++ = 2, *o++ = 1500 >> 8, *o++ = 1500 & 0xff;
	if (type == 3) {
		*o++ = 50, *o++ = 4;
		memcpy(o, &p->yiaddr, 4), o += 4;
		*o++ = 54, *o++ = 4;
		memcpy(o, &p->sid, 4), o += 4;
	}
	*o++ = 255;
	while (o - d < 300)
		*o++ = 0; /* BOOTP minimum */
	send_udp(p->mac, bcast, 0, 68, 0xffffffffu, 67, f, (size_t)(o - d));
}

static void tftp_rrq(struct phone *p)
{
	uint8_t *f = tx_frame(), *d = f + 42;
	const char *name = p->stage == ST_CFG ? p->cfg : image;
	int n;

	p->my_tid = (uint16_t)(p->my_tid + 1 < 49152 ? 49152 : p->my_tid + 1);
	p->got_srv = 0;
	p->last = p->acked = 0;
	p->bytes = 0;
	p->blksize = 512;
	p->window = 1;
	d[0] = 0, d[1] = 1;
	n = 2 + snprintf((char *)d + 2, 200, "%s%coctet%c", name, 0, 0);
	if (want_blksize)
		n += snprintf((char *)d + n, 40, "blksize%c%d%c", 0,
			      want_blksize, 0);
	if (want_window > 1)
		n += snprintf((char *)d + n, 40, "windowsize%c%d%c", 0,
			      want_window, 0);
	n += snprintf((char *)d + n, 20, "tsize%c0%c", 0, 0);
	send_udp(p->mac, gw_mac, p->yiaddr, p->my_tid, p->tftp_ip, 69, f,
		 (size_t)n);
}

static void tftp_ack(struct phone *p, uint16_t block)
{
	uint8_t *f = tx_frame(), *d = f + 42;

	d[0] = 0, d[1] = 4, d[2] = (uint8_t)(block >> 8), d[3] = (uint8_t)block;
	p->acked = block;
	send_udp(p->mac, gw_mac, p->yiaddr, p->my_tid, p->tftp_ip, p->srv_tid,
		 f, 4);
}

static void echo_send(struct phone *p)
{
	uint8_t *f = tx_frame(), *d = f + 42;
	int n = snprintf((char *)d, 64, "phone %ld", (long)(p - P));

	send_udp(p->mac, gw_mac, p->yiaddr, p->port, echo_ip, echo_port, f,
		 (size_t)n);
}

static void arp_reply(const uint8_t *req, const struct phone *p)
{
	uint8_t *f = tx_frame();

	memcpy(f, req + 6, 6);
	memcpy(f + 6, p->mac, 6);
	f[12] = 0x08, f[13] = 0x06;
	memcpy(f + 14, req + 14, 6); /* htype, ptype, hlen, plen */
	f[20] = 0, f[21] = 2;
	memcpy(f + 22, p->mac, 6);
	memcpy(f + 28, &p->yiaddr, 4);
	memcpy(f + 32, req + 22, 10); /* the asker's MAC and address */
	memset(f + 42, 0, 18);
	tx_commit(60);
}

static void enter(struct phone *p, int stage, double now)
{
	p->stage = (uint8_t)stage;
	p->tries = 0;
	switch (stage) {
	case ST_CFG:
	case ST_IMG:
		p->rto = TFTP_RTO;
		tftp_rrq(p);
		break;
	case ST_ECHO:
		p->rto = ECHO_RTO;
		echo_send(p);
		break;
	case ST_DONE:
		p->t_done = now;
		return;
	}
	p->due = now + p->rto;
}

static struct phone *phone_of_mac(const uint8_t *mac)
{
	long i;

	if (memcmp(mac, P[0].mac, 3))
		return NULL;
	i = (long)(mac[3] << 16 | mac[4] << 8 | mac[5]) -
	    (long)(P[0].mac[3] << 16 | P[0].mac[4] << 8 | P[0].mac[5]);
	return i >= 0 && i < nphones ? &P[i] : NULL;
}

static struct phone *phone_of_ip(uint32_t be)
{
	uint32_t h = ntohl(be);
	int32_t i;

	if ((h & 0xffff0000u) != LAN_BASE)
		return NULL;
	i = by_ip[h & 0xffff];
	return i > 0 ? &P[i - 1] : NULL;
}

static const uint8_t *opt(const uint8_t *o, const uint8_t *end, int code,
			  int *len)
{
	while (o < end && *o != 255) {
		if (*o == 0) {
			o++;
			continue;
		}
		if (o + 2 > end || o + 2 + o[1] > end)
			return NULL;
		if (*o == code) {
			*len = o[1];
			return o + 2;
		}
		o += 2 + o[1];
	}
	return NULL;
}

static void on_dhcp(const uint8_t *f, const uint8_t *d, size_t n, double now)
{
	struct phone *p;
	const uint8_t *v, *end = d + n;
	int len, type;

	if (n < 244 || d[0] != 2)
		return;
	p = phone_of_mac(d + 28);
	if (!p || memcmp(d + 4, &p->xid, 4))
		return;
	v = opt(d + 240, end, 53, &len);
	if (!v || len != 1)
		return;
	type = v[0];
	if (p->stage == ST_DISCOVER && type == 2) {
		memcpy(&p->yiaddr, d + 16, 4);
		v = opt(d + 240, end, 54, &len);
		if (!v || len != 4)
			return;
		memcpy(&p->sid, v, 4);
		p->stage = ST_REQUEST;
		p->tries = 0;
		p->rto = 2.0;
		p->due = now + p->rto;
		dhcp_send(p, 3);
		return;
	}
	if (p->stage != ST_REQUEST)
		return;
	if (type == 6) { /* NAK: start again */
		p->stage = ST_DISCOVER;
		p->xid++;
		p->due = now;
		return;
	}
	if (type != 5)
		return;
	memcpy(&p->yiaddr, d + 16, 4);
	if (!have_gw) {
		memcpy(gw_mac, f + 6, 6);
		have_gw = 1;
	}
	p->tftp_ip = 0;
	v = opt(d + 240, end, 150, &len);
	if (v && len >= 4)
		memcpy(&p->tftp_ip, v, 4);
	if (!p->tftp_ip)
		memcpy(&p->tftp_ip, d + 20, 4); /* siaddr */
	if (!p->tftp_ip)
		p->tftp_ip = p->sid;
	v = opt(d + 240, end, 67, &len);
	if (v && len > 0 && len < (int)sizeof(p->cfg)) {
		memcpy(p->cfg, v, (size_t)len);
		p->cfg[len] = '\0';
	} else if (d[108]) {
		snprintf(p->cfg, sizeof(p->cfg), "%.127s",
			 (const char *)d + 108);
	} else {
		snprintf(p->cfg, sizeof(p->cfg),
			 "SEP%02X%02X%02X%02X%02X%02X.cnf.xml", p->mac[0],
			 p->mac[1], p->mac[2], p->mac[3], p->mac[4], p->mac[5]);
	}
	/* RFC 7618: a=0 here, so the 16-bit PSID field is the range's
	 * first port; +7 is still inside it. */
	v = opt(d + 240, end, 159, &len);
	p->have_range = v && len == 4;
	p->port = p->have_range ? (uint16_t)((v[2] << 8 | v[3]) + 7) : 40007;
	if ((ntohl(p->yiaddr) & 0xffff0000u) == LAN_BASE)
		by_ip[ntohl(p->yiaddr) & 0xffff] = (int32_t)(p - P) + 1;
	p->t_bound = now;
	enter(p, ST_CFG, now);
}

static void tftp_done(struct phone *p, double now)
{
	if (p->stage == ST_IMG && image_bytes && p->bytes != image_bytes) {
		n_size_bad++;
		enter(p, ST_IMG, now); /* fetch it again */
		return;
	}
	enter(p, p->stage == ST_CFG ? ST_IMG : ST_ECHO, now);
}

static void on_tftp(struct phone *p, uint16_t sport, const uint8_t *d, size_t n,
		    double now)
{
	uint16_t op, b;

	if (n < 4)
		return;
	op = (uint16_t)(d[0] << 8 | d[1]);
	if (p->got_srv && sport != p->srv_tid)
		return; /* RFC 1350: another TID */
	if (op == 5) {
		n_tftp_err++;
		p->due = now + p->rto; /* ask again then */
		p->got_srv = 2;
		return;
	}
	if (!p->got_srv) {
		p->got_srv = 1;
		p->srv_tid = sport;
	}
	if (op == 6) { /* OACK: what the server granted */
		const char *s = (const char *)d + 2, *e = (const char *)d + n;

		while (s < e) {
			const char *k = s, *v = memchr(s, 0, (size_t)(e - s));

			if (!v || ++v >= e)
				break;
			s = memchr(v, 0, (size_t)(e - v));
			if (!s)
				break;
			s++;
			if (!strcasecmp(k, "blksize"))
				p->blksize = (uint16_t)atoi(v);
			else if (!strcasecmp(k, "windowsize"))
				p->window = (uint16_t)atoi(v);
		}
		tftp_ack(p, 0);
		p->due = now + p->rto;
		return;
	}
	if (op != 3)
		return;
	b = (uint16_t)(d[2] << 8 | d[3]);
	if (b != (uint16_t)(p->last + 1)) {
		/* RFC 7440: a gap, ACK the last block in order */
		if (b != p->last || p->window == 1)
			tftp_ack(p, p->last);
		return;
	}
	p->last = b;
	p->bytes += n - 4;
	p->tries = 0;
	p->due = now + p->rto;
	if (n - 4 < p->blksize) {
		tftp_ack(p, b);
		tftp_done(p, now);
	} else if ((uint16_t)(b - p->acked) >= p->window) {
		tftp_ack(p, b);
	}
}

static void on_frame(const uint8_t *f, size_t n, double now)
{
	const struct iphdr *ip;
	const struct udphdr *uh;
	struct phone *p;
	size_t ihl, ulen;
	uint16_t sport, dport;

	if (n < 42)
		return;
	if (f[12] == 0x08 && f[13] == 0x06) {
		/* ARP request (op 1) for one of our addresses */
		uint32_t tip;

		if (f[20] != 0 || f[21] != 1)
			return;
		memcpy(&tip, f + 38, 4);
		p = phone_of_ip(tip);
		if (p && p->stage >= ST_CFG)
			arp_reply(f, p);
		return;
	}
	if (f[12] != 0x08 || f[13] != 0x00)
		return;
	ip = (const void *)(f + 14);
	ihl = (size_t)ip->ihl * 4;
	if (ip->version != 4 || ihl < 20 || n < 14 + ihl + 8 ||
	    ip->protocol != IPPROTO_UDP || (ntohs(ip->frag_off) & 0x3fff))
		return;
	uh = (const void *)(f + 14 + ihl);
	ulen = ntohs(uh->len);
	if (ulen < 8 || 14 + ihl + ulen > n)
		return;
	sport = ntohs(uh->source);
	dport = ntohs(uh->dest);
	if (sport == 67 && dport == 68) {
		on_dhcp(f, (const uint8_t *)uh + 8, ulen - 8, now);
		return;
	}
	p = phone_of_ip(ip->daddr);
	if (!p || memcmp(f, p->mac, 6))
		return;
	if ((p->stage == ST_CFG || p->stage == ST_IMG) && dport == p->my_tid &&
	    ip->saddr == p->tftp_ip)
		on_tftp(p, sport, (const uint8_t *)uh + 8, ulen - 8, now);
	else if (p->stage == ST_ECHO && dport == p->port &&
		 ip->saddr == echo_ip && sport == echo_port)
		enter(p, ST_DONE, now);
}

static void on_timer(struct phone *p, double now)
{
	p->tries++;
	switch (p->stage) {
	case ST_DISCOVER:
	case ST_REQUEST:
		if (p->tries > 1)
			n_dhcp_rtx++;
		if (p->stage == ST_REQUEST && p->tries > 4) {
			/* RFC 2131 3.1: no ACK, back to INIT */
			p->stage = ST_DISCOVER;
			p->xid++;
			p->tries = 1;
		}
		dhcp_send(p, p->stage == ST_DISCOVER ? 1 : 3);
		p->rto = p->rto * 2 > 16 ? 16 : p->rto * 2;
		/* ±10% so that retransmissions do not all align */
		p->due = now +
			 p->rto * (0.9 + 0.2 * (rand() / (double)RAND_MAX));
		return;
	case ST_CFG:
	case ST_IMG:
		n_tftp_rtx++;
		if (!p->got_srv || p->got_srv == 2 || p->tries > 8)
			enter(p, p->stage, now); /* a new request, a new TID */
		else
			tftp_ack(p, p->last);
		p->due = now + p->rto;
		return;
	case ST_ECHO:
		n_echo_rtx++;
		echo_send(p);
		p->due = now + p->rto;
		return;
	}
}

/* The client's own CPU time: if it nears the wall time, the client and
 * not the gateway is what was measured. */
static double cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int parse_hostport(const char *s, uint32_t *ip, uint16_t *port)
{
	char buf[64], *c;

	snprintf(buf, sizeof(buf), "%s", s);
	c = strchr(buf, ':');
	if (!c)
		return -EINVAL;
	*c = '\0';
	*port = (uint16_t)atoi(c + 1);
	return inet_pton(AF_INET, buf, ip) == 1 && *port ? 0 : -EINVAL;
}

/* The far end: echoes every datagram to its sender until the limit. */
static int echo_main(const char *where, int limit)
{
	struct sockaddr_in a = { .sin_family = AF_INET }, from;
	socklen_t fl;
	char buf[2048];
	double end = now_s() + limit;
	int s = socket(AF_INET, SOCK_DGRAM, 0), big = 8 << 20;
	ssize_t r;

	if (s < 0 || parse_hostport(where, &a.sin_addr.s_addr, &a.sin_port))
		return 2;
	a.sin_port = htons(a.sin_port);
	setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	if (bind(s, (void *)&a, sizeof(a))) {
		perror("bind");
		return 2;
	}
	while (now_s() < end) {
		struct pollfd pf = { s, POLLIN, 0 };

		if (poll(&pf, 1, 500) <= 0)
			continue;
		fl = sizeof(from);
		r = recvfrom(s, buf, sizeof(buf), 0, (void *)&from, &fl);
		if (r > 0)
			sendto(s, buf, (size_t)r, 0, (void *)&from, fl);
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *macbase = "00:1b:54:10:00:00";
	static uint8_t rx[RX_BATCH][FRAME_MAX];
	struct iovec iov[RX_BATCH];
	struct mmsghdr mh[RX_BATCH];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET };
	unsigned int mb[6];
	int c, i, limit = 120, quiet = 0, big = 256 << 20, one = 1, done = 0;
	double t0, now, *t, next_scan = 0;
	uint32_t base;

	while ((c = getopt(argc, argv, "i:n:m:V:f:z:e:E:b:w:l:q")) != -1) {
		switch (c) {
		case 'i':
			ifname = optarg;
			break;
		case 'n':
			nphones = atoi(optarg);
			break;
		case 'm':
			macbase = optarg;
			break;
		case 'V':
			vendor = optarg;
			break;
		case 'f':
			image = optarg;
			break;
		case 'z':
			image_bytes = strtoull(optarg, NULL, 10);
			break;
		case 'e':
			if (parse_hostport(optarg, &echo_ip, &echo_port))
				return 2;
			break;
		case 'E':
			return echo_main(optarg, limit);
		case 'b':
			want_blksize = atoi(optarg);
			break;
		case 'w':
			want_window = atoi(optarg);
			break;
		case 'l':
			limit = atoi(optarg);
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			return 2;
		}
	}
	if (!ifname || nphones <= 0 || nphones > 60000 || !image || !echo_ip ||
	    sscanf(macbase, "%x:%x:%x:%x:%x:%x", &mb[0], &mb[1], &mb[2], &mb[3],
		   &mb[4], &mb[5]) != 6) {
		fprintf(stderr, "usage: see bench/site-client.c\n");
		return 2;
	}
	P = calloc((size_t)nphones, sizeof(*P));
	by_ip = calloc(65536, sizeof(*by_ip));
	t = calloc((size_t)nphones, sizeof(*t));
	if (!P || !by_ip || !t)
		return 1;
	base = mb[3] << 16 | mb[4] << 8 | mb[5];
	srand((unsigned int)getpid());
	for (i = 0; i < nphones; i++) {
		uint32_t lo = base + (uint32_t)i;

		P[i].mac[0] = (uint8_t)mb[0];
		P[i].mac[1] = (uint8_t)mb[1];
		P[i].mac[2] = (uint8_t)mb[2];
		P[i].mac[3] = (uint8_t)(lo >> 16);
		P[i].mac[4] = (uint8_t)(lo >> 8);
		P[i].mac[5] = (uint8_t)lo;
		P[i].xid = htonl(0x51000000u + (uint32_t)i * 16);
		P[i].my_tid = 49152;
	}
	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex || bind(fd, (void *)&sll, sizeof(sll))) {
		perror(ifname);
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));

	t0 = now_s();
	/* Power comes back: every phone sends its DISCOVER now. */
	for (i = 0; i < nphones; i++) {
		P[i].rto = 2.0;
		P[i].tries = 1;
		P[i].due = t0 + P[i].rto;
		dhcp_send(&P[i], 1);
	}
	flush_tx();
	while (done < nphones && (now = now_s()) < t0 + limit) {
		struct pollfd pf = { fd, POLLIN, 0 };
		int n;

		for (i = 0; i < RX_BATCH; i++) {
			iov[i] = (struct iovec){ rx[i], FRAME_MAX };
			mh[i] = (struct mmsghdr){ .msg_hdr = {
							  .msg_iov = &iov[i],
							  .msg_iovlen = 1 } };
		}
		n = recvmmsg(fd, mh, RX_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			flush_tx();
			poll(&pf, 1, 5);
			n = 0;
		}
		now = now_s();
		for (i = 0; i < n; i++) {
			struct phone *p = NULL;

			n_rx++;
			on_frame(rx[i], mh[i].msg_len, now);
			(void)p;
		}
		flush_tx();
		if (now >= next_scan) {
			/* timers: a scan every 10 ms is cheap next to the
			 * traffic and bounds a timer's lateness */
			next_scan = now + 0.01;
			done = 0;
			for (i = 0; i < nphones; i++) {
				if (P[i].stage == ST_DONE)
					done++;
				else if (now >= P[i].due)
					on_timer(&P[i], now);
			}
			flush_tx();
		}
	}
	done = 0;
	for (i = 0; i < nphones; i++)
		if (P[i].stage == ST_DONE)
			t[done++] = P[i].t_done - t0;
	qsort(t, (size_t)done, sizeof(*t), cmp_d);
	{
		int st[ST_DONE + 1] = { 0 };
		double bound_max = 0;

		for (i = 0; i < nphones; i++) {
			st[P[i].stage]++;
			if (P[i].t_bound - t0 > bound_max && P[i].t_bound > 0)
				bound_max = P[i].t_bound - t0;
		}
		printf("phones=%d done=%d failed=%d last_s=%.3f p50_s=%.3f "
		       "p99_s=%.3f last_bound_s=%.3f stuck_dhcp=%d "
		       "stuck_tftp=%d stuck_echo=%d dhcp_rtx=%lu tftp_rtx=%lu "
		       "tftp_err=%lu echo_rtx=%lu size_bad=%lu tx=%lu rx=%lu "
		       "client_cpu_s=%.2f\n",
		       nphones, done, nphones - done, done ? t[done - 1] : 0.0,
		       done ? t[(done - 1) / 2] : 0.0,
		       done ? t[(int)((done - 1) * 0.99)] : 0.0, bound_max,
		       st[ST_DISCOVER] + st[ST_REQUEST],
		       st[ST_CFG] + st[ST_IMG], st[ST_ECHO], n_dhcp_rtx,
		       n_tftp_rtx, n_tftp_err, n_echo_rtx, n_size_bad, n_tx,
		       n_rx, cpu_s());
	}
	(void)quiet;
	return done == nphones ? 0 : 1;
}
