/*
 * Rate limiters in the machine model: the command line, the config file
 * and the API fill it through the same check, so the same bad limiter
 * gets the same words; PATCHes merge into it bucket by bucket.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "cli/run.h"
#include "vmm/config.h"
#include "fcjson/config_json.h"
#include "fcjson/config_json_limiter.h"

#define BAD_REFILL "99999999999999"
#define WHY "bandwidth: refill_time 99999999999999 ms is too long (at most 18446744073709)"

static struct err cli_err, file_err, api_err;

static int cli(const char *flag, const char *val)
{
	const char *argv[] = { "hearth", "run", "--kernel", "/k", flag, val };
	struct cli_config c;
	int ret = cli_run_parse(val ? 6 : 5, (char **)argv, &c, &cli_err);

	cli_run_release(&c);
	return ret;
}

static int file(const char *text)
{
	char path[] = "/tmp/hearth-rl-XXXXXX";
	int fd = mkstemp(path);
	struct vm_config c;
	int ret;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	vm_config_init(&c);
	ret = config_json_load_file(&c, path, &file_err);
	vm_config_release(&c);
	unlink(path);
	return ret;
}

static int api(int (*put)(struct vm_config *, json_t *, const char *, struct err *),
	       const char *body, const char *id)
{
	json_t *o = json_loads(body, 0, NULL);
	struct vm_config c;
	int ret;

	assert_non_null(o);
	vm_config_init(&c);
	ret = put(&c, o, id, &api_err);
	vm_config_release(&c);
	json_decref(o);
	return ret;
}

static int api_entropy(struct vm_config *c, json_t *o, const char *id, struct err *e)
{
	(void)id;
	return config_json_entropy(c, o, e);
}

static void expect_all(const char *words)
{
	if (!strstr(cli_err.msg, words))
		fail_msg("CLI '%s' lacks '%s'", cli_err.msg, words);
	if (!strstr(file_err.msg, words))
		fail_msg("file '%s' lacks '%s'", file_err.msg, words);
	if (!strstr(api_err.msg, words))
		fail_msg("API '%s' lacks '%s'", api_err.msg, words);
}

static void test_same_words_drive(void **state)
{
	(void)state;
	assert_int_equal(cli("--disk", "path=/d,id=d1,bw=1/" BAD_REFILL), -EINVAL);
	assert_int_equal(file("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"drives\": "
			      "[{\"drive_id\": \"d1\", \"path_on_host\": \"/d\", \"is_root_device\":"
			      " false, \"rate_limiter\": {\"bandwidth\": {\"size\": 1,"
			      " \"refill_time\": " BAD_REFILL "}}}]}"), -EINVAL);
	assert_int_equal(api(config_json_drive, "{\"drive_id\": \"d1\", \"path_on_host\": \"/d\","
			     " \"is_root_device\": false, \"rate_limiter\": {\"bandwidth\":"
			     " {\"size\": 1, \"refill_time\": " BAD_REFILL "}}}", "d1"), -EINVAL);
	expect_all("drive 'd1': rate_limiter: " WHY);
}

static void test_same_words_net_and_entropy(void **state)
{
	(void)state;
	assert_int_equal(cli("--net", "user,tx-bw=1/" BAD_REFILL), -EINVAL);
	assert_int_equal(file("{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
			      " \"network-interfaces\": [{\"iface_id\": \"eth0\", \"host_dev_name\":"
			      " \"tap0\", \"tx_rate_limiter\": {\"bandwidth\": {\"size\": 1,"
			      " \"refill_time\": " BAD_REFILL "}}}]}"), -EINVAL);
	assert_int_equal(api(config_json_net, "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\","
			     " \"tx_rate_limiter\": {\"bandwidth\": {\"size\": 1, \"refill_time\": "
			     BAD_REFILL "}}}", "eth0"), -EINVAL);
	expect_all("network interface 'eth0': tx_rate_limiter: " WHY);

	assert_int_equal(cli("--rng=bw=1/" BAD_REFILL, NULL), -EINVAL);
	assert_int_equal(file("{\"boot-source\": {\"kernel_image_path\": \"/k\"}, \"entropy\":"
			      " {\"rate_limiter\": {\"bandwidth\": {\"size\": 1, \"refill_time\": "
			      BAD_REFILL "}}}}"), -EINVAL);
	assert_int_equal(api(api_entropy, "{\"rate_limiter\": {\"bandwidth\": {\"size\": 1,"
			     " \"refill_time\": " BAD_REFILL "}}}", NULL), -EINVAL);
	expect_all("entropy: rate_limiter: " WHY);
}

/* Good limiters land in the model with the values given, from either front end. */
static void test_cli_and_json_fill_the_model(void **state)
{
	const char *argv[] = { "hearth", "run", "--kernel", "/k", "--disk",
			       "path=/d,bw=10M/1000+1K,ro,ops=100/500", "--net",
			       "user,rx-ops=7/70", "--rng=ops=3/30+1" };
	struct cli_config c;
	struct vm_config v;
	json_t *o, *dump;

	(void)state;
	assert_int_equal(cli_run_parse(9, (char **)argv, &c, &cli_err), 0);
	assert_true(c.vm.drives[0].is_read_only);
	assert_true(c.vm.drives[0].rate_limiter.bandwidth.set);
	assert_int_equal(c.vm.drives[0].rate_limiter.bandwidth.size, 10u << 20);
	assert_int_equal(c.vm.drives[0].rate_limiter.bandwidth.refill_time, 1000);
	assert_int_equal(c.vm.drives[0].rate_limiter.bandwidth.one_time_burst, 1024);
	assert_int_equal(c.vm.drives[0].rate_limiter.ops.size, 100);
	assert_int_equal(c.vm.nets[0].rx_rate_limiter.ops.refill_time, 70);
	assert_false(c.vm.nets[0].tx_rate_limiter.ops.set);
	assert_true(c.vm.entropy);
	assert_int_equal(c.vm.entropy_rate_limiter.ops.one_time_burst, 1);

	/* The model's JSON reads back into the same model. */
	dump = config_json_dump_full(&c.vm);
	assert_non_null(dump);
	o = json_object_get(json_array_get(json_object_get(dump, "drives"), 0), "rate_limiter");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "ops"), "size")),
			 100);
	vm_config_init(&v);
	assert_int_equal(config_json_limiter("drives", json_array_get(json_object_get(dump,
			 "drives"), 0), "rate_limiter", &v.drives[0].rate_limiter, &api_err), 0);
	assert_memory_equal(&v.drives[0].rate_limiter, &c.vm.drives[0].rate_limiter,
			    sizeof(struct rl_config));
	o = json_object_get(dump, "entropy");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(json_object_get(o,
			 "rate_limiter"), "ops"), "refill_time")), 30);
	json_decref(dump);
	vm_config_release(&v);
	cli_run_release(&c);
}

