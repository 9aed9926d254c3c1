// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* Per-phone config files: each vendor's template carries the phone's own
 * range in that vendor's keys; files are written atomically. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "render.h"

static const uint8_t MAC[6] = { 0x00, 0x1b, 0x54, 0xaa, 0xbb, 0x0c };

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[8192];
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void render(const char *tmpl, const char *file, char *out, size_t cap)
{
	struct render_var v[RENDER_NVARS];
	struct render_storage st;
	char path[256];
	uint32_t priv, pub, tftp;

	inet_pton(AF_INET, "100.64.0.10", &priv);
	inet_pton(AF_INET, "203.0.113.1", &pub);
	inet_pton(AF_INET, "100.64.0.1", &tftp);
	assert_int_equal(render_phone_vars(v, &st, tmpl, MAC, priv, pub, 2048,
					   3071, "P0030801SR02", tftp,
					   "198.51.100.7"),
			 0);
	snprintf(path, sizeof(path), "%s/provisioner/templates/%s", SRCDIR,
		 file);
	assert_true(render_text(slurp(path), v, RENDER_NVARS, out, cap) > 0);
}

static void test_cisco(void **state)
{
	char out[8192], name[64];

	render("cisco", "cisco.cnf.xml", out, sizeof(out));
	assert_non_null(strstr(out, "<startMediaPort>2050</startMediaPort>"));
	assert_non_null(strstr(out, "<stopMediaPort>3071</stopMediaPort>"));
	assert_non_null(strstr(out, "<voipControlPort>2048</voipControlPort>"));
	assert_non_null(strstr(out, "<loadInformation>P0030801SR02<"));
	assert_non_null(strstr(out, "SEP001B54AABB0C.cnf.xml"));
	assert_null(strstr(out, "{{"));
	assert_int_equal(render_file_name("cisco", MAC, name, sizeof(name)), 0);
	assert_string_equal(name, "SEP001B54AABB0C.cnf.xml");
}

static void test_polycom_yealink_generic(void **state)
{
	char out[8192], name[64];

	render("polycom", "polycom.cfg", out, sizeof(out));
	assert_non_null(
		strstr(out, "tcpIpApp.port.rtp.mediaPortRangeStart=\"2050\""));
	assert_non_null(strstr(out, "voIpProt.local.port=\"2048\""));
	render("yealink", "yealink.cfg", out, sizeof(out));
	assert_non_null(strstr(out, "static.network.port.min_rtpport = 2050"));
	assert_non_null(strstr(out, "static.network.port.max_rtpport = 3071"));
	assert_non_null(strstr(out, "sip.listen_port = 2048"));
	render("generic", "generic.cfg", out, sizeof(out));
	assert_non_null(strstr(out, "public_ip=203.0.113.1\n"));
	assert_non_null(strstr(out, "private_ip=100.64.0.10\n"));
	assert_int_equal(render_file_name("yealink", MAC, name, sizeof(name)),
			 0);
	assert_string_equal(name, "001b54aabb0c.cfg");
}

/*
 * Static NAT: a phone behind the gateway writes its private address into
 * SIP Via/Contact and SDP c= unless its config names the public one, and
 * then every call needs an ALG, STUN or a relay.  The gateway keeps the
 * port, so the public port is the phone's own: each NAT port key must
 * carry the lease's public address and a port inside the leased range
 * (2048-3071 here), and the private address must appear nowhere.
 */
static long value_after(const char *out, const char *key)
{
	const char *p = strstr(out, key);

	assert_non_null(p);
	p += strlen(key);
	while (*p == ' ' || *p == '=' || *p == '"' || *p == '>')
		p++;
	return strtol(p, NULL, 10);
}

static void test_cisco_static_nat(void **state)
{
	char out[8192];

	render("cisco", "cisco.cnf.xml", out, sizeof(out));
	assert_non_null(strstr(out, "<natEnabled>true</natEnabled>"));
	assert_non_null(strstr(out, "<natAddress>203.0.113.1</natAddress>"));
	assert_in_range(value_after(out, "<voipControlPort"), 2048, 3071);
	assert_in_range(value_after(out, "<startMediaPort"), 2048, 3071);
	assert_in_range(value_after(out, "<stopMediaPort"), 2048, 3071);
	assert_null(strstr(out, "100.64.0.10"));
}

