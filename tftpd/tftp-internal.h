/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The pure TFTP protocol core of nappt-tftpd.
 *
 * Nothing in here touches a socket, a clock or a path: request bytes go in,
 * reply bytes and a state change come out, so the cmocka tests and the
 * fuzzer drive it without a network.  File contents are read through a
 * pread-like callback so a test can hand in a memory buffer.
 *
 * Block numbers are kept as 64-bit counters internally and truncated to 16
 * bits only on the wire, which is how rollover past 65535 blocks works
 * (RFC 1350 has no rule; every common client wraps to 0, so we do too).
 */
#ifndef TFTP_INTERNAL_H
#define TFTP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum tftp_opcode {
	TFTP_RRQ = 1,
	TFTP_WRQ = 2,
	TFTP_DATA = 3,
	TFTP_ACK = 4,
	TFTP_ERROR = 5,
	TFTP_OACK = 6, /* RFC 2347 */
};

enum tftp_errcode {
	TFTP_EUNDEF = 0,
	TFTP_ENOTFOUND = 1,
	TFTP_EACCESS = 2,
	TFTP_ENOSPACE = 3,
	TFTP_EBADOP = 4,
	TFTP_EBADID = 5,
	TFTP_EEXISTS = 6,
	TFTP_ENOUSER = 7,
	TFTP_EOPTNEG = 8, /* RFC 2347 */
};

enum tftp_mode {
	TFTP_MODE_OCTET,
	TFTP_MODE_NETASCII,
};

#define TFTP_SEGSIZE 512 /* RFC 1350 block size without options */
#define TFTP_BLKSIZE_MIN 8 /* RFC 2348 */
#define TFTP_BLKSIZE_MAX 65464 /* RFC 2348: 65535 - 20 (IP) - 8 (UDP) - 4 */
#define TFTP_TIMEOUT_MIN 1 /* RFC 2349, seconds */
#define TFTP_TIMEOUT_MAX 255
#define TFTP_WINDOW_MAX_RFC 65535 /* RFC 7440 */
/* Our own cap on windowsize: it bounds the per-transfer state (netascii
 * checkpoints) and the size of one burst.  Tests may shrink it. */
#ifndef TFTP_WINDOW_MAX
#define TFTP_WINDOW_MAX 64
#endif
#define TFTP_FILENAME_MAX 255
#define TFTP_REQ_MAX 1024 /* longest request we parse (RFC 2347: 512) */
#define TFTP_HDR 4 /* opcode + block number */

/* Option bits, requested (tftp_request.opts) and accepted (tftp_params). */
enum {
	TFTP_OPT_BLKSIZE = 1 << 0,
	TFTP_OPT_TSIZE = 1 << 1,
	TFTP_OPT_TIMEOUT = 1 << 2,
	TFTP_OPT_WINDOWSIZE = 1 << 3,
};

struct tftp_request {
	uint16_t opcode; /* TFTP_RRQ or TFTP_WRQ */
	enum tftp_mode mode;
	char filename[TFTP_FILENAME_MAX + 1];
	unsigned int opts; /* TFTP_OPT_* that were present and well-formed */
	uint32_t blksize; /* valid when TFTP_OPT_BLKSIZE */
	uint64_t tsize; /* valid when TFTP_OPT_TSIZE */
	uint32_t timeout; /* seconds, valid when TFTP_OPT_TIMEOUT */
	uint32_t windowsize; /* valid when TFTP_OPT_WINDOWSIZE */
};

/* Server-side limits applied during negotiation. */
struct tftp_limits {
	uint32_t max_blksize; /* <= TFTP_BLKSIZE_MAX */
	uint32_t max_windowsize; /* <= TFTP_WINDOW_MAX */
};

/* The outcome of negotiation: what the transfer runs with. */
struct tftp_params {
	enum tftp_mode mode;
	unsigned int opts; /* options acknowledged in the OACK; 0: no OACK */
	uint16_t blksize;
	uint16_t windowsize;
	uint32_t timeout; /* seconds; 0: server default */
	uint64_t tsize; /* file size reported in the OACK */
};

