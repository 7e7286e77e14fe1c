/*
 * Memory files: the layout reader, the diff writer (dirty pages only, as
 * data; the rest holes) and snapshot-merge, on files built here the way
 * snapshot create lays them out.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli/cli.h"
#include "snapshot/memfile_layout.h"

#define PAGE 4096ull
#define NOTE_OFF 0x200ull
#define R0_PAGES 64ull
#define R1_PAGES 32ull
#define R0_OFF (2 * PAGE)
#define R1_OFF (R0_OFF + R0_PAGES * PAGE)
#define FILE_SIZE (R1_OFF + R1_PAGES * PAGE)

struct fx {
	char dir[64];
	char base[96], diff[96];
	uint8_t *ram[2];   /* the guest's RAM at the diff's moment */
	uint8_t *old[2];   /* at the base's */
};

static const uint64_t region_pages[2] = { R0_PAGES, R1_PAGES };
static const uint64_t region_off[2] = { R0_OFF, R1_OFF };
static const uint64_t region_gpa[2] = { 0, 0x100000000ull };

/* ELF header, a PT_NOTE and two PT_LOADs, as snapshot create writes them. */
static void write_header(int fd, uint64_t r1_pages, uint8_t note_byte)
{
	uint8_t hdr[NOTE_OFF + 64] = { 0 };
	Elf64_Ehdr eh = { .e_type = ET_CORE, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
			  .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
			  .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 3 };
	Elf64_Phdr ph[3] = {
		{ .p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_filesz = 64 },
		{ .p_type = PT_LOAD, .p_offset = R0_OFF, .p_vaddr = 0, .p_paddr = 0,
		  .p_filesz = R0_PAGES * PAGE, .p_memsz = R0_PAGES * PAGE, .p_flags = PF_R | PF_W },
		{ .p_type = PT_LOAD, .p_offset = R1_OFF, .p_vaddr = region_gpa[1],
		  .p_paddr = region_gpa[1], .p_filesz = r1_pages * PAGE, .p_memsz = r1_pages * PAGE,
		  .p_flags = PF_R | PF_W },
	};

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	memcpy(hdr, &eh, sizeof(eh));
	memcpy(hdr + sizeof(eh), ph, sizeof(ph));
	memset(hdr + NOTE_OFF, note_byte, 64);
	assert_int_equal(ftruncate(fd, (off_t)(R1_OFF + r1_pages * PAGE)), 0);
	assert_int_equal(pwrite(fd, hdr, sizeof(hdr), 0), (ssize_t)sizeof(hdr));
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/hearth-memfile-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->base, sizeof(f->base), "%s/base.mem", f->dir);
	snprintf(f->diff, sizeof(f->diff), "%s/diff.mem", f->dir);
	for (int i = 0; i < 2; i++) {
		f->ram[i] = malloc(region_pages[i] * PAGE);
		f->old[i] = malloc(region_pages[i] * PAGE);
		assert_non_null(f->ram[i]);
		assert_non_null(f->old[i]);
		for (uint64_t b = 0; b < region_pages[i] * PAGE; b++)
			f->old[i][b] = (uint8_t)(b * 7 + i + 1);
		memcpy(f->ram[i], f->old[i], region_pages[i] * PAGE);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->base);
	unlink(f->diff);
	rmdir(f->dir);
	for (int i = 0; i < 2; i++) {
		free(f->ram[i]);
		free(f->old[i]);
	}
	free(f);
	return 0;
}

/* A full memory file of old[]. */
static void make_base(struct fx *f)
{
	int fd = open(f->base, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	write_header(fd, R1_PAGES, 0xaa);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pwrite(fd, f->old[i], region_pages[i] * PAGE, (off_t)region_off[i]),
				 (ssize_t)(region_pages[i] * PAGE));
	close(fd);
}

static void set_bit(uint64_t *map, uint64_t page)
{
	map[page / 64] |= 1ull << (page % 64);
}

/*
 * The guest changes some pages (one of them to all zeros) after the
 * base; the diff holds exactly those, through memfile_diff_write_region.
 */
