/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Binder spoken directly, for the transaction test and the benchmark: a
 * context manager that echoes what clients send, and the clients' side.
 */
#ifndef BINDER_UTIL_H
#define BINDER_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/android/binder.h>
#include <linux/android/binderfs.h>

/* Operations, in the low byte of a transaction's code. */
enum {
	OP_ECHO = 1,	/* reply: status word, then the payload */
	OP_REMAP,	/* replace the mapping with anonymous memory, then reply */
	OP_EXIT,	/* exit without replying */
	OP_HOLD,	/* tell the test, wait for its go, then reply */
	OP_COPY,	/* as OP_ECHO, unchecked: for the benchmark */
};

#define REPLY_OK	0x600dU
#define REPLY_BAD	0xbadU
#define FOREIGN		0x5a	/* the byte filling the receiver's new mapping */
#define SERVER_THREADS	3

static size_t psz;

static inline size_t map_size(void)
{
	size_t sz = 32 * psz;

	return sz > 4 << 20 ? 4 << 20 : sz;
}

static inline uint8_t pattern(uint32_t seed, size_t i)
{
	return (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

static inline void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(seed, i);
}

static inline int check(const uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern(seed, i))
			return -1;
	return 0;
}

/* The server's state: one process, SERVER_THREADS looper threads. */
static struct {
	int fd;
	uint8_t *map;
	int note_fd;	/* OP_HOLD: "held" goes out here ... */
	int go_fd;	/* ... and the go comes back here */
} srv;

static inline int write_read(int fd, void *wbuf, size_t wsize, void *rbuf,
			     size_t rsize, size_t *got)
{
	struct binder_write_read bwr = {
		.write_size = wsize,
		.write_buffer = (uintptr_t)wbuf,
		.read_size = rsize,
		.read_buffer = (uintptr_t)rbuf,
	};

	while (ioctl(fd, BINDER_WRITE_READ, &bwr) < 0) {
		if (errno != EINTR)
			return -errno;
		/* Resume where the interrupted call stopped. */
		bwr.write_size -= bwr.write_consumed;
		bwr.write_buffer += bwr.write_consumed;
		bwr.write_consumed = 0;
	}
	if (got)
		*got = bwr.read_consumed;
	return 0;
}

/* Appends a command and its argument to a write buffer (128 bytes hold two). */
static inline size_t put(uint8_t *buf, size_t off, uint32_t cmd,
			 const void *arg)
{
	memcpy(buf + off, &cmd, 4);
	memcpy(buf + off + 4, arg, _IOC_SIZE(cmd));
	return off + 4 + _IOC_SIZE(cmd);
}

