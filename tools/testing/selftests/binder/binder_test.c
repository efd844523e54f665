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
#include "binder_util.h"
#include "../kselftest_harness.h"

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
	ASSERT_EQ(0, binderfs_add_device(self->mnt, self->dev))
		TH_LOG("binderfs: %s", strerror(errno));
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
