/*
 * Firecracker's CustomCpuTemplate as JSON (PUT /cpu-config, the config
 * file's "cpu-config", the snapshot's config record): kvm_capabilities
 * ("N" or "!N"), cpuid_modifiers ({leaf, subleaf: "0x.." or "0b..",
 * flags, modifiers: [{register: eax|ebx|ecx|edx, bitmap}]}) and
 * msr_modifiers ({addr, bitmap}), where a bitmap is "0b" and up to 32
 * (64 for an MSR) of 0, 1 and x (left as it is), '_' ignored. Strict:
 * every field known, counts bounded (vcpu/cpu_template.h).
 */
#ifndef HEARTH_FCJSON_CONFIG_JSON_CPU_H
#define HEARTH_FCJSON_CONFIG_JSON_CPU_H

#include <stdint.h>

#include <jansson.h>

#include "util/err.h"
#include "vcpu/cpu_template.h"
#include "vmm/config.h"

/* o into a new custom template (*out, free() it); 0 or -EINVAL/-ENOMEM with err. */
int config_json_cpu_parse(json_t *o, struct cpu_template_custom **out, struct err *err);
/* Parses o and makes it c's template, in place of any before. */
int config_json_cpu_config(struct vm_config *c, json_t *o, struct err *err);
/* The config file's "cpu-config": Firecracker's path to a template file, or the object. */
int config_json_cpu_section(struct vm_config *c, json_t *v, struct err *err);
/* t in the same JSON (a new reference; NULL on ENOMEM). */
json_t *config_json_cpu_dump(const struct cpu_template *t);

/* "0b01x_1" into filter and value of bits width (32 or 64); 0 or -EINVAL. */
int config_json_cpu_bitmap(const char *s, unsigned int bits, uint64_t *filter, uint64_t *value);

#endif
