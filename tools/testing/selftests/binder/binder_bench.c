// SPDX-License-Identifier: GPL-2.0
/*
 * Binder's cost where it meets the mm, for comparing two kernels (make
 * bench runs it on 7.3 with and without the conversion to the series' VMA
 * operations):
 *
 *  rtt     round trips of a 64-byte echo on one client, whose buffer pages
 *          are present: the transaction path without page insertion;
 *  insert  a fresh client (open, mmap) receiving a reply of INSERT_PAGES
 *          pages more than a fresh client receiving a one-page reply, each
 *          inserted by use_page_slow() under the client's VMA lock, then
 *          closed: the difference per inserted page.
 *
 * Prints one line per repetition and case, "binder <case> <rep> <value>
 * <unit>", then "binder <case> median <value> <unit>".
 */
#define _GNU_SOURCE
#include <time.h>

#include "binder_util.h"

#define RTT_ROUNDS	2000
#define INSERT_ROUNDS	100
#define INSERT_PAGES	8

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint8_t *in, *out;

/* Sends @n bytes, gets them back; no byte is checked (binder_test does). */
static int copy(struct client *c, size_t n)
{
	uint32_t status;
	size_t len = 0;

	if (transact(c, OP_COPY, in, n, out, n + 4, &len))
		return -1;
	memcpy(&status, out, 4);
	return status == REPLY_OK && len == n + 4 ? 0 : -1;
}

/* Round trips per second. */
static double rtt(const char *dev)
{
	struct client c;
	double t;

	if (client_open(dev, &c))
		return -1;
	/* Maps the buffer's pages once. */
	if (copy(&c, 64))
		return -1;
	t = now();
	for (int i = 0; i < RTT_ROUNDS; i++)
		if (copy(&c, 64))
			return -1;
	t = now() - t;
	client_close(&c);
	return RTT_ROUNDS / t;
}

/* Seconds per fresh client receiving an echo of @n bytes. */
static double fresh(const char *dev, size_t n)
{
	double t = now();

	for (int i = 0; i < INSERT_ROUNDS; i++) {
		struct client c;

		if (client_open(dev, &c) || copy(&c, n))
			return -1;
		client_close(&c);
	}
	return (now() - t) / INSERT_ROUNDS;
}

/* Nanoseconds per page inserted into a fresh client's mapping. */
static double insert(const char *dev)
{
	/* With its status word, the reply takes INSERT_PAGES + 1 pages, or 1. */
	double one = fresh(dev, 1), more = fresh(dev, INSERT_PAGES * psz);

	if (one < 0 || more < 0)
		return -1;
	return (more - one) * 1e9 / INSERT_PAGES;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	int reps = argc > 1 ? atoi(argv[1]) : 10;
	double r[64], p[64];
	char mnt[32], dev[64];
	int note[2], go[2];
	void *map;
	pid_t server;

	if (reps < 1 || reps > 64 || binderfs_add_device(mnt, dev) ||
	    pipe(note) || pipe(go)) {
		fprintf(stderr, "binder_bench: setup: %s\n", strerror(errno));
		return 1;
	}
	in = calloc(1, INSERT_PAGES * psz);
	out = malloc(INSERT_PAGES * psz + 4);
	if (!in || !out)
		return 1;
	server = start_server(dev, note[1], go[0], &map);
	if (server < 0)
		return 1;
	for (int i = 0; i < reps; i++) {
		r[i] = rtt(dev);
		p[i] = insert(dev);
		if (r[i] < 0 || p[i] < 0) {
			fprintf(stderr, "binder_bench: a transaction failed\n");
			return 1;
		}
		printf("binder rtt %d %.0f round-trips/s\n", i, r[i]);
		printf("binder insert %d %.0f ns/page\n", i, p[i]);
	}
	qsort(r, reps, sizeof(r[0]), cmp);
	qsort(p, reps, sizeof(p[0]), cmp);
	printf("binder rtt median %.0f round-trips/s\n", r[reps / 2]);
	printf("binder insert median %.0f ns/page\n", p[reps / 2]);
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
	return 0;
}
