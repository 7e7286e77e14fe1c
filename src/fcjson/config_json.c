#include "fcjson/config_json.h"
#include "fcjson/config_json_fields.h"
#include "fcjson/config_json_observe.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcjson/config_json_balloon.h"
#include "fcjson/config_json_fs.h"
#include "fcjson/config_json_pmem.h"
#include "fcjson/config_json_hotplug.h"
#include "fcjson/config_json_cpu.h"
#include "fcjson/config_json_fault.h"
#include "fcjson/config_json_limiter.h"
#include "fcjson/config_json_mmds.h"

static const char *jstr(json_t *o, const char *name)
{
	return json_string_value(json_object_get(o, name));
}

static bool jbool(json_t *o, const char *name, bool def)
{
	json_t *v = json_object_get(o, name);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

static uint64_t juint(json_t *o, const char *name, uint64_t def)
{
	json_t *v = json_object_get(o, name);

	return json_is_integer(v) ? (uint64_t)json_integer_value(v) : def;
}

static bool jhas(json_t *o, const char *name)
{
	json_t *v = json_object_get(o, name);

	return v && !json_is_null(v);
}

/* Firecracker's BootSourceConfig. */
static const struct jfield boot_fields[] = {
	{ "kernel_image_path", J_STR, true, NULL, NULL, NULL },
	{ "initrd_path", J_STR, false, NULL, NULL, NULL },
	{ "boot_args", J_STR, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

/*
 * Hearth's firmware boot beside it (docs/firmware.md): firmware_path
 * instead of kernel_image_path, with firmware_vars_path and the SMBIOS
 * fields. Checked on their own, so serde's "expected one of" list for
 * the rest stays Firecracker's words.
 */
static const struct jfield boot_fw_fields[] = {
	{ "firmware_path", J_STR, false, NULL, NULL, NULL },
	{ "firmware_vars_path", J_STR, false, NULL, NULL, NULL },
	{ "smbios", J_OBJ, false, NULL, "struct SmbiosConfig", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield smbios_fields[] = {
	{ "serial", J_STR, false, NULL, NULL, NULL },
	{ "uuid", J_STR, false, NULL, NULL, NULL },
	{ "product", J_STR, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

/* The firmware half: the kernel's fields excluded (vm_config_check_firmware's words). */
static int boot_firmware(struct vm_config *c, json_t *o, struct err *err)
{
	static const char *const kernel_keys[] = { "kernel_image_path", "initrd_path",
						   "boot_args" };
	json_t *sm = json_object_get(o, "smbios");
	int ret;

	for (unsigned int i = 0; i < 3; i++)
		if (jhas(o, kernel_keys[i]))
			return err_set(err, true, -EINVAL, "firmware_path and %s exclude each "
				       "other: boot through firmware or a kernel, not both",
				       kernel_keys[i]);
	if (sm && !json_is_null(sm)) {
		ret = config_json_check("smbios", sm, smbios_fields, err);
		if (ret)
			return ret;
	}
	ret = vm_config_set_firmware(c, jstr(o, "firmware_path"), jstr(o, "firmware_vars_path"),
				     err);
	if (!ret)
		ret = vm_config_set_smbios(c, jstr(sm, "serial"), jstr(sm, "product"),
					   jstr(sm, "uuid"), err);
	if (!ret)
		vm_config_clear_boot(c);
	return ret;
}

/* o's Hearth keys checked and moved into *fw (a new object); o keeps Firecracker's. */
static int boot_split(json_t *o, json_t **fw, json_t **rest, struct err *err)
{
	*fw = json_object();
	*rest = json_is_object(o) ? json_copy(o) : json_incref(o);
	if (!*fw || !*rest) {
		json_decref(*fw);
		json_decref(*rest);
		return err_set(err, false, -ENOMEM, "out of memory");
	}
	for (const struct jfield *f = boot_fw_fields; f->name && json_is_object(o); f++) {
		json_t *v = json_object_get(o, f->name);

		if (!v)
			continue;
		json_object_set(*fw, f->name, v);
		json_object_del(*rest, f->name);
	}
	return config_json_check("boot-source", *fw, boot_fw_fields, err);
}

int config_json_boot_source(struct vm_config *c, json_t *o, struct err *err)
{
	const char *what = "boot-source";
	json_t *fwo = NULL, *rest = NULL;
	bool fw;
	int ret;

	ret = boot_split(o, &fwo, &rest, err);
	fw = !ret && jhas(fwo, "firmware_path");
	/* With firmware_path, kernel_image_path is not wanted but refused (boot_firmware). */
	if (!ret)
		ret = config_json_check_fields(what, rest, boot_fields, !fw, err);
	if (ret) {
		/* serde places a fault in the body the caller has: o, not the copies. */
		if (err->at && (err->at == rest || err->at == fwo)) {
			/* The key too: the copies' names go with them. */
			void *it = err->at_key ? json_object_iter_at(o, err->at_key) : NULL;

			err->at = o;
			err->at_key = it ? json_object_iter_key(it) : NULL;
		}
		json_decref(fwo);
		json_decref(rest);
		return ret;
	}
	if (fw) {
		ret = boot_firmware(c, o, err);
	} else if (json_object_size(fwo)) {
		ret = err_set(err, true, -EINVAL, "%s needs firmware_path",
			      jhas(fwo, "smbios") ? "smbios" : "firmware_vars_path");
	} else {
		ret = vm_config_set_boot_source(c, jstr(o, "kernel_image_path"),
						jstr(o, "initrd_path"), jstr(o, "boot_args"), err);
		if (!ret)
			vm_config_clear_firmware(c);
	}
	json_decref(fwo);
	json_decref(rest);
	return ret ? err_prefix(err, ret, "%s: ", what) : 0;
}

static const char *const cpu_templates[] = { "C3", "T2", "T2S", "None", "T2CL", "T2A", NULL };
/* Firecracker's HugePageConfig in its order; "Transparent" is its main branch's, past 1.16. */
static const char *const huge_page_sizes[] = { "None", "Transparent", "2M", NULL };

/* Firecracker's MachineConfig (PUT) and MachineConfigUpdate (PATCH: none required). */
static const struct jfield machine_fields[] = {
	{ "vcpu_count", J_UINT, true, NULL, "u8", NULL },
	{ "mem_size_mib", J_UINT, true, NULL, "usize", NULL },
	{ "smt", J_BOOL, false, NULL, NULL, NULL },
	{ "cpu_template", J_ENUM, false, NULL, NULL, cpu_templates },
	{ "track_dirty_pages", J_BOOL, false, NULL, NULL, NULL },
	{ "huge_pages", J_ENUM, false, NULL, NULL, huge_page_sizes },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

int config_json_huge_pages(const char *s, enum vm_huge_pages *out)
{
	if (!strcmp(s, "None"))
		*out = VM_HUGE_PAGES_NONE;
	else if (!strcmp(s, "Transparent"))
		*out = VM_HUGE_PAGES_THP;
	else if (!strcmp(s, "2M"))
		*out = VM_HUGE_PAGES_2M;
	else
		return -EINVAL;
	return 0;
}

const char *config_json_huge_pages_name(enum vm_huge_pages h)
{
	return h == VM_HUGE_PAGES_2M ? "2M" : h == VM_HUGE_PAGES_THP ? "Transparent" : "None";
}

/* Firecracker's HugePageConfig: "None", "Transparent" or "2M"; absent: dflt. */
static int machine_huge_pages(const char *what, json_t *o, enum vm_huge_pages dflt,
			      enum vm_huge_pages *out, struct err *err)
{
	const char *s = jstr(o, "huge_pages");

	*out = dflt;
	if (s && config_json_huge_pages(s, out))
		return err_set(err, true, -EINVAL, "%s: huge_pages '%.64s' is not one of None, "
			       "Transparent, 2M", what, s);
	return 0;
}

int config_json_machine(struct vm_config *c, json_t *o, bool patch, struct err *err)
{
	const char *what = "machine-config";
	struct vm_machine m = { VM_DEFAULT_VCPUS, VM_DEFAULT_MEM_MIB, false, false,
				CPU_TEMPLATE_NONE, VM_HUGE_PAGES_NONE };
	const char *tmpl;
	uint64_t vcpus;
	int ret;

	ret = config_json_check_fields(what, o, machine_fields, !patch, err);
	if (ret)
		return ret;
	if (patch)
		m = c->machine;
	/* As the other fields: PUT without it is "None", PATCH without it keeps it. */
	ret = machine_huge_pages(what, o, m.huge_pages, &m.huge_pages, err);
	if (ret)
		return ret;
	/*
	 * As Firecracker's MachineConfig::update, for PUT as for PATCH: a
	 * template left out stays (a custom one too), "None" takes it away.
	 */
	m.cpu_template = c->machine.cpu_template;
	tmpl = jstr(o, "cpu_template");
	if (tmpl && cpu_template_parse(tmpl, &m.cpu_template))
		return err_set(err, true, -EINVAL, "%s: cpu_template '%.64s' is not one of C3, T2, "
			       "T2S, T2CL, T2A, None", what, tmpl);
	vcpus = juint(o, "vcpu_count", m.vcpu_count);
	if (vcpus > VM_MAX_VCPUS)
		return err_set(err, true, -EINVAL, "%s: vcpu_count %llu is out of range (1 to %u)",
			       what, (unsigned long long)vcpus, VM_MAX_VCPUS);
	m.vcpu_count = (unsigned int)vcpus;
	m.mem_size_mib = juint(o, "mem_size_mib", m.mem_size_mib);
	m.smt = jbool(o, "smt", m.smt);
	m.track_dirty_pages = jbool(o, "track_dirty_pages", m.track_dirty_pages);
	ret = vm_config_set_machine(c, &m, err);
	if (ret)
		return err_prefix(err, ret, "%s: ", what);
	if (tmpl && m.cpu_template == CPU_TEMPLATE_NONE)
		vm_config_set_cpu_config(c, NULL);
	return 0;
}

/* Firecracker's NetworkInterfaceConfig, and mtu. */
static const struct jfield net_fields[] = {
	{ "iface_id", J_STR, true, NULL, NULL, NULL },
	/* One of the two: a TAP, or (Hearth's) a user-mode backend in --net's words. */
	{ "host_dev_name", J_STR, false, NULL, NULL, NULL },
	{ "guest_mac", J_STR, false, NULL, NULL, NULL },
	{ "rx_rate_limiter", J_OBJ, false, NULL, "struct RateLimiterConfig", NULL },
	{ "tx_rate_limiter", J_OBJ, false, NULL, "struct RateLimiterConfig", NULL },
	{ "mtu", J_UINT, false, NULL, "u16", NULL },
	{ "backend", J_STR, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Firecracker's MacAddr: six parts split at ':', each exactly two
 * characters that Rust's u8::from_str_radix(_, 16) takes, so two hex
 * digits, or '+' and one. Any address: multicast, broadcast, all zeroes.
 */
static int parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++, s += 3) {
		int hi = s[0] == '+' ? 0 : hex_digit(s[0]);
		int lo = s[0] ? hex_digit(s[1]) : -1;

		if (hi < 0 || lo < 0 || s[2] != (i < 5 ? ':' : '\0'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* Firecracker's parse_put_net words, which name both ids. */
static int net_id_mismatch(struct err *err, const char *what, json_t *o, const char *path_id,
			   const char *id)
{
	char words[ERR_MSG_MAX];

	snprintf(words, sizeof(words), "The id from the path [%s] does not match the id from the "
		 "body [%s]!", path_id, id);
	return jfault_plain(err, what, o, words);
}

int config_json_net(struct vm_config *c, json_t *o, const char *path_id, struct err *err)
{
	const char *what = "network-interfaces";
	const char *id, *tap, *backend, *mac;
	struct vm_net n;
	int ret;

	ret = config_json_check_fields(what, o, net_fields, true, err);
	if (ret)
		return ret;
	id = jstr(o, "iface_id");
	if (path_id && strcmp(id, path_id) != 0)
		return net_id_mismatch(err, what, o, path_id, id);
	ret = vm_config_check_id("iface_id", id, err);
	if (ret)
		return err_prefix(err, ret, "%s: ", what);
	tap = jstr(o, "host_dev_name");
	backend = jstr(o, "backend");
	/* Neither: serde's missing field, as Firecracker knows no backend. */
	if (!tap && !backend)
		return jfault_missing(err, what, o, "host_dev_name");
	if (tap && backend)
		return err_set(err, true, -EINVAL, "%s: give host_dev_name or backend, not both",
			       what);
	/* A name no TAP can have: Firecracker finds out opening it, the old one gone. */
	if (tap && strlen(tap) >= sizeof(n.dev.ifname)) {
		bool dropped = vm_config_drop_net(c, id);

		return err_set(err, true, -EINVAL, "%s: host_dev_name '%.64s' is longer than %zu "
			       "bytes%s", what, tap, sizeof(n.dev.ifname) - 1,
			       dropped ? " (the interface it replaced was removed, as Firecracker "
			       "removes it)" : "");
	}
	memset(&n, 0, sizeof(n));
	if (backend) {
		/* --net's syntax: user-mode, or a TAP with its vhost choice. */
		if (strcmp(backend, "user") && strncmp(backend, "user,", 5) &&
		    strncmp(backend, "tap=", 4))
			return err_set(err, true, -EINVAL, "%s: backend '%.64s' is neither a "
				       "user-mode backend (user[,host-loopback=on][,hostfwd=...]) "
				       "nor a TAP (tap=NAME[,vhost=on|off|auto][,queues=Q])", what,
				       backend);
		ret = virtio_net_parse(backend, &n.dev, err);
		if (ret)
			return err_prefix(err, ret, "%s: backend: ", what);
		if (n.dev.backend == NET_TAP && (n.dev.mac_set || n.dev.mtu))
			return err_set(err, true, -EINVAL, "%s: backend: give a TAP's MAC and MTU "
				       "as guest_mac and mtu", what);
	} else {
		n.dev.backend = NET_TAP;
		snprintf(n.dev.ifname, sizeof(n.dev.ifname), "%s", tap);
	}
	snprintf(n.id, sizeof(n.id), "%s", id);
	mac = jstr(o, "guest_mac");
	if (mac) {
		if (parse_mac(mac, n.dev.mac))
			return err_set(err, true, -EINVAL, "%s: guest_mac '%.64s' is not a MAC "
				       "address like 06:00:AC:10:00:02", what, mac);
		n.dev.mac_set = true;
	}
	if (jhas(o, "mtu")) {
		uint64_t mtu = juint(o, "mtu", 0);

		/* Firecracker's range (swagger: 68 to 65535); 0 would mean "none" here. */
		if (mtu < NET_MTU_MIN || mtu > 65535)
			return err_set(err, true, -EINVAL, "%s: mtu %llu is out of range (%u to "
				       "65535)", what, (unsigned long long)mtu, NET_MTU_MIN);
		/* libslirp's largest; the guest's frames past it would be dropped. */
		if (n.dev.backend == NET_USER && mtu > NET_SLIRP_MTU_MAX)
			return err_set(err, true, -EINVAL, "%s: mtu %llu is above %u, the largest "
				       "a user-mode backend carries", what, (unsigned long long)mtu,
				       NET_SLIRP_MTU_MAX);
		n.dev.mtu = (uint16_t)mtu;
	}
	ret = config_json_limiter(what, o, "rx_rate_limiter", &n.rx_rate_limiter, err);
	if (!ret)
		ret = config_json_limiter(what, o, "tx_rate_limiter", &n.tx_rate_limiter, err);
	if (ret)
		return ret;
	ret = vm_config_put_net(c, &n, true, err);
	return ret ? err_prefix(err, ret, "%s: ", what) : 0;
}

/* Firecracker's VsockDeviceConfig; its uds_path is required (Hearth: vhost_vsock without). */
static const struct jfield vsock_fields[] = {
	{ "vsock_id", J_STR, false, NULL, NULL, NULL },  /* deprecated in Firecracker; ignored */
	{ "guest_cid", J_UINT, true, NULL, "u32", NULL },
	{ "uds_path", J_STR, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

int config_json_vsock(struct vm_config *c, json_t *o, struct err *err)
{
	const char *what = "vsock";
	struct vm_vsock v = { 0 };
	int ret;

	ret = config_json_check_fields(what, o, vsock_fields, true, err);
	if (ret)
		return ret;
	v.guest_cid = juint(o, "guest_cid", 0);
	v.uds_path = (char *)jstr(o, "uds_path");
	ret = vm_config_set_vsock(c, &v, err);
	return ret ? err_prefix(err, ret, "%s: ", what) : 0;
}

static const struct jfield entropy_fields[] = {
	{ "rate_limiter", J_OBJ, false, NULL, "struct RateLimiterConfig", NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

int config_json_entropy(struct vm_config *c, json_t *o, struct err *err)
{
	struct rl_config rl;
	int ret = config_json_check_fields("entropy", o, entropy_fields, true, err);

	if (!ret)
		ret = config_json_limiter("entropy", o, "rate_limiter", &rl, err);
	if (ret)
		return ret;
	ret = vm_config_put_entropy(c, &rl, err);
	return ret ? -EINVAL : 0;
}

static int full_array(struct vm_config *c, json_t *root, const char *key,
		      int (*put)(struct vm_config *, json_t *, const char *, struct err *),
		      struct err *err)
{
	json_t *arr = json_object_get(root, key), *item;
	size_t i;
	int ret;

	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return err_set(err, true, -EINVAL, "%s: want an array", key);
	json_array_foreach(arr, i, item) {
		ret = put(c, item, NULL, err);
		if (ret)
			return ret;
	}
	return 0;
}

static bool section_known(const char *key)
{
	static const char *const known[] = {
		"boot-source", "machine-config", "drives", "network-interfaces", "vsock",
		"entropy", "balloon", "logger", "metrics", "serial", "cpu-config", "mmds-config",
		"pmem", "memory-hotplug", "pci", "fs", NULL,
	};

	for (int i = 0; known[i]; i++)
		if (!strcmp(key, known[i]))
			return true;
	return false;
}

/*
 * Hearth's own section: {"enabled": true} puts the virtio devices on PCI,
 * as --enable-pci does (Firecracker has only the flag), and "vfio" lists
 * host PCI devices passed through: [{"id": NAME, "path": SYSFS_PATH}],
 * id optional. GET /vm/config shows it on a PCI VM, so its output boots
 * the same VM again.
 */
static const struct jfield pci_fields[] = {
	{ "enabled", J_BOOL, true, NULL, NULL, NULL },
	{ "vfio", J_ARR, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static const struct jfield vfio_fields[] = {
	{ "id", J_STR, false, NULL, NULL, NULL },
	{ "path", J_STR, true, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

static int config_json_pci(struct vm_config *c, json_t *o, struct err *err)
{
	int ret = config_json_check("pci", o, pci_fields, err);
	json_t *list = json_object_get(o, "vfio"), *item;
	size_t i;

	if (ret)
		return ret;
	c->pci = jbool(o, "enabled", false);
	json_array_foreach(list, i, item) {
		ret = config_json_check("pci.vfio", item, vfio_fields, err);
		if (!ret)
			ret = vm_config_add_vfio(c, jstr(item, "id"), jstr(item, "path"), err);
		if (ret)
			return err_prefix(err, ret, "pci.vfio[%zu]: ", i);
	}
	return 0;
}

int config_json_full(struct vm_config *c, json_t *root, struct err *err)
{
	const char *key;
	json_t *v;
	int ret = 0;

	if (!json_is_object(root))
		return err_set(err, true, -EINVAL, "want a JSON object");
	json_object_foreach(root, key, v) {
		if (section_known(key) || json_is_null(v))
			continue;
		return err_set(err, true, -EINVAL, "unknown section '%.64s'", key);
	}
	vm_config_set_entropy(c, false);
	if (jhas(root, "machine-config"))
		ret = config_json_machine(c, json_object_get(root, "machine-config"), false, err);
	/* After machine-config, as Firecracker: a custom template wins over a static one. */
	if (!ret && jhas(root, "cpu-config"))
		ret = config_json_cpu_section(c, json_object_get(root, "cpu-config"), err);
	if (!ret && jhas(root, "boot-source"))
		ret = config_json_boot_source(c, json_object_get(root, "boot-source"), err);
	if (!ret)
		ret = full_array(c, root, "drives", config_json_drive, err);
	/* After the drives, as Firecracker's from_json: a root drive refuses a root pmem. */
	if (!ret)
		ret = full_array(c, root, "pmem", config_json_pmem, err);
	if (!ret)
		ret = full_array(c, root, "network-interfaces", config_json_net, err);
	/* After the NICs, which it names. */
	if (!ret && jhas(root, "mmds-config"))
		ret = config_json_mmds(c, json_object_get(root, "mmds-config"), err);
	if (!ret && jhas(root, "vsock"))
		ret = config_json_vsock(c, json_object_get(root, "vsock"), err);
	if (!ret && jhas(root, "entropy"))
		ret = config_json_entropy(c, json_object_get(root, "entropy"), err);
	/* After machine-config, whose memory bounds its target. */
	if (!ret && jhas(root, "balloon"))
		ret = config_json_balloon(c, json_object_get(root, "balloon"), err);
	if (!ret && jhas(root, "memory-hotplug"))
		ret = config_json_hotplug(c, json_object_get(root, "memory-hotplug"), err);
	if (!ret && jhas(root, "pci"))
		ret = config_json_pci(c, json_object_get(root, "pci"), err);
	if (!ret)
		ret = full_array(c, root, "fs", config_json_fs, err);
	if (!ret)
		ret = config_json_observe_sections(c, root, err);
	if (!ret)
		ret = vm_config_check_bootable(c, err);
	return ret;
}

int config_json_load_file(struct vm_config *c, const char *path, struct err *err)
{
	json_error_t jerr;
	json_t *root;
	int ret;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (jerr.line < 1)
			return err_set(err, true, -EINVAL, "%s: %s", path, jerr.text);
		return err_set(err, true, -EINVAL, "%s: bad JSON at line %d column %d: %s", path,
			       jerr.line, jerr.column, jerr.text);
	}
	ret = config_json_full(c, root, err);
	json_decref(root);
	return ret ? err_prefix(err, ret, "%s: ", path) : 0;
}
