/* Firecracker's metrics groups as tables, and a line's groups made from them. */
#include "vmm/metrics_schema.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/metrics.h"

#define C(n) { n, MF_COUNT }
#define G(n) { n, MF_GAUGE }
#define L(n) { n, MF_LATENCY }
#define N(a) (unsigned int)(sizeof(a) / sizeof((a)[0]))

/* Each table is in the order of the struct Firecracker serializes (serde keeps it). */
static const struct metrics_field api_server[] = {
	G("process_startup_time_us"), G("process_startup_time_cpu_us"),
};

static const struct metrics_field balloon[] = {
	C("activate_fails"), C("inflate_count"), C("stats_updates_count"),
	C("stats_update_fails"), C("deflate_count"), C("event_fails"),
	C("free_page_report_count"), C("free_page_report_freed"), C("free_page_report_fails"),
	C("free_page_hint_count"), C("free_page_hint_freed"), C("free_page_hint_fails"),
};

static const struct metrics_field block[] = {
	C("activate_fails"), C("cfg_fails"), C("no_avail_buffer"), C("event_fails"),
	C("execute_fails"), C("invalid_reqs_count"), C("flush_count"), C("queue_event_count"),
	C("rate_limiter_event_count"), C("update_count"), C("update_fails"), C("read_bytes"),
	C("write_bytes"), C("read_count"), C("write_count"), L("read_agg"), L("write_agg"),
	C("rate_limiter_throttled_events"), C("io_engine_throttled_events"),
	C("remaining_reqs_count"),
};

static const struct metrics_field deprecated_api[] = {
	C("deprecated_http_api_calls"),
};

static const struct metrics_field get_api_requests[] = {
	C("instance_info_count"), C("machine_cfg_count"), C("mmds_count"),
	C("vmm_version_count"), C("hotplug_memory_count"),
};

static const struct metrics_field i8042[] = {
	C("error_count"), C("missed_read_count"), C("missed_write_count"), C("read_count"),
	C("reset_count"), C("write_count"),
};

static const struct metrics_field uart[] = {
	C("error_count"), C("flush_count"), C("missed_read_count"), C("missed_write_count"),
	C("read_count"), C("write_count"), C("rate_limiter_dropped_bytes"),
};

static const struct metrics_field latencies_us[] = {
	G("full_create_snapshot"), G("diff_create_snapshot"), G("load_snapshot"),
	G("pause_vm"), G("resume_vm"), G("vmm_full_create_snapshot"),
	G("vmm_diff_create_snapshot"), G("vmm_load_snapshot"), G("vmm_pause_vm"),
	G("vmm_resume_vm"),
};

static const struct metrics_field logger[] = {
	C("missed_metrics_count"), C("metrics_fails"), C("missed_log_count"),
	C("rate_limited_log_count"),
};

static const struct metrics_field mmds[] = {
	C("rx_accepted"), C("rx_accepted_err"), C("rx_accepted_unusual"), C("rx_bad_eth"),
	C("rx_invalid_token"), C("rx_no_token"), C("rx_count"), C("tx_bytes"), C("tx_count"),
	C("tx_errors"), C("tx_frames"), C("connections_created"), C("connections_destroyed"),
};

static const struct metrics_field net[] = {
	C("activate_fails"), C("cfg_fails"), C("no_rx_avail_buffer"), C("no_tx_avail_buffer"),
	C("event_fails"), C("rx_queue_event_count"), C("rx_event_rate_limiter_count"),
	C("rx_rate_limiter_throttled"), C("rx_tap_event_count"), C("rx_bytes_count"),
	C("rx_packets_count"), C("rx_fails"), C("rx_count"), C("tap_read_fails"),
	C("tap_write_fails"), L("tap_write_agg"), C("tx_bytes_count"), C("tx_malformed_frames"),
	C("tx_fails"), C("tx_count"), C("tx_packets_count"), C("tx_queue_event_count"),
	C("tx_rate_limiter_event_count"), C("tx_rate_limiter_throttled"),
	C("tx_spoofed_mac_count"), C("tx_remaining_reqs_count"),
};

static const struct metrics_field patch_api_requests[] = {
	C("drive_count"), C("drive_fails"), C("network_count"), C("network_fails"),
	C("machine_cfg_count"), C("machine_cfg_fails"), C("mmds_count"), C("mmds_fails"),
	C("hotplug_memory_count"), C("hotplug_memory_fails"), C("pmem_count"), C("pmem_fails"),
};