static uint64_t make_diff(struct fx *f)
{
	uint64_t map[2][2] = { { 0 } }, written = 0;
	static const uint64_t r0_dirty[] = { 0, 1, 2, 40, 63 };
	int fd = open(f->diff, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(r0_dirty) / sizeof(r0_dirty[0]); i++) {
		memset(f->ram[0] + r0_dirty[i] * PAGE, 0x5a + (int)i, PAGE);
		set_bit(map[0], r0_dirty[i]);
	}
	memset(f->ram[0] + 40 * PAGE, 0, PAGE); /* dirtied to zeros: must not be a hole */
	memset(f->ram[1] + 31 * PAGE, 0x77, PAGE);
	set_bit(map[1], 31);
	write_header(fd, R1_PAGES, 0xbb);
	for (int i = 0; i < 2; i++)
		assert_int_equal(memfile_diff_write_region(fd, region_off[i], f->ram[i],
							   region_pages[i] * PAGE, map[i], &written),
				 0);
	close(fd);
	return written;
}

static uint8_t *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	uint8_t *buf;

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

static void test_layout_read(void **state)
{
	struct fx *f = *state;
	struct memfile_layout l;
	struct err err;
	int fd;

	make_base(f);
	fd = open(f->base, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(memfile_layout_read(fd, &l, &err), 0);
	close(fd);
	assert_int_equal(l.nregions, 2);
	assert_int_equal(l.r[1].gpa, region_gpa[1]);
	assert_int_equal(l.r[1].offset, R1_OFF);
	assert_int_equal(l.r[0].size, R0_PAGES * PAGE);
	assert_int_equal(l.note_offset, NOTE_OFF);
	assert_int_equal(l.file_size, FILE_SIZE);
}

/* Data extents of the diff: only the header page and the dirty pages. */
static uint64_t data_bytes(const char *path)
{
	int fd = open(path, O_RDONLY);
	off_t data = 0, hole;
	uint64_t n = 0;

	assert_true(fd >= 0);
	while ((data = lseek(fd, data, SEEK_DATA)) >= 0) {
		hole = lseek(fd, data, SEEK_HOLE);
		n += (uint64_t)(hole - data);
		data = hole;
	}
	close(fd);
	return n;
}

static void test_diff_sparse_and_merge(void **state)
{
	struct fx *f = *state;
	uint64_t written;
	uint8_t *merged;
	size_t len;
	struct err err;

	make_base(f);
	written = make_diff(f);
	assert_int_equal(written, 6 * PAGE);
	/*
	 * Where the filesystem reports holes (tmpfs, ext4, xfs do), the diff
	 * is the header page, pages 0-2, 40 (zeros, written) and 63, and
	 * region 1's last page: 7 pages, not 96.
	 */
	if (data_bytes(f->diff) < FILE_SIZE)
		assert_int_equal(data_bytes(f->diff), 7 * PAGE);
	assert_int_equal(memfile_merge(f->base, f->diff, NULL, &err), 0);
	merged = read_file(f->base, &len);
	assert_int_equal(len, FILE_SIZE);
	assert_memory_equal(merged + R0_OFF, f->ram[0], R0_PAGES * PAGE);
	assert_memory_equal(merged + R1_OFF, f->ram[1], R1_PAGES * PAGE);
	/* The diff's notes (its registers) replace the base's; ET_CORE again. */
	assert_int_equal(merged[NOTE_OFF], 0xbb);
	assert_int_equal(((Elf64_Ehdr *)merged)->e_type, ET_CORE);
	free(merged);
}

/* Runs a merge expected to fail and checks the base did not change. */
static void merge_refused(struct fx *f, const char *needle)
{
	uint8_t *before, *after;
	size_t blen, alen;
	struct err err;
	bool started = true;

	before = read_file(f->base, &blen);
	assert_int_not_equal(memfile_merge(f->base, f->diff, &started, &err), 0);
	assert_false(started);
	if (!strstr(err.msg, needle))
		fail_msg("error '%s' does not mention '%s'", err.msg, needle);
	after = read_file(f->base, &alen);
	assert_int_equal(alen, blen);
	assert_memory_equal(before, after, blen);
	free(before);
	free(after);
}

static void test_merge_hostile(void **state)
{
	struct fx *f = *state;
	int fd;

	make_base(f);
	/* Another memory size: region 1 one page shorter. */
	fd = open(f->diff, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	write_header(fd, R1_PAGES - 1, 0xbb);
	close(fd);
	merge_refused(f, "does not match");
	/* Not ELF. */
	fd = open(f->diff, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(write(fd, "hello, world\n", 13), 13);
	close(fd);
	merge_refused(f, "not an ELF file");
	/* Empty. */
	fd = open(f->diff, O_RDWR | O_CREAT | O_TRUNC, 0600);
	close(fd);
	merge_refused(f, "empty file");
	/* A diff truncated (a copy cut short). */
	make_diff(f);
	assert_int_equal(truncate(f->diff, FILE_SIZE - PAGE), 0);
	merge_refused(f, "truncated");
	/* Bytes past the last region. */
	assert_int_equal(truncate(f->diff, FILE_SIZE + PAGE), 0);
	merge_refused(f, "after the last region");
	/* Missing. */
	unlink(f->diff);
	merge_refused(f, "No such file");
	/* The same file twice. */
	assert_int_equal(link(f->base, f->diff), 0);
	merge_refused(f, "same file");
	unlink(f->diff);
	/* Regions overlapping: region 1 at region 0's offset. */
	make_diff(f);
	fd = open(f->diff, O_RDWR);
	{
		uint64_t off = R0_OFF + PAGE;

		assert_int_equal(pwrite(fd, &off, 8, sizeof(Elf64_Ehdr) + 2 * sizeof(Elf64_Phdr) +
					offsetof(Elf64_Phdr, p_offset)), 8);
	}
	close(fd);
	merge_refused(f, "overlaps");
}

/* A base cut short: refused before anything is written to it. */
static void test_base_truncated(void **state)
{
	struct fx *f = *state;

	make_base(f);
	make_diff(f);
	assert_int_equal(truncate(f->base, FILE_SIZE - 1), 0);
	merge_refused(f, "truncated");
}

/*
 * A merge interrupted after it started (simulated: the mark it writes
 * first) leaves a base that no reader takes, with a message saying why;
 * merging again completes it.
 */
static void test_interrupted_merge(void **state)
{
	struct fx *f = *state;
	uint16_t merging = MEMFILE_ET_MERGING;
	struct memfile_layout l;
	uint8_t *merged;
	size_t len;
	struct err err;
	int fd;

	make_base(f);
	make_diff(f);
	fd = open(f->base, O_RDWR);
	assert_int_equal(pwrite(fd, &merging, 2, offsetof(Elf64_Ehdr, e_type)), 2);
	assert_int_not_equal(memfile_layout_read(fd, &l, &err), 0);
	assert_non_null(strstr(err.msg, "interrupted snapshot-merge"));
	close(fd);
	/* The base is refused as a base too ... */
	assert_int_not_equal(memfile_merge(f->diff, f->base, NULL, &err), 0);
	/* ... but the merge it was doing can be run again, as the message says: allowed for --base. */
	assert_int_equal(memfile_merge(f->base, f->diff, NULL, &err), 0);
	merged = read_file(f->base, &len);
	assert_memory_equal(merged + R0_OFF, f->ram[0], R0_PAGES * PAGE);
	assert_int_equal(((Elf64_Ehdr *)merged)->e_type, ET_CORE);
	free(merged);
}

static void test_cli(void **state)
{
	struct fx *f = *state;
	char *none[] = { "hearth", "snapshot-merge", NULL };
	char *bad[] = { "hearth", "snapshot-merge", "--base", f->base, "--bogus", NULL };
	char *extra[] = { "hearth", "snapshot-merge", "--base", f->base, "--diff", f->diff, "x", NULL };
	char *ok[] = { "hearth", "snapshot-merge", "--base", f->base, "--diff", f->diff, NULL };

	make_base(f);
	make_diff(f);
	assert_int_equal(cli_merge_main(2, none), 2);
	assert_int_equal(cli_merge_main(5, bad), 2);
	assert_int_equal(cli_merge_main(7, extra), 2);
	assert_int_equal(cli_merge_main(6, ok), 0);
	unlink(f->diff);
	assert_int_equal(cli_merge_main(6, ok), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_layout_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_sparse_and_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_merge_hostile, setup, teardown),
		cmocka_unit_test_setup_teardown(test_base_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupted_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
