#include "fcjson/config_json_cpu.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file.h"
#include "fcjson/config_json_fields.h"

#define WHAT "cpu-config"

int config_json_cpu_bitmap(const char *s, unsigned int bits, uint64_t *filter, uint64_t *value)
{
	size_t n = strlen(s);
	unsigned int i = 0;

	*filter = *value = 0;
	if (n >= 2 && s[0] == '0' && s[1] == 'b')
		s += 2, n -= 2;
	/* From the least significant end, as it is written. */
	while (n--) {
		char ch = s[n];

		if (ch == '_')
			continue;
		if (ch != 'x' && ch != '0' && ch != '1')
			return -EINVAL;
		if (i == bits)
			return -E2BIG;
		if (ch != 'x')
			*filter |= 1ull << i;
		if (ch == '1')
			*value |= 1ull << i;
		i++;
	}
	return 0;
}

static int bitmap_field(const char *where, json_t *o, unsigned int bits, uint64_t *filter,
			uint64_t *value, struct err *err)
{
	const char *s = json_string_value(json_object_get(o, "bitmap"));
	int ret = config_json_cpu_bitmap(s, bits, filter, value);

	if (ret == -E2BIG)
		return err_set(err, true, -EINVAL, WHAT ": %s.bitmap '%.80s' has more than %u "
			       "bits", where, s, bits);
	if (ret)
		return err_set(err, true, -EINVAL, WHAT ": %s.bitmap '%.80s' is not a bitmap: "
			       "want 0b and 0, 1 or x per bit", where, s);
	return 0;
}

/* Firecracker's numbers in strings: "0x" hex or "0b" binary, nothing else, within 32 bits. */
static int number_field(const char *where, json_t *o, const char *name, uint32_t *out,
			struct err *err)
{
	const char *s = json_string_value(json_object_get(o, name));
	unsigned int base = 0;
	uint64_t v = 0;
	size_t n;

	if (!strncmp(s, "0x", 2))
		base = 16;
	else if (!strncmp(s, "0b", 2))
		base = 2;
	if (!base)
		return err_set(err, true, -EINVAL, WHAT ": %s.%s '%.40s': No supported number "
			       "system prefix found. Make sure to prefix the number with '0x' for "
			       "hexadecimal numbers or '0b' for binary numbers.", where, name, s);
	n = strlen(s + 2);
	for (size_t i = 0; i < n; i++) {
		char ch = s[2 + i];
		unsigned int d = ch >= '0' && ch <= '9' ? (unsigned int)(ch - '0') :
				 ch >= 'a' && ch <= 'f' ? (unsigned int)(ch - 'a' + 10) :
				 ch >= 'A' && ch <= 'F' ? (unsigned int)(ch - 'A' + 10) : 99;

		if (d >= base)
			return err_set(err, true, -EINVAL, WHAT ": %s.%s '%.40s' is not a number",
				       where, name, s);
		v = v * base + d;
		if (v > UINT32_MAX)
			return err_set(err, true, -EINVAL, WHAT ": %s.%s '%.40s' does not fit in "
				       "32 bits", where, name, s);
	}
	if (!n)
		return err_set(err, true, -EINVAL, WHAT ": %s.%s '%.40s' is not a number", where,
			       name, s);
	*out = (uint32_t)v;
	return 0;
}

static int array_field(json_t *o, const char *name, size_t max, json_t **arr, struct err *err)
{
	*arr = json_object_get(o, name);
	if (!*arr || json_is_null(*arr)) {
		*arr = NULL;
		return 0;
	}
	if (json_array_size(*arr) > max)
		return err_set(err, true, -EINVAL, WHAT ": %s has %zu entries, at most %zu", name,
			       json_array_size(*arr), max);
	return 0;
}

