/*
 * The snapshot file (docs/snapshot-format.md): a header, then typed
 * sections, all little-endian, covered by one CRC-32C. This file only
 * builds and checks the bytes; snapshot/file.h puts them on disk.
 *
 * Header, 64 bytes:
 *    0  magic "HEARTHSN"
 *    8  u32 format version (SNAP_FORMAT_VERSION)
 *   12  u32 header size (64)
 *   16  u64 file size, header included
 *   24  u32 number of sections
 *   28  u32 CRC-32C of the whole file, computed with these 4 bytes zero
 *   32  Hearth's version that wrote it, NUL-padded (32 bytes)
 * Each section: u32 kind, u32 version, u64 length, a 72-byte NUL-padded id,
 * then length bytes of payload.
 */
#ifndef HEARTH_SNAPSHOT_FORMAT_H
#define HEARTH_SNAPSHOT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "util/bytes.h"
#include "util/err.h"

#define SNAP_MAGIC "HEARTHSN"
#define SNAP_MAGIC_SIZE 8
#define SNAP_FORMAT_VERSION 1u
#define SNAP_HEADER_SIZE 64u
#define SNAP_VERSION_SIZE 32u      /* Hearth's version string, NUL included */
#define SNAP_ID_SIZE 72u           /* a section id: up to 71 characters (device ids: 64) */
#define SNAP_SECTION_HEADER_SIZE (16u + SNAP_ID_SIZE)
#define SNAP_MAX_SECTIONS 4096u
#define SNAP_CRC_OFFSET 28u

/* What a section holds; one kind and id appear at most once. */
enum snap_kind {
	SNAP_SEC_HOST = 1,   /* the CPUID leaves and KVM capabilities it needs (id "host") */
	SNAP_SEC_CONFIG = 2, /* the machine model that built the VM (id "config") */
	SNAP_SEC_VM = 3,     /* VM-wide KVM state: irqchips, PIT, clock (id "vm") */
	SNAP_SEC_VCPU = 4,   /* one vCPU's record (id "0", "1" ...) */
	SNAP_SEC_DEVICE = 5, /* one device's state, under its registry id ("com1") */
};
#define SNAP_SEC_KIND_MAX SNAP_SEC_DEVICE

const char *snap_kind_name(uint32_t kind);

struct snap_section {
	uint32_t kind;
	uint32_t version;
	char id[SNAP_ID_SIZE];
	const uint8_t *data;       /* into the parsed buffer */
	uint64_t len;
};

struct snap_file {
	uint32_t format_version;
	char hearth_version[SNAP_VERSION_SIZE];
	unsigned int nsections;
	struct snap_section *sections;
};

/*
 * Checks buf (len bytes, named name in messages) and fills f, whose
 * sections then point into buf. Returns 0, -ENOMEM, or -EINVAL with one
 * line in err naming the problem ("snapshot F: section 'com1' is
 * truncated (needs 64 bytes, 12 left)"). Never reads outside buf.
 */
int snap_parse(const void *buf, size_t len, const char *name, struct snap_file *f, struct err *err);
void snap_file_release(struct snap_file *f);
const struct snap_section *snap_find(const struct snap_file *f, uint32_t kind, const char *id);

/* Builds a file in memory, section by section. */
struct snap_builder {
	uint8_t *buf;
	size_t len, cap;
	unsigned int nsections;
	int err;                   /* the first failure; later calls do nothing */
};

void snap_builder_init(struct snap_builder *b);
/* Appends a section; 0, -EINVAL (bad kind or id, too many), -EEXIST or -ENOMEM. */
int snap_builder_add(struct snap_builder *b, uint32_t kind, const char *id, uint32_t version,
		     const void *data, size_t len);
/*
 * Appends a section whose payload save(ctx, o, err) appends to o, as a
 * component's save does (core/component.h): called once. 0, or the
 * save's -errno (err as it left it) or the builder's.
 */
int snap_builder_add_saved(struct snap_builder *b, uint32_t kind, const char *id,
			   uint32_t version,
			   int (*save)(void *ctx, struct bytes_out *o, struct err *err), void *ctx,
			   struct err *err);
/*
 * Fills in the header and CRC and hands over the buffer (free() it):
 * 0 or the first error of the build, after which the builder is empty.
 */
int snap_builder_finish(struct snap_builder *b, const char *hearth_version, void **buf,
			size_t *len);
void snap_builder_release(struct snap_builder *b);

#endif
