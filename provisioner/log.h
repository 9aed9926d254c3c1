/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The provisioner's log: lines on stderr with a "<N>" syslog priority,
 * which journald turns into the entry's priority (sd-daemon(3)).
 *
 * Outside the serving loop each line is written at once.  Inside it,
 * lines collect in a buffer written once per wake-up (log_flush): one
 * write(2) for a batch of attribution lines, not one per line.  Logging
 * never blocks serving: stderr is written only as far as it takes bytes
 * without waiting (a socket with MSG_DONTWAIT, a pipe after poll); the
 * rest waits in the buffer and, when that is full, new lines are dropped
 * and counted (log_dropped).
 */
#ifndef NAPPT_PROV_LOG_H
#define NAPPT_PROV_LOG_H

#include <stddef.h>
#include <stdint.h>

#define LOG_ERR_ 3
#define LOG_WARN_ 4
#define LOG_NOTICE_ 5
#define LOG_INFO_ 6

void logp(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_flush(void);
/* Lines dropped because stderr would not take them without blocking. */
unsigned long log_dropped(void);
/* 1: collect lines until log_flush(); 0: write each line at once. */
void log_set_batched(int on);
/* Where lines go instead of stderr (tests); NULL restores stderr. */
void log_set_sink(void (*sink)(const char *line, size_t len, void *arg),
		  void *arg);

/*
 * A line assembled by hand, for the one line per lease event that a
 * boot storm writes tens of thousands of times a second (printf's
 * format interpretation was a tenth of the server's CPU).
 */
struct logline {
	char buf[512];
	size_t len;
};
void ll_start(struct logline *l, int prio);
void ll_str(struct logline *l, const char *s);
void ll_u64(struct logline *l, uint64_t v);
void ll_i64(struct logline *l, int64_t v);
void ll_ip4(struct logline *l, uint32_t be); /* dotted quad */
void ll_mac(struct logline *l, const uint8_t mac[6]); /* aa:bb:.. */
void ll_end(struct logline *l); /* appends the line to the log */

#endif /* NAPPT_PROV_LOG_H */
