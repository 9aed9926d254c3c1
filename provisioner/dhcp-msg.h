/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * DHCPv4 message codec (RFC 2131, RFC 2132, RFC 3396): the pure part of
 * the provisioner's protocol core.  Bytes in, a parsed message out, and a
 * reply builder; no sockets, no clock, so cmocka tests and the fuzzer
 * drive it directly.  Functions return 0 or a negative errno.
 */
#ifndef NAPPT_DHCP_MSG_H
#define NAPPT_DHCP_MSG_H

#include <stddef.h>
#include <stdint.h>

#define DHCP_FIXED_LEN 236 /* op .. file, RFC 2131 figure 1 */
#define DHCP_MIN_LEN (DHCP_FIXED_LEN + 4) /* + magic cookie */
#define DHCP_MAGIC 0x63825363
#define DHCP_MIN_REPLY 300 /* BOOTP clients expect at least this */
#define DHCP_MAX_REPLY 1500

enum {
	DHCP_BOOTREQUEST = 1,
	DHCP_BOOTREPLY = 2,
};

/* Option 53 values. */
enum {
	DHCPDISCOVER = 1,
	DHCPOFFER = 2,
	DHCPREQUEST = 3,
	DHCPDECLINE = 4,
	DHCPACK = 5,
	DHCPNAK = 6,
	DHCPRELEASE = 7,
	DHCPINFORM = 8,
};

/* Options this code knows by name. */
enum {
	OPT_PAD = 0,
	OPT_SUBNET_MASK = 1,
	OPT_ROUTER = 3,
	OPT_DNS = 6,
	OPT_HOSTNAME = 12,
	OPT_VENDOR_SPECIFIC = 43,
	OPT_REQUESTED_IP = 50,
	OPT_LEASE_TIME = 51,
	OPT_OVERLOAD = 52,
	OPT_MSG_TYPE = 53,
	OPT_SERVER_ID = 54,
	OPT_PARAM_LIST = 55,
	OPT_MESSAGE = 56,
	OPT_MAX_MSG_SIZE = 57,
	OPT_RENEWAL_TIME = 58,
	OPT_REBINDING_TIME = 59,
	OPT_VENDOR_CLASS = 60,
	OPT_CLIENT_ID = 61,
	OPT_TFTP_SERVER_NAME = 66,
	OPT_BOOTFILE = 67,
	OPT_RELAY_AGENT = 82,
	OPT_VIVSO = 125,
	OPT_TFTP_SERVER_ADDR = 150,
	OPT_PORTPARAMS = 159, /* RFC 7618 */
	OPT_END = 255,
};

/*
 * A parsed option: RFC 3396 says all instances of one code are one
 * option, concatenated in order (file and sname areas after the options
 * field when overloaded), so an option may be longer than 255 bytes.
 */
struct dhcp_opt {
	uint16_t len;
	uint8_t present;
	uint8_t *data; /* into dhcp_msg.optbuf */
};

struct dhcp_msg {
	uint8_t op, htype, hlen, hops;
	uint32_t xid; /* host order */
	uint16_t secs, flags; /* host order */
	uint32_t ciaddr, yiaddr, siaddr, giaddr; /* network order */
	uint8_t chaddr[16];
	char sname[65]; /* NUL-terminated copy when not overloaded */
	char file[129];
	uint8_t type; /* option 53, 0 if absent */
	struct dhcp_opt opt[256];
	uint8_t optbuf[1500]; /* concatenated option payloads */
	size_t optbuf_used;
};

#define DHCP_FLAG_BROADCAST 0x8000

/*
 * Parse a BOOTREQUEST or BOOTREPLY.  -EBADMSG: shorter than the fixed
 * part, no magic cookie, an option running past the end, a bad overload
 * value; -EMSGSIZE: more option bytes than optbuf holds.  Pad and end are
 * honoured; an overload option inside file/sname is ignored (no loops).
 */
int dhcp_parse(const uint8_t *buf, size_t len, struct dhcp_msg *m);

/* The option's bytes, or NULL with *len = 0. */
const uint8_t *dhcp_opt_get(const struct dhcp_msg *m, uint8_t code,
			    size_t *len);
/* A 4-byte address option, network order; 0 if absent or malformed. */
uint32_t dhcp_opt_addr(const struct dhcp_msg *m, uint8_t code);

/* Reply builder over a caller's buffer. */
struct dhcp_builder {
	uint8_t *buf;
	size_t cap; /* what the client accepts (option 57), <= DHCP_MAX_REPLY */
	size_t len; /* fixed part + cookie + options so far */
	int overflow;
};

/* Start a reply to req: op, htype, hlen, xid, flags, giaddr, chaddr
 * copied; yiaddr, siaddr as given (network order). */
void dhcp_reply_init(struct dhcp_builder *b, uint8_t *buf, size_t cap,
		     const struct dhcp_msg *req, uint8_t type, uint32_t yiaddr,
		     uint32_t siaddr);
/* Append an option, split into 255-byte instances if longer (RFC 3396). */
int dhcp_put_opt(struct dhcp_builder *b, uint8_t code, const void *data,
		 size_t len);
int dhcp_put_u32(struct dhcp_builder *b, uint8_t code, uint32_t host_val);
/* An option the server can send, for dhcp_put_requested(). */
struct dhcp_optval {
	uint8_t code;
	uint8_t always; /* sent even if not in the parameter request list */
	uint16_t len;
	const void *data;
};

/*
 * Append the available options the client asked for, in the order of its
 * parameter request list (RFC 2131 4.3.1: "in the order requested"), then
 * those marked always that it did not list.  An option that does not fit
 * in the client's maximum message size is left out, the rest still go.
 */
int dhcp_put_requested(struct dhcp_builder *b, const struct dhcp_msg *req,
		       const struct dhcp_optval *avail, size_t n);

/* End option and padding to DHCP_MIN_REPLY; returns the length or
 * -EMSGSIZE if anything did not fit. */
int dhcp_reply_finish(struct dhcp_builder *b);

/*
 * The size a reply may have: option 57 if present and sane (RFC 2132 9.10:
 * at least 576), else 576; never above DHCP_MAX_REPLY.
 */
size_t dhcp_reply_cap(const struct dhcp_msg *req);

/* Where a reply goes (RFC 2131 4.1). */
enum dhcp_dest {
	DEST_RELAY, /* to giaddr, server port 67 */
	DEST_CIADDR, /* unicast to ciaddr, port 68 */
	DEST_BROADCAST, /* 255.255.255.255:68 */
	DEST_UNICAST_HW, /* to yiaddr at chaddr (ARP entry first), port 68 */
};
enum dhcp_dest dhcp_reply_dest(const struct dhcp_msg *req, uint8_t reply_type);

#endif /* NAPPT_DHCP_MSG_H */
