// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * make bench-prov-core: the DHCP core alone, no network: DISCOVER and
 * REQUEST for N new MACs (relayed), a commit every 64 exchanges, the real
 * SQLite store and per-phone files under DIR (use tmpfs), and the CPU
 * time of the process per exchange.  On a shared machine this resolves
 * what bench-dhcp's network figures cannot (issue 10: the fixes must not
 * cost more than 10% of an exchange).  Ends with one RESULT line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>

#include "conf.h"
#include "dhcp-msg.h"
#include "lease-store.h"
#include "log.h"
#include "server.h"

static uint32_t offered;
static unsigned long sent;

static void on_send(void *arg, const struct srv_dest *d, const uint8_t *b,
		    size_t n)
{
	sent++;
	if (n > 242 && b[242] == DHCPOFFER)
		memcpy(&offered, b + 16, 4);
}

static int on_map(void *arg, const struct lease *l)
{
	return 0;
}

static void quiet(const char *line, size_t n, void *arg)
{
}

static const char CONF[] =
	"[global]\ninterface = lan0\nlan_pool = 100.64.0.0/14\n"
	"gateway = 100.64.0.1\npublic_pool = 198.18.0.0/20\n"
	"lease_time = 3600\nnew_lease_rate = 0\n"
	"[model bench]\n"
	"vendor_class = exact:Cisco Systems, Inc. IP Phone CP-7940G\n"
	"template = generic\n";

static size_t msg(uint8_t *b, uint8_t type, const uint8_t mac[6], uint32_t want,
		  uint32_t sid)
{
	static const char vc[] = "Cisco Systems, Inc. IP Phone CP-7940G";
	static const uint8_t prl[] = { 1, 3, 6, 150 };
	size_t n = DHCP_MIN_LEN;

	memset(b, 0, 600);
	b[0] = DHCP_BOOTREQUEST;
	b[1] = 1;
	b[2] = 6;
	memcpy(b + 28, mac, 6);
	b[24] = 100; /* giaddr 100.64.0.9: relayed, as perfdhcp -l */
	b[25] = 64;
	b[27] = 9;
	b[236] = 0x63;
	b[237] = 0x82;
	b[238] = 0x53;
	b[239] = 0x63;
	b[n++] = OPT_MSG_TYPE;
	b[n++] = 1;
	b[n++] = type;
	b[n++] = OPT_VENDOR_CLASS;
	b[n++] = sizeof(vc);
	memcpy(b + n, vc, sizeof(vc));
	n += sizeof(vc);
	b[n++] = OPT_PARAM_LIST;
	b[n++] = sizeof(prl);
	memcpy(b + n, prl, sizeof(prl));
	n += sizeof(prl);
	if (want) {
		b[n++] = OPT_REQUESTED_IP;
		b[n++] = 4;
		memcpy(b + n, &want, 4);
		n += 4;
		b[n++] = OPT_SERVER_ID;
		b[n++] = 4;
		memcpy(b + n, &sid, 4);
		n += 4;
	}
	b[n++] = OPT_END;
	return n;
}

int main(int argc, char **argv)
{
	struct srv_io io = { .send = on_send,
			     .map_add = on_map,
			     .map_del = on_map };
	uint8_t b[600], mac[6] = { 0x00, 0x1b, 0x54 };
	const char *dir = argc > 2 ? argv[2] : "/dev/shm";
	int i, n = argc > 1 ? atoi(argv[1]) : 20000;
	char db[300], cmd[700];
	struct lease_store *st;
	struct timespec t0, t1;
	struct prov_conf c;
	struct srv *s;
	uint64_t g;
	double us;

	log_set_sink(quiet, NULL);
	if (n <= 0 || conf_parse("bench", CONF, &c, stderr))
		return 1;
	snprintf(c.tftp_root, sizeof(c.tftp_root), "%s/bench-prov-core", dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && mkdir -p '%s'", c.tftp_root,
		 c.tftp_root);
	if (system(cmd))
		return 1;
	snprintf(db, sizeof(db), "%s/leases.db", c.tftp_root);
	if (lease_store_open(db, LS_DEFER_SYNC, &st) ||
	    srv_new(&c, SRCDIR "/provisioner/templates", st, &io, 1000, 1000,
		    &s))
		return 1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	for (i = 0; i < n; i++) {
		mac[3] = (uint8_t)(i >> 16);
		mac[4] = (uint8_t)(i >> 8);
		mac[5] = (uint8_t)i;
		offered = 0;
		srv_handle(s, b, msg(b, DHCPDISCOVER, mac, 0, 0), 1000);
		srv_handle(s, b,
			   msg(b, DHCPREQUEST, mac, offered,
			       htonl(c.server_id)),
			   1000);
		if (i % 64 == 63 && !srv_commit(s, &g) && g)
			srv_durable(s, g);
	}
	if (!srv_commit(s, &g) && g)
		srv_durable(s, g);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
	      (double)(t1.tv_nsec - t0.tv_nsec)) /
	     1e3 / n;
	printf("RESULT prov_core exchanges=%d replies=%lu cpu_us_per_exchange=%.1f\n",
	       n, sent, us);
	srv_free(s);
	lease_store_close(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c.tftp_root);
	return system(cmd) ? 1 : sent == 2UL * (unsigned long)n ? 0 : 1;
}
