/*
 * GET /sandboxes/{id}/metrics (lifecycle.h): one sample, as the host sees
 * the sandbox's VM process, not as the guest sees itself (the agent keeps
 * no metrics endpoint): cpuUsedPct is the process's CPU time over the
 * wall time since the last sample (or its start) per vCPU, memUsed the
 * memory the process holds of its own (Private_Clean + Private_Dirty of
 * /proc/PID/smaps_rollup: what this sandbox costs beyond its template),
 * memTotal its guest RAM, diskTotal the root image's size and diskUsed
 * its blocks on the host. A paused sandbox has no process: no sample.
 */
#include "sandboxd/lifecycle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandboxd/api_json.h"

/* utime + stime and the start, in clock ticks, from /proc/PID/stat. */
static int proc_cpu(pid_t pid, uint64_t *ticks, uint64_t *start)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st, sta;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold anything: the fields start after its last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
			 "%*d %*d %*d %*d %*d %*d %llu", &ut, &st, &sta) != 3)
		return -EPROTO;
	*ticks = ut + st;
	*start = sta;
	return 0;
}

static uint64_t proc_private(pid_t pid)
{
	char path[64], line[256];
	unsigned long long kb, total = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if ((sscanf(line, "Private_Clean: %llu kB", &kb) == 1 ||
		     sscanf(line, "Private_Dirty: %llu kB", &kb) == 1))
			total += kb;
	fclose(f);
	return total * 1024;
}

static double uptime_s(void)
{
	double up = 0;
	FILE *f = fopen("/proc/uptime", "re");

	if (f) {
		if (fscanf(f, "%lf", &up) != 1)
			up = 0;
		fclose(f);
	}
	return up;
}

int sbx_op_metrics(struct sbx *s, const char *id, json_t **out, struct err *e)
{
	long hz = sysconf(_SC_CLK_TCK);
	uint64_t ticks = 0, start = 0, mem = 0;
	int64_t now = sbx_now_ms();
	double pct = 0, wall;
	struct sbx_box *b;
	struct stat st = { 0 };
	char date[32];
	pid_t pid;

	pthread_mutex_lock(&s->lock);
	b = sbx_box_find(s, id);
	if (!b) {
		pthread_mutex_unlock(&s->lock);
		return err_set(e, true, -ENOENT, "sandbox \"%.64s\" doesn't exist or you don't have "
			       "access to it", id);
	}
	pid = b->state == SBX_RUNNING ? b->vm.pid : 0;
	if (pid > 0 && hz > 0 && !proc_cpu(pid, &ticks, &start)) {
		if (b->cpu_at_ms && now > b->cpu_at_ms && ticks >= b->cpu_ticks)
			wall = (double)(now - b->cpu_at_ms) / 1000;
		else
			wall = uptime_s() - (double)start / (double)hz;
		if (wall > 0)
			pct = 100.0 * ((double)(ticks - (b->cpu_at_ms ? b->cpu_ticks : 0)) /
				       (double)hz) / wall / (b->tpl->vcpus ? b->tpl->vcpus : 1);
		b->cpu_ticks = ticks;
		b->cpu_at_ms = now;
	}
	if (pid > 0)
		mem = proc_private(pid);
	if (b->tpl->rootfs_link[0])
		stat(b->tpl->rootfs_link, &st);
	*out = json_array();
	if (*out && pid > 0) {
		sbx_json_date(now, date);
		json_array_append_new(*out, json_pack(
			"{s:s, s:I, s:i, s:f, s:I, s:I, s:I, s:I, s:I}", "timestamp", date,
			"timestampUnix", (json_int_t)(now / 1000), "cpuCount", (int)b->tpl->vcpus,
			"cpuUsedPct", pct > 100 ? 100.0 : pct, "memUsed", (json_int_t)mem, "memTotal",
			(json_int_t)b->tpl->mem_mib << 20, "memCache", (json_int_t)0, "diskUsed",
			(json_int_t)st.st_blocks * 512, "diskTotal", (json_int_t)b->tpl->disk_bytes));
	}
	pthread_mutex_unlock(&s->lock);
	return *out ? 0 : err_set(e, false, -ENOMEM, "out of memory");
}