/*
 * Parse an RRQ/WRQ.  Returns 0, or -EINVAL (malformed: reply
 * TFTP_EBADOP), -EPROTO (not a request opcode), -ENAMETOOLONG.  The
 * filename is only syntactically checked here; see tftp_filename_check().
 * Unknown options and options with values out of range are ignored, as RFC
 * 2347 allows; a repeated option keeps its first value.
 */
int tftp_parse_request(const uint8_t *buf, size_t len,
		       struct tftp_request *req);

/*
 * Canonicalise a requested name in place before any check: leading '/'
 * are dropped, since phones ask for "/SEP<mac>.cnf.xml" and tftpd-hpa and
 * OpenBSD tftpd serve that relative to the root.  The gate looks at the
 * canonical name only, so "/x" and "x" cannot be gated differently.
 */
void tftp_filename_canon(char *name);

/*
 * Reject names that could leave the root or reach hidden files before the
 * kernel's RESOLVE_BENEATH even sees them: empty, absolute, any ".."
 * component, any component starting with '.', backslashes, control
 * characters.  Returns 0 or -EACCES.
 */
int tftp_filename_check(const char *name);

/*
 * Negotiate (RFC 2347): accept what the client asked for within lim.
 * file_size is the byte size of the file (tsize is only answered in octet
 * mode, where it is exact).  Fills p.  Never fails.
 */
void tftp_negotiate(const struct tftp_request *req,
		    const struct tftp_limits *lim, uint64_t file_size,
		    struct tftp_params *p);

/*
 * Which datagrams on the listening port are answered at all (RFC 1350
 * section 7; CVE-2024-2169, "Loop DoS"): only a request (RRQ, WRQ) gets a
 * reply; an ERROR, DATA, ACK, OACK or unknown opcode is dropped in
 * silence, or one forged packet between two servers bounces forever.
 * Transfer sockets are connect()ed, so a foreign TID never reaches them
 * (the kernel answers with ICMP), and an ERROR from the peer ends the
 * transfer without a reply.
 */
bool tftp_listen_answers(const uint8_t *buf, size_t len);

/* A token bucket for the error replies: at most rate per second after a
 * burst of burst.  Returns true when a reply may go. */
struct tftp_bucket {
	uint64_t last_ms;
	uint64_t tokens_milli; /* thousandths of a token */
};

bool tftp_bucket_take(struct tftp_bucket *b, uint64_t now_ms, unsigned int rate,
		      unsigned int burst);

/*
 * Escape a client-supplied string for a log line: printable ASCII except
 * '\\' is copied, everything else becomes \xHH, so a name holding "\n<0>"
 * cannot forge a journal line or its priority.  Always NUL-terminates.
 */
void tftp_log_escape(const char *in, size_t inlen, char *out, size_t cap);

/* SipHash-2-4: the peer hashes are keyed with a secret from getrandom()
 * so spoofed sources cannot be chosen to share one bucket. */
uint64_t tftp_siphash(const uint8_t key[16], const void *data, size_t len);

/* Packet builders: return the length written or -ENOBUFS. */
ssize_t tftp_build_oack(const struct tftp_params *p, uint8_t *buf, size_t cap);
ssize_t tftp_build_error(uint16_t code, const char *msg, uint8_t *buf,
			 size_t cap);

/*
 * Netascii encoding (RFC 764 via RFC 1350): LF -> CR LF, CR -> CR NUL.
 * Encodes from src into dst until one of them is exhausted.  *pending is
 * -1 or the second byte of a pair that did not fit in the previous dst;
 * it is emitted first.  Returns the bytes written; *used gets the source
 * bytes consumed.
 */
size_t tftp_netascii_encode(const uint8_t *src, size_t slen, size_t *used,
			    uint8_t *dst, size_t dcap, int *pending);

/* Read up to len bytes at off; returns bytes read (0 at EOF) or -errno. */
typedef ssize_t (*tftp_read_fn)(void *ctx, void *buf, size_t len, uint64_t off);

/* Where the netascii encoder stood at the start of a block. */
struct tftp_nacp {
	uint64_t off;
	int pending;
};

/*
 * The sending side of one read transfer (RFC 1350 lock-step, RFC 7440
 * windows).  Block 0 stands for the OACK.  una is the oldest block not yet
 * acknowledged, next the next block to put on the wire; blocks
 * [una, next) are in flight.  After a timeout rewinds next, an ACK may
 * still name a block up to hi - 1 from the earlier round: it counts.
 */
