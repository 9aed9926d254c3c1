// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * sync_fault.so: LD_PRELOAD into nappt-provisioner to make the disk slow
 * or failing where the ACK ordering depends on it (test-durable.sh).
 *
 * NAPPT_FAULT_SYNC=delay:MS  every fdatasync() off the main thread (the
 *                            sync thread's and the checkpointer's) takes
 *                            MS longer; an ACK must arrive no earlier.
 * NAPPT_FAULT_SYNC=eio       those fail with EIO after the write-back, as
 *                            a dying disk does; no ACK may ever leave.
 * The main thread's syncs (SQLite's at start) are left alone, so the
 * daemon starts as usual.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int fdatasync(int fd)
{
	static int (*real)(int);
	const char *m = getenv("NAPPT_FAULT_SYNC");
	int r;

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	if (!m || syscall(SYS_gettid) == getpid())
		return real(fd);
	if (!strncmp(m, "delay:", 6)) {
		long ms = atol(m + 6);
		struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
		return real(fd);
	}
	if (!strcmp(m, "eio")) {
		r = real(fd);
		errno = EIO;
		return r ? r : -1;
	}
	return real(fd);
}
