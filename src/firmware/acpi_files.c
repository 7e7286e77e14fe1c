/*
 * The three ACPI files (acpi_files.h). The script allocates the RSDP
 * first (16-byte aligned in the F segment) and the tables second
 * (64-byte aligned, high), as QEMU's does, then gives every pointer and
 * only then every checksum: a checksum over a field not yet patched
 * would come out wrong.
 */
#include "firmware/acpi_files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/table_loader.h"

#define SDT_HDR_LEN 36
#define SDT_CHECKSUM 9
#define FACS_MIN_LEN 64
#define RSDP_V1_LEN 20
#define RSDP_V2_LEN 36
#define RSDP_CHECKSUM 8
#define RSDP_REVISION 15
#define RSDP_LENGTH 20
#define RSDP_EXT_CHECKSUM 32

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static bool is_rsdp(const struct acpi_files_table *t)
{
	return t->len >= 8 && !memcmp(t->data, "RSD PTR ", 8);
}

static bool is_facs(const struct acpi_files_table *t)
{
	return t->len >= 4 && !memcmp(t->data, "FACS", 4);
}

/* The RSDP's length for its revision; 0 when it is malformed. */
static size_t rsdp_len(const uint8_t *p, size_t avail)
{
	uint32_t len;

	if (avail < RSDP_V1_LEN)
		return 0;
	if (p[RSDP_REVISION] < 2)
		return RSDP_V1_LEN;
	if (avail < RSDP_V2_LEN)
		return 0;
	len = get_le32(p + RSDP_LENGTH);
	return len >= RSDP_V2_LEN && len <= avail ? len : 0;
}

static int check_tables(const struct acpi_files_table *t, unsigned int n, unsigned int *rsdp,
			struct err *err)
{
	unsigned int found = 0;

	if (n > ACPI_FILES_TABLES_MAX)
		return err_set(err, false, -E2BIG, "acpi: more than %d tables",
			       ACPI_FILES_TABLES_MAX);
	for (unsigned int i = 0; i < n; i++) {
		size_t min = is_facs(&t[i]) ? FACS_MIN_LEN : SDT_HDR_LEN;

		if (!t[i].data)
			return err_set(err, false, -EINVAL, "acpi: table %u has no bytes", i);
		if (is_rsdp(&t[i])) {
			if (rsdp_len(t[i].data, t[i].len) != t[i].len)
				return err_set(err, false, -EINVAL, "acpi: the RSDP is malformed");
			*rsdp = i;
			found++;
			continue;
		}
		if (t[i].len < min || t[i].len > ACPI_FILES_SIZE_MAX ||
		    get_le32(t[i].data + 4) != t[i].len)
			return err_set(err, false, -EINVAL, "acpi: table %u's header says %u bytes, "
				       "not %zu", i, t[i].len >= 8 ? get_le32(t[i].data + 4) : 0,
				       t[i].len);
	}
	if (found != 1)
		return err_set(err, false, -EINVAL, "acpi: %u RSDPs, not one", found);
	return 0;
}

/* Lays the tables out (offs[i]: table i's place in its file) and copies them into out. */
static int lay_out(const struct acpi_files_table *t, unsigned int n, unsigned int rsdp,
		   size_t *offs, struct acpi_files *out, struct err *err)
{
	size_t at = 0;

	for (unsigned int i = 0; i < n; i++) {
		size_t align = is_facs(&t[i]) ? 64 : 8;

		if (i == rsdp)
			continue;
		at = (at + align - 1) & ~(align - 1);
		offs[i] = at;
		at += t[i].len;
		if (at > ACPI_FILES_SIZE_MAX)
			return err_set(err, false, -E2BIG, "acpi: more than %u bytes of tables",
				       ACPI_FILES_SIZE_MAX);
	}
	offs[rsdp] = 0;
	out->tables_len = at;
	out->tables = calloc(1, at ? at : 1);
	out->rsdp_len = t[rsdp].len;
	out->rsdp = malloc(t[rsdp].len);
	if (!out->tables || !out->rsdp)
		return err_set(err, false, -ENOMEM, "out of memory");
	for (unsigned int i = 0; i < n; i++)
		memcpy(i == rsdp ? out->rsdp : out->tables + offs[i], t[i].data, t[i].len);
	return 0;
}

