// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Config parser: the shipped example parses cleanly; each broken input
 * gives its file:line: reason, and parsing goes on to report the rest.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "conf.h"

static struct prov_conf c;

/* Parse text, return the error messages (caller frees). */
static char *errors_of(const char *text, int *n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	*n = conf_parse("t.conf", text, &c, f);
	fclose(f);
	return buf;
}

#define HEAD                                                         \
	"[global]\nlan_pool = 100.64.0.0/16\ngateway = 100.64.0.1\n" \
	"public_pool = 203.0.113.0/28\n"
#define MODEL "[model m]\nvendor_class = prefix:Cisco\n"

static void test_example_is_good(void **state)
{
	int n = conf_load(SRCDIR "/provisioner/provisioner.conf.example", &c,
			  stderr);

	assert_int_equal(n, 0);
	assert_string_equal(c.interface, "lan0");
	assert_int_equal(c.lan_net, 0x64400000);
	assert_int_equal(c.lan_size, 65536);
	assert_int_equal(c.pub_count, 16);
	assert_int_equal(c.slot_size, 1024);
	assert_int_equal(c.ndns, 2);
	assert_int_equal(c.nreserved, 3);
	assert_int_equal(c.reserved[0][0], 5060);
	assert_int_equal(c.policy.nallow, 3);
	assert_int_equal(c.policy.ndeny, 1);
	assert_int_equal(c.policy.nmodels, 3);
	assert_string_equal(c.policy.models[0].name, "cisco-7940");
	assert_int_equal(c.policy.models[0].nvc, 2);
	assert_int_equal(c.policy.models[0].lease_time, 7200);
	assert_int_equal(c.policy.models[1].slots, 2);
	assert_int_equal(c.policy.models[1].lease_time, 3600); /* default */
	assert_int_equal(c.policy.models[2].vc[0].kind, VC_GLOB);
	assert_int_equal(c.policy.models[2].nopts, 1);
	assert_int_equal(c.policy.models[2].opts[0].code, 160);
	assert_int_equal(c.policy.models[2].lan_lo, 0x64400300);
	assert_string_equal(c.sip_server, "198.51.100.7");
	assert_int_equal(c.server_id, c.gateway);
}

static void test_missing_file(void **state)
{
	assert_int_equal(conf_load("/nonexistent/provisioner.conf", &c, NULL),
			 -ENOENT);
}

struct bad_case {
	const char *text;
	const char *want; /* one expected message */
	int errors;
};

