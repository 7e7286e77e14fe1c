/*
 * `hearth run`'s device flags: --disk, --net, --vsock, --rng and
 * --debug-exit, each spec taken apart here and handed to the device's own
 * spec parser and the model's setters. Rate limiter keys ride along in
 * the specs: bw=SIZE/REFILL_MS[+BURST] and ops=COUNT/REFILL_MS[+BURST] on
 * --disk and --rng=, rx-bw, rx-ops, tx-bw and tx-ops on --net (SIZE and
 * BURST take K, M and G, powers of 1024); each fills one bucket of
 * Firecracker's RateLimiter, which the setters check as they check the
 * API's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/run.h"
#include "devices/debug_exit.h"
#include "virtio/vsock.h"

int cli_run_flag_fail(const char *flag, const char *val, int ret, struct err *e)
{
	e->usage = true;
	return err_prefix(e, ret, "%s '%.200s': ", flag, val);
}

struct rl_key {
	const char *name;                 /* "bw", "rx-ops" ... */
	struct rl_bucket_config *bucket;
};

/* A whole number with an optional K, M or G; 0 or -EINVAL. */
static int parse_amount(const char *s, size_t len, uint64_t *out)
{
	unsigned int shift = 0;
	uint64_t v = 0;

	if (len && (s[len - 1] == 'K' || s[len - 1] == 'M' || s[len - 1] == 'G')) {
		shift = s[len - 1] == 'K' ? 10 : s[len - 1] == 'M' ? 20 : 30;
		len--;
	}
	if (!len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		uint64_t d = (uint64_t)(s[i] - '0');

		if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* "SIZE/REFILL_MS[+BURST]" */
static int parse_bucket(const char *val, size_t len, struct rl_bucket_config *b)
{
	const char *slash = memchr(val, '/', len), *plus;
	size_t rest;

	if (!slash)
		return -EINVAL;
	rest = len - (size_t)(slash + 1 - val);
	plus = memchr(slash + 1, '+', rest);
	b->one_time_burst = 0;
	if (parse_amount(val, (size_t)(slash - val), &b->size) ||
	    parse_amount(slash + 1, plus ? (size_t)(plus - slash - 1) : rest, &b->refill_time) ||
	    (plus && parse_amount(plus + 1, rest - (size_t)(plus - slash), &b->one_time_burst)))
		return -EINVAL;
	b->set = true;
	b->burst_given = plus != NULL;
	return 0;
}

/*
 * Takes the keys out of the comma-separated spec into their buckets and
 * copies the other options, in order, to rest. 0, or -EINVAL with e.
 */
static int rl_extract(const char *spec, const struct rl_key *keys, unsigned int nkeys,
		      char *rest, size_t restlen, struct err *e)
{
	const char *p = spec;
	size_t used = 0;

	if (restlen)
		rest[0] = '\0';
	while (*p) {
		size_t len = strcspn(p, ",");
		const char *eq = memchr(p, '=', len);
		unsigned int k = nkeys;

		for (unsigned int i = 0; eq && i < nkeys; i++)
			if (strlen(keys[i].name) == (size_t)(eq - p) &&
			    !strncmp(p, keys[i].name, (size_t)(eq - p)))
				k = i;
		if (k < nkeys) {
			if (parse_bucket(eq + 1, len - (size_t)(eq + 1 - p), keys[k].bucket)) {
				bool ops = strstr(keys[k].name, "ops");

				return err_set(e, true, -EINVAL, "%.*s: want %s=%s/REFILL_MS[+BURST], "
					       "e.g. %s=%s", (int)len, p, keys[k].name,
					       ops ? "COUNT" : "SIZE", keys[k].name,
					       ops ? "100/1000" : "10M/1000");
			}
		} else {
			int w = snprintf(rest + used, restlen - used, "%s%.*s", used ? "," : "",
					 (int)len, p);

			if (w < 0 || (size_t)w >= restlen - used)
				return err_set(e, true, -EINVAL, "too long");
			used += (size_t)w;
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

int cli_run_disk(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct vm_config *vm = &((struct cli_config *)ctx)->vm;
	struct blk_config bc;
	struct vm_drive d;
	char rest[4200];
	const struct rl_key keys[] = { { "bw", &d.rate_limiter.bandwidth },
				       { "ops", &d.rate_limiter.ops } };
	int ret;

	if (vm->ndrives == VM_MAX_DRIVES)
		return err_set(e, true, -EINVAL, "--disk given more than %u times", VM_MAX_DRIVES);
	memset(&d, 0, sizeof(d));
	ret = rl_extract(val, keys, 2, rest, sizeof(rest), e);
	if (!ret)
		ret = virtio_blk_parse(rest, &bc, e);
	if (ret)
		return cli_run_flag_fail("--disk", val, ret, e);
	/* id= names the drive and is its serial; unnamed drives are disk0, disk1 ... */
	if (bc.id[0]) {
		snprintf(d.id, sizeof(d.id), "%s", bc.id);
		snprintf(d.serial, sizeof(d.serial), "%s", bc.id);
	} else {
		snprintf(d.id, sizeof(d.id), "disk%u", vm->ndrives);
	}
	d.path_on_host = (char *)bc.path;
	d.socket = (char *)bc.socket;
	d.queues = bc.queues;
	d.is_read_only = bc.readonly;
	d.cache_type = bc.cache;
	/* format= and backing=: the chain's names borrowed, copied by the model. */
	d.format = bc.format;
	d.backing_from_header = bc.backing_from_header;
	d.nbacking = bc.nbacking;
	memcpy(d.backing_files, bc.backing, sizeof(d.backing_files));
	ret = vm_config_put_drive(vm, &d, false, e);
	virtio_blk_config_release(&bc);
	return ret ? cli_run_flag_fail("--disk", val, ret, e) : 0;
}

int cli_run_device(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct vm_config *vm = &((struct cli_config *)ctx)->vm;
	char buf[VM_VFIO_PATH_MAX + VM_ID_MAX + 16], *path, *id = NULL, *comma;
	int ret;

	if (strncmp(val, "vfio=", 5) || strlen(val) >= sizeof(buf))
		return err_set(e, true, -EINVAL, "--device %.64s: want vfio=PATH[,id=NAME] (the "
			       "only kind of device it takes)", val);
	snprintf(buf, sizeof(buf), "%s", val + 5);
	path = buf;
	comma = strrchr(buf, ',');
	if (comma && !strncmp(comma + 1, "id=", 3)) {
		*comma = '\0';
		id = comma + 4;
	}
	ret = vm_config_add_vfio(vm, id, path, e);
	return ret ? cli_run_flag_fail("--device", val, ret, e) : 0;
}

/* --fs tag=T,socket=PATH[,id=NAME]: a virtio-fs device (vmm/config_fs.c checks the values). */
int cli_run_fs(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct vm_config *vm = &((struct cli_config *)ctx)->vm;
	char buf[512], *save = NULL, *tok;
	struct vm_fs f = { 0 };
	int ret;

	if (strlen(val) >= sizeof(buf))
		return err_set(e, true, -EINVAL, "--fs: option string too long");
	strcpy(buf, val);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (!strncmp(tok, "tag=", 4) && strlen(tok + 4) < sizeof(f.tag) && !f.tag[0]) {
			snprintf(f.tag, sizeof(f.tag), "%s", tok + 4);
		} else if (!strncmp(tok, "socket=", 7) && !f.socket) {
			f.socket = tok + 7;
		} else if (!strncmp(tok, "id=", 3) && strlen(tok + 3) < sizeof(f.id) && !f.id[0]) {
			snprintf(f.id, sizeof(f.id), "%s", tok + 3);
		} else {
			ret = err_set(e, true, -EINVAL, "'%.64s': want tag=TAG (1 to %u bytes), "
				      "socket=PATH and an optional id=NAME, each once", tok,
				      VM_FS_TAG_MAX);
			return cli_run_flag_fail("--fs", val, ret, e);
		}
	}
	if (!f.id[0])
		snprintf(f.id, sizeof(f.id), "fs%u", vm->nfs);
	ret = vm_config_put_fs(vm, &f, false, e);
	return ret ? cli_run_flag_fail("--fs", val, ret, e) : 0;
}

int cli_run_net(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct vm_config *vm = &((struct cli_config *)ctx)->vm;
	char rest[1024];
	struct vm_net n;
	const struct rl_key keys[] = {
		{ "rx-bw", &n.rx_rate_limiter.bandwidth }, { "rx-ops", &n.rx_rate_limiter.ops },
		{ "tx-bw", &n.tx_rate_limiter.bandwidth }, { "tx-ops", &n.tx_rate_limiter.ops },
	};
	int ret;

	if (vm->nnets == VM_MAX_NETS)
		return err_set(e, true, -EINVAL, "--net given more than %u times", VM_MAX_NETS);
	memset(&n, 0, sizeof(n));
	ret = rl_extract(val, keys, 4, rest, sizeof(rest), e);
	if (!ret)
		ret = virtio_net_parse(rest, &n.dev, e);
	if (!ret) {
		snprintf(n.id, sizeof(n.id), "eth%u", vm->nnets);
		ret = vm_config_put_net(vm, &n, false, e);
	}
	return ret ? cli_run_flag_fail("--net", val, ret, e) : 0;
}

/*
 * Takes "uds=PATH" out of a --vsock spec (a path holds no ','): the rest
 * is the vhost parser's "cid=N"; *have_uds says whether one was given.
 * 0, or -EINVAL with e.
 */
static int vsock_uds(const char *val, char *rest, size_t restlen, char *uds, size_t udslen,
		     bool *have_uds, struct err *e)
{
	char *save = NULL, *tok, buf[256];
	size_t len = 0;

	if (strlen(val) >= sizeof(buf) || strlen(val) >= restlen)
		return err_set(e, true, -EINVAL, "option string too long");
	strcpy(buf, val);
	rest[0] = uds[0] = '\0';
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (strncmp(tok, "uds=", 4)) {
			len += (size_t)snprintf(rest + len, restlen - len, "%s%s", len ? "," : "", tok);
			continue;
		}
		if (*have_uds || strlen(tok + 4) >= udslen)
			return err_set(e, true, -EINVAL, *have_uds ? "uds given twice"
							       : "uds path too long");
		strcpy(uds, tok + 4);
		*have_uds = true;
	}
	return 0;
}

int cli_run_vsock(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct vm_config *vm = &((struct cli_config *)ctx)->vm;
	char rest[256], uds[256];
	bool have_uds = false;
	struct vsock_config vc;
	struct vm_vsock v = { 0 };
	int ret;

	if (vm->vsock.present)
		return err_set(e, true, -EINVAL, "--vsock given twice; one vsock device per VM");
	ret = vsock_uds(val, rest, sizeof(rest), uds, sizeof(uds), &have_uds, e);
	if (!ret)
		ret = virtio_vsock_parse(rest, &vc, e);
	if (!ret) {
		v.guest_cid = vc.cid;
		v.uds_path = have_uds ? uds : NULL; /* an empty one is the setter's to refuse */
		ret = vm_config_set_vsock(vm, &v, e);
	}
	return ret ? cli_run_flag_fail("--vsock", val, ret, e) : 0;
}

/* --rng, --no-rng, and --rng=bw=..,ops=..: the entropy device with a rate limiter. */
int cli_run_rng(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct vm_config *vm = &((struct cli_config *)ctx)->vm;
	struct rl_config rl = { { 0 }, { 0 } };
	const struct rl_key keys[] = { { "bw", &rl.bandwidth }, { "ops", &rl.ops } };
	char rest[256];
	int ret;

	((struct cli_config *)ctx)->rng_given = true;
	if (!val) {
		vm_config_set_entropy(vm, !strcmp(o->name, "--rng"));
		return 0;
	}
	ret = rl_extract(val, keys, 2, rest, sizeof(rest), e);
	if (!ret && rest[0])
		ret = err_set(e, true, -EINVAL, "unknown option '%.64s' (want bw=SIZE/REFILL_MS"
			      "[+BURST] and/or ops=COUNT/REFILL_MS[+BURST])", rest);
	if (!ret)
		ret = vm_config_put_entropy(vm, &rl, e);
	return ret ? cli_run_flag_fail("--rng", val, ret, e) : 0;
}

/* --debug-exit[=iobase=N][,iosize=N] */
int cli_run_debug_exit(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct vm_config *vm = &((struct cli_config *)ctx)->vm;
	struct vm_debug_exit d = { .iobase = DEBUG_EXIT_IOBASE, .iosize = DEBUG_EXIT_IOSIZE };
	const char *spec = val ? val : "", *p = spec;

	while (*p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char item[32];
		uint64_t v;

		if (len >= sizeof(item))
			goto err_key;
		memcpy(item, p, len);
		item[len] = '\0';
		if (!strncmp(item, "iobase=", 7) && !opt_parse_num(item + 7, 0xffff, &v))
			d.iobase = (uint16_t)v;
		else if (!strncmp(item, "iosize=", 7) && !opt_parse_num(item + 7, 0xff, &v))
			d.iosize = (uint8_t)v;
		else
			goto err_key;
		if (!end)
			break;
		p = end + 1;
	}
	if (vm_config_set_debug_exit(vm, &d, e)) {
		e->usage = true;
		return err_prefix(e, -EINVAL, "--debug-exit: ");
	}
	return 0;

err_key:
	return err_set(e, true, -EINVAL, "--debug-exit '%s': expected iobase=PORT and iosize=1|2|4 "
		       "(PORT decimal or 0x hex, at most 0xffff)", spec);
}
