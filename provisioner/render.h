/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * Per-phone configuration files.  Real phones do not read option 159, so
 * their port range reaches them in the config file they fetch by TFTP:
 * Cisco SEP<MAC>.cnf.xml (startMediaPort/stopMediaPort/voipControlPort),
 * Polycom <mac>.cfg (tcpIpApp.port.rtp.mediaPortRangeStart,
 * voIpProt.local.port), Yealink <mac>.cfg (static.network.port.min_rtpport
 * / max_rtpport, sip.listen_port), or a generic key=value file.  Each
 * vendor's static-NAT keys carry the lease's public address (Cisco
 * natEnabled/natAddress, Polycom nat.ip/nat.signalPort/nat.mediaPortStart,
 * Yealink static.network.static_nat.*), so the phone announces the public
 * address in SIP and SDP; the ports stay its own, as the gateway keeps them.
 * Templates (provisioner/templates/) use {{name}} placeholders.
 */
#ifndef NAPPT_RENDER_H
#define NAPPT_RENDER_H

#include <stddef.h>
#include <stdint.h>

struct render_var {
	const char *name;
	const char *value;
};

/*
 * Fill the phone's variables: mac, file, private_ip, public_ip,
 * port_first, port_last, sip_port (the first port of the range), rtp_first
 * and rtp_last (the rest of the range, RTP starting on an even port),
 * image, tftp_server, sip_server.  storage holds the strings.
 */
#define RENDER_NVARS 12
struct render_storage {
	char mac[18], file[32], priv[16], pub[16], first[8], last[8], sip[8],
		rtp0[8], rtp1[8], tftp[16];
};
int render_phone_vars(struct render_var vars[RENDER_NVARS],
		      struct render_storage *st, const char *tmpl,
		      const uint8_t mac[6], uint32_t priv_be, uint32_t pub_be,
		      uint16_t first, uint16_t last, const char *image,
		      uint32_t tftp_be, const char *sip_server);

/* The file name a phone asks for: "SEP001B54AABB0C.cnf.xml" for cisco,
 * "001b54aabb0c.cfg" otherwise. */
int render_file_name(const char *tmpl, const uint8_t mac[6], char *out,
		     size_t n);

/* {{name}} substitution.  -EINVAL for an unknown or unterminated
 * placeholder, -ENOSPC if out is too small.  Returns the length. */
int render_text(const char *tmpl, const struct render_var *vars, size_t nvars,
		char *out, size_t cap);

/*
 * Write data to dir/name atomically: a temporary file in dir, renamed over
 * name, so a phone never reads half a file.  With durable, the file and
 * the directory are fsynced too; the provisioner skips that on its hot
 * path (four fsyncs per lease capped it at ~600 leases/s) because the
 * lease store is the truth and every live lease's files are rewritten at
 * start.
 */
int render_write_atomic(const char *dir, const char *name, const char *data,
			size_t len, int durable);

#endif /* NAPPT_RENDER_H */
