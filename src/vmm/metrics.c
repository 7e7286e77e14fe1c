#include "vmm/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "util/file.h"
#include "util/log.h"
#include "vmm/metrics_schema.h"

static struct ratelimit metrics_rl = RATELIMIT_INIT(2);

void metrics_init(struct metrics *m, metrics_collect_fn collect, void *ctx)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->fd = -1;
	m->timer_fd = -1;
	m->collect = collect;
	m->ctx = ctx;
	m->own = true;
}

void metrics_keep_own(struct metrics *m, bool on)
{
	pthread_mutex_lock(&m->lock);
	m->own = on;
	pthread_mutex_unlock(&m->lock);
}

int metrics_set_labels(struct metrics *m, const char *id, const char *properties)
{
	json_t *labels = json_object(), *p = NULL;
	int ret = -ENOMEM;

	if (!labels)
		return -ENOMEM;
	if (id && json_object_set_new(labels, "id", json_string(id)))
		goto out;
	if (properties) {
		p = json_loads(properties, 0, NULL);
		if (!json_is_object(p)) {
			ret = -EINVAL;
			goto out;
		}
		if (json_object_set_new(labels, "properties", p))
			goto out;
		p = NULL;
	}
	pthread_mutex_lock(&m->lock);
	json_decref(m->labels);
	m->labels = json_object_size(labels) ? labels : NULL;
	pthread_mutex_unlock(&m->lock);
	if (!m->labels)
		json_decref(labels);
	return 0;
out:
	json_decref(p);
	json_decref(labels);
	return ret;
}

void metrics_destroy(struct metrics *m)
{
	if (m->timer_fd >= 0) {
		eventloop_remove(m->loop, m->timer_fd);
		close(m->timer_fd);
	}
	if (m->fd >= 0)
		close(m->fd);
	json_decref(m->last);
	json_decref(m->labels);
	pthread_mutex_destroy(&m->lock);
	m->fd = m->timer_fd = -1;
	m->last = NULL;
	m->labels = NULL;
}

int metrics_open(struct metrics *m, const char *path, struct err *err)
{
	int fd, ret = 0;

	pthread_mutex_lock(&m->lock);
	if (m->fd >= 0) {
		ret = err_set(err, true, -EBUSY, "metrics are already configured; they can be set "
			      "once");
		goto out;
	}
	fd = file_open_sink(path, &m->fifo);
	if (fd < 0) {
		ret = err_set(err, true, fd, "cannot open the metrics file %s: %s", path,
			      strerror(-fd));
		goto out;
	}
	m->fd = fd;
out:
	pthread_mutex_unlock(&m->lock);
	return ret;
}

bool metrics_configured(struct metrics *m)
{
	bool on;

	pthread_mutex_lock(&m->lock);
	on = m->fd >= 0;
	pthread_mutex_unlock(&m->lock);
	return on;
}

json_t *metrics_group(json_t *parent, const char *name)
{
	json_t *g = json_object_get(parent, name);

	if (g || !parent)
		return json_is_object(g) ? g : NULL;
	g = json_object();
	if (!g || json_object_set_new(parent, name, g))
		return NULL;
	return g;
}

int metrics_add(json_t *counters, const char *group, const char *name, uint64_t value)
{
	json_t *g = metrics_group(counters, group), *v;

	if (!g)
		return -ENOMEM;
	v = json_object_get(g, name);
	if (v)
		value += (uint64_t)json_integer_value(v);
	/* jansson's integers are signed 64-bit; no counter of ours gets near 2^63. */
	if (json_object_set_new(g, name, json_integer((json_int_t)value)))
		return -ENOMEM;
	return 0;
}

/*
 * What happened since the last line, at every level of the tree; a total
 * below the last one is a new VM's (a snapshot loaded), counted from zero.
 */
