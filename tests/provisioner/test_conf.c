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
	assert_int_equal(c.policy.models[2].lan_lo, 0x64408002);
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
		  "t.conf: gateway is outside lan_pool", 1 },
		{ HEAD, "t.conf: no [model NAME] section", 1 },
		{ "", "t.conf: [global] lan_pool is required", 0 },
		{ HEAD "[model big]\nvendor_class = exact:x\nslots = 64\n",
		  "wants more ports than an address has", 1 },
		/* Issue 10: 32 x 1024 ports fit only at 0 and 32768, and
		 * each window holds a reserved port. */
		{ HEAD "slot_size = 1024\nreserved_ports = 40000\n"
		       "[model big]\nvendor_class = exact:x\nslots = 32\n",
		  "[model big] slots = 32: no aligned window", 1 },
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
		  "t.conf: [model m] lan_range is outside lan_pool", 1 },
		/* Issue 14: several gateways. */
		{ HEAD "claim = 0,3-1\n" MODEL,
		  "t.conf:5: claim: want all, none or parts", 1 },
		{ HEAD "claim = 256\n" MODEL, "t.conf:5: claim: want all", 1 },
		{ HEAD "gateway_id = gw a\n" MODEL,
		  "t.conf:5: gateway_id: want letters", 1 },
		{ HEAD "pool_parts = 0\n" MODEL, "t.conf:5: pool_parts: want",
		  1 },
		{ HEAD "pool_parts = 200\n" MODEL,
		  "t.conf: pool_parts: 200 parts of", 1 },
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
	};

	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
