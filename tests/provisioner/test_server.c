// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The server core (server.h) driven without a network: requests in as
 * bytes, replies captured by a fake send, the data plane a fake table,
 * the store a real SQLite file, the clock a number.  What a phone sees
 * (the OFFER, the ACK and their options), what must not happen before the
 * lease is durable (no ACK, no mapping), and the paths around: renewal,
 * INIT-REBOOT, another server chosen, RELEASE, DECLINE, expiry, a flood,
 * exhaustion, the sweep that repairs, a restart.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "conf.h"
#include "dhcp-msg.h"
#include "lease-store.h"
#include "log.h"
#include "render.h"
#include "server-internal.h"

static const char CISCO[] = "Cisco Systems, Inc. IP Phone CP-7940G";
static const uint8_t MAC_A[6] = { 0x00, 0x1b, 0x54, 0xaa, 0xbb, 0x0c };
static const uint8_t MAC_B[6] = { 0x00, 0x1b, 0x54, 0xaa, 0xbb, 0x0d };
static const uint8_t MAC_POLY[6] = { 0x00, 0x04, 0xf2, 0x01, 0x02, 0x03 };
static const uint8_t MAC_UNKNOWN[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
static const uint8_t MAC_DENIED[6] = { 0x00, 0x1b, 0x54, 0xde, 0xad, 0x01 };

static char dir[64], db[128], phones[128];

/* --- the fake world ------------------------------------------------------ */

#define MAX_SENT 256
#define MAX_MAPS 256

struct sent {
	struct srv_dest d;
	size_t len;
	uint8_t buf[DHCP_MAX_REPLY];
};

static struct world {
	struct sent sent[MAX_SENT];
	int nsent;
	struct lease map[MAX_MAPS];
	int nmap;
	int map_adds, map_dels;
	int fail_adds; /* the next map_add calls that fail */
	int fail_err; /* with this error; 0: -EIO */
} W;

static void fake_send(void *arg, const struct srv_dest *d, const uint8_t *b,
		      size_t len)
{
	assert_true(W.nsent < MAX_SENT);
	W.sent[W.nsent].d = *d;
	W.sent[W.nsent].len = len;
	memcpy(W.sent[W.nsent].buf, b, len);
	W.nsent++;
}

static int map_find(const struct lease *l)
{
	int i;

	for (i = 0; i < W.nmap; i++)
		if (W.map[i].priv_ip == l->priv_ip)
			return i;
	return -1;
}

static int fake_map_add(void *arg, const struct lease *l)
{
	int i = map_find(l);

	W.map_adds++;
	if (W.fail_adds) {
		W.fail_adds--;
		return W.fail_err ? W.fail_err : -EIO;
	}
	if (i < 0) {
		assert_true(W.nmap < MAX_MAPS);
		i = W.nmap++;
	}
	W.map[i] = *l;
	return 0;
}

static int fake_map_del(void *arg, const struct lease *l)
{
	int i = map_find(l);

	W.map_dels++;
	if (i >= 0 && !memcmp(W.map[i].mac, l->mac, 6))
		W.map[i] = W.map[--W.nmap];
	return 0;
}

static int fake_map_check(void *arg, const struct lease *l)
{
	int i = map_find(l);

	return i >= 0 && W.map[i].port_first == l->port_first &&
	       !memcmp(W.map[i].mac, l->mac, 6);
}

static const struct srv_io IO = {
	.send = fake_send,
	.map_add = fake_map_add,
	.map_del = fake_map_del,
	.map_check = fake_map_check,
};

/* Log lines, for the tests that look for one. */
static char loglines[1 << 16];
static void sink(const char *line, size_t len, void *arg)
{
	size_t have = strlen(loglines);

	if (have + len + 2 < sizeof(loglines)) {
		memcpy(loglines + have, line, len);
		loglines[have + len] = '\n';
		loglines[have + len + 1] = '\0';
	}
}

/* --- configuration --------------------------------------------------------- */

/* 250 bytes of vendor options: with a long client id, more than a
 * 576-byte reply holds. */
#define HEX10 "00112233445566778899"
#define HEX50 HEX10 HEX10 HEX10 HEX10 HEX10
#define BIG43 HEX50 HEX50 HEX50 HEX50 HEX50

static const char CONF_TEXT[] =
	"[global]\n"
	"interface = lan0\n"
	"lan_pool = 100.64.0.0/24\n"
	"gateway = 100.64.0.1\n"
	"dns = 198.51.100.53\n"
	"public_pool = 203.0.113.0/30\n"
	"slot_size = 1024\n"
	"reserved_ports = 5060, 8443\n"
	"lease_time = 3600\n"
	"sip_server = 198.51.100.10\n"
	"offer_hold = 30\n"
	"max_offers = 8\n"
	"decline_hold = 600\n"
	"[mac]\n"
	"allow = 00:1b:54\n"
	"allow = 00:04:f2\n"
	"deny = 00:1b:54:de:ad:*\n"
	"[model cisco]\n"
	"vendor_class = exact:Cisco Systems, Inc. IP Phone CP-7940G\n"
	"slots = 1\n"
	"lease_time = 120\n"
	"image = P0030801SR02\n"
	"template = cisco\n"
	"force_option = 43 hex 01:04:c6:33:64:07\n"
	"option = 160 text http://prov.example/\n"
	"[model big]\n"
	"vendor_class = prefix:Big\n"
	"slots = 1\n"
	"template = generic\n"
	"force_option = 43 hex " BIG43 "\n"
	"[model polycom]\n"
	"vendor_class = prefix:Polycom-\n"
	"slots = 2\n"
	"template = polycom\n"
	"lan_range = 100.64.0.200 - 100.64.0.210\n";

static struct prov_conf C;
static struct lease_store *S;
static struct srv *V;
static int64_t now = 1000000;

/* Appended to CONF_TEXT by the tests that need other knobs. */
static const char *conf_extra = "";
static char conf_text[8192];

static int setup(void **state)
{
	memset(&W, 0, sizeof(W));
	loglines[0] = '\0';
	log_set_sink(sink, NULL);
	snprintf(dir, sizeof(dir), "/tmp/test-server.XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(db, sizeof(db), "%s/leases.db", dir);
	snprintf(phones, sizeof(phones), "%s/phones", dir);
	if (mkdir(phones, 0755))
		return -1;
	snprintf(conf_text, sizeof(conf_text), "%s%s", CONF_TEXT, conf_extra);
	conf_extra = "";
	if (conf_parse("test.conf", conf_text, &C, stderr))
		return -1;
	snprintf(C.tftp_root, sizeof(C.tftp_root), "%s", phones);
	if (lease_store_open(db, LS_DEFER_SYNC, &S))
		return -1;
	return srv_new(&C, SRCDIR "/provisioner/templates", S, &IO, now, now,
		       &V);
}

static int teardown(void **state)
{
	char cmd[160];

	srv_free(V);
	V = NULL;
	lease_store_close(S);
	S = NULL;
	log_set_sink(NULL, NULL);
	conf_extra = "";
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* --- requests ---------------------------------------------------------------- */

struct req {
	uint8_t b[1024];
	size_t n;
};

static void rq_start(struct req *r, uint8_t type, const uint8_t mac[6],
		     uint32_t xid)
{
	memset(r, 0, sizeof(*r));
	r->b[0] = DHCP_BOOTREQUEST;
	r->b[1] = 1;
	r->b[2] = 6;
	xid = htonl(xid);
	memcpy(r->b + 4, &xid, 4);
	memcpy(r->b + 28, mac, 6);
	r->b[236] = 0x63;
	r->b[237] = 0x82;
	r->b[238] = 0x53;
	r->b[239] = 0x63;
	r->n = DHCP_MIN_LEN;
	r->b[r->n++] = OPT_MSG_TYPE;
	r->b[r->n++] = 1;
	r->b[r->n++] = type;
}

static void rq_opt(struct req *r, uint8_t code, const void *d, size_t len)
{
	r->b[r->n++] = code;
	r->b[r->n++] = (uint8_t)len;
	memcpy(r->b + r->n, d, len);
	r->n += len;
}

static void rq_addr(struct req *r, size_t off, uint32_t be)
{
	memcpy(r->b + off, &be, 4);
}

/* A phone's message: vendor class (Cisco's with its NUL), client id,
 * a parameter request list; handled at once, srv_handle's answer in rc. */
static int rc;
static void phone_msg(uint8_t type, const uint8_t mac[6], const char *vc,
		      uint32_t want, uint32_t sid, uint32_t ciaddr)
{
	static const uint8_t prl[] = { 1, 3, 6, 66, 150, 67, 159, 43, 160 };
	uint8_t cid[7] = { 1 };
	struct req r;

	rq_start(&r, type, mac, 0x1234);
	memcpy(cid + 1, mac, 6);
	rq_opt(&r, OPT_CLIENT_ID, cid, sizeof(cid));
	if (vc)
		rq_opt(&r, OPT_VENDOR_CLASS, vc,
		       strlen(vc) + (vc == CISCO ? 1 : 0));
	rq_opt(&r, OPT_PARAM_LIST, prl, sizeof(prl));
	if (want)
		rq_opt(&r, OPT_REQUESTED_IP, &want, 4);
	if (sid)
		rq_opt(&r, OPT_SERVER_ID, &sid, 4);
	if (ciaddr)
		rq_addr(&r, 12, ciaddr);
	r.b[r.n++] = OPT_END;
	rc = srv_handle(V, r.b, r.n, now);
}

static uint32_t ip(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static uint32_t our_sid(void)
{
	return htonl(C.server_id);
}

/* The last reply, parsed. */
static struct dhcp_msg last;
static const struct dhcp_msg *reply(int i)
{
	assert_true(i < W.nsent);
	assert_int_equal(dhcp_parse(W.sent[i].buf, W.sent[i].len, &last), 0);
	assert_int_equal(last.op, DHCP_BOOTREPLY);
	return &last;
}

/* Commit and sync everything: the ACKs leave. */
static void durable(void)
{
	uint64_t g;

	assert_int_equal(srv_commit(V, &g), 0);
	assert_int_equal(lease_store_sync(S), 0);
	if (g)
		srv_durable(V, g);
}

/* DORA for a phone; returns the ACK's yiaddr. */
static uint32_t dora(const uint8_t mac[6], const char *vc)
{
	int n0 = W.nsent;
	uint32_t yi;

	phone_msg(DHCPDISCOVER, mac, vc, 0, 0, 0);
	assert_int_equal(W.nsent, n0 + 1);
	yi = reply(n0)->yiaddr;
	assert_int_equal(last.type, DHCPOFFER);
	phone_msg(DHCPREQUEST, mac, vc, yi, our_sid(), 0);
	durable();
	assert_int_equal(W.nsent, n0 + 2);
	assert_int_equal(reply(n0 + 1)->type, DHCPACK);
	assert_int_equal(last.yiaddr, yi);
	return yi;
}

/* DISCOVER, REQUEST, commit: whatever the answer (no ACK when the
 * mapping fails). */
static void dor(const uint8_t mac[6], const char *vc)
{
	int n0 = W.nsent;

	phone_msg(DHCPDISCOVER, mac, vc, 0, 0, 0);
	assert_int_equal(W.nsent, n0 + 1);
	phone_msg(DHCPREQUEST, mac, vc, reply(n0)->yiaddr, our_sid(), 0);
	durable();
}

static int file_exists(const char *name)
{
	char path[300];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", phones, name);
	return !stat(path, &st) && st.st_size > 0;
}

/* --- the tests --------------------------------------------------------------- */

/* What a phone gets, and that nothing leaves before the lease is on
 * disk: no ACK, no mapping, no config file. */
static void test_dora(void **state)
{
	const struct dhcp_msg *m;
	struct lease stored;
	uint32_t yi, u;
	size_t len;
	const uint8_t *o;
	uint64_t g;

	phone_msg(DHCPDISCOVER, MAC_A, CISCO, 0, 0, 0);
	assert_int_equal(W.nsent, 1);
	m = reply(0);
	assert_int_equal(m->type, DHCPOFFER);
	assert_int_equal(m->xid, 0x1234);
	yi = m->yiaddr;
	assert_true((ntohl(yi) & 0xffffff00) == 0x64400000);
	assert_int_not_equal(yi, ip("100.64.0.1"));
	/* No relay, no broadcast flag, no address: unicast to the new
	 * address at the phone's MAC (RFC 2131 4.1). */
	assert_true(W.sent[0].d.arp);
	assert_int_equal(W.sent[0].d.addr, yi);
	assert_int_equal(W.sent[0].d.port, 68);
	assert_memory_equal(W.sent[0].d.mac, MAC_A, 6);
	assert_string_equal(m->file, "SEP001B54AABB0C.cnf.xml");
	assert_int_equal(m->siaddr, ip("100.64.0.1"));
	/* In the order of the parameter request list, 159 included. */
	o = dhcp_opt_get(m, OPT_PORTPARAMS, &len);
	assert_non_null(o);
	assert_int_equal(len, 4);
	assert_int_equal(o[0], 0);
	assert_int_equal(o[1], 6); /* 1,024 ports: PSID length 6 */
	assert_true(((o[2] << 8 | o[3]) & 1023) == 0);
	assert_true((o[2] << 8 | o[3]) >= 1024);
	o = dhcp_opt_get(m, OPT_VENDOR_SPECIFIC, &len);
	assert_int_equal(len, 6);
	assert_int_equal(o[2], 0xc6);
	o = dhcp_opt_get(m, 160, &len);
	assert_int_equal(len, strlen("http://prov.example/"));
	o = dhcp_opt_get(m, OPT_CLIENT_ID, &len); /* RFC 6842 */
	assert_int_equal(len, 7);
	assert_memory_equal(o + 1, MAC_A, 6);
	memcpy(&u, dhcp_opt_get(m, OPT_LEASE_TIME, &len), 4);
	assert_int_equal(ntohl(u), 120);
	assert_int_equal(dhcp_opt_addr(m, OPT_TFTP_SERVER_ADDR),
			 ip("100.64.0.1"));
	assert_int_equal(dhcp_opt_addr(m, OPT_SERVER_ID), our_sid());

	phone_msg(DHCPREQUEST, MAC_A, CISCO, yi, our_sid(), 0);
	assert_int_equal(W.nsent, 1);
	assert_int_equal(srv_pending(V), 1);
	assert_int_equal(srv_commit(V, &g), 0);
	assert_true(g > 0);
	/* Committed, not yet synced: still nothing. */
	assert_int_equal(W.nsent, 1);
	assert_int_equal(W.nmap, 0);
	assert_false(file_exists("SEP001B54AABB0C.cnf.xml"));
	assert_int_equal(lease_store_sync(S), 0);
	srv_durable(V, g);
	assert_int_equal(srv_pending(V), 0);
	assert_int_equal(W.nsent, 2);
	m = reply(1);
	assert_int_equal(m->type, DHCPACK);
	assert_int_equal(m->yiaddr, yi);
	assert_int_equal(W.nmap, 1);
	assert_int_equal(W.map[0].priv_ip, yi);
	assert_memory_equal(W.map[0].mac, MAC_A, 6);
	assert_true(file_exists("SEP001B54AABB0C.cnf.xml"));
	assert_true(file_exists(".leases/SEP001B54AABB0C.cnf.xml"));
	assert_int_equal(lease_store_get(S, MAC_A, &stored), 0);
	assert_int_equal(stored.priv_ip, yi);
	assert_int_equal(stored.expires, now + 120);
	assert_string_equal(stored.vendor, CISCO);
	assert_string_equal(stored.model, "cisco");
	assert_string_equal(stored.client_id, "01001b54aabb0c");
	assert_non_null(strstr(loglines, "lease new mac=00:1b:54:aa:bb:0c "
					 "vendor=\"Cisco Systems, Inc. IP "
					 "Phone CP-7940G\" model=cisco"));
	assert_non_null(strstr(loglines, "client_id=01001b54aabb0c"));
}

/* The config file carries the range: SIP on the first port, RTP from
 * the next even one to the last. */
static void test_config_file(void **state)
{
	uint32_t yi = dora(MAC_A, CISCO);
	char path[300], text[4096], want[128];
	FILE *f;
	size_t n;

	(void)yi;
	snprintf(path, sizeof(path), "%s/SEP001B54AABB0C.cnf.xml", phones);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	snprintf(want, sizeof(want), "<voipControlPort>%u</voipControlPort>",
		 W.map[0].port_first);
	assert_non_null(strstr(text, want));
	snprintf(want, sizeof(want), "<startMediaPort>%u</startMediaPort>",
		 W.map[0].port_first + 2);
	assert_non_null(strstr(text, want));
	snprintf(want, sizeof(want), "<stopMediaPort>%u</stopMediaPort>",
		 W.map[0].port_last);
	assert_non_null(strstr(text, want));
	assert_non_null(strstr(text, "198.51.100.10"));
	assert_non_null(strstr(text, "P0030801SR02"));
}

/* Claim 9: the MAC is checked first; a phone refused gets nothing and
 * is counted under the check that refused it. */
static void test_validation_order(void **state)
{
	phone_msg(DHCPDISCOVER, MAC_UNKNOWN, CISCO, 0, 0, 0);
	phone_msg(DHCPDISCOVER, MAC_DENIED, CISCO, 0, 0, 0);
	/* Unknown MAC and unknown vendor: refused for the MAC. */
	phone_msg(DHCPDISCOVER, MAC_UNKNOWN, "MSFT 5.0", 0, 0, 0);
	assert_int_equal(V->n.rejected_mac, 3);
	assert_int_equal(V->n.rejected_vendor, 0);
	phone_msg(DHCPDISCOVER, MAC_A, "MSFT 5.0", 0, 0, 0);
	phone_msg(DHCPDISCOVER, MAC_A, NULL, 0, 0, 0);
	phone_msg(DHCPREQUEST, MAC_A, "MSFT 5.0", ip("100.64.0.5"), our_sid(),
		  0);
	assert_int_equal(V->n.rejected_vendor, 3);
	assert_int_equal(W.nsent, 0);
	assert_int_equal(srv_pending(V), 0);
	/* Logged once per interval and reason, not once per packet. */
	assert_non_null(strstr(loglines, "MAC not on the allow-list"));
	assert_null(strstr(strstr(loglines, "MAC not on the allow-list") + 1,
			   "MAC not on the allow-list"));
}

/* A renewal keeps the range, is answered to ciaddr, and does not touch
 * the data plane again. */
static void test_renew(void **state)
{
	uint32_t yi = dora(MAC_A, CISCO);
	struct lease before = W.map[0], stored;
	int adds = W.map_adds;

	now += 60;
	phone_msg(DHCPREQUEST, MAC_A, CISCO, 0, 0, yi);
	durable();
	assert_int_equal(W.nsent, 3);
	assert_int_equal(reply(2)->type, DHCPACK);
	assert_int_equal(last.yiaddr, yi);
	assert_int_equal(last.ciaddr, yi);
	assert_int_equal(W.sent[2].d.addr, yi);
	assert_false(W.sent[2].d.arp);
	assert_int_equal(W.map_adds, adds);
	assert_int_equal(W.map[0].port_first, before.port_first);
	assert_int_equal(lease_store_get(S, MAC_A, &stored), 0);
	assert_int_equal(stored.expires, now + 120);
	assert_non_null(strstr(loglines, "lease renew mac=00:1b:54:aa:bb:0c"));
	/* And a new DISCOVER is offered the same lease (sticky). */
	phone_msg(DHCPDISCOVER, MAC_A, CISCO, 0, 0, 0);
	assert_int_equal(reply(3)->yiaddr, yi);
}

/* INIT-REBOOT with an address that is not the phone's: NAK, broadcast;
 * through a relay, to the relay with the broadcast bit set. */
static void test_nak(void **state)
{
	uint32_t giaddr = ip("100.64.0.254");
	uint8_t o82[] = { 1, 3, 'p', 'o', 'e' };
	const struct dhcp_msg *m;
	struct req r;
	size_t len;

	dora(MAC_A, CISCO);
	phone_msg(DHCPREQUEST, MAC_A, CISCO, ip("10.9.9.9"), 0, 0);
	assert_int_equal(W.nsent, 3);
	m = reply(2);
	assert_int_equal(m->type, DHCPNAK);
	assert_int_equal(m->yiaddr, 0);
	assert_int_equal(m->siaddr, 0);
	assert_null(dhcp_opt_get(m, OPT_LEASE_TIME, &len));
	assert_int_equal(W.sent[2].d.addr, htonl(INADDR_BROADCAST));
	/* Issue 10, RFC 2131 table 3: a NAK says why (option 56). */
	assert_non_null(dhcp_opt_get(m, OPT_MESSAGE, &len));
	assert_true(len > 0);

	rq_start(&r, DHCPREQUEST, MAC_A, 77);
	rq_addr(&r, 24, giaddr);
	rq_opt(&r, OPT_VENDOR_CLASS, CISCO, sizeof(CISCO));
	rq_opt(&r, OPT_REQUESTED_IP, (uint32_t[]){ ip("10.9.9.9") }, 4);
	rq_opt(&r, OPT_RELAY_AGENT, o82, sizeof(o82));
	r.b[r.n++] = OPT_END;
	srv_handle(V, r.b, r.n, now);
	m = reply(3);
	assert_int_equal(m->type, DHCPNAK);
	assert_true(m->flags & DHCP_FLAG_BROADCAST);
	assert_int_equal(W.sent[3].d.addr, giaddr);
	assert_int_equal(W.sent[3].d.port, 67);
	assert_memory_equal(dhcp_opt_get(m, OPT_RELAY_AGENT, &len), o82,
			    sizeof(o82));
	/* The lease itself is untouched. */
	assert_int_equal(W.nmap, 1);
}

/* A phone that took another server's offer frees ours at once. */
static void test_other_server(void **state)
{
	uint32_t yi;

	phone_msg(DHCPDISCOVER, MAC_A, CISCO, 0, 0, 0);
	yi = reply(0)->yiaddr;
	assert_int_equal(V->lt.noffered, 1);
	phone_msg(DHCPREQUEST, MAC_A, CISCO, yi, ip("100.64.0.99"), 0);
	assert_int_equal(V->lt.noffered, 0);
	assert_int_equal(V->lt.used, 0);
	assert_int_equal(W.nsent, 1);
	durable();
	assert_int_equal(W.nsent, 1);
}

/* RELEASE: mapping, file, store row go.  DECLINE: and the address is
 * not offered again for decline_hold. */
static void test_release_decline(void **state)
{
	uint32_t yi = dora(MAC_A, CISCO), yb;
	struct lease l;

	phone_msg(DHCPRELEASE, MAC_A, CISCO, 0, our_sid(), yi);
	durable();
	assert_int_equal(W.nmap, 0);
	assert_false(file_exists("SEP001B54AABB0C.cnf.xml"));
	assert_false(file_exists(".leases/SEP001B54AABB0C.cnf.xml"));
	assert_int_equal(lease_store_get(S, MAC_A, &l), -ENOENT);
	assert_non_null(
		strstr(loglines, "lease release mac=00:1b:54:aa:bb:0c"));

	yb = dora(MAC_B, CISCO);
	phone_msg(DHCPDECLINE, MAC_B, CISCO, yb, our_sid(), 0);
	durable();
	assert_int_equal(W.nmap, 0);
	assert_int_equal(V->nq, 1);
	/* Asked again, B is offered another address. */
	phone_msg(DHCPDISCOVER, MAC_B, CISCO, 0, 0, 0);
	assert_int_not_equal(reply(W.nsent - 1)->yiaddr, yb);
	/* After the hold it may come back. */
	srv_tick(V, now + 601, now + 601);
	assert_int_equal(V->nq, 0);
}

/* A REQUEST whose lease is released before its sync returns: no ACK. */
static void test_released_before_durable(void **state)
{
	uint32_t yi;
	uint64_t g;

	phone_msg(DHCPDISCOVER, MAC_A, CISCO, 0, 0, 0);
	yi = reply(0)->yiaddr;
	phone_msg(DHCPREQUEST, MAC_A, CISCO, yi, our_sid(), 0);
	assert_int_equal(srv_commit(V, &g), 0);
	phone_msg(DHCPRELEASE, MAC_A, CISCO, 0, our_sid(), yi);
	durable();
	srv_durable(V, g);
	assert_int_equal(W.nsent, 1);
	assert_int_equal(W.nmap, 0);
	assert_int_equal(srv_pending(V), 0);
}

/* A lease not renewed expires: mapping, file and store row go. */
static void test_expiry(void **state)
{
	struct lease l;

	dora(MAC_A, CISCO);
	srv_tick(V, now + 119, now + 119);
	assert_int_equal(W.nmap, 1);
	srv_tick(V, now + 121, now + 121);
	durable();
	assert_int_equal(W.nmap, 0);
	assert_false(file_exists("SEP001B54AABB0C.cnf.xml"));
	assert_int_equal(lease_store_get(S, MAC_A, &l), -ENOENT);
	assert_int_equal(V->n.expired, 1);
	assert_non_null(strstr(loglines, "lease expire mac=00:1b:54:aa:bb:0c"));
}

/*
 * A flood of DISCOVERs from random MACs (allowed OUI, valid vendor)
 * holds at most max_offers ranges, and a real phone still gets its
 * lease even when the flood had filled the pool: the oldest offers give
 * way.  The pool: 4 addresses x 63 usable slots, minus the reserved.
 */
static int count_cb(const struct lease *l, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void test_flood(void **state)
{
	uint8_t mac[6] = { 0x00, 0x1b, 0x54, 0x10, 0, 0 };
	int i, n = 0;

	for (i = 0; i < 2000; i++) {
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		phone_msg(DHCPDISCOVER, mac, CISCO, 0, 0, 0);
		assert_true(V->lt.noffered <= 8);
		W.nsent = 0;
	}
	assert_int_equal(V->lt.noffered, 8);
	assert_int_equal(V->n.exhausted, 0);
	dora(MAC_A, CISCO);
	assert_int_equal(W.nmap, 1);
	/* Nothing of the flood was stored. */
	assert_int_equal(lease_store_foreach(S, 1, now, count_cb, &n), 0);
	assert_int_equal(n, 1);
}

/* More phones than ranges: no OFFER, a counter, one log line; never a
 * range holding a reserved port, never two overlapping. */
static void test_exhaustion(void **state)
{
	uint8_t mac[6] = { 0x00, 0x1b, 0x54, 0x20, 0, 0 };
	uint8_t used[4][64] = { { 0 } };
	int i, got = 0, n = 0;

	for (i = 0; i < 300; i++) {
		int before = W.nsent = 0;

		mac[5] = (uint8_t)i;
		mac[4] = (uint8_t)(i >> 8);
		phone_msg(DHCPDISCOVER, mac, CISCO, 0, 0, 0);
		if (W.nsent == before)
			continue;
		phone_msg(DHCPREQUEST, mac, CISCO, reply(W.nsent - 1)->yiaddr,
			  our_sid(), 0);
		durable();
		got++;
	}
	/* 4 addresses x 64 slots; slot 0 (0-1023) and slot 4 (5060) and
	 * slot 8 (8443) reserved in each: 4 x 61 = 244 ranges, less the
	 * two whose derived address (issue 13: lan_net + key) would be the
	 * gateway's (key 1) or the /24's broadcast (key 255). */
	assert_int_equal(got, 242);
	assert_int_equal(W.nmap, 242);
	assert_true(V->n.exhausted > 0);
	assert_non_null(strstr(loglines, "pool exhausted"));
	for (i = 0; i < W.nmap; i++) {
		uint32_t a = ntohl(W.map[i].pub_ip) - ntohl(ip("203.0.113.0"));
		unsigned int s = W.map[i].port_first / 1024;

		assert_true(a < 4);
		assert_true(s != 0 && s != 4 && s != 8);
		assert_int_equal(ntohl(W.map[i].priv_ip),
				 ntohl(ip("100.64.0.0")) + a * 64 + s);
		assert_int_equal(W.map[i].port_last,
				 W.map[i].port_first + 1023);
		assert_false(used[a][s]);
		used[a][s] = 1;
	}
	assert_int_equal(lease_store_foreach(S, 1, now, count_cb, &n), 0);
	assert_int_equal(n, 242);
}

/* A model's private range, and its two-slot ranges. */
static void test_model_lan_range(void **state)
{
	uint32_t yi = dora(MAC_POLY, "Polycom-SPIP650");

	assert_true(ntohl(yi) >= ntohl(ip("100.64.0.200")) &&
		    ntohl(yi) <= ntohl(ip("100.64.0.210")));
	assert_int_equal(W.map[0].port_last - W.map[0].port_first + 1, 2048);
	assert_int_equal(W.map[0].port_first % 2048, 0);
	/* Issue 13: the address the range derives, so the range is on
	 * 203.0.113.3 (keys 192-255), slots 10-18 (8 holds 8443). */
	assert_int_equal(ntohl(yi), ntohl(ip("100.64.0.0")) +
					    (ntohl(W.map[0].pub_ip) -
					     ntohl(ip("203.0.113.0"))) *
						    64 +
					    W.map[0].port_first / 1024);
	assert_int_equal(W.map[0].pub_ip, ip("203.0.113.3"));
	assert_true(file_exists("0004f2010203.cfg"));
}

/* What someone else removed comes back within a minute. */
static void test_sweep_repairs(void **state)
{
	char path[300];
	int i;

	dora(MAC_A, CISCO);
	W.nmap = 0;
	snprintf(path, sizeof(path), "%s/SEP001B54AABB0C.cnf.xml", phones);
	assert_int_equal(unlink(path), 0);
	for (i = 1; i <= 60; i++)
		srv_tick(V, now + i, now + i);
	assert_int_equal(W.nmap, 1);
	assert_true(file_exists("SEP001B54AABB0C.cnf.xml"));
	assert_int_equal(V->n.repaired_files, 1);
	assert_int_equal(V->n.repaired_maps, 1);
}

/* A restart: leases come back from the store, sticky, files rewritten. */
static void test_restart(void **state)
{
	uint32_t yi = dora(MAC_A, CISCO);
	char path[300];

	srv_free(V);
	snprintf(path, sizeof(path), "%s/SEP001B54AABB0C.cnf.xml", phones);
	unlink(path);
	W.nsent = 0;
	assert_int_equal(srv_new(&C, SRCDIR "/provisioner/templates", S, &IO,
				 now + 5, now + 5, &V),
			 0);
	assert_int_equal(V->lt.used, 1);
	assert_true(file_exists("SEP001B54AABB0C.cnf.xml"));
	phone_msg(DHCPDISCOVER, MAC_A, CISCO, 0, 0, 0);
	assert_int_equal(reply(0)->yiaddr, yi);
	/* A lease that ran out while the server was down lives on for
	 * its T1 (a stopped server cannot tell a long stop from a clock
	 * step), then goes with its file and row. */
	srv_free(V);
	assert_int_equal(srv_new(&C, SRCDIR "/provisioner/templates", S, &IO,
				 now + 500, now + 500, &V),
			 0);
	assert_int_equal(V->lt.used, 1);
	srv_tick(V, now + 559, now + 559);
	assert_int_equal(V->lt.used, 1);
	srv_tick(V, now + 560, now + 560);
	durable();
	assert_int_equal(V->lt.used, 0);
	assert_false(file_exists("SEP001B54AABB0C.cnf.xml"));
}

/*
 * Issue 13: a store written before private addresses were derived holds
 * leases at an address the data plane cannot carry for their range.  At
 * load such a lease ends (row, config file; an attribution line and a
 * log naming both addresses), is never mapped, the phone's RENEWING is
 * NAKed and its DISCOVER gets the derived address of its range.
 */
static void test_underived_lease_ended(void **state)
{
	struct lease l;
	uint32_t yi = dora(MAC_A, CISCO), old;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN], want[200];
	int nmap;

	assert_int_equal(lease_store_get(S, MAC_A, &l), 0);
	assert_int_equal(l.priv_ip, yi);
	/* What an older version could have chosen: any other address. */
	old = ntohl(yi) == ntohl(ip("100.64.0.250")) ? ip("100.64.0.251") :
						       ip("100.64.0.250");
	srv_free(V);
	V = NULL;
	l.priv_ip = old;
	assert_int_equal(lease_store_begin(S), 0);
	assert_int_equal(lease_store_put(S, &l, now), 0);
	assert_int_equal(lease_store_commit(S), 0);
	assert_true(file_exists("SEP001B54AABB0C.cnf.xml"));
	nmap = W.nmap;
	loglines[0] = '\0';
	W.nsent = 0;
	assert_int_equal(srv_new(&C, SRCDIR "/provisioner/templates", S, &IO,
				 now + 5, now + 5, &V),
			 0);
	assert_int_equal(V->lt.used, 0);
	assert_null(lt_get(&V->lt, MAC_A));
	assert_int_equal(W.nmap, nmap); /* nothing mapped */
	assert_false(file_exists("SEP001B54AABB0C.cnf.xml"));
	assert_int_equal(V->n.underived, 1);
	inet_ntop(AF_INET, &old, a, sizeof(a));
	inet_ntop(AF_INET, &yi, b, sizeof(b));
	snprintf(want, sizeof(want), "stored lease of %s (public ", a);
	assert_non_null(strstr(loglines, want));
	snprintf(want, sizeof(want),
		 "is not at the address its range "
		 "derives (%s)",
		 b);
	assert_non_null(strstr(loglines, want));
	snprintf(want, sizeof(want),
		 "lease renumber mac=00:1b:54:aa:bb:0c vendor=\"%s\"", CISCO);
	assert_non_null(strstr(loglines, want));
	/* The row goes with the first commit. */
	durable();
	assert_int_equal(lease_store_get(S, MAC_A, &l), -ENOENT);
	/* RENEWING with the old address: NAK; then a derived lease. */
	phone_msg(DHCPREQUEST, MAC_A, CISCO, 0, 0, old);
	assert_int_equal(W.nsent, 1);
	assert_int_equal(reply(0)->type, DHCPNAK);
	W.nsent = 0;
	assert_int_equal(dora(MAC_A, CISCO), yi);
}

/* Garbage is counted, answered by nothing, and breaks nothing. */
static void test_malformed(void **state)
{
	uint8_t b[600];
	struct req r;
	int i;

	memset(b, 0, sizeof(b));
	srv_handle(V, b, 10, now); /* truncated */
	srv_handle(V, b, sizeof(b), now); /* no magic cookie */
	rq_start(&r, DHCPDISCOVER, MAC_A, 1);
	r.b[r.n++] = OPT_VENDOR_CLASS;
	r.b[r.n++] = 200; /* runs past the end */
	srv_handle(V, r.b, r.n, now);
	assert_int_equal(V->n.malformed, 3);
	rq_start(&r, DHCPDISCOVER, MAC_A, 1);
	r.b[0] = DHCP_BOOTREPLY; /* a server's message */
	r.b[r.n++] = OPT_END;
	srv_handle(V, r.b, r.n, now);
	rq_start(&r, DHCPDISCOVER, MAC_A, 1);
	r.b[2] = 16; /* not Ethernet */
	r.b[r.n++] = OPT_END;
	srv_handle(V, r.b, r.n, now);
	assert_int_equal(V->n.ignored, 2);
	srand(7);
	for (i = 0; i < 5000; i++) {
		size_t n = (size_t)(rand() % (int)sizeof(b)), k;

		for (k = 0; k < n; k++)
			b[k] = (uint8_t)rand();
		if (n > 240 && i % 2) {
			/* Past the cookie, so the option parser runs. */
			b[236] = 0x63;
			b[237] = 0x82;
			b[238] = 0x53;
			b[239] = 0x63;
		}
		srv_handle(V, b, n, now);
	}
	durable();
	assert_int_equal(W.nmap, 0);
	/* And the server still serves. */
	dora(MAC_A, CISCO);
}

/* A model option and a client id too large for the reply together:
 * the reply still carries 54 and 51 (the model's options give way), the
 * lease is stored and ACKed, nothing is left half done. */
static void test_oversized_options(void **state)
{
	static const uint8_t prl[] = { 1, 3, 43, 51, 54 };
	uint8_t cid[200];
	const struct dhcp_msg *m;
	struct lease stored;
	struct req r;
	uint32_t yi;
	size_t len;
	int i;

	memset(cid, 0x42, sizeof(cid));
	for (i = 0; i < 2; i++) {
		rq_start(&r, i ? DHCPREQUEST : DHCPDISCOVER, MAC_B, 9);
		rq_opt(&r, OPT_CLIENT_ID, cid, sizeof(cid));
		rq_opt(&r, OPT_VENDOR_CLASS, "Big phone", 9);
		rq_opt(&r, OPT_PARAM_LIST, prl, sizeof(prl));
		if (i) {
			rq_opt(&r, OPT_REQUESTED_IP, &yi, 4);
			rq_opt(&r, OPT_SERVER_ID, (uint32_t[]){ our_sid() }, 4);
		}
		r.b[r.n++] = OPT_END;
		srv_handle(V, r.b, r.n, now);
		if (i)
			durable();
		assert_int_equal(W.nsent, i + 1);
		m = reply(i);
		assert_int_equal(m->type, i ? DHCPACK : DHCPOFFER);
		assert_true(W.sent[i].len <= 548);
		assert_int_equal(dhcp_opt_addr(m, OPT_SERVER_ID), our_sid());
		assert_non_null(dhcp_opt_get(m, OPT_LEASE_TIME, &len));
		assert_null(dhcp_opt_get(m, OPT_VENDOR_SPECIFIC, &len));
		yi = m->yiaddr;
	}
	assert_int_equal(lease_store_get(S, MAC_B, &stored), 0);
	assert_int_equal(stored.priv_ip, yi);
	assert_int_equal(W.nmap, 1);
}

/*
 * A lease whose mapping could not be written (the writer busy, timed
 * out, refusing) fails closed: no config file, no gate entry (with no
 * leased first slot the data plane does not check that address's MAC,
 * so any LAN host could take the IP and fetch the phone's SIP
 * credentials), and no ACK (the phone would have no service; it
 * retransmits its REQUEST, which tries again).  The sweep maps it
 * within a minute and only then writes the file; the next REQUEST is
 * ACKed.
 */
static void test_failed_map_retried(void **state)
{
	uint32_t yi;
	int i;

	W.fail_adds = 1;
	W.fail_err = -EBUSY;
	phone_msg(DHCPDISCOVER, MAC_A, CISCO, 0, 0, 0);
	yi = reply(0)->yiaddr;
	phone_msg(DHCPREQUEST, MAC_A, CISCO, yi, our_sid(), 0);
	durable();
	assert_int_equal(W.nmap, 0);
	assert_int_equal(V->n.map_failed, 1);
	assert_false(file_exists(".leases/SEP001B54AABB0C.cnf.xml"));
	assert_false(file_exists("SEP001B54AABB0C.cnf.xml"));
	assert_int_equal(W.nsent, 1); /* the OFFER only: no ACK */
	for (i = 1; i <= 60 && !W.nmap; i++)
		srv_tick(V, now + i, now + i);
	assert_int_equal(W.nmap, 1);
	assert_true(file_exists(".leases/SEP001B54AABB0C.cnf.xml"));
	/* The retransmitted REQUEST is ACKed now. */
	now += i;
	phone_msg(DHCPREQUEST, MAC_A, CISCO, yi, our_sid(), 0);
	durable();
	assert_int_equal(reply(W.nsent - 1)->type, DHCPACK);
	assert_int_equal(last.yiaddr, yi);
}

static int map_of(const uint8_t mac[6], struct lease *out);

/* The same when a mapping someone removed cannot be written again: the
 * file the phone had goes with it (the sweep's repair fails closed). */
static void test_failed_remap_removes_gate(void **state)
{
	struct lease l;
	int i;

	dora(MAC_A, CISCO);
	assert_true(file_exists(".leases/SEP001B54AABB0C.cnf.xml"));
	assert_int_equal(map_of(MAC_A, &l), 0);
	fake_map_del(NULL, &l);
	W.fail_adds = 1000;
	W.fail_err = -ETIMEDOUT;
	/* Within a minute (the lease lasts 120 s). */
	for (i = 1; i <= 60 && W.map_adds == 1; i++)
		srv_tick(V, now + i, now + i);
	assert_int_equal(W.map_adds, 2);
	assert_false(file_exists(".leases/SEP001B54AABB0C.cnf.xml"));
	assert_false(file_exists("SEP001B54AABB0C.cnf.xml"));
	W.fail_adds = 0;
	for (; i <= 110 && !W.nmap; i++)
		srv_tick(V, now + i, now + i);
	assert_int_equal(W.nmap, 1);
	assert_true(file_exists(".leases/SEP001B54AABB0C.cnf.xml"));
}

/* A DISCOVER naming another model (same size) leaves a bound lease as
 * it is; the REQUEST that follows moves it: new file, old one gone. */
static void test_model_change(void **state)
{
	uint32_t yi = dora(MAC_A, CISCO);
	struct lease stored;

	phone_msg(DHCPDISCOVER, MAC_A, "Big phone", 0, 0, 0);
	assert_int_equal(reply(W.nsent - 1)->yiaddr, yi);
	assert_true(file_exists("SEP001B54AABB0C.cnf.xml"));
	assert_int_equal(lt_get(&V->lt, MAC_A)->model, 0);
	phone_msg(DHCPREQUEST, MAC_A, "Big phone", yi, our_sid(), 0);
	durable();
	assert_int_equal(reply(W.nsent - 1)->type, DHCPACK);
	assert_false(file_exists("SEP001B54AABB0C.cnf.xml"));
	assert_true(file_exists("001b54aabb0c.cfg"));
	assert_int_equal(lease_store_get(S, MAC_A, &stored), 0);
	assert_string_equal(stored.model, "big");
}

/* --- issue 10: hostile clients ------------------------------------------- */

static int map_of(const uint8_t mac[6], struct lease *out)
{
	int i;

	for (i = 0; i < W.nmap; i++)
		if (!memcmp(W.map[i].mac, mac, 6)) {
			*out = W.map[i];
			return 0;
		}
	return -ENOENT;
}

/* Threat 9, defect 1: a DISCOVER commits to nothing.  One spoofed
 * DISCOVER from a phone's MAC naming a model of another size and private
 * range leaves its row, mapping, file and range as they were. */
static void test_discover_commits_nothing(void **state)
{
	uint32_t yi = dora(MAC_A, CISCO);
	struct lease before, after, stored;
	struct lt_entry *e;

	assert_int_equal(map_of(MAC_A, &before), 0);
	phone_msg(DHCPDISCOVER, MAC_A, "Polycom-SPIP650", 0, 0, 0);
	assert_int_equal(map_of(MAC_A, &after), 0);
	assert_int_equal(after.port_first, before.port_first);
	assert_int_equal(after.port_last, before.port_last);
	assert_int_equal(W.map_dels, 0);
	durable();
	assert_int_equal(lease_store_get(S, MAC_A, &stored), 0);
	assert_int_equal(stored.priv_ip, yi);
	assert_int_equal(stored.port_first, before.port_first);
	assert_true(file_exists("SEP001B54AABB0C.cnf.xml"));
	e = lt_get(&V->lt, MAC_A);
	assert_non_null(e);
	assert_int_equal(e->state, LT_BOUND);
	assert_int_equal(e->port_first, before.port_first);
	assert_null(strstr(loglines, "lease resize"));
}

/* Defect 2, RFC 2131 4.4.4, 4.4.6 and table 5: a RELEASE needs ciaddr
 * (the lease's own) and our server identifier; a DECLINE needs option
 * 50 (the lease's own) and our server identifier.  Anything else is
 * dropped and the lease stays. */
static void test_release_decline_need_fields(void **state)
{
	uint32_t yi = dora(MAC_A, CISCO), other = ip("100.64.0.99");
	struct lease l;

	phone_msg(DHCPRELEASE, MAC_A, CISCO, 0, our_sid(), 0); /* ciaddr 0 */
	assert_int_equal(rc, -EPROTO);
	phone_msg(DHCPRELEASE, MAC_A, CISCO, 0, 0, yi); /* no 54 */
	assert_int_equal(rc, -EPROTO);
	phone_msg(DHCPRELEASE, MAC_A, CISCO, 0, other, yi); /* wrong 54 */
	phone_msg(DHCPRELEASE, MAC_A, CISCO, 0, our_sid(), other); /* not its */
	phone_msg(DHCPDECLINE, MAC_A, CISCO, 0, our_sid(), 0); /* no 50 */
	assert_int_equal(rc, -EPROTO);
	phone_msg(DHCPDECLINE, MAC_A, CISCO, yi, 0, 0); /* no 54 */
	phone_msg(DHCPDECLINE, MAC_A, CISCO, yi, other, 0); /* wrong 54 */
	phone_msg(DHCPDECLINE, MAC_A, CISCO, other, our_sid(), 0);
	durable();
	assert_int_equal(W.nmap, 1);
	assert_int_equal(lease_store_get(S, MAC_A, &l), 0);
	assert_true(file_exists("SEP001B54AABB0C.cnf.xml"));
	assert_int_equal(V->nq, 0);
	assert_int_equal(lt_get(&V->lt, MAC_A)->state, LT_BOUND);
	/* The phone's own RELEASE still works. */
	phone_msg(DHCPRELEASE, MAC_A, CISCO, 0, our_sid(), yi);
	durable();
	assert_int_equal(W.nmap, 0);
	assert_int_equal(lease_store_get(S, MAC_A, &l), -ENOENT);
}

/* Defect 3, RFC 2131 4.3.2: the REQUEST's state decides.  INIT-REBOOT
 * from a client we have no record of: silence, nothing allocated, no
 * offer evicted.  SELECTING with ciaddr, or a REQUEST with neither 50 nor
 * ciaddr: dropped.  RENEWING without a lease: NAK, nothing allocated. */
static void test_request_states(void **state)
{
	uint8_t mac[6] = { 0x00, 0x1b, 0x54, 0x30, 0, 0 };
	uint32_t yi;
	int i;

	for (i = 0; i < 8; i++) {
		mac[5] = (uint8_t)i;
		phone_msg(DHCPDISCOVER, mac, CISCO, 0, 0, 0);
	}
	assert_int_equal(V->lt.noffered, 8);
	W.nsent = 0;
	/* INIT-REBOOT, no record. */
	phone_msg(DHCPREQUEST, MAC_B, CISCO, ip("100.64.0.77"), 0, 0);
	assert_int_equal(rc, -ENOENT);
	assert_int_equal(W.nsent, 0);
	assert_int_equal(V->lt.used, 8);
	assert_int_equal(V->lt.noffered, 8);
	assert_int_equal(V->n.offers_evicted, 0);
	assert_null(lt_get(&V->lt, MAC_B));
	/* RENEWING, no record: NAK, and still nothing allocated. */
	phone_msg(DHCPREQUEST, MAC_B, CISCO, 0, 0, ip("100.64.0.77"));
	assert_int_equal(W.nsent, 1);
	assert_int_equal(reply(0)->type, DHCPNAK);
	assert_null(lt_get(&V->lt, MAC_B));
	/* Neither 50 nor ciaddr: not a REQUEST of any state. */
	phone_msg(DHCPREQUEST, MAC_B, CISCO, 0, 0, 0);
	assert_int_equal(rc, -EPROTO);
	assert_int_equal(W.nsent, 1);
	/* SELECTING with ciaddr set (it MUST be 0): dropped. */
	mac[5] = 0;
	phone_msg(DHCPDISCOVER, mac, CISCO, 0, 0, 0);
	yi = reply(1)->yiaddr;
	phone_msg(DHCPREQUEST, mac, CISCO, yi, our_sid(), yi);
	durable();
	assert_int_equal(W.nsent, 2);
	assert_int_equal(lt_get(&V->lt, mac)->state, LT_OFFERED);
	/* The right SELECTING binds; INIT-REBOOT with its address is
	 * ACKed, with another address NAKed and the lease kept. */
	phone_msg(DHCPREQUEST, mac, CISCO, yi, our_sid(), 0);
	durable();
	assert_int_equal(reply(2)->type, DHCPACK);
	phone_msg(DHCPREQUEST, mac, CISCO, yi, 0, 0);
	durable();
	assert_int_equal(reply(3)->type, DHCPACK);
	phone_msg(DHCPREQUEST, mac, CISCO, ip("100.64.0.250"), 0, 0);
	assert_int_equal(rc, -EADDRNOTAVAIL);
	durable();
	assert_int_equal(reply(4)->type, DHCPNAK);
	assert_int_equal(lt_get(&V->lt, mac)->state, LT_BOUND);
	assert_int_equal(W.nmap, 1);
}

/* Defect 4: a REQUEST naming an address never offered to that MAC, even
 * the very one the allocator would pick for it, binds nothing. */
static void test_request_never_offered(void **state)
{
	uint32_t priv, pub;
	uint16_t first, lastp;
	struct lease l;

	assert_int_equal(alloc_pick(&V->alloc, MAC_B, 1, 0, 0, &priv, &pub,
				    &first, &lastp),
			 0);
	phone_msg(DHCPREQUEST, MAC_B, CISCO, htonl(priv), our_sid(), 0);
	durable();
	assert_int_equal(V->n.ack, 0);
	assert_int_equal(W.nmap, 0);
	assert_int_equal(lease_store_get(S, MAC_B, &l), -ENOENT);
	assert_null(lt_get(&V->lt, MAC_B));
}

/*
 * Defect 4, threat 9: one LAN host runs full DISCOVER+REQUEST exchanges
 * from 2,000 random MACs of an allowed OUI.  Afterwards a phone listed
 * exactly still gets a lease, the phones bound before keep theirs, and
 * the flood was counted and logged.
 */
static const uint8_t MAC_EXACT[6] = { 0x00, 0x1b, 0x54, 0x00, 0x00, 0x01 };
static const char CONF_EXACT[] = "[mac]\n"
				 "allow = 00:1b:54:00:00:01\n";

static int setup_exact(void **state)
{
	conf_extra = CONF_EXACT;
	return setup(state);
}

static void test_pool_grab(void **state)
{
	uint8_t mac[6] = { 0x00, 0x1b, 0x54 };
	struct lease a0, a1, b0, b1;
	uint32_t yi;
	int i, bound = 0;

	dora(MAC_A, CISCO);
	dora(MAC_B, CISCO);
	assert_int_equal(map_of(MAC_A, &a0), 0);
	assert_int_equal(map_of(MAC_B, &b0), 0);
	srand(10);
	for (i = 0; i < 2000; i++) {
		int n0;

		mac[3] = (uint8_t)rand();
		mac[4] = (uint8_t)rand();
		mac[5] = (uint8_t)rand();
		if (i % 100 == 0)
			now++;
		W.nsent = 0;
		phone_msg(DHCPDISCOVER, mac, CISCO, 0, 0, 0);
		if (!W.nsent)
			continue;
		yi = reply(0)->yiaddr;
		n0 = W.nsent;
		phone_msg(DHCPREQUEST, mac, CISCO, yi, our_sid(), 0);
		durable();
		bound += W.nsent > n0 && reply(n0)->type == DHCPACK;
	}
	W.nsent = 0;
	/* The flood got at most its share (90% of 244 ranges)... */
	assert_true(bound > 0 && bound <= 244 * 9 / 10);
	/* ...counted and logged... */
	assert_true(V->n.flood_refused > 0);
	assert_non_null(strstr(loglines, "wildcard"));
	/* ...the phones bound before keep their leases... */
	assert_int_equal(map_of(MAC_A, &a1), 0);
	assert_int_equal(map_of(MAC_B, &b1), 0);
	assert_int_equal(a1.port_first, a0.port_first);
	assert_int_equal(b1.priv_ip, b0.priv_ip);
	/* ...and the phone listed exactly gets one. */
	dora(MAC_EXACT, CISCO);
	assert_int_equal(map_of(MAC_EXACT, &a1), 0);
}

/* Defect 4: a DISCOVER flood, however fast, does not take back the
 * offer made to a phone listed exactly before its REQUEST arrives (an
 * offer taken back would cost it a NAK and a new start). */
static void test_flood_keeps_exact_offer(void **state)
{
	uint8_t mac[6] = { 0x00, 0x1b, 0x54, 0x70, 0, 0 };
	uint32_t yi;
	int i;

	phone_msg(DHCPDISCOVER, MAC_EXACT, CISCO, 0, 0, 0);
	yi = reply(0)->yiaddr;
	for (i = 0; i < 2000; i++) {
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		phone_msg(DHCPDISCOVER, mac, CISCO, 0, 0, 0);
		assert_true(V->lt.noffered <= 8);
		W.nsent = 1;
	}
	assert_true(V->n.offers_evicted > 1900);
	phone_msg(DHCPREQUEST, MAC_EXACT, CISCO, yi, our_sid(), 0);
	assert_int_equal(rc, 0);
	durable();
	assert_int_equal(reply(1)->type, DHCPACK);
	assert_int_equal(last.yiaddr, yi);
}

/*
 * Threat 9, DECLINE flood: DISCOVER then DECLINE (option 50 the offered
 * address, 54 ours) from random MACs of an allowed OUI; each round used
 * to quarantine one address for decline_hold, unlimited and outside the
 * wildcard share, until the phone listed exactly got no OFFER.
 */
static void decline_flood(int rounds, int tick_every)
{
	uint8_t mac[6] = { 0x00, 0x1b, 0x54 };
	int i;

	srand(11);
	for (i = 0; i < rounds; i++) {
		mac[3] = (uint8_t)rand();
		mac[4] = (uint8_t)rand();
		mac[5] = (uint8_t)rand();
		if (tick_every && i % tick_every == 0)
			now++;
		W.nsent = 0;
		phone_msg(DHCPDISCOVER, mac, CISCO, 0, 0, 0);
		if (!W.nsent)
			continue;
		phone_msg(DHCPDECLINE, mac, CISCO, reply(0)->yiaddr, our_sid(),
			  0);
	}
	W.nsent = 0;
}

static void test_decline_flood_keeps_exact(void **state)
{
	decline_flood(300, 0);
	phone_msg(DHCPDISCOVER, MAC_EXACT, CISCO, 0, 0, 0);
	assert_int_equal(W.nsent, 1);
	assert_int_equal(reply(0)->type, DHCPOFFER);
	W.nsent = 0;
	dora(MAC_EXACT, CISCO);
	/* The flood was held back, counted, and kept to its share. */
	assert_true(V->n.flood_refused > 0);
	assert_true(V->nq <= 253 * 9 / 10);
}

/* Slow enough for the token bucket, no reserve: the phone listed
 * exactly takes the oldest quarantined address (a courtesy, not a
 * right). */
static const char CONF_NO_RESERVE[] = "[global]\n"
				      "exact_reserve = 0\n"
				      "new_lease_rate = 1000\n"
				      "[mac]\n"
				      "allow = 00:1b:54:00:00:01\n"
				      "allow = 00:1b:54:00:00:02\n";

static int setup_no_reserve(void **state)
{
	conf_extra = CONF_NO_RESERVE;
	return setup(state);
}

static void test_decline_flood_quarantine_yields(void **state)
{
	static const uint8_t mac2[6] = { 0x00, 0x1b, 0x54, 0x00, 0x00, 0x02 };
	int nq;

	decline_flood(300, 1);
	assert_true(V->nq > 200);
	/* The wildcard share is every address a phone can have (242: the
	 * keys of 4 x 64 slots less slot 0, 5060's and 8443's of each
	 * address, the gateway's key 1 and the broadcast's 255), all of
	 * them quarantined now: each listed phone takes back one. */
	assert_int_equal(V->nq, 242);
	dora(MAC_EXACT, CISCO);
	assert_int_equal(V->n.unquarantined, 1);
	nq = V->nq;
	W.nsent = 0;
	phone_msg(DHCPDISCOVER, mac2, CISCO, 0, 0, 0);
	assert_int_equal(W.nsent, 1);
	assert_int_equal(reply(0)->type, DHCPOFFER);
	assert_int_equal(V->n.unquarantined, 2);
	assert_int_equal(V->nq, nq - 1);
	W.nsent = 0;
	dora(mac2, CISCO);
}

/* Defect 4: new leases for wildcard-matched MACs come at most at
 * new_lease_rate per second after a burst of new_lease_burst. */
static const char CONF_RATE[] = "[global]\n"
				"new_lease_rate = 2\n"
				"new_lease_burst = 5\n";

static int setup_rate(void **state)
{
	conf_extra = CONF_RATE;
	return setup(state);
}

static void test_new_lease_rate(void **state)
{
	uint8_t mac[6] = { 0x00, 0x1b, 0x54, 0x40, 0, 0 };
	int i, acks = 0;

	for (i = 0; i < 20; i++) {
		mac[5] = (uint8_t)i;
		W.nsent = 0;
		phone_msg(DHCPDISCOVER, mac, CISCO, 0, 0, 0);
		if (!W.nsent)
			continue;
		phone_msg(DHCPREQUEST, mac, CISCO, reply(0)->yiaddr, our_sid(),
			  0);
		durable();
		acks += W.nsent == 2;
	}
	assert_int_equal(acks, 5);
	assert_int_equal(V->n.flood_refused, 15);
	assert_int_equal(rc, -EDQUOT);
	/* A second later, two more. */
	now++;
	for (i = 20; i < 25; i++) {
		mac[5] = (uint8_t)i;
		W.nsent = 0;
		phone_msg(DHCPDISCOVER, mac, CISCO, 0, 0, 0);
		if (!W.nsent)
			continue;
		phone_msg(DHCPREQUEST, mac, CISCO, reply(0)->yiaddr, our_sid(),
			  0);
		durable();
		acks += W.nsent == 2;
	}
	assert_int_equal(acks, 7);
	/* A renewal is not a new lease: never limited. */
	mac[5] = 0;
	W.nsent = 0;
	phone_msg(DHCPREQUEST, mac, CISCO, 0, 0, lt_get(&V->lt, mac)->priv_ip);
	durable();
	assert_int_equal(reply(0)->type, DHCPACK);
}

/* A DECLINE from a MAC not listed exactly costs a new-lease token:
 * over the bucket it is ignored (the offer stays), counted; a phone
 * listed exactly is never limited. */
static const char CONF_RATE_EXACT[] = "[global]\n"
				      "new_lease_rate = 2\n"
				      "new_lease_burst = 5\n"
				      "[mac]\n"
				      "allow = 00:1b:54:00:00:01\n";

static int setup_rate_exact(void **state)
{
	conf_extra = CONF_RATE_EXACT;
	return setup(state);
}

static void test_decline_rate(void **state)
{
	uint8_t mac[6] = { 0x00, 0x1b, 0x54, 0x41, 0, 0 };
	int i, refused = 0;

	for (i = 0; i < 20; i++) {
		mac[5] = (uint8_t)i;
		W.nsent = 0;
		phone_msg(DHCPDISCOVER, mac, CISCO, 0, 0, 0);
		assert_int_equal(W.nsent, 1);
		phone_msg(DHCPDECLINE, mac, CISCO, reply(0)->yiaddr, our_sid(),
			  0);
		refused += rc == -EDQUOT;
	}
	assert_int_equal(V->nq, 5);
	assert_int_equal(refused, 15);
	assert_int_equal(V->n.flood_refused, 15);
	assert_non_null(strstr(loglines, "DECLINE refused"));
	/* The ignored DECLINE left the offer as it was. */
	assert_non_null(lt_get(&V->lt, mac));
	W.nsent = 0;
	phone_msg(DHCPDISCOVER, MAC_EXACT, CISCO, 0, 0, 0);
	phone_msg(DHCPDECLINE, MAC_EXACT, CISCO, reply(0)->yiaddr, our_sid(),
		  0);
	assert_int_equal(rc, 0);
	assert_int_equal(V->nq, 6);
}

/*
 * Defect 8: the core's timers run on the monotonic clock; the wall
 * clock only sets the ends written to the store.  A step of it, forward
 * a year then back two, neither expires nor revives a lease.
 */
#define YEAR (365LL * 86400)

static void test_wall_clock_step_running(void **state)
{
	uint32_t yi = dora(MAC_A, CISCO);
	int64_t t0 = now;
	struct lease stored;

	srv_tick(V, t0 + 1, t0 + 1 + YEAR); /* NTP steps forward */
	durable();
	assert_int_equal(W.nmap, 1);
	assert_int_equal(V->n.expired, 0);
	/* A renewal writes its end in the wall clock of the moment. */
	now = t0 + 60;
	phone_msg(DHCPREQUEST, MAC_A, CISCO, 0, 0, yi);
	durable();
	assert_int_equal(reply(W.nsent - 1)->type, DHCPACK);
	assert_int_equal(lease_store_get(S, MAC_A, &stored), 0);
	assert_int_equal(stored.expires, t0 + 1 + YEAR + 59 + 120);
	srv_tick(V, t0 + 61, t0 - YEAR); /* and back */
	srv_tick(V, t0 + 60 + 119, t0 - YEAR + 119);
	durable();
	assert_int_equal(W.nmap, 1);
	/* It ends when its lease time has passed, by the monotonic clock. */
	srv_tick(V, t0 + 60 + 121, t0 - YEAR + 121);
	durable();
	assert_int_equal(W.nmap, 0);
	assert_int_equal(V->n.expired, 1);
	/* A clock that runs back is not followed. */
	dora(MAC_B, CISCO);
	srv_tick(V, 5, t0);
	durable();
	assert_int_equal(W.nmap, 1);
}

/* Defect 8 at start: the store's wall-clock ends read against a clock
 * stepped while the server was down.  Forward: no lease ends at start,
 * each lives on for T1 and its phone renews it.  Back: none lives longer
 * than its lease time. */
static void test_wall_clock_step_restart(void **state)
{
	uint32_t ya = dora(MAC_A, CISCO), yb = dora(MAC_B, CISCO);
	struct lease l;

	srv_free(V);
	W.nsent = 0;
	assert_int_equal(srv_new(&C, SRCDIR "/provisioner/templates", S, &IO,
				 50, now + YEAR, &V),
			 0);
	assert_int_equal(V->lt.used, 2);
	assert_int_equal(lease_store_get(S, MAC_B, &l), 0);
	now = 50 + 30;
	phone_msg(DHCPREQUEST, MAC_A, CISCO, ya, 0, 0); /* INIT-REBOOT */
	durable();
	assert_int_equal(reply(0)->type, DHCPACK);
	srv_tick(V, 50 + 61, now + YEAR);
	durable();
	/* B did not renew: gone after its T1; A renewed: still there. */
	assert_null(lt_get(&V->lt, MAC_B));
	assert_int_equal(lease_store_get(S, MAC_B, &l), -ENOENT);
	assert_non_null(lt_get(&V->lt, MAC_A));
	(void)yb;

	/* Back ten years: A's end looks far away, but it ends within
	 * its lease time. */
	srv_free(V);
	assert_int_equal(srv_new(&C, SRCDIR "/provisioner/templates", S, &IO,
				 1000, now - 10 * YEAR, &V),
			 0);
	assert_int_equal(V->lt.used, 1);
	srv_tick(V, 1000 + 121, now - 10 * YEAR + 121);
	durable();
	assert_int_equal(V->lt.used, 0);
	assert_int_equal(lease_store_get(S, MAC_A, &l), -ENOENT);
}

/* The attribution history at start: a lease that looks expired keeps
 * its mapping for its grace, so its interval must cover the grace too
 * (else traffic from its range then is attributed to nobody). */
static int who_cb(const struct attribution *a, void *arg)
{
	memcpy(arg, a->mac, 6);
	return 0;
}

static void test_grace_attributed(void **state)
{
	int64_t down, wall0;
	uint8_t mac[6] = { 0 };
	struct lease l;

	dora(MAC_A, CISCO);
	assert_int_equal(lease_store_get(S, MAC_A, &l), 0);
	/* Down for twice the lease time: the stored end has passed. */
	down = 2 * (l.expires - now);
	wall0 = now + down;
	srv_free(V);
	assert_int_equal(srv_new(&C, SRCDIR "/provisioner/templates", S, &IO,
				 50, wall0, &V),
			 0);
	assert_non_null(lt_get(&V->lt, MAC_A));
	assert_true(W.nmap >= 1); /* mapped for its grace */
	durable(); /* the first commit after start */
	assert_int_equal(lease_store_who(S, l.pub_ip, l.port_first, wall0 + 10,
					 who_cb, mac),
			 1);
	assert_memory_equal(mac, MAC_A, 6);
	/* The grace ends unrenewed: the closed interval still covers it. */
	srv_tick(V, 50 + down / 4 + 5, wall0 + down / 4 + 5);
	durable();
	assert_null(lt_get(&V->lt, MAC_A));
	memset(mac, 0, sizeof(mac));
	assert_int_equal(lease_store_who(S, l.pub_ip, l.port_first, wall0 + 10,
					 who_cb, mac),
			 1);
	assert_memory_equal(mac, MAC_A, 6);
}

/* The core writes the phone files as root at start, in a directory the
 * parser owns: a link the parser planted there (a .leases symlink to a
 * root directory, a link under the phone's file name to a root file) is
 * never followed, neither to write nor to take the file as present. */
static void test_start_writes_follow_no_link(void **state)
{
	char file[64], p1[400], p2[400], tgt[300], sec[300], buf[16];
	struct stat st;
	int fd;

	dora(MAC_A, CISCO);
	srv_free(V);
	V = NULL;
	assert_int_equal(render_file_name("cisco", MAC_A, file, sizeof(file)),
			 0);
	snprintf(tgt, sizeof(tgt), "%s/target", dir);
	snprintf(sec, sizeof(sec), "%s/secret", dir);
	assert_int_equal(mkdir(tgt, 0755), 0);
	fd = open(sec, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "root's", 6), 6);
	close(fd);
	snprintf(p1, sizeof(p1), "%s/.leases/%s", phones, file);
	unlink(p1);
	snprintf(p1, sizeof(p1), "%s/.leases", phones);
	assert_int_equal(rmdir(p1), 0);
	assert_int_equal(symlink(tgt, p1), 0);
	snprintf(p2, sizeof(p2), "%s/%s", phones, file);
	unlink(p2);

	assert_int_equal(srv_new(&C, SRCDIR "/provisioner/templates", S, &IO,
				 now, now, &V),
			 0);
	/* Nothing went into the link's target. */
	snprintf(p2, sizeof(p2), "%s/%s", tgt, file);
	assert_int_equal(lstat(p2, &st), -1);

	/* A real .leases again; a link under the file's name to a root
	 * file: replaced by the phone's file, the root file intact. */
	srv_free(V);
	V = NULL;
	assert_int_equal(unlink(p1), 0);
	assert_int_equal(mkdir(p1, 0755), 0);
	snprintf(p2, sizeof(p2), "%s/%s", phones, file);
	unlink(p2);
	assert_int_equal(symlink(sec, p2), 0);
	assert_int_equal(srv_new(&C, SRCDIR "/provisioner/templates", S, &IO,
				 now, now, &V),
			 0);
	assert_int_equal(lstat(p2, &st), 0);
	assert_true(S_ISREG(st.st_mode) && st.st_size > 0);
	fd = open(sec, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 6);
	close(fd);
	assert_memory_equal(buf, "root's", 6);
}

/*
 * Issue 10, smaller ones.  RFC 6842 / RFC 3046: 61 and 82 come back even
 * when the reply is tight; the retry without the model's large options
 * keeps its own TFTP server (150).
 */
static const char CONF_TALL[] = "[model tall]\n"
				"vendor_class = prefix:Tall\n"
				"template = generic\n"
				"force_option = 43 hex " BIG43 "\n"
				"force_option = 150 ip 198.51.100.69\n";

static int setup_tall(void **state)
{
	conf_extra = CONF_TALL;
	return setup(state);
}

static void test_tight_reply_keeps_echo_and_tftp(void **state)
{
	static const uint8_t prl[] = { 1, 3, 43, 150, 51, 54 };
	uint8_t cid[120], o82[120];
	const struct dhcp_msg *m;
	const uint8_t *o;
	struct req r;
	size_t len;

	memset(cid, 0x42, sizeof(cid));
	memset(o82, 0x82, sizeof(o82));
	o82[0] = 1; /* circuit id, 118 bytes */
	o82[1] = 118;
	rq_start(&r, DHCPDISCOVER, MAC_B, 9);
	rq_addr(&r, 24, ip("100.64.0.254"));
	rq_opt(&r, OPT_CLIENT_ID, cid, sizeof(cid));
	rq_opt(&r, OPT_VENDOR_CLASS, "Tall phone", 10);
	rq_opt(&r, OPT_PARAM_LIST, prl, sizeof(prl));
	rq_opt(&r, OPT_RELAY_AGENT, o82, sizeof(o82));
	r.b[r.n++] = OPT_END;
	srv_handle(V, r.b, r.n, now);
	assert_int_equal(W.nsent, 1);
	m = reply(0);
	assert_int_equal(m->type, DHCPOFFER);
	assert_true(W.sent[0].len <= 548);
	o = dhcp_opt_get(m, OPT_CLIENT_ID, &len);
	assert_non_null(o);
	assert_int_equal(len, sizeof(cid));
	o = dhcp_opt_get(m, OPT_RELAY_AGENT, &len);
	assert_non_null(o);
	assert_memory_equal(o, o82, sizeof(o82));
	assert_int_equal(dhcp_opt_addr(m, OPT_SERVER_ID), our_sid());
	assert_non_null(dhcp_opt_get(m, OPT_LEASE_TIME, &len));
	assert_int_equal(dhcp_opt_addr(m, OPT_TFTP_SERVER_ADDR),
			 ip("198.51.100.69"));
	assert_null(dhcp_opt_get(m, OPT_VENDOR_SPECIFIC, &len));
}

/* Issue 10: what a LAN host can make the server log is logged once per
 * interval, however often it happens. */
static int count_lines(const char *needle)
{
	const char *p = loglines;
	int n = 0;

	while ((p = strstr(p, needle))) {
		n++;
		p++;
	}
	return n;
}

static void test_lan_triggered_logs_rate_limited(void **state)
{
	uint8_t mac[6] = { 0x00, 0x1b, 0x54, 0x50, 0, 0 };
	int i;

	W.fail_adds = 1000;
	for (i = 0; i < 20; i++) {
		mac[5] = (uint8_t)i;
		dor(mac, CISCO);
	}
	assert_int_equal(V->n.map_failed, 20);
	assert_int_equal(count_lines("Failed to map lease"), 1);
	now += SRV_LOG_EVERY;
	mac[5] = 100;
	dor(mac, CISCO);
	assert_int_equal(count_lines("Failed to map lease"), 2);
	assert_non_null(strstr(loglines, "(19 like it not logged)"));
}

/* Issue 10: the serving loop's log never waits for a reader: stderr a
 * pipe nobody drains, thousands of lines, and the calls return. */
static void on_alarm(int sig)
{
	static const char msg[] = "test_log_never_blocks: logging blocked "
				  "the serving thread\n";

	(void)sig;
	/* A blocked write(2) cannot be left otherwise. */
	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

static void test_log_never_blocks(void **state)
{
	int p[2], saved = dup(STDERR_FILENO), i;
	char junk[4096];

	memset(junk, 'x', sizeof(junk));
	assert_int_equal(pipe(p), 0);
	/* Fill the pipe. */
	assert_int_equal(fcntl(p[1], F_SETFL, O_NONBLOCK), 0);
	while (write(p[1], junk, sizeof(junk)) > 0)
		;
	assert_int_equal(fcntl(p[1], F_SETFL, 0), 0);
	log_set_sink(NULL, NULL);
	assert_true(dup2(p[1], STDERR_FILENO) >= 0);
	signal(SIGALRM, on_alarm);
	alarm(5);
	log_set_batched(1);
	for (i = 0; i < 5000; i++) {
		logp(LOG_INFO_, "line %d of a log nobody reads", i);
		if (i % 64 == 0)
			log_flush();
	}
	log_flush();
	alarm(0);
	assert_true(log_dropped() > 0);
	/* Now a reader: what waited in the buffer goes to the pipe, not
	 * to the test's own stderr after the switch back. */
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	for (i = 0; i < 1000; i++) {
		while (read(p[0], junk, sizeof(junk)) > 0)
			;
		log_flush();
	}
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[0]);
	close(p[1]);
	log_set_batched(0);
	log_set_sink(sink, NULL);
}

/*
 * Issue 10: finish() matches a held ACK to the lease by its whole range.
 * A REQUEST held for its sync; meanwhile the entry is bound again with
 * the same address and first port but another size (as a resize can
 * do; set by hand here).  The stale ACK must not leave, nor be mapped.
 */
static void test_finish_matches_last_port(void **state)
{
	struct lt_entry *e;
	uint32_t yi;
	uint64_t g;

	phone_msg(DHCPDISCOVER, MAC_A, CISCO, 0, 0, 0);
	yi = reply(0)->yiaddr;
	phone_msg(DHCPREQUEST, MAC_A, CISCO, yi, our_sid(), 0);
	assert_int_equal(srv_commit(V, &g), 0); /* held: not synced */
	e = lt_get(&V->lt, MAC_A);
	assert_non_null(e);
	assert_int_equal(e->port_last - e->port_first + 1, 1024);
	e->port_last = (uint16_t)(e->port_last + 1024);
	assert_int_equal(lease_store_sync(S), 0);
	srv_durable(V, g);
	assert_int_equal(srv_pending(V), 0);
	assert_int_equal(V->n.ack, 0);
	assert_int_equal(W.nmap, 0);
	assert_int_equal(W.nsent, 1);
}

/*
 * The core's effects go through its interface and nowhere else (STYLE
 * 17): the same DORA, renewal and RELEASE with an in-memory store and no
 * file system behind it, every call counted.
 */
static struct fake_fx {
	struct lease rows[8];
	int nrows, begins, commits, puts, renews, dels, writes, removes;
} F;

static int ffx_find(const uint8_t mac[6])
{
	int i;

	for (i = 0; i < F.nrows; i++)
		if (!memcmp(F.rows[i].mac, mac, 6))
			return i;
	return -1;
}

static int ffx_begin(void *a)
{
	F.begins++;
	return 0;
}

static int ffx_commit(void *a)
{
	F.commits++;
	return 0;
}

static int ffx_rollback(void *a)
{
	return 0;
}

static int ffx_put(void *a, const struct lease *l, int64_t wall)
{
	int i = ffx_find(l->mac);

	F.puts++;
	if (i < 0)
		i = F.nrows++;
	F.rows[i] = *l;
	return 0;
}

static int ffx_renew(void *a, const struct lease *l)
{
	int i = ffx_find(l->mac);

	F.renews++;
	if (i < 0)
		return -ENOENT;
	F.rows[i].expires = l->expires;
	return 0;
}

static int ffx_del(void *a, const uint8_t mac[6])
{
	int i = ffx_find(mac);

	F.dels++;
	if (i < 0)
		return -ENOENT;
	F.rows[i] = F.rows[--F.nrows];
	return 0;
}

static int ffx_get(void *a, const uint8_t mac[6], struct lease *out)
{
	int i = ffx_find(mac);

	if (i < 0)
		return -ENOENT;
	*out = F.rows[i];
	return 0;
}

static int ffx_foreach(void *a, lease_cb cb, void *arg)
{
	int i, r;

	for (i = 0; i < F.nrows; i++)
		if ((r = cb(&F.rows[i], arg)))
			return r;
	return 0;
}

static int ffx_write(void *a, const struct lease *l, unsigned int model)
{
	F.writes++;
	return 0;
}

static void ffx_remove(void *a, const uint8_t mac[6], unsigned int model)
{
	F.removes++;
}

static int ffx_present(void *a, const uint8_t mac[6], unsigned int model)
{
	return 1;
}

static const struct srv_effects FFX = {
	.begin = ffx_begin,
	.commit = ffx_commit,
	.rollback = ffx_rollback,
	.put = ffx_put,
	.renew = ffx_renew,
	.del = ffx_del,
	.get = ffx_get,
	.foreach = ffx_foreach,
	.file_write = ffx_write,
	.file_remove = ffx_remove,
	.file_present = ffx_present,
};

static void test_effects_interface(void **state)
{
	struct srv_io io = IO;
	uint32_t yi;
	uint64_t g;

	srv_free(V);
	memset(&F, 0, sizeof(F));
	io.fx = &FFX;
	/* No store, no template directory: the interface is all it has. */
	assert_int_equal(srv_new(&C, "/nonexistent", NULL, &io, now, now, &V),
			 0);
	phone_msg(DHCPDISCOVER, MAC_A, CISCO, 0, 0, 0);
	assert_int_equal(rc, 0);
	assert_int_equal(F.begins + F.puts + F.writes, 0); /* commits nothing */
	yi = reply(0)->yiaddr;
	phone_msg(DHCPREQUEST, MAC_A, CISCO, yi, our_sid(), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(srv_commit(V, &g), 0);
	srv_durable(V, g);
	assert_int_equal(reply(1)->type, DHCPACK);
	assert_int_equal(F.puts, 1);
	assert_int_equal(F.commits, 1);
	assert_int_equal(F.writes, 1);
	assert_int_equal(F.nrows, 1);
	assert_int_equal(F.rows[0].priv_ip, yi);
	phone_msg(DHCPREQUEST, MAC_A, CISCO, 0, 0, yi);
	assert_int_equal(srv_commit(V, &g), 0);
	srv_durable(V, g);
	assert_int_equal(F.renews, 1);
	assert_int_equal(F.writes, 1);
	phone_msg(DHCPRELEASE, MAC_A, CISCO, 0, our_sid(), yi);
	assert_int_equal(rc, 0);
	assert_int_equal(srv_commit(V, &g), 0);
	assert_int_equal(F.nrows, 0);
	assert_int_equal(F.removes, 1);
	assert_int_equal(W.nmap, 0);
	/* And a restart loads from it. */
	phone_msg(DHCPDISCOVER, MAC_B, CISCO, 0, 0, 0);
	phone_msg(DHCPREQUEST, MAC_B, CISCO, reply(W.nsent - 1)->yiaddr,
		  our_sid(), 0);
	assert_int_equal(srv_commit(V, &g), 0);
	srv_durable(V, g);
	srv_free(V);
	assert_int_equal(srv_new(&C, "/nonexistent", NULL, &io, now, now, &V),
			 0);
	assert_non_null(lt_get(&V->lt, MAC_B));
}

int main(void)
{
	/* Each test gets a fresh store, directory and server. */
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_dora),
		T(test_config_file),
		T(test_validation_order),
		T(test_renew),
		T(test_nak),
		T(test_other_server),
		T(test_release_decline),
		T(test_released_before_durable),
		T(test_expiry),
		T(test_flood),
		T(test_exhaustion),
		T(test_model_lan_range),
		T(test_underived_lease_ended),
		T(test_sweep_repairs),
		T(test_restart),
		T(test_malformed),
		T(test_oversized_options),
		T(test_failed_map_retried),
		T(test_failed_remap_removes_gate),
		T(test_model_change),
		T(test_discover_commits_nothing),
		T(test_release_decline_need_fields),
		T(test_request_states),
		T(test_request_never_offered),
		cmocka_unit_test_setup_teardown(test_pool_grab, setup_exact,
						teardown),
		cmocka_unit_test_setup_teardown(test_flood_keeps_exact_offer,
						setup_exact, teardown),
		cmocka_unit_test_setup_teardown(test_decline_flood_keeps_exact,
						setup_exact, teardown),
		cmocka_unit_test_setup_teardown(
			test_decline_flood_quarantine_yields, setup_no_reserve,
			teardown),
		cmocka_unit_test_setup_teardown(test_decline_rate,
						setup_rate_exact, teardown),
		cmocka_unit_test_setup_teardown(test_new_lease_rate, setup_rate,
						teardown),
		T(test_wall_clock_step_running),
		T(test_wall_clock_step_restart),
		T(test_grace_attributed),
		T(test_start_writes_follow_no_link),
		cmocka_unit_test_setup_teardown(
			test_tight_reply_keeps_echo_and_tftp, setup_tall,
			teardown),
		T(test_lan_triggered_logs_rate_limited),
		T(test_log_never_blocks),
		T(test_finish_matches_last_port),
		T(test_effects_interface),
	};

	return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