static json_t *tree_deltas(json_t *now, json_t *before)
{
	json_t *out = json_object(), *v, *d;
	const char *name;

	if (!out)
		return NULL;
	json_object_foreach(now, name, v) {
		json_t *prev = json_object_get(before, name);

		if (json_is_object(v)) {
			d = tree_deltas(v, json_is_object(prev) ? prev : NULL);
		} else {
			uint64_t cur = (uint64_t)json_integer_value(v);
			uint64_t was = (uint64_t)json_integer_value(prev);

			d = json_integer((json_int_t)(cur >= was ? cur - was : cur));
		}
		if (!d || json_object_set_new(out, name, d)) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* The gauges' values over the deltas: a gauge is what it is now. */
static int tree_merge(json_t *into, json_t *from)
{
	const char *name;
	json_t *v;

	json_object_foreach(from, name, v) {
		if (json_is_object(v)) {
			json_t *sub = metrics_group(into, name);

			if (!sub || tree_merge(sub, v))
				return -ENOMEM;
		} else if (json_object_set(into, name, v)) {
			return -ENOMEM;
		}
	}
	return 0;
}

static char *line_locked(struct metrics *m, json_t *counters, json_t *gauges, uint64_t utc_ms)
{
	json_t *line = json_object(), *values = tree_deltas(counters, m->last), *own;
	char *text = NULL, *nl;
	size_t len;

	if (!line || !values || tree_merge(values, gauges))
		goto out;
	if (json_object_set_new(line, "utc_timestamp_ms", json_integer((json_int_t)utc_ms)))
		goto out;
	if (m->labels && json_object_update(line, m->labels))
		goto out;
	if (metrics_schema_render(line, values))
		goto out;
	own = json_object_get(values, METRICS_HEARTH);
	if (m->own && own && json_object_set(line, METRICS_HEARTH, own))
		goto out;
	text = json_dumps(line, JSON_COMPACT);
	if (!text)
		goto out;
	len = strlen(text);
	nl = realloc(text, len + 2);
	if (!nl) {
		free(text);
		text = NULL;
		goto out;
	}
	text = nl;
	memcpy(text + len, "\n", 2);
	json_decref(m->last);
	m->last = json_incref(counters);
out:
	json_decref(values);
	json_decref(line);
	return text;
}

char *metrics_line(struct metrics *m, json_t *counters, json_t *gauges, uint64_t utc_ms)
{
	char *text;

	pthread_mutex_lock(&m->lock);
	text = line_locked(m, counters, gauges, utc_ms);
	pthread_mutex_unlock(&m->lock);
	return text;
}

static uint64_t utc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int metrics_flush(struct metrics *m)
{
	json_t *counters = json_object(), *gauges = json_object(), *owed = NULL;
	char *text = NULL;
	int ret;

	pthread_mutex_lock(&m->lock);
	if (m->fd < 0) {
		ret = -ENOENT;
		goto out;
	}
	ret = -ENOMEM;
	if (!counters || !gauges)
		goto out;
	if (m->collect)
		m->collect(m->ctx, counters, gauges);
	/* The two outputs' own losses, as Firecracker's "logger" group has them. */
	metrics_add(counters, "logger", "missed_metrics_count", m->missed);
	metrics_add(counters, "logger", "missed_log_count", log_missed_count());
	owed = json_incref(json_object_get(m->last, "logger"));
	text = line_locked(m, counters, gauges, utc_now_ms());
	if (!text)
		goto out;
	/* A whole line, or a counted miss: never half a line for a FIFO's reader. */
	ret = file_write_line(m->fd, m->fifo, text, strlen(text));
	if (ret) {
		m->missed++;
		/* The lost line's other deltas are gone; the losses are owed to the next line. */
		if (owed)
			json_object_set(m->last, "logger", owed);
		else
			json_object_del(m->last, "logger");
	}
out:
	pthread_mutex_unlock(&m->lock);
	json_decref(owed);
	free(text);
	json_decref(counters);
	json_decref(gauges);
	return ret;
}

static void on_timer(void *opaque, uint32_t events)
{
	struct metrics *m = opaque;
	uint64_t expirations;
	int ret;

	(void)events;
	if (read(m->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		return;
	ret = metrics_flush(m);
	if (ret && ret != -ENOENT)
		log_ratelimited(&metrics_rl, LOG_WARN, "metrics: a line was not written: %s",
				strerror(-ret));
}

int metrics_start_timer(struct metrics *m, struct eventloop *loop, unsigned int interval_ms)
{
	int fd, ret;

	if (m->timer_fd >= 0)
		return 0;
	/* Disarmed until the VM starts: Firecracker writes nothing periodic before. */
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = eventloop_add(loop, fd, EPOLLIN, on_timer, m);
	if (ret) {
		close(fd);
		return ret;
	}
	m->loop = loop;
	m->timer_fd = fd;
	m->interval_ms = interval_ms;
	return 0;
}

int metrics_started(struct metrics *m)
{
	struct itimerspec its = { 0 };

	if (m->timer_fd >= 0 && m->interval_ms) {
		its.it_interval.tv_sec = m->interval_ms / 1000;
		its.it_interval.tv_nsec = (long)(m->interval_ms % 1000) * 1000000;
		its.it_value = its.it_interval;
		if (timerfd_settime(m->timer_fd, 0, &its, NULL) < 0)
			log_ratelimited(&metrics_rl, LOG_WARN, "metrics: no periodic flush "
					"(timerfd_settime: %s)", strerror(errno));
	}
	/* As Firecracker: the first line at once, with the startup time in it. */
	return metrics_flush(m);
}
