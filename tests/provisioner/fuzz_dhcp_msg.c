// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* libFuzzer target: any bytes through the DHCP parser, and a parsed
 * message through the reply builder with what the client asked for. */
#include <stdint.h>
#include <string.h>

#include "dhcp-msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dhcp_msg m;
	uint8_t out[DHCP_MAX_REPLY];
	struct dhcp_builder b;
	const uint8_t *v;
	size_t l;

	if (dhcp_parse(data, size, &m))
		return 0;
	dhcp_reply_init(&b, out, dhcp_reply_cap(&m), &m, DHCPOFFER, 0, 0);
	v = dhcp_opt_get(&m, OPT_VENDOR_CLASS, &l);
	if (v)
		dhcp_put_opt(&b, OPT_VENDOR_CLASS, v, l);
	v = dhcp_opt_get(&m, OPT_RELAY_AGENT, &l);
	if (v)
		dhcp_put_opt(&b, OPT_RELAY_AGENT, v, l);
	dhcp_reply_finish(&b);
	(void)dhcp_reply_dest(&m, m.type);
	return 0;
}
