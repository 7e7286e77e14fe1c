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
#include "vmm/vm.h"

/* More than any device reports (net has 6); the rest would be cut, not overrun. */
#define METRICS_DEV_COUNTERS_MAX 32

static struct ratelimit metrics_rl = RATELIMIT_INIT(2);

void metrics_init(struct metrics *m, metrics_collect_fn collect, void *ctx)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	m->fd = -1;
	m->timer_fd = -1;
	m->collect = collect;
	m->ctx = ctx;
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

int metrics_add(json_t *counters, const char *group, const char *name, uint64_t value)
{
	json_t *g = json_object_get(counters, group), *v;

	if (!g) {
		g = json_object();
		if (!g || json_object_set_new(counters, group, g))
			return -ENOMEM;
	}
	v = json_object_get(g, name);
	if (v)
		value += (uint64_t)json_integer_value(v);
	/* jansson's integers are signed 64-bit; no counter of ours gets near 2^63. */
	if (json_object_set_new(g, name, json_integer((json_int_t)value)))
		return -ENOMEM;
	return 0;
}

/* What happened since the last line; a total below it is a new VM's, counted from zero. */
static json_t *group_deltas(json_t *now, json_t *before)
{
	json_t *out = json_object(), *v;
	const char *name;

	json_object_foreach(now, name, v) {
		uint64_t cur = (uint64_t)json_integer_value(v);
		uint64_t prev = (uint64_t)json_integer_value(json_object_get(before, name));

		if (!out || json_object_set_new(out, name, json_integer((json_int_t)(
				cur >= prev ? cur - prev : cur)))) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static char *line_locked(struct metrics *m, json_t *counters, json_t *gauges, uint64_t utc_ms)
{
	json_t *line = json_object(), *g, *og;
	const char *group;
	char *text = NULL, *nl;
	size_t len;

	if (!line || json_object_set_new(line, "utc_timestamp_ms", json_integer((json_int_t)utc_ms)))
		goto out;
	if (m->labels && json_object_update(line, m->labels))
		goto out;
	json_object_foreach(counters, group, g) {
		og = group_deltas(g, json_object_get(m->last, group));
		if (!og || json_object_set_new(line, group, og))
			goto out;
	}
	json_object_foreach(gauges, group, g) {
		og = json_object_get(line, group);
		if (!og) {
			og = json_object();
			if (!og || json_object_set_new(line, group, og))
				goto out;
		}
		if (json_object_update(og, g))
			goto out;
	}
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
	struct itimerspec its = { 0 };
	int fd, ret;

	if (m->timer_fd >= 0)
		return 0;
	fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	its.it_interval.tv_sec = interval_ms / 1000;
	its.it_interval.tv_nsec = (long)(interval_ms % 1000) * 1000000;
	its.it_value = its.it_interval;
	if (timerfd_settime(fd, 0, &its, NULL) < 0) {
		ret = -errno;
		goto err_close;
	}
	ret = eventloop_add(loop, fd, EPOLLIN, on_timer, m);
	if (ret)
		goto err_close;
	m->loop = loop;
	m->timer_fd = fd;
	return 0;

err_close:
	close(fd);
	return ret;
}

/* "virtio-blk" -> "block" ...: the group name's first part, Firecracker's where it has one. */
static const char *device_kind(const char *type)
{
	static const char *const kinds[][2] = {
		{ "serial", "uart" }, { "virtio-blk", "block" }, { "virtio-net", "net" },
		{ "virtio-rng", "entropy" }, { "virtio-vsock", "vsock" },
		{ "virtio-balloon", "balloon" }, { "virtio-pmem", "pmem" },
		{ "virtio-mem", "memory_hotplug" },
	};

	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if (!strcmp(type, kinds[i][0]))
			return kinds[i][1];
	return type;
}

void metrics_collect_vm(json_t *counters, struct vm *vm)
{
	struct dev_counter c[METRICS_DEV_COUNTERS_MAX];
	char key[VM_ID_MAX + 32];

	for (unsigned int i = 0; i < vm->registry.n; i++) {
		const struct reg_entry *e = &vm->registry.entries[i];
		const char *kind = device_kind(e->type);
		unsigned int n;
		size_t klen;

		if (e->kind != COMP_DEVICE)
			continue;
		n = registry_counters(e, c, METRICS_DEV_COUNTERS_MAX);
		snprintf(key, sizeof(key), "%s", kind);
		klen = strlen(key);
		for (char *p = key; *p; p++)
			if (*p == '-')
				*p = '_';
		if (strcmp(kind, e->name) != 0)
			snprintf(key + klen, sizeof(key) - klen, "_%s", e->name);
		for (unsigned int j = 0; j < n; j++)
			metrics_add(counters, key, c[j].name, c[j].value);
	}
	/* Then the vCPUs, as Firecracker's one "vcpu" group: their counts add up. */
	for (unsigned int i = 0; i < vm->registry.n; i++) {
		const struct reg_entry *e = &vm->registry.entries[i];
		unsigned int n;

		if (e->kind != COMP_VCPU)
			continue;
		n = registry_counters(e, c, METRICS_DEV_COUNTERS_MAX);
		for (unsigned int j = 0; j < n; j++)
			metrics_add(counters, "vcpu", c[j].name, c[j].value);
	}
}
