/*
 * Firecracker's MmdsConfig in JSON: PUT /mmds/config's body and the config
 * file's "mmds-config" into the model (vmm/config_mmds.c checks it), and
 * GET /vm/config's section back.
 */
#include "fcjson/config_json_mmds.h"
#include "fcjson/config_json_fields.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

static const char *const mmds_versions[] = { "V1", "V2", NULL };

/* Firecracker's MmdsConfig, its fields in its order. */
static const struct jfield mmds_fields[] = {
	{ "version", J_ENUM, false, NULL, NULL, mmds_versions },
	{ "network_interfaces", J_ARR, true, NULL, NULL, NULL },
	{ "ipv4_address", J_STR, false, NULL, NULL, NULL },
	{ "imds_compat", J_BOOL, false, NULL, NULL, NULL },
	{ NULL, J_STR, false, NULL, NULL, NULL },
};

int config_json_mmds(struct vm_config *c, json_t *o, struct err *err)
{
	struct vm_mmds m = { .version = MMDS_V1, .ipv4_be = htonl(VM_MMDS_DEFAULT_IPV4) };
	json_t *v, *ids = json_object_get(o, "network_interfaces");
	const char *s;
	size_t i;
	int ret = config_json_check("mmds-config", o, mmds_fields, err);

	if (ret)
		return ret;
	s = json_string_value(json_object_get(o, "version"));
	if (s && strcmp(s, "V1") && strcmp(s, "V2"))
		return err_set(err, true, -EINVAL, "mmds-config: version '%.64s' is not one of V1, "
			       "V2", s);
	if (s)
		m.version = !strcmp(s, "V2") ? MMDS_V2 : MMDS_V1;
	s = json_string_value(json_object_get(o, "ipv4_address"));
	if (s && inet_pton(AF_INET, s, &m.ipv4_be) != 1)
		return err_set(err, true, -EINVAL, "mmds-config: ipv4_address '%.64s' is not an "
			       "IPv4 address", s);
	m.imds_compat = json_is_true(json_object_get(o, "imds_compat"));
	json_array_foreach(ids, i, v) {
		s = json_string_value(v);
		if (!s)
			return err_set(err, true, -EINVAL, "mmds-config: network_interfaces[%zu] "
				       "must be a string", i);
		/* An id no NIC can have, or more than there are NICs: no such interface. */
		if (m.nnets == VM_MAX_NETS || strlen(s) > VM_ID_MAX) {
			m.nnets = 1;
			m.nets[0][0] = '\0';
			break;
		}
		strcpy(m.nets[m.nnets++], s);
	}
	return vm_config_set_mmds(c, &m, err);
}

json_t *config_json_dump_mmds(const struct vm_config *c)
{
	char addr[INET_ADDRSTRLEN] = "";
	json_t *ids;

	if (!c->mmds.on)
		return json_null();
	ids = json_array();
	for (unsigned int i = 0; ids && i < c->mmds.nnets; i++)
		if (json_array_append_new(ids, json_string(c->mmds.nets[i]))) {
			json_decref(ids);
			return NULL;
		}
	inet_ntop(AF_INET, &c->mmds.ipv4_be, addr, sizeof(addr));
	return json_pack("{s:s, s:b, s:o, s:s}", "version",
			 c->mmds.version == MMDS_V2 ? "V2" : "V1", "imds_compat",
			 c->mmds.imds_compat, "network_interfaces", ids, "ipv4_address", addr);
}
