// SPDX-License-Identifier: GPL-2.0
/*
 * Binder transactions spoken directly (BINDER_WRITE_READ): a context
 * manager echoes what clients send, for payloads from one byte to several
 * pages and from many senders at once, and the cases where Binder's mapping
 * of the receiver's buffer meets the mm: the receiver replaces its mapping
 * mid-stream, the shrinker reclaims buffer pages while transactions run, a
 * process with a mapping forks, and either side exits mid-transaction.
 *
 * Each test mounts a fresh binderfs instance (new mount and IPC namespaces)
 * and adds one device to it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
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

#include "../kselftest_harness.h"

/* Operations, in the low byte of a transaction's code. */
enum {
	OP_ECHO = 1,	/* reply: status word, then the payload */
	OP_REMAP,	/* replace the mapping with anonymous memory, then reply */
	OP_EXIT,	/* exit without replying */
	OP_HOLD,	/* tell the test, wait for its go, then reply */
};

#define REPLY_OK	0x600dU
#define REPLY_BAD	0xbadU
#define FOREIGN		0x5a	/* the byte filling the receiver's new mapping */
#define SERVER_THREADS	3

static size_t psz;

static size_t map_size(void)
{
	size_t sz = 32 * psz;

	return sz > 4 << 20 ? 4 << 20 : sz;
}

static uint8_t pattern(uint32_t seed, size_t i)
{
	return (uint8_t)(seed * 131 + i * 7 + (i >> 8));
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(seed, i);
}

static int check(const uint8_t *p, size_t n, uint32_t seed)
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

