/*
 * libFuzzer target for the config file (src/fcjson/config_json.c
 * config_json_full and config_json_load_file, with config_json_observe.c,
 * config_json_limiter.c and the vm_config setters behind them): the input is the
 * file. It is loaded twice, from a memfd through config_json_load_file
 * and from memory through config_json_full, and the two must agree.
 *
 * Checked besides ASan/UBSan: both ways give the same answer; a config
 * that loads dumps (config_json_dump_full) to JSON that loads again and
 * dumps to the same JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <jansson.h>

#include "fcjson/config_json.h"
#include "fz.h"
#include "util/log.h"

static int memfd = -1;

static int load_via_file(const uint8_t *data, size_t size)
{
	struct vm_config c;
	char path[64];
	struct err err;
	int ret;

	CHECK(ftruncate(memfd, 0) == 0);
	CHECK(pwrite(memfd, data, size, 0) == (ssize_t)size);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	vm_config_init(&c);
	ret = config_json_load_file(&c, path, &err);
	vm_config_release(&c);
	return ret;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config c, again;
	json_t *root, *dump, *dump2;
	struct err err;
	int ret, ret_file;

	if (memfd < 0) {
		log_set_level(LOG_ERR);
		memfd = memfd_create("fuzz-config", MFD_CLOEXEC);
		CHECK(memfd >= 0);
	}
	ret_file = load_via_file(data, size);
	root = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
	if (!root) {
		CHECK(ret_file != 0);
		return 0;
	}
	vm_config_init(&c);
	ret = config_json_full(&c, root, &err);
	json_decref(root);
	CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	CHECK((ret == 0) == (ret_file == 0));
	if (ret == 0) {
		dump = config_json_dump_full(&c);
		CHECK(dump);
		vm_config_init(&again);
		ret = config_json_full(&again, dump, &err);
		if (ret)
			fprintf(stderr, "dumped config refused: %s\n", err.msg);
		CHECK(ret == 0);
		dump2 = config_json_dump_full(&again);
		CHECK(dump2 && json_equal(dump, dump2));
		json_decref(dump);
		json_decref(dump2);
		vm_config_release(&again);
	}
	vm_config_release(&c);
	return 0;
}
