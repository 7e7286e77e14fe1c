#include "vmm/vm_state.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "util/bytes.h"

#define VM_STATE_TAG "VMST"

static int fail(struct err *err, const char *what)
{
	int ret = -errno;

	return err_set(err, false, ret ? ret : -EIO, "%s: %s", what, strerror(errno));
}

int vm_state_get(int fd, struct vm_kvm_state *s, struct err *err)
{
	memset(s, 0, sizeof(*s));
	s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
	s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
	s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	if (ioctl(fd, KVM_GET_IRQCHIP, &s->pic_master) < 0 ||
	    ioctl(fd, KVM_GET_IRQCHIP, &s->pic_slave) < 0 ||
	    ioctl(fd, KVM_GET_IRQCHIP, &s->ioapic) < 0)
		return fail(err, "KVM_GET_IRQCHIP");
	if (ioctl(fd, KVM_GET_PIT2, &s->pit) < 0)
		return fail(err, "KVM_GET_PIT2");
	if (ioctl(fd, KVM_GET_CLOCK, &s->clock) < 0)
		return fail(err, "KVM_GET_CLOCK");
	return 0;
}

int vm_state_set(int fd, const struct vm_kvm_state *s, struct err *err)
{
	struct kvm_clock_data clock = { .clock = s->clock.clock, .flags = 0 };

	/*
	 * KVM_CLOCK_TSC_STABLE in the saved flags only says the host had a
	 * stable master clock then; it is not an input. KVM_CLOCK_REALTIME
	 * would add the time spent on disk, which a guest sees as a jump.
	 */
	if (ioctl(fd, KVM_SET_PIT2, &s->pit) < 0)
		return fail(err, "KVM_SET_PIT2");
	if (ioctl(fd, KVM_SET_CLOCK, &clock) < 0)
		return fail(err, "KVM_SET_CLOCK");
	if (ioctl(fd, KVM_SET_IRQCHIP, &s->pic_master) < 0 ||
	    ioctl(fd, KVM_SET_IRQCHIP, &s->pic_slave) < 0 ||
	    ioctl(fd, KVM_SET_IRQCHIP, &s->ioapic) < 0)
		return fail(err, "KVM_SET_IRQCHIP");
	return 0;
}

int vm_state_clock_realtime(int vm_fd, const void *in, size_t len, bool apply,
			    struct err *err)
{
	struct vm_kvm_state s;
	struct kvm_clock_data clock;
	int caps;

	if (vm_state_restore(&s, in, len))
		return err_set(err, true, -EINVAL, "clock_realtime: the snapshot's VM state is "
			       "corrupt");
	if (!(s.clock.flags & KVM_CLOCK_REALTIME))
		return err_set(err, true, -EOPNOTSUPP, "clock_realtime: the snapshot holds no "
			       "real time for its clock (the host that took it gave none: "
			       "KVM_GET_CLOCK without KVM_CLOCK_REALTIME)");
	caps = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK);
	if (caps < 0 || !(caps & KVM_CLOCK_REALTIME))
		return err_set(err, true, -EOPNOTSUPP, "clock_realtime: this host's KVM cannot "
			       "set the clock by real time (KVM_CAP_ADJUST_CLOCK without "
			       "KVM_CLOCK_REALTIME)");
	if (!apply)
		return 0;
	clock = (struct kvm_clock_data){ .clock = s.clock.clock, .flags = KVM_CLOCK_REALTIME,
					 .realtime = s.clock.realtime };
	if (ioctl(vm_fd, KVM_SET_CLOCK, &clock) < 0)
		return fail(err, "KVM_SET_CLOCK (KVM_CLOCK_REALTIME)");
	return 0;
}

static void put_part(struct bytes_out *o, const char *tag, const void *data, size_t len)
{
	bytes_put(o, tag, BYTES_TAG_SIZE);
	bytes_put_u32(o, (uint32_t)len);
	bytes_put(o, data, len);
}

int vm_state_save(const struct vm_kvm_state *s, struct bytes_out *o)
{
	bytes_put_tag(o, VM_STATE_TAG, VM_STATE_VERSION);
	put_part(o, "PICM", &s->pic_master, sizeof(s->pic_master));
	put_part(o, "PICS", &s->pic_slave, sizeof(s->pic_slave));
	put_part(o, "IOAP", &s->ioapic, sizeof(s->ioapic));
	put_part(o, "PIT2", &s->pit, sizeof(s->pit));
	put_part(o, "CLCK", &s->clock, sizeof(s->clock));
	return 0;
}

static int get_part(struct bytes_in *in, const char *tag, void *data, uint32_t size)
{
	char got[BYTES_TAG_SIZE];
	uint32_t len;

	bytes_get(in, got, sizeof(got));
	len = bytes_get_u32(in);
	if (in->short_read)
		return -ENODATA;
	if (memcmp(got, tag, BYTES_TAG_SIZE) || len != size)
		return -EINVAL;
	if (len > bytes_in_left(in))
		return -ENODATA;
	bytes_get(in, data, size);
	return 0;
}

int vm_state_restore(struct vm_kvm_state *s, const void *in, size_t len)
{
	struct bytes_in r = bytes_in_init(in, len);
	struct vm_kvm_state v;
	int ret;

	memset(&v, 0, sizeof(v));
	ret = bytes_get_tag(&r, VM_STATE_TAG, VM_STATE_VERSION);
	if (!ret)
		ret = get_part(&r, "PICM", &v.pic_master, sizeof(v.pic_master));
	if (!ret)
		ret = get_part(&r, "PICS", &v.pic_slave, sizeof(v.pic_slave));
	if (!ret)
		ret = get_part(&r, "IOAP", &v.ioapic, sizeof(v.ioapic));
	if (!ret)
		ret = get_part(&r, "PIT2", &v.pit, sizeof(v.pit));
	if (!ret)
		ret = get_part(&r, "CLCK", &v.clock, sizeof(v.clock));
	if (!ret)
		ret = bytes_in_finish(&r);
	/* Each chip record must say which chip it is, or KVM would load it into another. */
	if (!ret && (v.pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
		     v.pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE ||
		     v.ioapic.chip_id != KVM_IRQCHIP_IOAPIC))
		ret = -EINVAL;
	if (!ret)
		*s = v;
	return ret;
}

static int vm_state_component_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct vm_kvm_state s;
	int ret = vm_state_get(*(int *)obj, &s, err);

	return ret ? ret : vm_state_save(&s, o);
}

static int vm_state_component_restore(void *obj, const void *in, size_t len, bool apply,
				      struct err *err)
{
	struct vm_kvm_state s;
	int ret = vm_state_restore(&s, in, len);

	return ret || !apply ? ret : vm_state_set(*(int *)obj, &s, err);
}

const struct component_ops vm_state_component = {
	.save = vm_state_component_save,
	.restore = vm_state_component_restore,
};
