/* Command-line parsing into a validated run configuration. */
#ifndef HEARTH_UTIL_CLI_H
#define HEARTH_UTIL_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1"
#define CLI_DEFAULT_CPUS 1
#define CLI_DEFAULT_MEMORY_MIB 256
#define CLI_MAX_CPUS 255          /* xAPIC IDs in the MADT are 8-bit, 0xff is broadcast */
#define CLI_MIN_MEMORY_MIB 16
#define CLI_MAX_MEMORY_MIB (1024ull * 1024) /* 1 TiB */

#define CLI_MAX_DISKS 8
#define CLI_MAX_NETS 4

enum cli_action { CLI_RUN, CLI_HELP, CLI_VERSION };

struct cli_config {
	enum cli_action action;
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	unsigned int cpus;
	uint64_t memory_mib;
	int verbose;
	const char *kvm_path;
	/* Device specs, parsed by their devices (virtio_*_parse). */
	const char *disks[CLI_MAX_DISKS];
	unsigned int ndisks;
	const char *nets[CLI_MAX_NETS];
	unsigned int nnets;
	const char *vsock;
	int rng;
	/* Also name the virtio-mmio devices on the kernel command line. */
	int virtio_cmdline;
};

/*
 * Parses argv. Returns 0, or -EINVAL after writing one line that names the
 * problem into err (errlen bytes).
 */
int cli_parse(int argc, char **argv, struct cli_config *cfg, char *err, size_t errlen);

/* Parses a whole decimal number in [min, max]; no sign, no junk. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

void cli_usage(FILE *out);

#endif