static int write_read(int fd, void *wbuf, size_t wsize, void *rbuf,
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
static size_t put(uint8_t *buf, size_t off, uint32_t cmd, const void *arg)
{
	memcpy(buf + off, &cmd, 4);
	memcpy(buf + off + 4, arg, _IOC_SIZE(cmd));
	return off + 4 + _IOC_SIZE(cmd);
}

/* Replies to one transaction and frees its buffer, in one write. */
static void serve_one(int fd, struct binder_transaction_data *tr)
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
		if (!out ||
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

static void *server_loop(void *arg)
{
	uint32_t enter = BC_ENTER_LOOPER;
	uint8_t rbuf[512];

	(void)arg;
	if (write_read(srv.fd, &enter, sizeof(enter), NULL, 0, NULL))
		_exit(3);
	for (;;) {
		size_t got, off = 0;

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
static pid_t start_server(const char *dev, int note_fd, int go_fd, void **map)
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

static int client_open(const char *dev, struct client *c)
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

static void client_close(struct client *c)
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
static long transact(struct client *c, uint32_t code, const void *data,
		     size_t n, void *reply, size_t cap, size_t *len)
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
		size_t got, off = 0;

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
static long echo(struct client *c, size_t n, uint32_t seed)
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

static long op(struct client *c, uint32_t op)
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

/* Pages of @c's mapping that have a page table entry. */
static size_t resident(uint8_t *map)
{
	unsigned char vec[4096];
	size_t n = map_size() / psz, r = 0;

	if (mincore(map, map_size(), vec))
		return (size_t)-1;
	for (size_t i = 0; i < n; i++)
		r += vec[i] & 1;
	return r;
}

static int shrink_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	int ret = 0;

	if (fd < 0)
		return -errno;
	if (write(fd, "2", 1) != 1)
		ret = -errno;
	close(fd);
	return ret;
}

FIXTURE(binder) {
	char mnt[32];
	char dev[64];
	pid_t server;
	void *server_map;
	int note[2], go[2];
};

FIXTURE_SETUP(binder)
{
	struct binderfs_device device = { .name = "vmtest" };
	char ctl[64];
	int fd;

	psz = sysconf(_SC_PAGESIZE);
	ASSERT_EQ(0, unshare(CLONE_NEWNS | CLONE_NEWIPC));
	ASSERT_EQ(0, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL));
	strcpy(self->mnt, "/tmp/binderfs_XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->mnt));
	ASSERT_EQ(0, mount(NULL, self->mnt, "binder", 0, NULL))
		TH_LOG("mount binderfs: %s", strerror(errno));
	snprintf(ctl, sizeof(ctl), "%s/binder-control", self->mnt);
	fd = open(ctl, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ioctl(fd, BINDER_CTL_ADD, &device));
	close(fd);
	snprintf(self->dev, sizeof(self->dev), "%s/%s", self->mnt, device.name);
	ASSERT_EQ(0, pipe(self->note));
	ASSERT_EQ(0, pipe(self->go));
	self->server = start_server(self->dev, self->note[1], self->go[0],
				    &self->server_map);
	ASSERT_LT(0, self->server);
}

FIXTURE_TEARDOWN(binder)
{
	if (self->server > 0) {
		kill(self->server, SIGKILL);
		waitpid(self->server, NULL, 0);
	}
	umount2(self->mnt, MNT_DETACH);
	rmdir(self->mnt);
}

TEST_F(binder, payload_sizes)
{
	const size_t sizes[] = { 1, 7, 64, psz - 1, psz, psz + 1,
				 3 * psz + 17, 8 * psz };
	struct client c;

	ASSERT_EQ(0, client_open(self->dev, &c));
	for (size_t i = 0; i < ARRAY_SIZE(sizes); i++) {
		EXPECT_EQ(0, echo(&c, sizes[i], i + 1))
			TH_LOG("%zu bytes", sizes[i]);
	}
	/* An empty transaction is a transaction too. */
	EXPECT_EQ(0, echo(&c, 0, 99));
	client_close(&c);
}

#define SENDERS		4
#define SENDER_THREADS	2
#define ROUNDS		40

static void *sender(void *arg)
{
	struct client *c = arg;
	uint32_t seed = (uint32_t)getpid() << 4 | (uint32_t)(uintptr_t)pthread_self() % 16;

	for (int i = 0; i < ROUNDS; i++)
		if (echo(c, 1 + (seed * 977 + i * 389) % (2 * psz), seed + i))
			return (void *)1;
	return NULL;
}

TEST_F_TIMEOUT(binder, concurrent_senders, 240)
{
	pid_t pids[SENDERS];

	for (int p = 0; p < SENDERS; p++) {
		pids[p] = fork();
		ASSERT_LE(0, pids[p]);
		if (pids[p] == 0) {
			pthread_t t[SENDER_THREADS];
			struct client c;
			void *res;
			int bad = 0;

			if (client_open(self->dev, &c))
				_exit(2);
			for (int i = 0; i < SENDER_THREADS; i++)
				if (pthread_create(&t[i], NULL, sender, &c))
					_exit(3);
			for (int i = 0; i < SENDER_THREADS; i++)
				bad |= pthread_join(t[i], &res) || res;
			_exit(bad);
		}
	}
	for (int p = 0; p < SENDERS; p++) {
		int status;

		ASSERT_EQ(pids[p], waitpid(pids[p], &status, 0));
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
			TH_LOG("sender %d: status %#x", p, status);
	}
}

/*
 * 0 if @pid's mapping at @map is anonymous and every byte of it is FOREIGN.
 */
static int check_foreign(pid_t pid, void *map)
{
	char path[64], line[256];
	unsigned long lo, hi;
	int mem, ret = -1;
	uint8_t *buf;
	FILE *maps;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "r");
	if (!maps)
		return -1;
	while (fgets(line, sizeof(line), maps))
		if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 &&
		    lo <= (uintptr_t)map && (uintptr_t)map < hi) {
			/* Anonymous (maybe merged with a neighbour). */
			if ((uintptr_t)map + map_size() <= hi &&
			    !strchr(line, '/') && !strstr(line, "binder"))
				ret = 0;
			break;
		}
	fclose(maps);
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDONLY);
	buf = malloc(map_size());
	if (mem < 0 || !buf ||
	    pread(mem, buf, map_size(), (uintptr_t)map) != (ssize_t)map_size())
		ret = -1;
	for (size_t i = 0; ret == 0 && i < map_size(); i++)
		if (buf[i] != FOREIGN)
			ret = -1;
	free(buf);
	if (mem >= 0)
		close(mem);
	return ret;
}

/*
 * The receiver replaces its Binder mapping with anonymous memory at the same
 * address mid-stream. A transaction that needs a page Binder has not
 * inserted yet fails with BR_FAILED_REPLY, and no page of Binder's reaches
 * the anonymous mapping.
 */