static const struct metrics_field put_api_requests[] = {
	C("actions_count"), C("actions_fails"), C("boot_source_count"), C("boot_source_fails"),
	C("drive_count"), C("drive_fails"), C("logger_count"), C("logger_fails"),
	C("machine_cfg_count"), C("machine_cfg_fails"), C("cpu_cfg_count"), C("cpu_cfg_fails"),
	C("metrics_count"), C("metrics_fails"), C("network_count"), C("network_fails"),
	C("mmds_count"), C("mmds_fails"), C("vsock_count"), C("vsock_fails"), C("pmem_count"),
	C("pmem_fails"), C("serial_count"), C("serial_fails"), C("hotplug_memory_count"),
	C("hotplug_memory_fails"),
};

static const struct metrics_field seccomp[] = {
	G("num_faults"),
};

static const struct metrics_field vcpu[] = {
	C("exit_io_in"), C("exit_io_out"), C("exit_mmio_read"), C("exit_mmio_write"),
	C("failures"), C("kvmclock_ctrl_fails"), L("exit_io_in_agg"), L("exit_io_out_agg"),
	L("exit_mmio_read_agg"), L("exit_mmio_write_agg"),
};

static const struct metrics_field vmm[] = {
	G("panic_count"),
};

static const struct metrics_field signals[] = {
	G("sigbus"), G("sigsegv"), G("sigxfsz"), G("sigxcpu"), C("sigpipe"), G("sighup"),
	G("sigill"),
};

static const struct metrics_field vsock[] = {
	C("activate_fails"), C("cfg_fails"), C("rx_queue_event_fails"), C("tx_queue_event_fails"),
	C("ev_queue_event_fails"), C("muxer_event_fails"), C("conn_event_fails"),
	C("rx_queue_event_count"), C("tx_queue_event_count"), C("rx_bytes_count"),
	C("tx_bytes_count"), C("rx_packets_count"), C("tx_packets_count"), C("conns_added"),
	C("conns_killed"), C("conns_removed"), C("killq_resync"), C("tx_flush_fails"),
	C("tx_write_fails"), C("rx_read_fails"),
};

static const struct metrics_field entropy[] = {
	C("activate_fails"), C("entropy_event_fails"), C("entropy_event_count"),
	C("entropy_bytes"), C("host_rng_fails"), C("entropy_rate_limiter_throttled"),
	C("rate_limiter_event_count"),
};

static const struct metrics_field pmem[] = {
	C("activate_fails"), C("cfg_fails"), C("event_fails"), C("queue_event_count"),
	C("rate_limiter_throttled_events"), C("rate_limiter_event_count"),
};

static const struct metrics_field vhost_user[] = {
	C("activate_fails"), C("cfg_fails"), G("init_time_us"), G("activate_time_us"),
	G("config_change_time_us"),
};

static const struct metrics_field interrupts[] = {
	C("triggers"), C("config_updates"),
};

static const struct metrics_field memory_hotplug[] = {
	C("activate_fails"), C("queue_event_fails"), C("queue_event_count"), L("plug_agg"),
	C("plug_count"), C("plug_bytes"), C("plug_fails"), L("unplug_agg"), C("unplug_count"),
	C("unplug_bytes"), C("unplug_fails"), C("unplug_discard_fails"), L("unplug_all_agg"),
	C("unplug_all_count"), C("unplug_all_fails"), L("state_agg"), C("state_count"),
	C("state_fails"),
};

#define GROUP(n, k) { #n, k, n, N(n) }

/* FirecrackerMetrics' order, its flattened device groups where they fall in it. */
const struct metrics_group metrics_schema[] = {
	GROUP(api_server, MG_ONE),
	GROUP(balloon, MG_ONE),
	GROUP(block, MG_PER_DEVICE),
	GROUP(deprecated_api, MG_ONE),
	GROUP(get_api_requests, MG_ONE),
	GROUP(i8042, MG_ONE),
	GROUP(uart, MG_ONE),
	GROUP(latencies_us, MG_ONE),
	GROUP(logger, MG_ONE),
	GROUP(mmds, MG_ONE),
	GROUP(net, MG_PER_DEVICE),
	GROUP(patch_api_requests, MG_ONE),
	GROUP(put_api_requests, MG_ONE),
	GROUP(seccomp, MG_ONE),
	GROUP(vcpu, MG_ONE),
	GROUP(vmm, MG_ONE),
	GROUP(signals, MG_ONE),
	GROUP(vsock, MG_ONE),
	GROUP(entropy, MG_ONE),
	GROUP(pmem, MG_PER_DEVICE),
	GROUP(vhost_user, MG_DEVICES),
	GROUP(interrupts, MG_ONE),
	GROUP(memory_hotplug, MG_ONE),
};

