/*
 * libFuzzer target for the snapshot reader (src/snapshot/format.c) and
 * the section payloads it hands on: the host record (snapshot/host.c),
 * a vCPU's record (vcpu/vcpu_state.c), the vm record (vmm/vm_state.c)
 * and the config record (snapshot/config_rec.c).
 *
 * Input: one mode byte, then the file. With mode bit 0 set the harness
 * writes a correct CRC into the file first, so the fuzzer gets past the
 * checksum into the section walk; with it clear the file is taken as is.
 *
 * Checked: nothing is read outside the input (an exact-size copy, ASan);
 * a refusal is -EINVAL with a "snapshot F: " message; an accepted file's
 * sections lie inside it, have valid ids, appear once, and built again
 * with snap_builder give the same bytes back; payload restores return
 * only their documented errors.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/config_rec.h"
#include "snapshot/snapshot.h"
#include "snapshot/format.h"
#include "snapshot/host.h"
#include "vmm/vm_state.h"
#include "util/crc32c.h"
#include "vcpu/vcpu_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "invariant failed: %s (line %d)\n", #cond, __LINE__); \
			abort();                                                             \
		}                                                                            \
	} while (0)

static void fix_crc(uint8_t *buf, size_t len)
{
	uint32_t crc;

	if (len < SNAP_HEADER_SIZE)
		return;
	memset(buf + SNAP_CRC_OFFSET, 0, 4);
	crc = crc32c(0, buf, len);
	for (unsigned int i = 0; i < 4; i++)
		buf[SNAP_CRC_OFFSET + i] = (uint8_t)(crc >> (8 * i));
}

static void check_payload(const struct snap_section *s)
{
	static struct snap_host host;
	struct vcpu_snap vs;
	int ret;

	if (s->kind == SNAP_SEC_HOST) {
		ret = snap_host_restore(&host, s->data, s->len);
		CHECK(ret == 0 || ret == -ENODATA || ret == -EPROTO || ret == -EINVAL);
		if (!ret) {
			struct err err;

			CHECK(host.ncpuid <= SNAP_HOST_MAX_CPUID && host.ncaps <= SNAP_HOST_MAX_CAPS);
			(void)snap_host_check(&host, &host, &err);
		}
	} else if (s->kind == SNAP_SEC_VM) {
		struct vm_kvm_state vm;

		ret = vm_state_restore(&vm, s->data, s->len);
		CHECK(ret == 0 || ret == -ENODATA || ret == -EPROTO || ret == -EINVAL);
		if (!ret)
			CHECK(vm.pic_master.chip_id == KVM_IRQCHIP_PIC_MASTER &&
			      vm.ioapic.chip_id == KVM_IRQCHIP_IOAPIC);
	} else if (s->kind == SNAP_SEC_CONFIG) {
		struct vm_config c;
		struct err err;

		vm_config_init(&c);
		err.msg[0] = 0;
		ret = snap_config_restore(&c, s->data, s->len, &err);
		/* Any refusal says why (the config's own setters pick the -errno). */
		CHECK(ret == 0 || ret == -ENOMEM || (ret < 0 && err.msg[0]));
		if (!ret)
			CHECK(c.nnets <= VM_MAX_NETS && c.ndrives <= VM_MAX_DRIVES);
		/*
		 * A request that gives nothing: whatever the record names, either
		 * it is refused or no host resource of the record is left.
		 */
		if (!ret) {
			static const struct snap_load_req none;

			ret = snap_load_host(&c, &none, &err);
			CHECK(ret == -EINVAL || ret == -ENOMEM || !ret);
			if (!ret)
				CHECK(!c.ndrives && !c.nnets && !c.kvm_path && !c.serial_out_path &&
				      !(c.vsock.present && c.vsock.uds_path));
		}
		vm_config_release(&c);
	} else if (s->kind == SNAP_SEC_VCPU) {
		ret = vcpu_state_restore(&vs, s->data, s->len);
		CHECK(ret == 0 || ret == -ENODATA || ret == -EPROTO || ret == -EINVAL ||
		      ret == -ENOMEM);
		if (!ret) {
			CHECK(vs.xsave_len >= sizeof(struct kvm_xsave) && vs.xsave_len <= VCPU_XSAVE_MAX);
			CHECK(vs.nmsrs <= VCPU_STATE_MAX_MSRS);
			vcpu_state_release(&vs);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap_builder b;
	struct snap_file f;
	struct err err;
	uint8_t *buf;
	void *again;
	size_t len, again_len;
	int ret;

	if (!size)
		return 0;
	len = size - 1;
	/* An exact-size copy, so ASan catches a read past len. */
	buf = malloc(len ? len : 1);
	if (!buf)
		return 0;
	memcpy(buf, data + 1, len);
	if (data[0] & 1)
		fix_crc(buf, len);
	err.msg[0] = '\0';
	ret = snap_parse(buf, len, "F", &f, &err);
	CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	if (ret == -EINVAL)
		CHECK(!strncmp(err.msg, "snapshot F: ", 12) && strlen(err.msg) > 12);
	if (ret) {
		free(buf);
		return 0;
	}
	CHECK(f.format_version == SNAP_FORMAT_VERSION);
	CHECK(memchr(f.hearth_version, '\0', sizeof(f.hearth_version)));
	snap_builder_init(&b);
	for (unsigned int i = 0; i < f.nsections; i++) {
		const struct snap_section *s = &f.sections[i];

		CHECK(s->data >= buf && s->len <= len && s->data - buf <= (ptrdiff_t)(len - s->len));
		CHECK(snap_find(&f, s->kind, s->id) == s);
		CHECK(snap_builder_add(&b, s->kind, s->id, s->version, s->data, s->len) == 0);
		check_payload(s);
	}
	/* What the reader accepted, the writer writes back byte for byte. */
	CHECK(snap_builder_finish(&b, f.hearth_version, &again, &again_len) == 0);
	CHECK(again_len == len && !memcmp(again, buf, len));
	free(again);
	snap_file_release(&f);
	free(buf);
	return 0;
}
