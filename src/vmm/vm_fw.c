/*
 * A firmware VM's images and boot (vm_fw.h): the files opened and
 * checked before anything else, RAM laid out as q35's, the image's last
 * 128 KiB in RAM at 0xe0000, the boot vCPU at the reset vector.
 */
#include "vmm/vm_fw.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/layout.h"
#include "devices/pflash.h"
#include "vmm/devices.h"
#include "vmm/vm_fw_priv.h"
#include "vmm/vm_ram.h"

#define ROM_UNIT (64ull << 10)      /* QEMU's: a BIOS is a multiple of 64 KiB */
#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull
#define HASH_CHUNK (64u << 10)

static const char *flag(const struct vm_config *cfg, bool vars)
{
	if (vars)
		return cfg->cli ? "--firmware-vars" : "firmware_vars_path";
	return cfg->cli ? "--firmware" : "firmware_path";
}

/* A regular file's size, or -errno with err naming it. */
static int open_image(const struct vm_config *cfg, bool vars, int *fd, uint64_t *size,
		      struct err *err)
{
	const char *path = vars ? cfg->firmware.vars_path : cfg->firmware.path;
	struct stat st;

	*fd = open(path, (vars ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOCTTY);
	if (*fd < 0)
		return err_set(err, true, -errno, "%s %s: %s", flag(cfg, vars), path,
			       strerror(errno));
	if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode))
		return err_set(err, true, -EINVAL, "%s %s: not a regular file", flag(cfg, vars),
			       path);
	*size = (uint64_t)st.st_size;
	/* One VM a store, as a disk's image: two writing one would corrupt it. */
	if (vars && flock(*fd, LOCK_EX | LOCK_NB) < 0)
		return err_set(err, true, -errno, "%s %s: %s", flag(cfg, vars), path,
			       errno == EWOULDBLOCK ? "another process uses it (locked)"
						    : strerror(errno));
	return 0;
}

static int check_sizes(const struct vm_config *cfg, const struct vm_fw *fw, struct err *err)
{
	const char *path = cfg->firmware.path;

	if (!fw->flash) {
		if (!fw->code_size || fw->code_size % ROM_UNIT || fw->code_size > LAYOUT_FW_MAX)
			return err_set(err, true, -EINVAL, "%s %s: %llu bytes: a firmware image is "
				       "a multiple of 64 KiB, at most 16 MiB", flag(cfg, false), path,
				       (unsigned long long)fw->code_size);
		return 0;
	}
	if (!fw->code_size || fw->code_size % PFLASH_SECTOR)
		return err_set(err, true, -EINVAL, "%s %s: %llu bytes: a flash image is a "
			       "multiple of %u bytes", flag(cfg, false), path,
			       (unsigned long long)fw->code_size, PFLASH_SECTOR);
	if (!fw->vars_size || fw->vars_size % PFLASH_SECTOR)
		return err_set(err, true, -EINVAL, "%s %s: %llu bytes: a variable store is a "
			       "multiple of %u bytes", flag(cfg, true), cfg->firmware.vars_path,
			       (unsigned long long)fw->vars_size, PFLASH_SECTOR);
	if (fw->code_size + fw->vars_size > LAYOUT_FW_MAX)
		return err_set(err, true, -EINVAL, "%s %s with its store: %llu bytes, more than "
			       "the 16 MiB below 4 GiB they share", flag(cfg, false), path,
			       (unsigned long long)(fw->code_size + fw->vars_size));
	return 0;
}

/* FNV-1a over the image: what a snapshot records, so a restore maps the same one. */
static int hash_image(struct vm_fw *fw, struct err *err)
{
	uint8_t *buf = malloc(HASH_CHUNK);
	uint64_t h = FNV_OFFSET, off = 0;

	if (!buf)
		return err_set(err, false, -ENOMEM, "out of memory");
	while (off < fw->code_size) {
		ssize_t n = pread(fw->code_fd, buf, HASH_CHUNK, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return err_set(err, true, -EIO, "the firmware image: %s",
				       n < 0 ? strerror(errno) : "it ends early");
		}
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ buf[i]) * FNV_PRIME;
		off += (uint64_t)n;
	}
	free(buf);
	fw->hash = h;
	return 0;
}

int vm_fw_open(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	struct vm_fw *fw = calloc(1, sizeof(*fw));
	int ret;

	if (!fw)
		return err_set(err, false, -ENOMEM, "out of memory");
	fw->code_fd = fw->vars_fd = fw->vm_fd = -1;
	vm->fw = fw;
	fw->flash = cfg->firmware.vars_path != NULL;
	ret = open_image(cfg, false, &fw->code_fd, &fw->code_size, err);
	if (!ret && fw->flash)
		ret = open_image(cfg, true, &fw->vars_fd, &fw->vars_size, err);
	if (!ret)
		ret = check_sizes(cfg, fw, err);
	if (!ret)
		ret = hash_image(fw, err);
	if (ret)
		return ret;
	/* QEMU's pc_sysfw: the code at the top, the store right under it. */
	fw->code_gpa = LAYOUT_FW_TOP - fw->code_size;
	fw->vars_gpa = fw->code_gpa - fw->vars_size;
	return 0;
}

/* The image's last 128 KiB (all of a smaller one) into RAM below 1 MiB: QEMU's isa-bios. */
static int copy_isa_bios(struct vm *vm, struct err *err)
{
	struct vm_fw *fw = vm->fw;
	uint64_t n = fw->code_size < LAYOUT_ISA_BIOS_SIZE ? fw->code_size : LAYOUT_ISA_BIOS_SIZE;
	uint64_t gpa = LAYOUT_ISA_BIOS + LAYOUT_ISA_BIOS_SIZE - n, done = 0;
	uint8_t *dst = guest_mem_ptr(&vm->mem, gpa, n);

	if (!dst)
		return err_set(err, false, -EFAULT, "no RAM at 0x%llx for the firmware",
			       (unsigned long long)gpa);
	while (done < n) {
		ssize_t r = pread(fw->code_fd, dst + done, n - done,
				  (off_t)(fw->code_size - n + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return err_set(err, true, -EIO, "the firmware image: %s",
				       r < 0 ? strerror(errno) : "it ends early");
		done += (uint64_t)r;
	}
	return 0;
}

int vm_fw_prepare(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	int ret = vm_ram_init(vm, cfg, err);

	if (!ret)
		ret = vm_devices_layout(vm, cfg, err);
	if (!ret)
		ret = copy_isa_bios(vm, err);
	if (ret)
		return ret;
	/* The boot vCPU as the processor comes out of reset; the others wait for INIT-SIPI. */
	vm->entry = (struct cpu_entry){ .mode = CPU_ENTRY_RESET };
	return 0;
}

void vm_fw_destroy(struct vm *vm)
{
	struct vm_fw *fw = vm->fw;

	if (!fw)
		return;
	if (fw->rom)
		munmap(fw->rom, fw->code_size);
	if (fw->code_fd >= 0)
		close(fw->code_fd);
	if (fw->vars_fd >= 0)
		close(fw->vars_fd);
	free(fw);
	vm->fw = NULL;
}
