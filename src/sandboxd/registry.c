/*
 * The sandboxes' list, their ids and access tokens, and the snapshot
 * files they share (priv.h). Every call here runs with the server's lock
 * held, except sbx_random_str, sbx_now_ms, sbx_snap_put and sbx_new_dir.
 */
#include "sandboxd/priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

static const char id_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

int64_t sbx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool sbx_stopping(struct sbx *s)
{
	bool stopping;

	pthread_mutex_lock(&s->lock);
	stopping = s->stopping;
	pthread_mutex_unlock(&s->lock);
	return stopping;
}

int sbx_random_str(char *out, size_t n, const char *alphabet)
{
	size_t k = strlen(alphabet);
	unsigned char rnd[64];

	if (n > sizeof(rnd) || !k || k > 256)
		return -EINVAL;
	if (getrandom(rnd, n, 0) != (ssize_t)n)
		return -EIO;
	for (size_t i = 0; i < n; i++) {
		/* Rejection sampling would be exact; 36 of 256 leaves a bias of under 3%, not a key. */
		out[i] = alphabet[rnd[i] % k];
	}
	out[n] = '\0';
	return 0;
}

/* 20 random bytes as 40 hex digits: an envd access token. */
static int random_token(char *out)
{
	unsigned char rnd[SBX_TOKEN_LEN / 2];

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return -EIO;
	for (size_t i = 0; i < sizeof(rnd); i++)
		sprintf(out + 2 * i, "%02x", rnd[i]);
	return 0;
}

int sbx_box_add(struct sbx *s, struct sbx_tpl *tpl, struct sbx_box **out)
{
	struct sbx_box *b;
	int ret;

	if (s->nboxes >= s->cfg.max_sandboxes)
		return -EAGAIN;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	do {
		ret = sbx_random_str(b->id, SBX_ID_LEN, id_alphabet);
	} while (!ret && sbx_box_find(s, b->id));
	if (!ret)
		ret = random_token(b->token);
	if (ret) {
		free(b);
		return ret;
	}
	b->tpl = tpl;
	b->state = SBX_CREATING;
	b->busy = true;
	b->vm.pidfd = -1;
	b->started_ms = sbx_now_ms();
	b->next = s->boxes;
	s->boxes = b;
	s->nboxes++;
	*out = b;
	return 0;
}

void sbx_box_remove(struct sbx *s, struct sbx_box *b)
{
	for (struct sbx_box **p = &s->boxes; *p; p = &(*p)->next) {
		if (*p != b)
			continue;
		*p = b->next;
		s->nboxes--;
		break;
	}
	if (b->paused)
		sbx_snap_put(b->paused);
	json_decref(b->metadata);
	json_decref(b->envs);
	free(b);
	pthread_cond_broadcast(&s->cond);
}

struct sbx_box *sbx_box_find(struct sbx *s, const char *id)
{
	for (struct sbx_box *b = s->boxes; b; b = b->next)
		if (!strcmp(b->id, id) && b->state != SBX_CREATING)
			return b;
	return NULL;
}

int sbx_box_claim(struct sbx *s, const char *id, struct sbx_box **out)
{
	struct timespec until;
	struct sbx_box *b;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += s->cfg.op_timeout_s * 2;
	for (;;) {
		b = sbx_box_find(s, id);
		if (!b)
			return -ENOENT;
		if (!b->busy)
			break;
		if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
			return -ETIMEDOUT;
	}
	b->busy = true;
	*out = b;
	return 0;
}

void sbx_box_release(struct sbx *s, struct sbx_box *b)
{
	b->busy = false;
	pthread_cond_broadcast(&s->cond);
}

void sbx_snap_put(struct sbx_snap *snap)
{
	char path[SBX_PATH + 16];

	/* Any thread: a VM's end drops its reference without the lock. */
	if (!snap || __atomic_sub_fetch(&snap->refs, 1, __ATOMIC_ACQ_REL))
		return;
	/* The last VM that mapped it, or the sandbox paused on it, is gone. */
	snprintf(path, sizeof(path), "%s/vm.snap", snap->dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/vm.mem", snap->dir);
	unlink(path);
	if (rmdir(snap->dir))
		log_warn("sandboxes: cannot remove %s: %s", snap->dir, strerror(errno));
	free(snap);
}

int sbx_new_dir(struct sbx *s, const char *kind, char *out, size_t len)
{
	/* A run directory used before may hold names already: the next number then. */
	for (int tries = 0; tries < 1000; tries++) {
		unsigned int n;
		int w;

		pthread_mutex_lock(&s->lock);
		n = s->seq++;
		pthread_mutex_unlock(&s->lock);
		w = snprintf(out, len, "%s/%s%u", s->run, kind, n);
		if (w < 0 || (size_t)w >= len)
			return -ENAMETOOLONG;
		if (!mkdir(out, 0700))
			return 0;
		if (errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}