static void test_polycom_static_nat(void **state)
{
	char out[8192];

	render("polycom", "polycom.cfg", out, sizeof(out));
	assert_non_null(strstr(out, "nat.ip=\"203.0.113.1\""));
	assert_int_equal(value_after(out, "nat.signalPort="), 2048);
	assert_int_equal(value_after(out, "nat.mediaPortStart="), 2050);
	assert_in_range(value_after(out, "voIpProt.local.port="), 2048, 3071);
	assert_in_range(value_after(out, "mediaPortRangeEnd="), 2048, 3071);
	assert_null(strstr(out, "100.64.0.10"));
}

static void test_yealink_static_nat(void **state)
{
	char out[8192];

	render("yealink", "yealink.cfg", out, sizeof(out));
	assert_non_null(strstr(out, "static.network.static_nat.enable = 1\n"));
	assert_non_null(
		strstr(out, "static.network.static_nat.addr = 203.0.113.1\n"));
	assert_int_equal(value_after(out, "account.1.sip_listen_port"), 2048);
	assert_in_range(value_after(out, "sip.listen_port"), 2048, 3071);
	assert_in_range(value_after(out, "min_rtpport"), 2048, 3071);
	assert_in_range(value_after(out, "max_rtpport"), 2048, 3071);
	assert_null(strstr(out, "100.64.0.10"));
}

static void test_text_errors(void **state)
{
	const struct render_var v[] = { { "a", "xyz" } };
	char out[8];

	assert_int_equal(render_text("[{{a}}]", v, 1, out, sizeof(out)), 5);
	assert_string_equal(out, "[xyz]");
	assert_int_equal(render_text("{{b}}", v, 1, out, sizeof(out)), -EINVAL);
	assert_int_equal(render_text("{{a", v, 1, out, sizeof(out)), -EINVAL);
	assert_int_equal(render_text("{{a}}{{a}}{{a}}", v, 1, out, sizeof(out)),
			 -ENOSPC);
	assert_int_equal(render_text("a { b } c", v, 1, out, sizeof(out)),
			 -ENOSPC);
}

static void test_atomic_write(void **state)
{
	char dir[] = "/tmp/render.XXXXXX", path[128];
	struct dirent *e;
	DIR *d;
	int n = 0;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(render_write_atomic(dir, "a.cfg", "one\n", 4, 1), 0);
	assert_int_equal(render_write_atomic(dir, "a.cfg", "two\n", 4, 0), 0);
	snprintf(path, sizeof(path), "%s/a.cfg", dir);
	assert_string_equal(slurp(path), "two\n");
	/* No temporary file left behind; no escape from the directory. */
	d = opendir(dir);
	while ((e = readdir(d)))
		if (e->d_name[0] != '.' || strlen(e->d_name) > 2)
			n++;
	closedir(d);
	assert_int_equal(n, 1);
	assert_int_equal(render_write_atomic(dir, "../x", "y", 1, 1), -EINVAL);
	assert_int_equal(render_write_atomic(dir, ".hidden", "y", 1, 1),
			 -EINVAL);
	assert_int_equal(render_write_atomic("/nonexistent-dir", "a.cfg", "y",
					     1, 1),
			 -ENOENT);
	unlink(path);
	rmdir(dir);
}

static void test_range_too_small(void **state)
{
	struct render_var v[RENDER_NVARS];
	struct render_storage st;

	assert_int_equal(render_phone_vars(v, &st, "cisco", MAC, 0, 0, 2048,
					   2049, NULL, 0, NULL),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cisco),
		cmocka_unit_test(test_polycom_yealink_generic),
		cmocka_unit_test(test_cisco_static_nat),
		cmocka_unit_test(test_polycom_static_nat),
		cmocka_unit_test(test_yealink_static_nat),
		cmocka_unit_test(test_text_errors),
		cmocka_unit_test(test_atomic_write),
		cmocka_unit_test(test_range_too_small),
	};

	return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
