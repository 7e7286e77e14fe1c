/*
 * The server's start and end (sandboxd.h): its key, its run directory,
 * its two listeners, its threads (threads.h), the timer's loop, and on
 * SIGINT or SIGTERM every VM ended and every file it made removed.
 */
#include "sandboxd/sandboxd.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sandboxd/lifecycle.h"
#include "sandboxd/priv.h"
#include "sandboxd/template.h"
#include "sandboxd/threads.h"
#include "util/log.h"

/* The timer's longest sleep: a VM that ends by itself is noticed within it. */
#define TIMER_TICK_MS 500

/* ADDR:PORT ([ADDR]:PORT for IPv6), port + add: a listening TCP socket, or -errno with e. */
static int listen_tcp(const char *spec, unsigned int add, const char *flag, struct err *e)
{
	char host[256], port[16];
	const char *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *ai;
	unsigned long p;
	char *end;
	size_t hn;
	int fd, one = 1, ret;

	if (!colon || colon == spec)
		return err_set(e, true, -EINVAL, "%s '%.64s': want ADDR:PORT", flag, spec);
	hn = (size_t)(colon - spec);
	if (spec[0] == '[' && hn >= 2 && spec[hn - 1] == ']') {
		spec++;
		hn -= 2;
	}
	p = strtoul(colon + 1, &end, 10);
	if (*end || !colon[1] || p + add > 65535 || !p || hn >= sizeof(host))
		return err_set(e, true, -EINVAL, "%s '%.64s': want ADDR:PORT, PORT 1 to 65535", flag,
			       spec);
	memcpy(host, spec, hn);
	host[hn] = '\0';
	snprintf(port, sizeof(port), "%lu", p + add);
	ret = getaddrinfo(host, port, &hints, &ai);
	if (ret)
		return err_set(e, true, -EINVAL, "%s '%.64s': %s", flag, host, gai_strerror(ret));
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 512)) {
			ret = -errno;
			close(fd);
			fd = ret;
		}
	} else {
		fd = -errno;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		return err_set(e, true, fd, "%s %s:%s: %s", flag, host, port, strerror(-fd));
	return fd;
}

