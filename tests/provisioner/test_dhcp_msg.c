// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The DHCP message codec against hand-built golden packets: what real
 * phones send (a Cisco DISCOVER with its trailing NUL), what hostile
 * clients send (truncation, no cookie, bad lengths, overload games), and
 * what the reply builder must produce (order of the parameter request
 * list, RFC 3396 splitting, option 57, RFC 2131 4.1 addressing).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "dhcp-msg.h"

static const char CISCO[] = "Cisco Systems, Inc. IP Phone CP-7940G";

/* A DISCOVER as a Cisco 7940 sends it; returns its length. */
static size_t discover(uint8_t *b)
{
	static const uint8_t mac[6] = { 0x00, 0x1b, 0x54, 0xaa, 0xbb, 0x0c };
	static const uint8_t prl[] = { 1, 3, 6, 66, 150, 51, 54 };
	size_t n = DHCP_MIN_LEN, l = sizeof(CISCO); /* with its NUL */

	memset(b, 0, 600);
	b[0] = 1;
	b[1] = 1;
	b[2] = 6;
	b[4] = 0xde;
	b[5] = 0xad;
	b[6] = 0xbe;
	b[7] = 0xef;
	b[10] = 0x80; /* broadcast flag */
	memcpy(b + 28, mac, 6);
	b[236] = 0x63;
	b[237] = 0x82;
	b[238] = 0x53;
	b[239] = 0x63;
	b[n++] = 53;
	b[n++] = 1;
	b[n++] = DHCPDISCOVER;
	b[n++] = 61;
	b[n++] = 7;
	b[n++] = 1;
	memcpy(b + n, mac, 6);
	n += 6;
	b[n++] = 57;
	b[n++] = 2;
	b[n++] = 0x04;
	b[n++] = 0x00; /* 1024 */
	b[n++] = 0; /* pad */
	b[n++] = 60;
	b[n++] = (uint8_t)l;
	memcpy(b + n, CISCO, l);
	n += l;
	b[n++] = 55;
	b[n++] = sizeof(prl);
	memcpy(b + n, prl, sizeof(prl));
	n += sizeof(prl);
	b[n++] = 255;
	return n;
}

static void test_golden_discover(void **state)
{
	uint8_t b[600];
	struct dhcp_msg m;
	const uint8_t *v;
	size_t n = discover(b), l;

	assert_int_equal(dhcp_parse(b, n, &m), 0);
	assert_int_equal(m.op, DHCP_BOOTREQUEST);
	assert_int_equal(m.type, DHCPDISCOVER);
	assert_int_equal(m.xid, 0xdeadbeef);
	assert_int_equal(m.flags, DHCP_FLAG_BROADCAST);
	assert_int_equal(m.chaddr[5], 0x0c);
	v = dhcp_opt_get(&m, OPT_VENDOR_CLASS, &l);
	assert_non_null(v);
	assert_int_equal(l, sizeof(CISCO));
	assert_memory_equal(v, CISCO, sizeof(CISCO));
	v = dhcp_opt_get(&m, OPT_CLIENT_ID, &l);
	assert_int_equal(l, 7);
	assert_int_equal(v[0], 1);
	assert_int_equal(dhcp_reply_cap(&m), 1024 - 28);
	assert_null(dhcp_opt_get(&m, OPT_HOSTNAME, &l));
	assert_int_equal(l, 0);
}

static void test_malformed(void **state)
{
	uint8_t b[600];
	struct dhcp_msg m;
	size_t n = discover(b);

	assert_int_equal(dhcp_parse(b, 100, &m), -EBADMSG);
	assert_int_equal(dhcp_parse(b, DHCP_MIN_LEN - 1, &m), -EBADMSG);
	/* Only the fixed part and cookie: valid, no options. */
	assert_int_equal(dhcp_parse(b, DHCP_MIN_LEN, &m), 0);
	assert_int_equal(m.type, 0);
	/* Option length running past the end. */
	assert_int_equal(dhcp_parse(b, DHCP_MIN_LEN + 5, &m), -EBADMSG);
	/* A code with no length byte. */
	assert_int_equal(dhcp_parse(b, DHCP_MIN_LEN + 4, &m), -EBADMSG);
	/* No magic cookie. */
	b[236] = 0;
	assert_int_equal(dhcp_parse(b, n, &m), -EBADMSG);
	b[236] = 0x63;
	/* hlen beyond chaddr. */
	b[2] = 17;
	assert_int_equal(dhcp_parse(b, n, &m), -EBADMSG);
	b[2] = 6;
	/* Message type with a wrong length. */
	b[DHCP_MIN_LEN + 1] = 2;
	assert_int_equal(dhcp_parse(b, n, &m), -EBADMSG);
}