static int add_pointers(struct table_loader *tl, const struct acpi_files_table *t,
			unsigned int n, unsigned int rsdp, const size_t *offs,
			const struct acpi_files_ptr *p, unsigned int np, struct err *err)
{
	for (unsigned int i = 0; i < np; i++) {
		const struct acpi_files_ptr *q = &p[i];
		int ret;

		if (q->from >= n || q->to >= n || q->to == rsdp)
			return err_set(err, false, -EINVAL, "acpi: pointer %u: from table %u to %u",
				       i, q->from, q->to);
		if ((q->size != 4 && q->size != 8) || q->offset > t[q->from].len ||
		    q->size > t[q->from].len - q->offset)
			return err_set(err, false, -EINVAL, "acpi: pointer %u: %u bytes at %u of "
				       "table %u", i, q->size, q->offset, q->from);
		ret = table_loader_add_pointer(tl, q->from == rsdp ? ACPI_FILES_RSDP :
					       ACPI_FILES_TABLES, (uint32_t)(offs[q->from] + q->offset),
					       q->size, ACPI_FILES_TABLES, (uint32_t)offs[q->to], err);
		if (ret)
			return ret;
	}
	return 0;
}

static int add_checksums(struct table_loader *tl, const struct acpi_files_table *t,
			 unsigned int n, unsigned int rsdp, const size_t *offs, struct err *err)
{
	int ret = 0;

	for (unsigned int i = 0; i < n && !ret; i++) {
		if (i == rsdp || is_facs(&t[i]))
			continue;
		ret = table_loader_add_checksum(tl, ACPI_FILES_TABLES, (uint32_t)offs[i],
						(uint32_t)t[i].len, (uint32_t)offs[i] + SDT_CHECKSUM,
						err);
	}
	if (!ret)
		ret = table_loader_add_checksum(tl, ACPI_FILES_RSDP, 0, RSDP_V1_LEN, RSDP_CHECKSUM,
						err);
	/* The extended checksum covers the first: it comes second. */
	if (!ret && t[rsdp].len >= RSDP_V2_LEN)
		ret = table_loader_add_checksum(tl, ACPI_FILES_RSDP, 0, (uint32_t)t[rsdp].len,
						RSDP_EXT_CHECKSUM, err);
	return ret;
}

int acpi_files_build(const struct acpi_files_table *t, unsigned int n,
		     const struct acpi_files_ptr *p, unsigned int np, struct acpi_files *out,
		     struct err *err)
{
	struct table_loader tl;
	size_t offs[ACPI_FILES_TABLES_MAX];
	unsigned int rsdp = 0;
	int ret;

	*out = (struct acpi_files){ 0 };
	ret = check_tables(t, n, &rsdp, err);
	if (ret)
		return ret;
	if (np > ACPI_FILES_PTRS_MAX || (np && !p))
		return err_set(err, false, -E2BIG, "acpi: more than %d pointers",
			       ACPI_FILES_PTRS_MAX);
	table_loader_init(&tl);
	ret = lay_out(t, n, rsdp, offs, out, err);
	if (!ret)
		ret = table_loader_allocate(&tl, ACPI_FILES_RSDP, out->rsdp,
					    (uint32_t)out->rsdp_len, 16, TL_ZONE_FSEG, err);
	if (!ret)
		ret = table_loader_allocate(&tl, ACPI_FILES_TABLES, out->tables,
					    (uint32_t)out->tables_len, 64, TL_ZONE_HIGH, err);
	if (!ret)
		ret = add_pointers(&tl, t, n, rsdp, offs, p, np, err);
	if (!ret)
		ret = add_checksums(&tl, t, n, rsdp, offs, err);
	if (ret) {
		table_loader_release(&tl);
		acpi_files_release(out);
		return ret;
	}
	/* The script is the loader's buffer, handed over whole. */
	out->loader = tl.cmds;
	out->loader_len = table_loader_len(&tl);
	return 0;
}

void acpi_files_release(struct acpi_files *f)
{
	free(f->rsdp);
	free(f->tables);
	free(f->loader);
	*f = (struct acpi_files){ 0 };
}