TEST_F_TIMEOUT(binder, receiver_remaps, 120)
{
	struct client c;

	ASSERT_EQ(0, client_open(self->dev, &c));
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(0, echo(&c, 100 + i * 50, i));
	ASSERT_EQ(0, op(&c, OP_REMAP));
	/* Larger than any buffer so far: it needs pages never inserted. */
	EXPECT_EQ(BR_FAILED_REPLY, echo(&c, 16 * psz, 7));
	client_close(&c);

	/* The server's new anonymous memory is untouched. */
	kill(self->server, SIGSTOP);
	EXPECT_EQ(0, check_foreign(self->server, self->server_map));
	kill(self->server, SIGCONT);
}

/* drop_caches runs Binder's shrinker while transactions go on. */
TEST_F_TIMEOUT(binder, shrinker_reclaim, 240)
{
	struct client c;
	size_t before, after;
	pid_t dropper;
	int status;

	ASSERT_EQ(0, client_open(self->dev, &c));
	ASSERT_EQ(0, echo(&c, 4 * psz, 1));
	/* The reply's pages stay mapped after its buffer is freed ... */
	before = resident(c.map);
	ASSERT_LE(4, before);
	/* ... until the shrinker takes them. */
	ASSERT_EQ(0, shrink_caches());
	after = resident(c.map);
	EXPECT_GT(before, after)
		TH_LOG("%zu pages mapped before drop_caches, %zu after", before, after);

	dropper = fork();
	ASSERT_LE(0, dropper);
	if (dropper == 0) {
		for (;;)
			if (shrink_caches())
				_exit(1);
	}
	for (int i = 0; i < 60; i++)
		EXPECT_EQ(0, echo(&c, 1 + (i * 1237) % (4 * psz), i));
	kill(dropper, SIGKILL);
	ASSERT_EQ(dropper, waitpid(dropper, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status));
	client_close(&c);
}

/* A Binder mapping is VM_DONTCOPY: a child has none, and cannot make one. */
TEST_F(binder, fork_with_mapping)
{
	struct client c;
	unsigned char v;
	pid_t pid;
	int status;

	ASSERT_EQ(0, client_open(self->dev, &c));
	ASSERT_EQ(0, echo(&c, 2 * psz, 1));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		/* Not mapped in the child. */
		if (mincore(c.map, psz, &v) == 0 || errno != ENOMEM)
			_exit(1);
		/* Binder only maps for the process that opened it. */
		if (mmap(NULL, map_size(), PROT_READ, MAP_PRIVATE, c.fd, 0) !=
		    MAP_FAILED || errno != EINVAL)
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("child status %#x", status);
	/* The parent's mapping works on after the child's exit. */
	for (int i = 0; i < 4; i++)
		EXPECT_EQ(0, echo(&c, (i + 1) * psz + i, i));
	client_close(&c);
}

/* The receiver exits instead of replying: the sender gets BR_DEAD_REPLY. */
TEST_F(binder, receiver_exits)
{
	struct client c;
	int status;

	ASSERT_EQ(0, client_open(self->dev, &c));
	ASSERT_EQ(0, echo(&c, psz, 1));
	EXPECT_EQ(BR_DEAD_REPLY, op(&c, OP_EXIT));
	ASSERT_EQ(self->server, waitpid(self->server, &status, 0));
	self->server = 0;
	/* The context manager is gone. */
	EXPECT_EQ(BR_DEAD_REPLY, echo(&c, 16, 2));
	client_close(&c);
}

/* The sender is killed while the receiver holds its transaction. */
TEST_F(binder, sender_exits)
{
	struct client c;
	pid_t pid;
	char h;

	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (client_open(self->dev, &c))
			_exit(1);
		echo(&c, 3 * psz, 1);
		op(&c, OP_HOLD);
		_exit(2);
	}
	ASSERT_EQ(1, read(self->note[0], &h, 1));
	kill(pid, SIGKILL);
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	/* The reply goes to a dead sender; the receiver serves on. */
	ASSERT_EQ(1, write(self->go[1], "g", 1));
	ASSERT_EQ(0, client_open(self->dev, &c));
	for (int i = 0; i < 4; i++)
		EXPECT_EQ(0, echo(&c, (i + 1) * psz, i));
	client_close(&c);
}

TEST_HARNESS_MAIN