/* A BOOTREQUEST with nothing but its magic cookie: options follow at
 * DHCP_MIN_LEN. */
static void bare_request(uint8_t *b, size_t size)
{
	static const uint8_t cookie[4] = { 0x63, 0x82, 0x53, 0x63 };

	memset(b, 0, size);
	b[0] = DHCP_BOOTREQUEST;
	memcpy(b + 236, cookie, sizeof(cookie));
}

static void test_overload(void **state)
{
	uint8_t b[600];
	struct dhcp_msg m;
	const uint8_t *v;
	size_t n = DHCP_MIN_LEN, l;

	bare_request(b, sizeof(b));
	b[n++] = 52;
	b[n++] = 1;
	b[n++] = 3; /* file and sname hold options */
	b[n++] = 60;
	b[n++] = 3;
	memcpy(b + n, "abc", 3);
	n += 3;
	b[n++] = 255;
	/* file (offset 108) first: more of option 60, and an overload
	 * option that must not be obeyed (no loops). */
	memcpy(b + 108,
	       "\x3c\x03"
	       "def"
	       "\x34\x01\x01"
	       "\x35\x01\x03"
	       "\xff",
	       12);
	/* then sname (offset 44). */
	memcpy(b + 44,
	       "\x3c\x02"
	       "gh"
	       "\xff",
	       5);
	assert_int_equal(dhcp_parse(b, n, &m), 0);
	v = dhcp_opt_get(&m, OPT_VENDOR_CLASS, &l);
	assert_int_equal(l, 8);
	assert_memory_equal(v, "abcdefgh", 8); /* options, file, sname */
	assert_int_equal(m.type, DHCPREQUEST);
	assert_string_equal(m.file, "");
	assert_string_equal(m.sname, "");

	/* An overload value outside 1..3 is malformed. */
	b[DHCP_MIN_LEN + 2] = 4;
	assert_int_equal(dhcp_parse(b, n, &m), -EBADMSG);
	/* Without overload, file and sname are names, not options. */
	b[DHCP_MIN_LEN + 2] = 0;
	b[DHCP_MIN_LEN] = 0; /* turn option 52 into pads... */
	b[DHCP_MIN_LEN + 1] = 0;
	assert_int_equal(dhcp_parse(b, n, &m), 0);
	v = dhcp_opt_get(&m, OPT_VENDOR_CLASS, &l);
	assert_int_equal(l, 3);
}

static void test_long_option_concatenated(void **state)
{
	uint8_t b[900], data[300];
	struct dhcp_msg m;
	const uint8_t *v;
	size_t n = DHCP_MIN_LEN, l, i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	bare_request(b, sizeof(b));
	/* RFC 3396: two instances, with another option in between. */
	b[n++] = 125;
	b[n++] = 255;
	memcpy(b + n, data, 255);
	n += 255;
	b[n++] = 53;
	b[n++] = 1;
	b[n++] = DHCPREQUEST;
	b[n++] = 125;
	b[n++] = 45;
	memcpy(b + n, data + 255, 45);
	n += 45;
	b[n++] = 255;
	assert_int_equal(dhcp_parse(b, n, &m), 0);
	v = dhcp_opt_get(&m, OPT_VIVSO, &l);
	assert_int_equal(l, 300);
	assert_memory_equal(v, data, 300);
}