const unsigned int metrics_schema_groups = N(metrics_schema);

const struct metrics_group *metrics_schema_find(const char *name)
{
	for (unsigned int i = 0; i < metrics_schema_groups; i++)
		if (!strcmp(metrics_schema[i].name, name))
			return &metrics_schema[i];
	return NULL;
}

const struct metrics_field *metrics_schema_field(const struct metrics_group *g, const char *name)
{
	for (unsigned int i = 0; i < g->nfields; i++)
		if (!strcmp(g->fields[i].name, name))
			return &g->fields[i];
	return NULL;
}

static uint64_t value_of(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static int set_u64(json_t *obj, const char *name, uint64_t v)
{
	/* jansson's integers are signed 64-bit; no count of ours gets near 2^63. */
	return json_object_set_new(obj, name, json_integer((json_int_t)v)) ? -ENOMEM : 0;
}

/*
 * g's fields from src (NULL: all 0) into a new object; sum, when given,
 * gets each count added (a latency's sum_us), Firecracker's aggregate.
 */
static json_t *fill(const struct metrics_group *g, json_t *src, json_t *sum)
{
	json_t *out = json_object();

	for (unsigned int i = 0; out && i < g->nfields; i++) {
		const struct metrics_field *f = &g->fields[i];
		json_t *lat, *from = json_object_get(src, f->name);
		uint64_t v;

		if (f->kind != MF_LATENCY) {
			v = value_of(src, f->name);
			if (set_u64(out, f->name, v) ||
			    (sum && set_u64(sum, f->name, value_of(sum, f->name) + v)))
				goto err;
			continue;
		}
		lat = json_object();
		if (!lat || json_object_set_new(out, f->name, lat) ||
		    set_u64(lat, "min_us", value_of(from, "min_us")) ||
		    set_u64(lat, "max_us", value_of(from, "max_us")) ||
		    set_u64(lat, "sum_us", value_of(from, "sum_us")))
			goto err;
		if (sum) {
			json_t *s = json_object_get(sum, f->name);

			if (!s) {
				s = json_object();
				if (!s || json_object_set_new(sum, f->name, s))
					goto err;
			}
			if (set_u64(s, "sum_us", value_of(s, "sum_us") + value_of(from, "sum_us")))
				goto err;
		}
	}
	return out;
err:
	json_decref(out);
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* g's devices, by id in byte order (Firecracker keeps them in a BTreeMap), each "<g>_<id>". */
static int render_devices(json_t *line, const struct metrics_group *g, json_t *devs,
			  json_t *sum)
{
	size_t n = json_object_size(devs), i = 0;
	const char **ids = n ? calloc(n, sizeof(*ids)) : NULL;
	const char *id;
	json_t *v, *obj;
	char *key;
	int ret = -ENOMEM;

	if (!n)
		return 0;
	if (!ids)
		return -ENOMEM;
	json_object_foreach(devs, id, v)
		ids[i++] = id;
	qsort(ids, n, sizeof(*ids), cmp_str);
	for (i = 0; i < n; i++) {
		obj = fill(g, json_object_get(devs, ids[i]), sum);
		if (!obj || asprintf(&key, "%s_%s", g->name, ids[i]) < 0) {
			json_decref(obj);
			goto out;
		}
		if (json_object_set_new(line, key, obj)) {
			free(key);
			goto out;
		}
		free(key);
	}
	ret = 0;
out:
	free(ids);
	return ret;
}

int metrics_schema_render(json_t *line, json_t *values)
{
	json_t *devices = json_object_get(values, METRICS_DEVICES);

	for (unsigned int i = 0; i < metrics_schema_groups; i++) {
		const struct metrics_group *g = &metrics_schema[i];
		json_t *sum = NULL, *obj;
		int ret;

		if (g->kind != MG_ONE) {
			sum = g->kind == MG_PER_DEVICE ? json_object() : NULL;
			if (g->kind == MG_PER_DEVICE && !sum)
				return -ENOMEM;
			ret = render_devices(line, g, json_object_get(devices, g->name), sum);
			if (ret || !sum) {
				json_decref(sum);
				if (ret)
					return ret;
				continue;
			}
		}
		/* The sum holds the counts only: its latencies' min_us and max_us are 0. */
		obj = fill(g, sum ? sum : json_object_get(values, g->name), NULL);
		json_decref(sum);
		if (!obj || json_object_set_new(line, g->name, obj))
			return -ENOMEM;
	}
	return 0;
}
