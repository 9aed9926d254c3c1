// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libFuzzer target: the whole server core (server.h) fed arbitrary
 * datagrams, with every MAC and vendor class allowed and a pool small
 * enough to run out, so that inputs reach leases, offers, evictions,
 * renewals, releases and expiry.  Oracles besides the sanitizers:
 *
 *  - every reply the server sends parses as a BOOTREPLY and fits the
 *    576-byte minimum unless the client asked for more;
 *  - invariant 1: the mappings it writes never share a private address
 *    or a (public address, slot), and never touch ports 0-1023;
 *  - issue 13: each mapping's private address is the one its range
 *    derives (lan_net + public index x 64 + first slot; the /26 LAN
 *    pool holds the keys of the first public address only).
 *
 * One input may hold several datagrams: 2-byte big-endian length, then
 * the bytes.  After each input the transaction is committed, made
 * durable and the clock moves on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "conf.h"
#include "dhcp-msg.h"
#include "lease-store.h"
#include "log.h"
#include "server.h"

#define LAN_SIZE 64
#define PUB_COUNT 4
#define SLOTS 64

static struct prov_conf conf;
static struct lease_store *store;
static struct srv *srv;
static int64_t now = 1000000;
/* The fake data plane: per private address its lease, per slot its owner. */
static struct lease mapped[LAN_SIZE];
static int slot_owner[PUB_COUNT][SLOTS];

static void on_send(void *arg, const struct srv_dest *d, const uint8_t *buf,
		    size_t len)
{
	static struct dhcp_msg m;

	if (len > DHCP_MAX_REPLY || dhcp_parse(buf, len, &m) ||
	    m.op != DHCP_BOOTREPLY || !m.type)
		abort();
}

static int lan_index(const struct lease *l)
{
	uint32_t i = ntohl(l->priv_ip) - conf.lan_net;

	if (i >= LAN_SIZE)
		abort(); /* outside the pool */
	return (int)i;
}

static int on_map_add(void *arg, const struct lease *l)
{
	uint32_t pub = ntohl(l->pub_ip) - conf.pub_net;
	int i = lan_index(l), s;

	if (pub >= PUB_COUNT || l->port_first < 1024 ||
	    l->port_last < l->port_first)
		abort();
	if (ntohl(l->priv_ip) !=
	    conf.lan_net + pub * SLOTS + l->port_first / 1024)
		abort(); /* not the derived address */
	if (mapped[i].priv_ip && memcmp(mapped[i].mac, l->mac, 6))
		abort(); /* another phone's address */
	for (s = l->port_first / 1024; s <= l->port_last / 1024; s++)
		if (slot_owner[pub][s] && slot_owner[pub][s] != i + 1)
			abort(); /* another phone's ports */
	if (mapped[i].priv_ip) {
		uint32_t op = ntohl(mapped[i].pub_ip) - conf.pub_net;

		for (s = mapped[i].port_first / 1024;
		     s <= mapped[i].port_last / 1024; s++)
			slot_owner[op][s] = 0;
	}
	for (s = l->port_first / 1024; s <= l->port_last / 1024; s++)
		slot_owner[pub][s] = i + 1;
	mapped[i] = *l;
	return 0;
}

static int on_map_del(void *arg, const struct lease *l)
{
	int i = lan_index(l), s;
	uint32_t pub;

	if (!mapped[i].priv_ip || memcmp(mapped[i].mac, l->mac, 6))
		return 0;
	pub = ntohl(mapped[i].pub_ip) - conf.pub_net;
	for (s = mapped[i].port_first / 1024; s <= mapped[i].port_last / 1024;
	     s++)
		slot_owner[pub][s] = 0;
	memset(&mapped[i], 0, sizeof(mapped[i]));
	return 0;
}

static int on_map_check(void *arg, const struct lease *l)
{
	int i = lan_index(l);

	return mapped[i].priv_ip && !memcmp(mapped[i].mac, l->mac, 6);
}

static void quiet(const char *line, size_t len, void *arg)
{
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char text[] =
		"[global]\ninterface = lo\nlan_pool = 100.64.0.0/26\n"
		"gateway = 100.64.0.1\npublic_pool = 203.0.113.0/30\n"
		"reserved_ports = 5060\nmax_offers = 16\noffer_hold = 5\n"
		"decline_hold = 20\n"
		/* Issue 10: the pool-grab limits in play (every MAC still
		 * allowed, one listed exactly). */
		"exact_reserve = 25\nnew_lease_rate = 5\nnew_lease_burst = 10\n"
		"[mac]\nallow = *\nallow = 02:00:00:00:00:01\n"
		"[model a]\nvendor_class = prefix:A\nslots = 1\n"
		"lease_time = 60\ntemplate = cisco\n"
		"option = 43 hex 0104c6336407\n"
		"[model b]\nvendor_class = glob:*\nslots = 4\n"
		"lease_time = 90\ntemplate = yealink\n"
		"lan_range = 100.64.0.40 - 100.64.0.62\n";
	static char dir[] = "/tmp/fuzz-server.XXXXXX";
	struct srv_io io = { .send = on_send,
			     .map_add = on_map_add,
			     .map_del = on_map_del,
			     .map_check = on_map_check };

	log_set_sink(quiet, NULL);
	if (conf_parse("fuzz.conf", text, &conf, stderr) || !mkdtemp(dir))
		abort();
	snprintf(conf.tftp_root, sizeof(conf.tftp_root), "%s", dir);
	if (lease_store_open(":memory:", 0, &store) ||
	    srv_new(&conf, SRCDIR "/provisioner/templates", store, &io, now,
		    now, &srv))
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t group;

	while (size >= 2) {
		size_t n = (size_t)(data[0] << 8 | data[1]);

		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		srv_handle(srv, data, n, now);
		data += n;
		size -= n;
	}
	if (srv_commit(srv, &group) == 0 && group)
		srv_durable(srv, group);
	now += 3;
	/* The wall clock steps back and forth (issue 10): only the ends
	 * written to the store may follow it. */
	srv_tick(srv, now, now + (size & 1 ? 400000000 : -400000000));
	if (srv_commit(srv, &group) == 0 && group)
		srv_durable(srv, group);
	return 0;
}