static void test_build_offer(void **state)
{
	uint8_t req[600], out[1500], big[300];
	struct dhcp_msg m, r;
	struct dhcp_builder b;
	uint32_t mask = htonl(0xffff0000), router, srv;
	const uint8_t *v;
	size_t l;
	int n;
	const struct dhcp_optval avail[] = {
		{ OPT_SERVER_ID, 1, 4, &srv },
		{ OPT_LEASE_TIME, 1, 4, "\0\0\x0e\x10" },
		{ OPT_SUBNET_MASK, 0, 4, &mask },
		{ OPT_ROUTER, 0, 4, &router },
		{ OPT_TFTP_SERVER_ADDR, 0, 4, &srv },
		{ OPT_BOOTFILE, 0, 20, "SEP001B54AABB0C.cnf" },
		{ OPT_HOSTNAME, 0, 5, "phone" }, /* not asked, not always */
	};

	memset(big, 'x', sizeof(big));
	inet_pton(AF_INET, "100.64.0.1", &router);
	srv = router;
	assert_int_equal(dhcp_parse(req, discover(req), &m), 0);
	dhcp_reply_init(&b, out, dhcp_reply_cap(&m), &m, DHCPOFFER,
			htonl(0x6440000a), srv);
	assert_int_equal(dhcp_put_requested(&b, &m, avail, 7), 0);
	/* Longer than 255: split into two instances. */
	assert_int_equal(dhcp_put_opt(&b, OPT_VENDOR_SPECIFIC, big, 300), 0);
	n = dhcp_reply_finish(&b);
	assert_true(n >= DHCP_MIN_REPLY);

	assert_int_equal(dhcp_parse(out, (size_t)n, &r), 0);
	assert_int_equal(r.op, DHCP_BOOTREPLY);
	assert_int_equal(r.type, DHCPOFFER);
	assert_int_equal(r.xid, 0xdeadbeef);
	assert_int_equal(r.yiaddr, htonl(0x6440000a));
	assert_int_equal(r.ciaddr, 0); /* RFC 2131 table 3 */
	assert_memory_equal(r.chaddr, m.chaddr, 16);
	assert_int_equal(r.flags, DHCP_FLAG_BROADCAST);
	assert_int_equal(dhcp_opt_addr(&r, OPT_ROUTER), router);
	assert_int_equal(dhcp_opt_addr(&r, OPT_SERVER_ID), srv);
	assert_null(dhcp_opt_get(&r, OPT_HOSTNAME, &l));
	assert_null(dhcp_opt_get(&r, OPT_BOOTFILE, &l)); /* not asked */
	v = dhcp_opt_get(&r, OPT_VENDOR_SPECIFIC, &l);
	assert_int_equal(l, 300);
	assert_memory_equal(v, big, 300);
	/* Order: type, then 1 3 66? no (not available) 150 51 54 (PRL). */
	assert_int_equal(out[DHCP_MIN_LEN], OPT_MSG_TYPE);
	assert_int_equal(out[DHCP_MIN_LEN + 3], OPT_SUBNET_MASK);
	assert_int_equal(out[DHCP_MIN_LEN + 9], OPT_ROUTER);
	assert_int_equal(out[DHCP_MIN_LEN + 15], OPT_TFTP_SERVER_ADDR);
	assert_int_equal(out[DHCP_MIN_LEN + 21], OPT_LEASE_TIME);
	assert_int_equal(out[DHCP_MIN_LEN + 27], OPT_SERVER_ID);
}

static void test_reply_cap(void **state)
{
	uint8_t req[600], out[600];
	struct dhcp_msg m;
	struct dhcp_builder b;
	uint8_t big[600];
	size_t n = discover(req);

	assert_int_equal(dhcp_parse(req, n, &m), 0);
	m.opt[OPT_MAX_MSG_SIZE].present = 0;
	assert_int_equal(dhcp_reply_cap(&m), 548);
	m.opt[OPT_MAX_MSG_SIZE].present = 1;
	m.opt[OPT_MAX_MSG_SIZE].data[0] = 0x01; /* 300: below 576, ignored */
	m.opt[OPT_MAX_MSG_SIZE].data[1] = 0x2c;
	assert_int_equal(dhcp_reply_cap(&m), 548);
	m.opt[OPT_MAX_MSG_SIZE].data[0] = 0x23; /* 9000: capped */
	m.opt[OPT_MAX_MSG_SIZE].data[1] = 0x28;
	assert_int_equal(dhcp_reply_cap(&m), 1472);

	/* What does not fit is refused, and the reply says so. */
	memset(big, 1, sizeof(big));
	dhcp_reply_init(&b, out, 548, &m, DHCPOFFER, 0, 0);
	assert_int_equal(dhcp_put_opt(&b, OPT_VENDOR_SPECIFIC, big, 400),
			 -EMSGSIZE);
	assert_int_equal(dhcp_reply_finish(&b), -EMSGSIZE);
}

static void test_reply_dest(void **state)
{
	uint8_t req[600];
	struct dhcp_msg m;

	assert_int_equal(dhcp_parse(req, discover(req), &m), 0);
	/* RFC 2131 4.1, in its order. */
	assert_int_equal(dhcp_reply_dest(&m, DHCPOFFER), DEST_BROADCAST);
	m.flags = 0;
	assert_int_equal(dhcp_reply_dest(&m, DHCPOFFER), DEST_UNICAST_HW);
	assert_int_equal(dhcp_reply_dest(&m, DHCPNAK), DEST_BROADCAST);
	m.ciaddr = htonl(0x6440000a);
	assert_int_equal(dhcp_reply_dest(&m, DHCPACK), DEST_CIADDR);
	m.giaddr = htonl(0x64400101);
	assert_int_equal(dhcp_reply_dest(&m, DHCPACK), DEST_RELAY);
	assert_int_equal(dhcp_reply_dest(&m, DHCPNAK), DEST_RELAY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_discover),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_overload),
		cmocka_unit_test(test_long_option_concatenated),
		cmocka_unit_test(test_build_offer),
		cmocka_unit_test(test_reply_cap),
		cmocka_unit_test(test_reply_dest),
	};

	return cmocka_run_group_tests_name("dhcp_msg", tests, NULL, NULL);
}