struct tftp_xfer {
	struct tftp_params p;
	uint64_t size; /* source bytes (octet: what we send) */
	uint64_t una;
	uint64_t next;
	uint64_t hi; /* one past the highest block ever built */
	uint64_t last; /* number of the final (short) block; 0: not known */
	uint64_t progress_ms; /* when the window last moved (or the start) */
	unsigned int retries;
	bool done;
	/* netascii only: encoder state at the start of block una + i */
	struct tftp_nacp cp[TFTP_WINDOW_MAX + 1];
};

enum tftp_ack_result {
	TFTP_ACK_IGNORED, /* duplicate, stale or from the future */
	TFTP_ACK_ADVANCED, /* window moved: send tftp_xfer_burst() blocks */
	TFTP_ACK_DONE, /* final block acknowledged */
};

void tftp_xfer_init(struct tftp_xfer *x, const struct tftp_params *p,
		    uint64_t size, uint64_t now_ms);

/* Handle an ACK carrying the 16-bit block number blk.  A duplicate ACK
 * never triggers a resend (Sorcerer's Apprentice, RFC 1123 4.2.3.1): only
 * the retransmission timer does. */
enum tftp_ack_result tftp_xfer_on_ack(struct tftp_xfer *x, uint16_t blk,
				      uint64_t now_ms);

/* Retransmission timer fired: rewind next to una.  Returns 0, or
 * -ETIMEDOUT once max_retries consecutive timeouts have passed. */
int tftp_xfer_on_timeout(struct tftp_xfer *x, unsigned int max_retries);

/*
 * How long a transfer may hold a slot.  A client's timeout option (up to
 * 255 s, RFC 2349) backed off over the retries would hold one for hours,
 * so the give-up time is bounded by max_stall_ms after the last progress
 * whatever was negotiated.  Before the client has acknowledged anything
 * it has not proved it owns its source address (the RRQ may be spoofed):
 * the first block goes at most 1 + unproven_retries times, which bounds
 * the reflection a forged RRQ buys.
 */
struct tftp_timing {
	unsigned int rto_ms; /* when the client negotiated no timeout */
	unsigned int max_retries;
	unsigned int unproven_retries;
	unsigned int max_stall_ms;
};

/* True once the client acknowledged the OACK or a DATA block. */
bool tftp_xfer_proven(const struct tftp_xfer *x);

/* When the retransmission timer should fire next (absolute ms). */
uint64_t tftp_xfer_deadline(const struct tftp_xfer *x,
			    const struct tftp_timing *tm, uint64_t now_ms);

/* The timer fired at now_ms: rewind, or -ETIMEDOUT (give the slot up). */
int tftp_xfer_expire(struct tftp_xfer *x, const struct tftp_timing *tm,
		     uint64_t now_ms);

/* How many blocks may go on the wire now, starting at x->next. */
unsigned int tftp_xfer_burst(const struct tftp_xfer *x);

/*
 * Build the DATA packet of block x->next into buf (cap >= blksize + 4)
 * and advance x->next.  Returns the packet length or -errno from rd.
 */
ssize_t tftp_xfer_build_data(struct tftp_xfer *x, tftp_read_fn rd, void *ctx,
			     uint8_t *buf, size_t cap);

/* Read iovcnt buffers at off in one call (preadv); bytes or -errno. */
struct iovec;
typedef ssize_t (*tftp_readv_fn)(void *ctx, const struct iovec *iov, int iovcnt,
				 uint64_t off);

struct tftp_source {
	tftp_read_fn read;
	tftp_readv_fn readv; /* optional: octet windows in one call */
	void *ctx;
};

/*
 * The sender: build every packet the window allows now, back to back in
 * buf, and return how many (lens[i] gets each length) or -errno from the
 * file.  The window is re-evaluated after every block, so a short block
 * (netascii end, a file that shrank) ends the burst: no DATA past EOF.
 * In octet mode with src->readv the whole burst is one read.
 */
int tftp_xfer_fill(struct tftp_xfer *x, const struct tftp_source *src,
		   uint8_t *buf, size_t cap, uint16_t *lens, unsigned int max);

#endif /* TFTP_INTERNAL_H */