static void test_patch_merges(void **state)
{
	struct vm_drive d = { .id = "d1", .path_on_host = "/a",
			      .rate_limiter = { .bandwidth = { true, 100, 0, 1000 },
						.ops = { true, 5, 0, 1000 } } };
	struct vm_drive_patch p = { .id = "d1", .path_on_host = "/b",
				    .rate_limiter = { .ops = { true, 0, 0, 0 } },
				    .has_rate_limiter = true };
	struct vm_config c;
	struct err err;

	(void)state;
	vm_config_init(&c);
	assert_int_equal(vm_config_put_drive(&c, &d, false, &err), 0);
	assert_int_equal(vm_config_patch_drive(&c, &p, &err), 0);
	assert_string_equal(c.drives[0].path_on_host, "/b");
	/* Left out: kept. Given with size 0: off, and said so in the model. */
	assert_int_equal(c.drives[0].rate_limiter.bandwidth.size, 100);
	assert_true(c.drives[0].rate_limiter.ops.set);
	assert_int_equal(c.drives[0].rate_limiter.ops.size, 0);
	p.id = "nope";
	assert_int_equal(vm_config_patch_drive(&c, &p, &err), -EINVAL);
	assert_string_equal(err.msg, "drive 'nope' does not exist");
	p.id = "d1";
	p.path_on_host = "";
	assert_int_equal(vm_config_patch_drive(&c, &p, &err), -EINVAL);
	assert_string_equal(err.msg, "drive 'd1': path_on_host is empty or too long");
	p.path_on_host = NULL;
	p.rate_limiter.ops.refill_time = RL_MAX_REFILL_MS + 1;
	assert_int_equal(vm_config_patch_drive(&c, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "drive 'd1': rate_limiter: ops: refill_time"));
	assert_string_equal(c.drives[0].path_on_host, "/b");
	/* Neither a file nor a limiter: Firecracker's refusal, not a silent 204. */
	p.has_rate_limiter = false;
	p.rate_limiter.ops.refill_time = 0;
	assert_int_equal(vm_config_patch_drive(&c, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "Running method expected different backend."));
	vm_config_release(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_words_drive),
		cmocka_unit_test(test_same_words_net_and_entropy),
		cmocka_unit_test(test_cli_and_json_fill_the_model),
		cmocka_unit_test(test_patch_merges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
