// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>

#include "render.h"

int render_file_name(const char *tmpl, const uint8_t mac[6], char *out,
		     size_t n)
{
	int r;

	if (!strcmp(tmpl, "cisco"))
		r = snprintf(out, n, "SEP%02X%02X%02X%02X%02X%02X.cnf.xml",
			     mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	else
		r = snprintf(out, n, "%02x%02x%02x%02x%02x%02x.cfg", mac[0],
			     mac[1], mac[2], mac[3], mac[4], mac[5]);
	return r < 0 || (size_t)r >= n ? -ENOSPC : 0;
}

int render_phone_vars(struct render_var vars[RENDER_NVARS],
		      struct render_storage *st, const char *tmpl,
		      const uint8_t mac[6], uint32_t priv_be, uint32_t pub_be,
		      uint16_t first, uint16_t last, const char *image,
		      uint32_t tftp_be, const char *sip_server)
{
	uint16_t rtp0 = (uint16_t)((first + 2) & ~1U);
	int r;

	/* The first port signals (SIP); RTP takes the rest, from an even
	 * port as RFC 3550 recommends, RTCP on the odd one above. */
	if (last < first + 3)
		return -EINVAL;
	snprintf(st->mac, sizeof(st->mac), "%02x:%02x:%02x:%02x:%02x:%02x",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	r = render_file_name(tmpl, mac, st->file, sizeof(st->file));
	if (r)
		return r;
	inet_ntop(AF_INET, &priv_be, st->priv, sizeof(st->priv));
	inet_ntop(AF_INET, &pub_be, st->pub, sizeof(st->pub));
	inet_ntop(AF_INET, &tftp_be, st->tftp, sizeof(st->tftp));
	snprintf(st->first, sizeof(st->first), "%u", first);
	snprintf(st->last, sizeof(st->last), "%u", last);
	snprintf(st->sip, sizeof(st->sip), "%u", first);
	snprintf(st->rtp0, sizeof(st->rtp0), "%u", rtp0);
	snprintf(st->rtp1, sizeof(st->rtp1), "%u", last);
	vars[0] = (struct render_var){ "mac", st->mac };
	vars[1] = (struct render_var){ "file", st->file };
	vars[2] = (struct render_var){ "private_ip", st->priv };
	vars[3] = (struct render_var){ "public_ip", st->pub };
	vars[4] = (struct render_var){ "port_first", st->first };
	vars[5] = (struct render_var){ "port_last", st->last };
	vars[6] = (struct render_var){ "sip_port", st->sip };
	vars[7] = (struct render_var){ "rtp_first", st->rtp0 };
	vars[8] = (struct render_var){ "rtp_last", st->rtp1 };
	vars[9] = (struct render_var){ "image", image ? image : "" };
	vars[10] = (struct render_var){ "tftp_server", st->tftp };
	vars[11] = (struct render_var){ "sip_server",
					sip_server ? sip_server : "" };
	return 0;
}

int render_text(const char *tmpl, const struct render_var *vars, size_t nvars,
		char *out, size_t cap)
{
	size_t o = 0, i;
	const char *p = tmpl;

	while (*p) {
		const char *end, *val = NULL;
		size_t n;

		if (p[0] != '{' || p[1] != '{') {
			if (o + 1 >= cap)
				return -ENOSPC;
			out[o++] = *p++;
			continue;
		}
		end = strstr(p + 2, "}}");
		if (!end)
			return -EINVAL;
		n = (size_t)(end - (p + 2));
		for (i = 0; i < nvars; i++)
			if (strlen(vars[i].name) == n &&
			    !strncmp(vars[i].name, p + 2, n))
				val = vars[i].value;
		if (!val)
			return -EINVAL;
		n = strlen(val);
		if (o + n >= cap)
			return -ENOSPC;
		memcpy(out + o, val, n);
		o += n;
		p = end + 2;
	}
	if (o >= cap)
		return -ENOSPC;
	out[o] = '\0';
	return (int)o;
}

int render_write_atomic(const char *dir, const char *name, const char *data,
			size_t len, int durable)
{
	char tmp[512], dst[512];
	int fd = -1, dfd = -1, r = 0;
	size_t off = 0;

	if (strchr(name, '/') || name[0] == '.' ||
	    snprintf(dst, sizeof(dst), "%s/%s", dir, name) >=
		    (int)sizeof(dst) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name) >=
		    (int)sizeof(tmp))
		return -EINVAL;
	fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto fail;
		}
		off += (size_t)w;
	}
	/* Readable by the TFTP server, which runs as another user. */
	if (fchmod(fd, 0644) || (durable && fsync(fd))) {
		r = -errno;
		goto fail;
	}
	if (close(fd)) {
		fd = -1;
		r = -errno;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, dst)) {
		r = -errno;
		goto fail;
	}
	dfd = durable ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return r;
}
