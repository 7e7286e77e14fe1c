/*
 * acpi_files_from_image: the tables and their pointers found in a block
 * laid out for one guest-physical address, by walking from the RSDP
 * through the RSDT, the XSDT and the FADT, each table taken once. Every
 * address read is checked to fall on a table's start inside the block.
 */
#include <errno.h>
#include <string.h>

#include "firmware/acpi_files.h"

#define SDT_HDR_LEN 36

struct walk {
	const uint8_t *img;
	size_t len;
	uint64_t gpa;
	struct acpi_files_table t[ACPI_FILES_TABLES_MAX];
	size_t at[ACPI_FILES_TABLES_MAX];   /* each table's offset in img */
	unsigned int n;
	struct acpi_files_ptr p[ACPI_FILES_PTRS_MAX];
	unsigned int np;
};

static uint64_t get_le(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* The table at addr, taken in if new; its index, or -errno. */
static int table_at(struct walk *w, uint64_t addr, struct err *err)
{
	uint64_t off = addr - w->gpa;
	uint32_t len;

	if (addr < w->gpa || off >= w->len || w->len - off < 8)
		return err_set(err, false, -EINVAL, "acpi: a table at 0x%llx, outside the tables",
			       (unsigned long long)addr);
	for (unsigned int i = 0; i < w->n; i++)
		if (w->at[i] == off)
			return (int)i;
	len = (uint32_t)get_le(w->img + off + 4, 4);
	if (len < 8 || len > w->len - off)
		return err_set(err, false, -EINVAL, "acpi: the table at 0x%llx runs past the tables",
			       (unsigned long long)addr);
	if (w->n == ACPI_FILES_TABLES_MAX)
		return err_set(err, false, -E2BIG, "acpi: more than %d tables",
			       ACPI_FILES_TABLES_MAX);
	w->t[w->n] = (struct acpi_files_table){ w->img + off, len };
	w->at[w->n] = off;
	return (int)w->n++;
}

/* The size-byte field at offset of table from: a pointer, unless it is 0. */
static int pointer(struct walk *w, unsigned int from, uint32_t offset, uint8_t size,
		   struct err *err)
{
	uint64_t addr;
	int to;

	if (offset + size > w->t[from].len)
		return 0;
	addr = get_le(w->t[from].data + offset, size);
	if (!addr)
		return 0;
	to = table_at(w, addr, err);
	if (to < 0)
		return to;
	if (w->np == ACPI_FILES_PTRS_MAX)
		return err_set(err, false, -E2BIG, "acpi: more than %d pointers",
			       ACPI_FILES_PTRS_MAX);
	w->p[w->np++] = (struct acpi_files_ptr){ from, offset, size, (unsigned int)to };
	return 0;
}

/* Table i's own pointers, by its signature. */
static int table_pointers(struct walk *w, unsigned int i, struct err *err)
{
	const uint8_t *d = w->t[i].data;
	uint32_t len = (uint32_t)w->t[i].len;
	unsigned int step = !memcmp(d, "RSDT", 4) ? 4 : !memcmp(d, "XSDT", 4) ? 8 : 0;
	int ret = 0;

	if (step) {
		for (uint32_t off = SDT_HDR_LEN; !ret && off + step <= len; off += step)
			ret = pointer(w, i, off, (uint8_t)step, err);
		return ret;
	}
	if (memcmp(d, "FACP", 4))
		return 0;
	/* FIRMWARE_CTRL, DSDT, X_FIRMWARE_CTRL, X_DSDT: those the table is long enough for. */
	ret = pointer(w, i, 36, 4, err);
	if (!ret)
		ret = pointer(w, i, 40, 4, err);
	if (!ret)
		ret = pointer(w, i, 132, 8, err);
	if (!ret)
		ret = pointer(w, i, 140, 8, err);
	return ret;
}

int acpi_files_from_image(const uint8_t *img, size_t len, uint64_t gpa, uint64_t rsdp_gpa,
			  struct acpi_files *out, struct err *err)
{
	struct walk w;
	uint64_t off = rsdp_gpa - gpa;
	const uint8_t *r;
	int ret;

	*out = (struct acpi_files){ 0 };
	if (!img || rsdp_gpa < gpa || off >= len || len - off < 20 ||
	    memcmp(img + off, "RSD PTR ", 8))
		return err_set(err, false, -EINVAL, "acpi: no RSDP at 0x%llx",
			       (unsigned long long)rsdp_gpa);
	r = img + off;
	if (r[15] >= 2 && len - off < 24)
		return err_set(err, false, -EINVAL, "acpi: the RSDP runs past the tables");
	memset(&w, 0, sizeof(w));
	w.img = img;
	w.len = len;
	w.gpa = gpa;
	w.t[0] = (struct acpi_files_table){ r, r[15] < 2 ? 20 : (size_t)get_le(r + 20, 4) };
	w.at[0] = off;
	w.n = 1;
	if (w.t[0].len < 20 || w.t[0].len > len - off)
		return err_set(err, false, -EINVAL, "acpi: the RSDP runs past the tables");
	ret = pointer(&w, 0, 16, 4, err);
	if (!ret && r[15] >= 2)
		ret = pointer(&w, 0, 24, 8, err);
	/* Breadth first: the list grows behind the walk, at most ACPI_FILES_TABLES_MAX long. */
	for (unsigned int i = 1; !ret && i < w.n; i++)
		ret = table_pointers(&w, i, err);
	if (ret)
		return ret;
	return acpi_files_build(w.t, w.n, w.p, w.np, out, err);
}
