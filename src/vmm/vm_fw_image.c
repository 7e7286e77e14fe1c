/*
 * The firmware image as a component (vm_fw_priv.h's "FWIM" record) and,
 * for a ROM, its mapping: the file mapped read-only into a
 * KVM_MEM_READONLY slot at the top of 4 GiB, and the bus region its
 * writes exit to, where each is refused, counted (the component's
 * counter) and logged at a limited rate. A flash pair's code is a
 * read-only CFI flash instead (vm_fw_q35.c), which refuses its own.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "core/layout.h"
#include "vmm/registry.h"
#include "vmm/vm_fw_priv.h"

struct fw_image {
	bool flash;
	uint64_t code_size, hash, vars_size;
	const uint8_t *rom;       /* a ROM's bytes; NULL: a flash pair */
	uint64_t rom_gpa;
	uint64_t refused;         /* guest writes to the ROM (atomic) */
	struct ratelimit rl;
};

static void rom_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct fw_image *im = opaque;

	/* The slot answers reads; these come only if it is gone. */
	for (unsigned int i = 0; i < len; i++)
		data[i] = offset + i < im->code_size ? im->rom[offset + i] : 0xff;
}

static void rom_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct fw_image *im = opaque;
	uint64_t n = __atomic_add_fetch(&im->refused, 1, __ATOMIC_RELAXED);

	log_ratelimited(&im->rl, LOG_WARN, "firmware: a guest write of %u bytes to its code at "
			"0x%llx refused (%llu so far)", len,
			(unsigned long long)(im->rom_gpa + offset), (unsigned long long)n);
}

static const struct bus_region_ops rom_ops = {
	.read = rom_read,
	.write = rom_write,
};

static int image_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct fw_image *im = obj;

	bytes_put_tag(o, FW_IMAGE_TAG, FW_IMAGE_VERSION);
	bytes_put_u8(o, im->flash);
	bytes_put_u64(o, im->code_size);
	bytes_put_u64(o, im->hash);
	bytes_put_u64(o, im->vars_size);
	return 0;
}

/* Nothing to apply: the check is the point. A restore maps no other image than the snapshot's. */
static int image_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct fw_image *im = obj;
	struct bytes_in r = bytes_in_init(in, len);
	uint64_t size, hash, vars;
	bool flash;
	int ret = bytes_get_tag(&r, FW_IMAGE_TAG, FW_IMAGE_VERSION);

	if (ret)
		return ret;
	flash = bytes_get_bool(&r);
	size = bytes_get_u64(&r);
	hash = bytes_get_u64(&r);
	vars = bytes_get_u64(&r);
	ret = bytes_in_finish(&r);
	if (ret)
		return ret;
	if (flash != im->flash || vars != im->vars_size)
		return err_set(err, true, -EINVAL, "firmware: the snapshot's VM had %s, this one "
			       "%s", flash ? "a variable store" : "no variable store",
			       im->flash ? "a variable store" : "none");
	if (size != im->code_size || hash != im->hash)
		return err_set(err, true, -EINVAL, "firmware: the image given is not the one the "
			       "snapshot's VM booted (%llu bytes, FNV-1a %016llx; this one %llu, "
			       "%016llx)", (unsigned long long)size, (unsigned long long)hash,
			       (unsigned long long)im->code_size, (unsigned long long)im->hash);
	return 0;
}

static unsigned int image_counters(void *obj, struct dev_counter *out, unsigned int max)
{
	struct fw_image *im = obj;

	if (!max || im->flash)
		return 0;
	out[0] = (struct dev_counter){ "code_writes_refused",
				       __atomic_load_n(&im->refused, __ATOMIC_RELAXED) };
	return 1;
}

static const struct component_ops image_component = {
	.save = image_save,
	.restore = image_restore,
	.destroy = free,
	.counters = image_counters,
};

/* A ROM: the image mapped read-only, a read-only slot over it. */
static int map_rom(struct vm *vm, struct err *err)
{
	struct vm_fw *fw = vm->fw;
	struct kvm_userspace_memory_region r = {
		.slot = LAYOUT_FW_CODE_SLOT,
		.flags = KVM_MEM_READONLY,
		.guest_phys_addr = fw->code_gpa,
		.memory_size = fw->code_size,
	};

	fw->rom = mmap(NULL, fw->code_size, PROT_READ, MAP_PRIVATE, fw->code_fd, 0);
	if (fw->rom == MAP_FAILED) {
		fw->rom = NULL;
		return err_set(err, false, -errno, "firmware: mapping the image: %s",
			       strerror(errno));
	}
	r.userspace_addr = (uint64_t)(uintptr_t)fw->rom;
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return err_set(err, false, -errno, "firmware: KVM_SET_USER_MEMORY_REGION: %s",
			       strerror(errno));
	return 0;
}

int vm_fw_image_create(struct vm *vm, const struct dev_env *env, struct err *err)
{
	struct vm_fw *fw = vm->fw;
	struct fw_image *im;
	int ret;

	/* Without read-only slots a guest could rewrite its own firmware. */
	if (ioctl(vm->fd, KVM_CHECK_EXTENSION, KVM_CAP_READONLY_MEM) <= 0)
		return err_set(err, false, -EOPNOTSUPP, "firmware: this KVM has no read-only "
			       "memory slots (KVM_CAP_READONLY_MEM)");
	im = calloc(1, sizeof(*im));
	if (!im)
		return err_set(err, false, -ENOMEM, "out of memory");
	*im = (struct fw_image){ .flash = fw->flash, .code_size = fw->code_size,
				 .hash = fw->hash, .vars_size = fw->vars_size,
				 .rom_gpa = fw->code_gpa, .rl = RATELIMIT_INIT(5) };
	if (!fw->flash) {
		ret = map_rom(vm, err);
		if (!ret)
			ret = dev_claim(env, BUS_MMIO, fw->code_gpa, fw->code_size, &rom_ops, im,
					"firmware-rom", err);
		if (ret) {
			/* A claim that failed left nothing on the bus holding im. */
			free(im);
			return ret;
		}
		im->rom = fw->rom;
	}
	ret = registry_add(&vm->registry, COMP_DEVICE, "firmware", "firmware", NULL,
			   &(struct component){ &image_component, im });
	if (ret) {
		if (fw->flash)
			free(im);
		return err_set(err, false, ret, "firmware: the registry: %s", strerror(-ret));
	}
	return 0;
}
