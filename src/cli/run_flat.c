/*
 * `hearth run`'s flags for the smallest guests: --flat (a raw image,
 * boot/flat.h) and --debugcon (devices/debugcon.h). Each spec is FIRST
 * then key=value items split at ',', numbers decimal or 0x hex; the
 * model's setters check what the values mean.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/run.h"
#include "core/layout.h"

/* Past any RAM Hearth gives a guest (1 TiB), still far from overflowing addr + size. */
#define FLAT_ADDR_MAX 0xffffffffffffull

/* The next ','-separated item of *p into item (NUL-terminated); false at the end or when too long. */
static bool next_item(const char **p, char *item, size_t len, bool *too_long)
{
	size_t n = strcspn(*p, ",");

	*too_long = n >= len;
	if (!**p || *too_long)
		return false;
	memcpy(item, *p, n);
	item[n] = '\0';
	*p += (*p)[n] == ',' ? n + 1 : n;
	return true;
}

int cli_run_flat(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct vm_config *vm = &((struct cli_config *)ctx)->vm;
	struct vm_flat f = { .mode = FLAT_REAL };
	char path[4096], item[64];
	size_t n = strcspn(val, ",");
	const char *p = val + n;
	bool too_long;
	uint64_t v;

	if (vm->flat.present)
		return err_set(e, true, -EINVAL, "--flat given twice; one image per VM");
	if (n >= sizeof(path))
		return err_set(e, true, -EINVAL, "--flat: the image path is longer than 4095 bytes");
	memcpy(path, val, n);
	path[n] = '\0';
	f.path = path;
	if (*p == ',')
		p++;
	while (next_item(&p, item, sizeof(item), &too_long)) {
		if (!strncmp(item, "addr=", 5) && !opt_parse_num(item + 5, FLAT_ADDR_MAX, &v)) {
			f.addr = v;
		} else if (!strncmp(item, "entry=", 6) && !opt_parse_num(item + 6, FLAT_ADDR_MAX, &v)) {
			f.entry = v;
			f.entry_set = true;
		} else if (!strncmp(item, "mode=", 5)) {
			if (flat_mode_parse(item + 5, &f.mode))
				return err_set(e, true, -EINVAL, "--flat '%.200s': unknown mode '%s' "
					       "(want real, prot32 or long)", val, item + 5);
		} else {
			goto err_item;
		}
	}
	if (too_long)
		goto err_item;
	if (vm_config_set_flat(vm, &f, e))
		return cli_run_flag_fail("--flat", val, -EINVAL, e);
	return 0;

err_item:
	return err_set(e, true, -EINVAL, "--flat '%.200s': expected FILE[,addr=A][,entry=E]"
		       "[,mode=real|prot32|long] (A and E decimal or 0x hex, at most 0x%llx)", val,
		       FLAT_ADDR_MAX);
}

int cli_run_debugcon(void *ctx, const struct opt *o, const char *val, struct err *e)
{
	struct vm_config *vm = &((struct cli_config *)ctx)->vm;
	struct vm_debugcon d = { .port = PORT_DEBUGCON };
	const char *spec = val ? val : "", *p = spec;
	char item[4200], out[4200];
	bool too_long;
	uint64_t v;

	if (vm->debugcon.present)
		return err_set(e, true, -EINVAL, "--debugcon given twice; one debug console per VM");
	while (next_item(&p, item, sizeof(item), &too_long)) {
		if (!strncmp(item, "port=", 5) && !opt_parse_num(item + 5, 0xffff, &v))
			d.port = (uint16_t)v;
		else if (!strncmp(item, "out=", 4) && !d.out_path)
			d.out_path = strcpy(out, item + 4);
		else
			goto err_item;
	}
	if (too_long)
		goto err_item;
	if (vm_config_set_debugcon(vm, &d, e))
		return cli_run_flag_fail("--debugcon", spec, -EINVAL, e);
	return 0;

err_item:
	return err_set(e, true, -EINVAL, "--debugcon '%.200s': expected [port=PORT][,out=PATH] "
		       "(PORT decimal or 0x hex, at most 0xffff)", spec);
}
