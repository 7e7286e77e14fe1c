/*
 * An ELF kernel read from its file segment by segment (loader.h,
 * loader_open_elf_fd): only the headers and notes are read up front, and
 * each loadable segment goes from the file straight into guest RAM,
 * skipping the file's holes. A stock vmlinux is 53 MB: read whole into a
 * buffer and copied again, that was twice its size in copies and faults.
 */
#include <elf.h>
#include <stdbool.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/decompress.h"
#include "boot/loader.h"
#include "mem/guest_mem.h"
#include "util/file.h"

/* Headers and notes are read; the rest of the buffer stays unread zeros. */
#define ELF_HEAD_BYTES 4096u
#define ELF_NOTE_MAX (64u * 1024u)

/* All of it, or -EIO when the file shrank under us. */
static int pread_full(int fd, uint8_t *dst, uint64_t len, uint64_t off)
{
	ssize_t n = file_pread_full(fd, dst, len, off);

	if (n < 0)
		return (int)n;
	return (uint64_t)n == len ? 0 : -EIO;
}

int loader_open_elf_fd(int fd, const char *path, struct kernel_image *img, struct err *err)
{
	uint64_t head, phlen;
	bool ph_ok;
	struct stat st;
	Elf64_Ehdr eh;
	uint8_t *buf;
	size_t size;
	int ret;

	memset(img, 0, sizeof(*img));
	if (fstat(fd, &st))
		return err_set(err, false, -errno, "cannot stat: %s", strerror(errno));
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(eh) ||
	    (uint64_t)st.st_size > DECOMPRESS_MAX)
		return err_set(err, true, -EINVAL, "not an ELF kernel file (%lld bytes)",
			       (long long)st.st_size);
	size = (size_t)st.st_size;
	/* Not populated: what is never read stays unallocated zeros. */
	buf = file_buf_alloc_lazy(size);
	if (!buf)
		return err_set(err, false, -ENOMEM, "out of memory for its headers");
	head = size < ELF_HEAD_BYTES ? size : ELF_HEAD_BYTES;
	ret = pread_full(fd, buf, head, 0);
	if (ret)
		goto err_read;
	memcpy(&eh, buf, sizeof(eh));
	/* elf_parse judges the headers; here only what to read is bounded. */
	phlen = (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
	ph_ok = eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phoff < size &&
		phlen <= size - eh.e_phoff;
	if (ph_ok && eh.e_phoff + phlen > head) {
		ret = pread_full(fd, buf + eh.e_phoff, phlen, eh.e_phoff);
		if (ret)
			goto err_read;
	}
	for (unsigned int i = 0; ph_ok && i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, buf + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_NOTE || ph.p_offset >= size || ph.p_filesz > ELF_NOTE_MAX ||
		    ph.p_filesz > size - ph.p_offset)
			continue;
		ret = pread_full(fd, buf + ph.p_offset, ph.p_filesz, ph.p_offset);
		if (ret)
			goto err_read;
	}
	ret = elf_parse(buf, size, img, err);
	if (ret) {
		file_buf_free(buf, size);
		return ret;
	}
	img->path = path;
	img->data = buf;
	img->size = size;
	img->fd = fd;
	img->from_fd = true;
	return 0;

err_read:
	file_buf_free(buf, size);
	return err_set(err, true, ret, "read failed: %s", strerror(-ret));
}

int elf_read_segment(const struct kernel_image *img, uint8_t *dst, uint64_t off, uint64_t len)
{
	uint64_t end = off + len, pos = off;
	struct stat st;

	/* Cut short since it was opened: its holes past the end would read as zeros. */
	if (fstat(img->fd, &st))
		return -errno;
	if ((uint64_t)st.st_size < end)
		return -EIO;
	while (pos < end) {
		off_t d = lseek(img->fd, (off_t)pos, SEEK_DATA), h;
		int ret;

		if (d < 0 && errno == ENXIO)
			break;                     /* holes to the end: fresh RAM's zeros */
		if (d < 0)
			d = (off_t)pos;            /* no SEEK_DATA here: all of it is data */
		if ((uint64_t)d >= end)
			break;
		h = lseek(img->fd, d, SEEK_HOLE);
		if (h < 0 || (uint64_t)h > end)
			h = (off_t)end;
		if (h <= d)
			return -EIO;
		guest_mem_prefault(dst + ((uint64_t)d - off), (uint64_t)(h - d));
		ret = pread_full(img->fd, dst + ((uint64_t)d - off), (uint64_t)(h - d),
				     (uint64_t)d);
		if (ret)
			return ret;
		pos = (uint64_t)h;
	}
	return 0;
}