static int read_key(struct sbx *s, struct err *e)
{
	int fd = open(s->cfg.api_key_file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return err_set(e, true, -errno, "--api-key-file %s: %s", s->cfg.api_key_file,
			       strerror(errno));
	n = read(fd, s->key, sizeof(s->key) - 1);
	close(fd);
	while (n > 0 && (s->key[n - 1] == '\n' || s->key[n - 1] == '\r' || s->key[n - 1] == ' '))
		n--;
	if (n <= 0 || (size_t)n >= sizeof(s->key) - 1)
		return err_set(e, true, -EINVAL, "--api-key-file %s: want one key of 1 to %zu bytes",
			       s->cfg.api_key_file, sizeof(s->key) - 2);
	for (ssize_t i = 0; i < n; i++)
		if (s->key[i] <= ' ' || s->key[i] > '~')
			return err_set(e, true, -EINVAL, "--api-key-file %s: the key must be printable "
				       "ASCII without spaces", s->cfg.api_key_file);
	s->key[n] = '\0';
	s->key_len = (size_t)n;
	return 0;
}

static int make_run_dir(struct sbx *s, bool *made, struct err *e)
{
	int ret;

	*made = false;
	if (!s->cfg.run_dir) {
		snprintf(s->run, sizeof(s->run), "/tmp/hearth-sbx-XXXXXX");
		if (!mkdtemp(s->run))
			return err_set(e, false, -errno, "mkdtemp: %s", strerror(errno));
		*made = true;
		return 0;
	}
	if (strlen(s->cfg.run_dir) >= sizeof(s->run))
		return err_set(e, true, -ENAMETOOLONG, "--run-dir %s: at most %zu bytes (sockets "
			       "go beneath it)", s->cfg.run_dir, sizeof(s->run) - 1);
	snprintf(s->run, sizeof(s->run), "%s", s->cfg.run_dir);
	ret = mkdir(s->run, 0700);
	if (ret && errno != EEXIST)
		return err_set(e, true, -errno, "--run-dir %s: %s", s->run, strerror(errno));
	*made = !ret;
	return 0;
}

void *sbx_timer_thread(void *arg)
{
	struct sbx *s = arg;

	pthread_setname_np(pthread_self(), "sbx-timer");
	for (;;) {
		int64_t now = sbx_now_ms(), wake = now + TIMER_TICK_MS;
		struct timespec until;

		pthread_mutex_lock(&s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			return NULL;
		}
		for (struct sbx_box *b = s->boxes; b; b = b->next)
			if (b->state == SBX_RUNNING && !b->busy && b->end_ms < wake)
				wake = b->end_ms > now ? b->end_ms : now;
		if (wake > now) {
			until.tv_sec = wake / 1000;
			until.tv_nsec = (wake % 1000) * 1000000;
			pthread_cond_timedwait(&s->cond, &s->lock, &until);
		}
		pthread_mutex_unlock(&s->lock);
		sbx_op_expire(s);
		sbx_vm_reap();
	}
}

static int start_threads(struct sbx *s, pthread_t *th, unsigned int *n, struct err *e)
{
	void *(*const fn[])(void *) = { sbx_proxy_thread, sbx_timer_thread };

	for (unsigned int i = 0; i < s->cfg.api_threads + 2; i++) {
		int ret = pthread_create(&th[*n], NULL,
					 i < s->cfg.api_threads ? sbx_api_thread
								: fn[i - s->cfg.api_threads], s);

		if (ret)
			return err_set(e, false, -ret, "pthread_create: %s", strerror(ret));
		(*n)++;
	}
	return 0;
}

int sbx_main(const struct sbx_config *cfg, struct err *e)
{
	pthread_t th[SBX_MAX_API_THREADS + 2];
	struct sbx *s = calloc(1, sizeof(*s));
	unsigned int nth = 0;
	sigset_t sigs;
	bool made_run = false;
	int ret, sig;

	if (!s)
		return err_set(e, false, -ENOMEM, "out of memory");
	s->cfg = *cfg;
	s->api_fd = s->envd_fd = s->stop_fd = -1;
	if (s->cfg.api_threads < 1 || s->cfg.api_threads > SBX_MAX_API_THREADS)
		s->cfg.api_threads = 4;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	ret = sbx_jail_init(&s->jail, cfg) ? err_set(e, false, -ENOMEM, "out of memory") : 0;
	if (!ret)
		ret = read_key(s, e);
	if (!ret && !realpath(cfg->templates_dir, s->templates))
		ret = err_set(e, true, -errno, "--templates %s: %s", cfg->templates_dir,
			      strerror(errno));
	if (!ret)
		ret = (s->api_fd = listen_tcp(cfg->listen, 0, "--listen", e)) < 0 ? s->api_fd : 0;
	if (!ret)
		ret = (s->envd_fd = listen_tcp(cfg->envd_listen ? cfg->envd_listen : cfg->listen,
					       cfg->envd_listen ? 0 : 1, "--envd-listen", e)) < 0
			      ? s->envd_fd : 0;
	if (!ret)
		ret = make_run_dir(s, &made_run, e);
	if (!ret)
		ret = sbx_jail_check_run(s, e);
	if (!ret && (s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		ret = err_set(e, false, -errno, "eventfd: %s", strerror(errno));
	if (ret)
		goto out;
	/* Clones are the zygote's children: should it go, they come back to this process. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	ret = start_threads(s, th, &nth, e);
	if (!ret) {
		log_info("sandboxes: E2B's API on %s, envd's on %s, templates in %s, run directory %s",
			 cfg->listen, cfg->envd_listen ? cfg->envd_listen : "the next port",
			 cfg->templates_dir, s->run);
		/* The line a launcher waits for. */
		fprintf(stderr, "hearth: sandboxes: ready\n");
		while (sigwait(&sigs, &sig))
			;
		log_info("sandboxes: signal %d: ending every sandbox", sig);
	}
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (eventfd_write(s->stop_fd, 1))
		log_warn("sandboxes: eventfd_write: %s", strerror(errno));
	while (nth)
		pthread_join(th[--nth], NULL);
	sbx_op_kill_all(s);
	sbx_tpl_free_all(s);
	sbx_vm_reap();
out:
	if (made_run && rmdir(s->run))
		log_warn("sandboxes: %s stays: %s", s->run, strerror(errno));
	if (s->api_fd >= 0)
		close(s->api_fd);
	if (s->envd_fd >= 0)
		close(s->envd_fd);
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	sbx_jail_fini(&s->jail);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return ret;
}