static void test_bad_files(void **state)
{
	static const struct bad_case cases[] = {
		{ HEAD MODEL "bogus = 1\n",
		  "t.conf:7: unknown key 'bogus' in [model m]", 1 },
		{ "[global]\nlan_pool = 100.64.0.1/16\n",
		  "t.conf:2: lan_pool: want a network", 0 },
		{ HEAD "slot_size = 1000\n" MODEL,
		  "t.conf:5: slot_size: want a power of two", 1 },
		{ HEAD "reserved_ports = 5060, 9-3, x\n" MODEL,
		  "t.conf:5: reserved_ports: range 9-3 is backwards", 2 },
		{ HEAD "dns = 1.2.3\n" MODEL,
		  "t.conf:5: dns: '1.2.3' is not an IPv4 address", 1 },
		{ HEAD "[mac]\nallow = 00:1b\nallow = zz\n" MODEL,
		  "t.conf:7: allow: bad MAC pattern 'zz'", 1 },
		{ HEAD "[model m]\nvendor_class = Cisco\n",
		  "t.conf:6: vendor_class: say how to match", 2 },
		{ HEAD MODEL "[model m]\n", "t.conf:7: [model m] defined twice",
		  1 },
		{ HEAD MODEL "template = siemens\n",
		  "t.conf:7: template: want cisco", 1 },
		{ HEAD MODEL "slots = 0\n", "t.conf:7: slots: want 1..64", 1 },
		{ HEAD "[weird]\n" MODEL, "t.conf:5: unknown section [weird]",
		  1 },
		{ HEAD "[model m\n" MODEL, "t.conf:5: bad section header", 1 },
		{ "lan_pool = 100.64.0.0/16\n",
		  "t.conf:1: 'lan_pool' outside a section", 0 },
		{ HEAD "just words\n" MODEL, "t.conf:5: expected 'key = value'",
		  1 },
		{ HEAD "gateway = 100.65.0.1\n" MODEL,
		  "t.conf:5: gateway is outside lan_pool", 1 },
		{ HEAD, "t.conf:4: no [model NAME] section", 1 },
		{ "", "t.conf:1: [global] lan_pool is required", 0 },
		/* A missing key is reported at its section's header. */
		{ "# x\n[global]\ngateway = 100.64.0.1\npublic_pool = "
		  "203.0.113.0/28\n" MODEL,
		  "t.conf:2: [global] lan_pool is required", 1 },
		{ HEAD "[model big]\nvendor_class = exact:x\nslots = 64\n",
		  "t.conf:5: [model big] wants more ports than an address has",
		  1 },
		/* Issue 10: 32 x 1024 ports fit only at 0 and 32768, and
		 * each window holds a reserved port. */
		{ HEAD "slot_size = 1024\nreserved_ports = 40000\n"
		       "[model big]\nvendor_class = exact:x\nslots = 32\n",
		  "t.conf:7: [model big] slots = 32: no aligned window", 1 },
		{ HEAD MODEL "option = 43 hex 0g\n",
		  "t.conf:7: option 43: bad hex bytes '0g'", 1 },
		{ HEAD MODEL "option = 43 hex 012\n",
		  "t.conf:7: option 43: bad hex bytes", 1 },
		{ HEAD MODEL "force_option = 54 ip 1.2.3.4\n",
		  "t.conf:7: force_option: want 'CODE TYPE VALUE'", 1 },
		{ HEAD MODEL "option = 51 hex 00000e10\n",
		  "t.conf:7: option: want 'CODE TYPE VALUE'", 1 },
		{ HEAD MODEL "option = 159 hex 00061c00\n",
		  "t.conf:7: option: want 'CODE TYPE VALUE'", 1 },
		{ HEAD MODEL "option = 300 text x\n",
		  "t.conf:7: option: want 'CODE TYPE VALUE'", 1 },
		{ HEAD MODEL "option = 66 base64 eA==\n",
		  "t.conf:7: option: type 'base64' is not hex, text or ip", 1 },
		{ HEAD MODEL "option = 150 ip 1.2.3.4, x\n",
		  "t.conf:7: option 150: 'x' is not an IPv4 address", 1 },
		{ HEAD MODEL "option = 160 text\n",
		  "t.conf:7: option 160: text of 1..255", 1 },
		{ HEAD MODEL "lan_range = 100.64.0.9 - 100.64.0.2\n",
		  "t.conf:7: lan_range: want 'FIRST - LAST'", 1 },
		{ HEAD MODEL "lan_range = 100.65.0.2 - 100.65.0.9\n",
		  "t.conf:5: [model m] lan_range is outside lan_pool", 1 },
		/* Issue 13: a phone's private address is derived, lan_net +
		 * public index x 64 + first slot; a /28 has keys 0-1023, so
		 * 100.64.8.x is nobody's, nor is a slot 0 (ports 0-1023:
		 * 100.64.1.0 is 203.0.113.4's), nor the gateway's key 1. */
		{ HEAD MODEL "lan_range = 100.64.8.0 - 100.64.8.255\n",
		  "t.conf:7: [model m] lan_range holds no phone address", 1 },
		{ HEAD MODEL "lan_range = 100.64.1.0 - 100.64.1.0\n",
		  "t.conf:7: [model m] lan_range holds no phone address", 1 },
		{ HEAD MODEL "lan_range = 100.64.0.0 - 100.64.0.1\n",
		  "t.conf:7: [model m] lan_range holds no phone address", 1 },
		/* Four slots start at slots 0, 4, 8...: keys 257-259 are
		 * slots 1-3 of 203.0.113.4, no 4-slot range's address. */
		{ HEAD MODEL "slots = 4\nlan_range = 100.64.1.1 - 100.64.1.3\n",
		  "t.conf:8: [model m] lan_range holds no phone address", 1 },
		/* Two slots of 32768 per address: keys 0 and 2 are slot 0,
		 * 1 the gateway, 3 the broadcast of a /30. */
		{ "[global]\nlan_pool = 100.64.0.0/30\ngateway = 100.64.0.1\n"
		  "public_pool = 203.0.113.0/28\nslot_size = 32768\n" MODEL,
		  "t.conf:6: [model m] lan_pool holds no phone address", 1 },
		/* Issue 12: the pools the data plane would refuse. */
		{ HEAD
		  "lan_pool = 203.0.113.0/24\ngateway = 203.0.113.1\n" MODEL,
		  "t.conf:5: lan_pool overlaps public_pool (line 4)", 1 },
		{ HEAD "public_pool = 100.64.8.0/28\n" MODEL,
		  "t.conf:5: public_pool overlaps lan_pool (line 2)", 1 },
		{ HEAD "public_pool = 127.0.0.0/28\n" MODEL,
		  "t.conf:5: public_pool overlaps 127.0.0.0/8", 1 },
		{ "[global]\nlan_pool = 100.0.0.0/8\ngateway = 100.0.0.1\n"
		  "public_pool = 203.0.113.0/28\n" MODEL,
		  "t.conf:2: lan_pool: larger than the data plane's", 1 },
		{ HEAD "public_pool = 198.18.0.0/15\nslot_size = 16\n" MODEL,
		  "t.conf:5: public_pool x 65536 / slot_size is more than", 1 },
		{ HEAD "public_pool = 203.0.113.0/33\n" MODEL,
		  "t.conf:5: public_pool: want a network", 1 },
		{ HEAD "reserved_ports = 5060,,x-1\n" MODEL,
		  "t.conf:5: reserved_ports: bad port or range 'x'", 1 },
		/* [dataplane] and [tftpd]: the loader's and tftpd's keys. */
		{ HEAD MODEL "[dataplane]\nwan = eth1\n",
		  "t.conf:8: unknown key 'wan' in [dataplane]", 1 },
		{ HEAD MODEL "[dataplane]\nmode = turbo\n",
		  "t.conf:8: mode: want auto, native, generic, tc", 1 },
		{ HEAD MODEL "[dataplane]\ndrop_unknown = maybe\n",
		  "t.conf:8: drop_unknown: want yes or no", 1 },
		{ HEAD "interface = lan 0\n" MODEL,
		  "t.conf:5: interface: 'lan 0' is not an interface name", 1 },
		{ HEAD MODEL "[dataplane]\nwan_interface = ../eth0\n",
		  "t.conf:8: wan_interface: '../eth0' is not an interface", 1 },
		{ HEAD MODEL "[tftpd]\nmax_per_client = -1\n",
		  "t.conf:8: max_per_client: want a number in 0..1000000", 1 },
		{ HEAD MODEL "[tftpd]\nmax_blksize = 4\n",
		  "t.conf:8: max_blksize: want a number in 8..65464", 1 },
		{ HEAD MODEL "[tftpd]\nroot = srv/tftp\n",
		  "t.conf:8: root: want an absolute path", 1 },
		{ HEAD MODEL "[tftpd]\nnew_rate = 10:0\n",
		  "t.conf:8: new_rate: want N or N:BURST", 1 },
		{ HEAD MODEL "[tftpd]\ngate = sometimes\n",
		  "t.conf:8: gate: want yes or no", 1 },
		{ HEAD MODEL "[tftpd]\nlisten = 100.64.0.1:70000\n",
		  "t.conf:8: listen: want ADDR[:PORT]", 1 },
		{ HEAD MODEL "[tftpd]\nlisten = [::1\n",
		  "t.conf:8: listen: want ADDR[:PORT]", 1 },
		{ HEAD MODEL "[tftpd]\nport = 69\n",
		  "t.conf:8: unknown key 'port' in [tftpd]", 1 },
		{ HEAD MODEL "[tftp]\n", "t.conf:7: unknown section [tftp]",
		  1 },
		/* Issue 14: several gateways. */
		{ HEAD "claim = 0,3-1\n" MODEL,
		  "t.conf:5: claim: want all, none or parts", 1 },
		{ HEAD "claim = 256\n" MODEL, "t.conf:5: claim: want all", 1 },
		{ HEAD "gateway_id = gw a\n" MODEL,
		  "t.conf:5: gateway_id: want letters", 1 },
		{ HEAD "pool_parts = 0\n" MODEL, "t.conf:5: pool_parts: want",
		  1 },
		{ HEAD "pool_parts = 200\n" MODEL,
		  "t.conf:5: pool_parts: 200 parts of", 1 },
		{ HEAD "parts_poll = x\n" MODEL, "t.conf:5: parts_poll: want",
		  1 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n;
		char *out = errors_of(cases[i].text, &n);

		if (!strstr(out, cases[i].want) ||
		    (cases[i].errors && n != cases[i].errors))
			fail_msg("case %zu: %d errors, want %d with '%s'; "
				 "got:\n%s",
				 i, n, cases[i].errors, cases[i].want, out);
		assert_true(n > 0);
		free(out);
	}
}

static void test_model_extras(void **state)
{
	int n;
	char *out = errors_of(HEAD "sip_server = sip.example\n" MODEL
				   "option = 43 hex 01:04:c6:33:64:07\n"
				   "force_option = 160 text http://p/x.cfg\n"
				   "option = 150 ip 100.64.0.1, 100.64.0.2\n"
				   "lan_range = 100.64.1.0 - 100.64.1.99\n"
				   "sip_server = 198.51.100.10\n",
			      &n);
	const struct model *m = &c.policy.models[0];

	assert_int_equal(n, 0);
	assert_string_equal(out, "");
	assert_string_equal(c.sip_server, "sip.example");
	assert_string_equal(m->sip_server, "198.51.100.10");
	assert_int_equal(m->nopts, 3);
	assert_int_equal(m->opts[0].code, 43);
	assert_int_equal(m->opts[0].len, 6);
	assert_int_equal(m->opts[0].data[5], 0x07);
	assert_int_equal(m->opts[0].always, 0);
	assert_int_equal(m->opts[1].always, 1);
	assert_memory_equal(m->opts[1].data, "http://p/x.cfg", 14);
	assert_int_equal(m->opts[2].len, 8);
	assert_int_equal(m->opts[2].data[7], 2);
	assert_int_equal(m->lan_lo, 0x64400100);
	assert_int_equal(m->lan_hi, 0x64400163);
	free(out);
}

/*
 * Issue 13: a lan_pool smaller than the public pool's slots is served
 * (the first public addresses only), not refused: it warns, naming how
 * many public addresses are used.  One as large as the keys warns not.
 */
static void test_small_lan_warns(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int n;

	/* /24: 256 keys of 1,024 (16 x 64): 4 public addresses. */
	n = conf_parse("t.conf",
		       "[global]\nlan_pool = 100.64.0.0/24\n"
		       "gateway = 100.64.0.1\npublic_pool = 203.0.113.0/28\n"
		       "[model m]\nvendor_class = prefix:Cisco\n",
		       &c, stderr);
	assert_int_equal(n, 0);
	f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(conf_warn(&c, f), 1);
	fclose(f);
	assert_non_null(strstr(buf, "t.conf:2: warning: lan_pool has 256 "
				    "addresses, fewer than the public pool's "
				    "1024 slots"));
	assert_non_null(strstr(buf, "only 4 of the 16 public addresses"));
	free(buf);
	/* /22: exactly the 1,024 keys. */
	n = conf_parse("t.conf",
		       "[global]\nlan_pool = 100.64.0.0/22\n"
		       "gateway = 100.64.0.1\npublic_pool = 203.0.113.0/28\n"
		       "[model m]\nvendor_class = prefix:Cisco\n",
		       &c, stderr);
	assert_int_equal(n, 0);
	assert_int_equal(conf_warn(&c, NULL), 0);
	/* /23 and a /26: 512 of 4,096 keys, 8 public addresses. */
	n = conf_parse("t.conf",
		       "[global]\nlan_pool = 100.64.0.0/23\n"
		       "gateway = 100.64.0.1\npublic_pool = 203.0.113.0/26\n"
		       "[model m]\nvendor_class = prefix:Cisco\n",
		       &c, stderr);
	assert_int_equal(n, 0);
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(conf_warn(&c, f), 1);
	fclose(f);
	assert_non_null(strstr(buf, "only 8 of the 64 public addresses"));
	free(buf);
}

/* The gateway's one file: every section, every program's required keys. */
static void test_gateway_example(void **state)
{
	int n = conf_load(SRCDIR "/etc/nappt.conf.example", &c, stderr);

	assert_int_equal(n, 0);
	assert_int_equal(conf_require(&c, CONF_PROVISIONER, stderr), 0);
	assert_int_equal(conf_require(&c, CONF_LOADER, stderr), 0);
	assert_int_equal(conf_require(&c, CONF_TFTPD, stderr), 0);
	assert_string_equal(c.interface, "lan0");
	assert_string_equal(c.dataplane.wan_interface, "wan0");
	assert_string_equal(c.dataplane.mode, "auto");
	assert_int_equal(c.pub_count, 16);
	assert_string_equal(c.tftp_root, "/run/nappt/phones");
	assert_string_equal(c.tftpd.root, "/srv/tftp");
	assert_int_equal(c.tftpd.gate, 1);
	assert_string_equal(c.tftpd.stats_file, "/run/nappt-tftpd/stats.prom");
	assert_int_equal(c.tftpd.max_per_client, 8);
	assert_int_equal(c.tftpd.new_rate, 10);
	assert_int_equal(c.tftpd.new_burst, 20);
}

/* What one program needs and another does without. */
static void test_require(void **state)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int n;

	free(errors_of(HEAD MODEL, &n));
	assert_int_equal(n, 0);
	f = open_memstream(&buf, &len);
	assert_int_equal(conf_require(&c, CONF_PROVISIONER, f), 1);
	assert_int_equal(conf_require(&c, CONF_LOADER, f), 2);
	assert_int_equal(conf_require(&c, CONF_TFTPD, f), 1);
	fclose(f);
	assert_non_null(strstr(buf, "t.conf:1: [global] interface is "
				    "required (the LAN side, where DHCP"));
	assert_non_null(strstr(buf, "t.conf:6: [dataplane] wan_interface is "
				    "required"));
	assert_non_null(strstr(buf, "t.conf:6: [tftpd] interface (or "
				    "[global] interface) is required"));
	free(buf);

	free(errors_of(HEAD "interface = lan0\n" MODEL
			    "[dataplane]\nwan_interface = lan0\n"
			    "[tftpd]\n",
		       &n));
	assert_int_equal(n, 0);
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(conf_require(&c, CONF_PROVISIONER, f), 0);
	assert_int_equal(conf_require(&c, CONF_TFTPD, f), 0);
	assert_int_equal(conf_require(&c, CONF_LOADER, f), 1);
	fclose(f);
	assert_non_null(strstr(buf, "t.conf:8: [dataplane] wan_interface is "
				    "[global] interface lan0"));
	free(buf);
	/* [tftpd] interface defaults to [global]'s in tftpd.c; unset here. */
	assert_string_equal(c.tftpd.interface, "");
	assert_int_equal(c.tftpd.max_transfers, CONF_UNSET);
}

static void test_comments_and_spaces(void **state)
{
	int n;
	char *out = errors_of("# comment\n  ; another\n\n[global]\n"
			      "  lan_pool   =   100.64.0.0/24  \n"
			      "gateway=100.64.0.1\npublic_pool = "
			      "203.0.113.0/30\n[model  a b ]\n"
			      "vendor_class = glob:*\n",
			      &n);

	assert_int_equal(n, 0);
	assert_string_equal(out, "");
	assert_int_equal(c.lan_size, 256);
	assert_string_equal(c.policy.models[0].name, "a b");
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_is_good),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_model_extras),
		cmocka_unit_test(test_comments_and_spaces),
		cmocka_unit_test(test_gateway_example),
		cmocka_unit_test(test_small_lan_warns),
		cmocka_unit_test(test_require),
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