static const struct jfield top_fields[] = {
	{ "kvm_capabilities", J_ARR, false, NULL, NULL, NULL },
	{ "cpuid_modifiers", J_ARR, false, NULL, NULL, NULL },
	{ "msr_modifiers", J_ARR, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield leaf_fields[] = {
	{ "leaf", J_STR, true, NULL, NULL, NULL },
	{ "subleaf", J_STR, true, NULL, NULL, NULL },
	{ "flags", J_UINT, true, NULL, "u32", NULL },
	{ "modifiers", J_ARR, true, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield reg_fields[] = {
	{ "register", J_STR, true, NULL, NULL, NULL },
	{ "bitmap", J_STR, true, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield msr_fields[] = {
	{ "addr", J_STR, true, NULL, NULL, NULL },
	{ "bitmap", J_STR, true, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static int parse_caps(json_t *arr, struct cpu_template_custom *t, struct err *err)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v) {
		const char *s = json_string_value(v), *p;
		uint64_t n = 0;

		if (!s)
			return err_set(err, true, -EINVAL, WHAT ": kvm_capabilities[%zu] must be a "
				       "string", i);
		p = s + (*s == '!');
		for (const char *q = p; *q; q++) {
			if (*q < '0' || *q > '9' || n > UINT32_MAX / 10)
				goto bad;
			n = n * 10 + (uint64_t)(*q - '0');
		}
		if (!*p || n > UINT32_MAX)
			goto bad;
		t->caps[i] = (struct cpu_kvm_cap){ (uint32_t)n, *s == '!' };
		continue;
bad:
		return err_set(err, true, -EINVAL, WHAT ": kvm_capabilities[%zu] '%.40s' is not a "
			       "kvm capability: want a number, or ! and a number", i, s);
	}
	t->t.ncaps = (unsigned int)json_array_size(arr);
	return 0;
}

static int parse_reg(const char *where, json_t *o, struct cpu_reg_mod *m, struct err *err)
{
	static const char *const regs[] = { "eax", "ebx", "ecx", "edx" };
	const char *r;
	uint64_t filter, value;
	int ret = config_json_check(WHAT, o, reg_fields, err);

	if (ret)
		return err_prefix(err, ret, "%s: ", where);
	r = json_string_value(json_object_get(o, "register"));
	for (m->reg = CPU_REG_EAX; m->reg <= CPU_REG_EDX; m->reg++)
		if (!strcmp(r, regs[m->reg]))
			break;
	if (m->reg > CPU_REG_EDX)
		return err_set(err, true, -EINVAL, WHAT ": %s.register '%.16s': Invalid CPUID "
			       "register. Must be one of [eax, ebx, ecx, edx]", where, r);
	ret = bitmap_field(where, o, 32, &filter, &value, err);
	m->filter = (uint32_t)filter;
	m->value = (uint32_t)value;
	return ret;
}

static int parse_leaf(size_t i, json_t *o, struct cpu_leaf_mod *l, struct err *err)
{
	char where[64];
	json_t *mods, *v;
	uint64_t flags;
	size_t j;
	int ret;

	snprintf(where, sizeof(where), "cpuid_modifiers[%zu]", i);
	ret = config_json_check(WHAT, o, leaf_fields, err);
	if (ret)
		return err_prefix(err, ret, "%s: ", where);
	ret = number_field(where, o, "leaf", &l->leaf, err);
	if (!ret)
		ret = number_field(where, o, "subleaf", &l->subleaf, err);
	if (ret)
		return ret;
	flags = (uint64_t)json_integer_value(json_object_get(o, "flags"));
	if (flags > UINT32_MAX)
		return err_set(err, true, -EINVAL, WHAT ": %s.flags does not fit in 32 bits", where);
	l->flags = (uint32_t)flags;
	mods = json_object_get(o, "modifiers");
	if (json_array_size(mods) > CPU_TEMPLATE_MAX_REG_MODS)
		return err_set(err, true, -EINVAL, WHAT ": %s.modifiers has %zu entries, at most %d",
			       where, json_array_size(mods), CPU_TEMPLATE_MAX_REG_MODS);
	json_array_foreach(mods, j, v) {
		char reg_where[96];

		snprintf(reg_where, sizeof(reg_where), "%s.modifiers[%zu]", where, j);
		if (!json_is_object(v))
			return err_set(err, true, -EINVAL, WHAT ": %s: want a JSON object", reg_where);
		ret = parse_reg(reg_where, v, &l->mods[j], err);
		if (ret)
			return ret;
	}
	l->nmods = (unsigned int)json_array_size(mods);
	return 0;
}

static int parse_msr(size_t i, json_t *o, struct cpu_msr_mod *m, struct err *err)
{
	char where[64];
	int ret;

	snprintf(where, sizeof(where), "msr_modifiers[%zu]", i);
	ret = config_json_check(WHAT, o, msr_fields, err);
	if (ret)
		return err_prefix(err, ret, "%s: ", where);
	ret = number_field(where, o, "addr", &m->addr, err);
	return ret ? ret : bitmap_field(where, o, 64, &m->filter, &m->value, err);
}

int config_json_cpu_parse(json_t *o, struct cpu_template_custom **out, struct err *err)
{
	struct cpu_template_custom *t;
	json_t *caps, *leaves, *msrs, *v;
	size_t i;
	int ret;

	*out = NULL;
	ret = config_json_check(WHAT, o, top_fields, err);
	if (!ret)
		ret = array_field(o, "kvm_capabilities", CPU_TEMPLATE_MAX_CAPS, &caps, err);
	if (!ret)
		ret = array_field(o, "cpuid_modifiers", CPU_TEMPLATE_MAX_LEAVES, &leaves, err);
	if (!ret)
		ret = array_field(o, "msr_modifiers", CPU_TEMPLATE_MAX_MSRS, &msrs, err);
	if (ret)
		return ret;
	t = calloc(1, sizeof(*t));
	if (!t)
		return err_set(err, false, -ENOMEM, "out of memory");
	t->t.cpuid = t->cpuid;
	t->t.msrs = t->msrs;
	t->t.caps = t->caps;
	if (caps)
		ret = parse_caps(caps, t, err);
	json_array_foreach(leaves, i, v) {
		if (ret)
			break;
		ret = json_is_object(v) ? parse_leaf(i, v, &t->cpuid[i], err) :
		      err_set(err, true, -EINVAL, WHAT ": cpuid_modifiers[%zu]: want a JSON object",
			      i);
		t->t.ncpuid = (unsigned int)i + 1;
	}
	json_array_foreach(msrs, i, v) {
		if (ret)
			break;
		ret = json_is_object(v) ? parse_msr(i, v, &t->msrs[i], err) :
		      err_set(err, true, -EINVAL, WHAT ": msr_modifiers[%zu]: want a JSON object",
			      i);
		t->t.nmsrs = (unsigned int)i + 1;
	}
	if (ret) {
		free(t);
		return ret;
	}
	*out = t;
	return 0;
}

int config_json_cpu_config(struct vm_config *c, json_t *o, struct err *err)
{
	struct cpu_template_custom *t;
	int ret = config_json_cpu_parse(o, &t, err);

	if (!ret)
		vm_config_set_cpu_config(c, t);
	return ret;
}

/* A template file is a regular file of at most this much: a FIFO or a device never stalls the load. */
#define CPU_TEMPLATE_FILE_MAX (1u << 20)

int config_json_cpu_section(struct vm_config *c, json_t *v, struct err *err)
{
	const char *path = json_string_value(v);
	json_error_t jerr;
	struct stat st;
	char *buf = NULL;
	ssize_t n = -1;
	json_t *o;
	int fd, ret;

	if (!path)
		return config_json_cpu_config(c, v, err);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return err_set(err, true, -EINVAL, WHAT ": %.256s: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size > CPU_TEMPLATE_FILE_MAX) {
		close(fd);
		return err_set(err, true, -EINVAL, WHAT ": %.256s: not a regular file of at most "
			       "%u bytes", path, CPU_TEMPLATE_FILE_MAX);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (buf)
		n = file_read_full(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n < 0) {
		free(buf);
		return err_set(err, !!buf, buf ? -EINVAL : -ENOMEM, WHAT ": %.256s: %s", path,
			       buf ? "cannot be read" : "out of memory");
	}
	o = json_loadb(buf, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (!o)
		return err_set(err, true, -EINVAL, WHAT ": %.256s: bad JSON at line %d column %d: "
			       "%s", path, jerr.line, jerr.column, jerr.text);
	ret = json_is_object(o) ? config_json_cpu_config(c, o, err) :
	      err_set(err, true, -EINVAL, WHAT ": %.256s: want a JSON object", path);
	json_decref(o);
	return ret;
}

static json_t *hex(uint32_t v)
{
	char s[16];

	snprintf(s, sizeof(s), "0x%" PRIx32, v);
	return json_string(s);
}

static json_t *bitmap(unsigned int bits, uint64_t filter, uint64_t value)
{
	char s[2 + 64 + 1] = "0b";

	for (unsigned int i = 0; i < bits; i++) {
		unsigned int b = bits - 1 - i;

		s[2 + i] = !(filter >> b & 1) ? 'x' : (value >> b & 1) ? '1' : '0';
	}
	s[2 + bits] = '\0';
	return json_string(s);
}

json_t *config_json_cpu_dump(const struct cpu_template *t)
{
	static const char *const regs[] = { "eax", "ebx", "ecx", "edx" };
	json_t *caps = json_array(), *leaves = json_array(), *msrs = json_array();
	bool bad = !caps || !leaves || !msrs;

	for (unsigned int i = 0; !bad && i < t->ncaps; i++) {
		char s[16];

		snprintf(s, sizeof(s), "%s%" PRIu32, t->caps[i].remove ? "!" : "", t->caps[i].cap);
		bad = json_array_append_new(caps, json_string(s)) != 0;
	}
	for (unsigned int i = 0; !bad && i < t->ncpuid; i++) {
		const struct cpu_leaf_mod *l = &t->cpuid[i];
		json_t *mods = json_array();

		for (unsigned int j = 0; mods && j < l->nmods; j++)
			if (json_array_append_new(mods, json_pack("{s:s, s:o}", "register",
								  regs[l->mods[j].reg], "bitmap",
								  bitmap(32, l->mods[j].filter,
									 l->mods[j].value)))) {
				json_decref(mods);
				mods = NULL;
			}
		bad = json_array_append_new(leaves, json_pack("{s:o, s:o, s:I, s:o?}", "leaf",
							      hex(l->leaf), "subleaf",
							      hex(l->subleaf), "flags",
							      (json_int_t)l->flags, "modifiers",
							      mods)) != 0 || !mods;
	}
	for (unsigned int i = 0; !bad && i < t->nmsrs; i++)
		bad = json_array_append_new(msrs, json_pack("{s:o, s:o}", "addr",
							    hex(t->msrs[i].addr), "bitmap",
							    bitmap(64, t->msrs[i].filter,
								   t->msrs[i].value))) != 0;
	if (bad) {
		json_decref(caps);
		json_decref(leaves);
		json_decref(msrs);
		return NULL;
	}
	return json_pack("{s:o, s:o, s:o}", "kvm_capabilities", caps, "cpuid_modifiers", leaves,
			 "msr_modifiers", msrs);
}