/* Replies to one transaction and frees its buffer, in one write. */
static inline void serve_one(int fd, struct binder_transaction_data *tr)
{
	size_t n = tr->data_size;
	uint8_t *out = malloc(4 + n);
	struct binder_transaction_data reply = { .data_size = 4 };
	uint8_t w[128];
	size_t wsize;
	uint32_t op = tr->code & 0xff, seed = tr->code >> 8;
	uint32_t status = REPLY_OK;
	char c;

	switch (op) {
	case OP_ECHO:
	case OP_COPY:
		if (!out)
			status = REPLY_BAD;
		else if (op == OP_ECHO &&
			 check((uint8_t *)(uintptr_t)tr->data.ptr.buffer, n, seed))
			status = REPLY_BAD;
		else
			memcpy(out + 4, (void *)(uintptr_t)tr->data.ptr.buffer, n);
		if (status == REPLY_OK)
			reply.data_size = 4 + n;
		break;
	case OP_REMAP:
		if (mmap(srv.map, map_size(), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != srv.map)
			status = REPLY_BAD;
		else
			memset(srv.map, FOREIGN, map_size());
		break;
	case OP_EXIT:
		_exit(0);
	case OP_HOLD:
		if (write(srv.note_fd, "h", 1) != 1 || read(srv.go_fd, &c, 1) != 1)
			status = REPLY_BAD;
		break;
	default:
		status = REPLY_BAD;
	}
	if (!out)
		_exit(7);
	memcpy(out, &status, 4);
	reply.data.ptr.buffer = (uintptr_t)out;
	wsize = put(w, 0, BC_FREE_BUFFER, &tr->data.ptr.buffer);
	wsize = put(w, wsize, BC_REPLY, &reply);
	/* A reply to a client that died fails; the server goes on. */
	write_read(fd, w, wsize, NULL, 0, NULL);
	free(out);
}

static inline void *server_loop(void *arg)
{
	uint32_t enter = BC_ENTER_LOOPER;
	uint8_t rbuf[512];

	(void)arg;
	if (write_read(srv.fd, &enter, sizeof(enter), NULL, 0, NULL))
		_exit(3);
	for (;;) {
		size_t got = 0, off = 0;

		if (write_read(srv.fd, NULL, 0, rbuf, sizeof(rbuf), &got))
			_exit(4);
		while (off + 4 <= got) {
			uint32_t cmd;

			memcpy(&cmd, rbuf + off, 4);
			off += 4;
			if (cmd == BR_TRANSACTION) {
				struct binder_transaction_data tr;

				memcpy(&tr, rbuf + off, sizeof(tr));
				serve_one(srv.fd, &tr);
			}
			off += _IOC_SIZE(cmd);
		}
	}
	return NULL;
}

/*
 * The context manager: returns once it serves, or -1; *@map is the address
 * of its Binder mapping.
 */
static inline pid_t start_server(const char *dev, int note_fd, int go_fd,
				 void **map)
{
	int ready[2];
	pid_t pid;

	if (pipe(ready))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		pthread_t t;

		close(ready[0]);
		srv.note_fd = note_fd;
		srv.go_fd = go_fd;
		srv.fd = open(dev, O_RDWR | O_CLOEXEC);
		if (srv.fd < 0)
			_exit(1);
		srv.map = mmap(NULL, map_size(), PROT_READ, MAP_PRIVATE, srv.fd, 0);
		if (srv.map == MAP_FAILED ||
		    ioctl(srv.fd, BINDER_SET_CONTEXT_MGR, 0))
			_exit(2);
		for (int i = 1; i < SERVER_THREADS; i++)
			if (pthread_create(&t, NULL, server_loop, NULL))
				_exit(5);
		if (write(ready[1], &srv.map, sizeof(srv.map)) != sizeof(srv.map))
			_exit(6);
		server_loop(NULL);
	}
	close(ready[1]);
	if (read(ready[0], map, sizeof(*map)) != sizeof(*map)) {
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(ready[0]);
	return pid;
}

struct client {
	int fd;
	uint8_t *map;
};

static inline int client_open(const char *dev, struct client *c)
{
	c->fd = open(dev, O_RDWR | O_CLOEXEC);
	if (c->fd < 0)
		return -errno;
	c->map = mmap(NULL, map_size(), PROT_READ, MAP_PRIVATE, c->fd, 0);
	if (c->map == MAP_FAILED) {
		close(c->fd);
		return -errno;
	}
	return 0;
}

static inline void client_close(struct client *c)
{
	munmap(c->map, map_size());
	close(c->fd);
}

/*
 * Sends @n bytes of @data to the context manager with @code and waits for
 * the reply, which is copied to @reply (at most @cap bytes, length in
 * *@len) before its buffer is freed. Returns 0, the BR_* command that
 * failed the transaction, or a negative errno.
 */
static inline long transact(struct client *c, uint32_t code,
			    const void *data, size_t n, void *reply, size_t cap,
			    size_t *len)
{
	struct binder_transaction_data tr = {
		.target.handle = 0,
		.code = code,
		.data_size = n,
		.data.ptr.buffer = (uintptr_t)data,
	};
	uint8_t w[128], rbuf[256];
	size_t wsize = put(w, 0, BC_TRANSACTION, &tr);
	int ret;

	for (;;) {
		size_t got = 0, off = 0;

		ret = write_read(c->fd, w, wsize, rbuf, sizeof(rbuf), &got);
		if (ret)
			return ret;
		wsize = 0;
		while (off + 4 <= got) {
			uint32_t cmd;

			memcpy(&cmd, rbuf + off, 4);
			off += 4;
			switch (cmd) {
			case BR_REPLY:
				memcpy(&tr, rbuf + off, sizeof(tr));
				*len = tr.data_size;
				memcpy(reply, (void *)(uintptr_t)tr.data.ptr.buffer,
				       tr.data_size < cap ? tr.data_size : cap);
				wsize = put(w, 0, BC_FREE_BUFFER, &tr.data.ptr.buffer);
				return write_read(c->fd, w, wsize, NULL, 0, NULL);
			case BR_DEAD_REPLY:
			case BR_FAILED_REPLY:
			case BR_FROZEN_REPLY:
				return cmd;
			}
			off += _IOC_SIZE(cmd);
		}
	}
}

/* An echo of @n bytes with @seed: 0 if the reply is the payload. */
static inline long echo(struct client *c, size_t n, uint32_t seed)
{
	uint8_t *in = malloc(n + 1), *out = malloc(n + 4);
	size_t len = 0;
	uint32_t status;
	long ret = -ENOMEM;

	if (!in || !out)
		goto out;
	fill(in, n, seed);
	ret = transact(c, seed << 8 | OP_ECHO, in, n, out, n + 4, &len);
	if (ret)
		goto out;
	memcpy(&status, out, 4);
	if (status != REPLY_OK || len != n + 4 || check(out + 4, n, seed))
		ret = -EBADMSG;
out:
	free(in);
	free(out);
	return ret;
}

static inline long op(struct client *c, uint32_t op)
{
	uint8_t out[4];
	uint32_t status;
	size_t len = 0;
	long ret;

	ret = transact(c, op, NULL, 0, out, sizeof(out), &len);
	if (ret)
		return ret;
	memcpy(&status, out, 4);
	return len == 4 && status == REPLY_OK ? 0 : -EBADMSG;
}

/*
 * Mounts a new binderfs instance (in new mount and IPC namespaces) at a new
 * directory @mnt (32 bytes) and adds a device to it, whose path goes to @dev
 * (64 bytes). Returns 0 or -errno.
 */
static inline int binderfs_add_device(char *mnt, char *dev)
{
	struct binderfs_device device = { .name = "vmtest" };
	char ctl[64];
	int fd, ret;

	psz = sysconf(_SC_PAGESIZE);
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC) ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return -errno;
	snprintf(mnt, 32, "/tmp/binderfs_XXXXXX");
	if (!mkdtemp(mnt) || mount(NULL, mnt, "binder", 0, NULL))
		return -errno;
	snprintf(ctl, 64, "%s/binder-control", mnt);
	fd = open(ctl, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = ioctl(fd, BINDER_CTL_ADD, &device) ? -errno : 0;
	close(fd);
	snprintf(dev, 64, "%s/%s", mnt, device.name);
	return ret;
}

#endif /* BINDER_UTIL_H */
