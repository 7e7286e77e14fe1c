/*
 * A firmware VM's chipset (vm_fw.h): QEMU q35's MCH as the PCI root's
 * host bridge, its ECAM window where the firmware programs it, the ICH9
 * LPC at 00:1f.0 with its PM block, the HPET with its LegacyReplacement
 * route (KVM's PIT stopped, the RTC's line given over), and the flash
 * pair of an image with a variable store, each flash's array a
 * read-only slot while it is in array mode.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "chipset/lpc.h"
#include "chipset/mch.h"
#include "core/layout.h"
#include "devices/hpet.h"
#include "devices/pflash.h"
#include "pci/root.h"
#include "vmm/registry.h"
#include "vmm/vm_fw_priv.h"

/* Enters c in the registry or, when the registry refuses it, destroys it. */
static int enter(struct vm *vm, const char *id, const char *type,
		 const struct dev_resources *res, const struct component *c, struct err *err)
{
	int ret = registry_add(&vm->registry, COMP_DEVICE, id, type, res, c);

	if (ret) {
		c->ops->destroy(c->obj);
		return err_set(err, false, ret, "device '%s': %s", id, strerror(-ret));
	}
	return 0;
}

/* The legacy devices' lines, the RTC's dropped while the HPET's LegacyReplacement has it. */
static int fw_irq_set(void *ctx, unsigned int gsi, int level)
{
	struct vm *vm = ctx;

	if (gsi == IRQ_RTC && __atomic_load_n(&vm->fw->rtc_gated, __ATOMIC_ACQUIRE))
		return 0;
	return irq_kvm_set(&vm->fd, gsi, level);
}

void vm_fw_irq_env(struct vm *vm, struct dev_env *env)
{
	env->irq = (struct irq_line){ fw_irq_set, vm, 0 };
}

/*
 * The HPET's LegacyReplacement (its loop's thread): KVM's PIT stops
 * interrupting (KVM_PIT_FLAGS_HPET_LEGACY), the RTC's line is the HPET's.
 */
static void fw_hpet_legacy(void *ctx, bool on)
{
	struct vm_fw *fw = ctx;
	struct kvm_pit_state2 st;

	__atomic_store_n(&fw->rtc_gated, on, __ATOMIC_RELEASE);
	memset(&st, 0, sizeof(st));
	if (ioctl(fw->vm_fd, KVM_GET_PIT2, &st) < 0) {
		log_warn("hpet: KVM_GET_PIT2: %s", strerror(errno));
		return;
	}
	if (!!(st.flags & KVM_PIT_FLAGS_HPET_LEGACY) == on)
		return;
	if (on)
		st.flags |= KVM_PIT_FLAGS_HPET_LEGACY;
	else
		st.flags &= ~(uint32_t)KVM_PIT_FLAGS_HPET_LEGACY;
	if (ioctl(fw->vm_fd, KVM_SET_PIT2, &st) < 0)
		log_warn("hpet: KVM_SET_PIT2: %s", strerror(errno));
}

/* The MCH's PCIEXBAR: how much of the claimed ECAM window decodes (the root made after it). */
static void fw_ecam(void *ctx, uint64_t len)
{
	struct vm_fw *fw = ctx;

	if (fw->root)
		pci_root_set_ecam(fw->root, len);
}

static int make_mch_root(struct vm *vm, const struct dev_env *env, struct pci_root **root,
			 struct err *err)
{
	struct dev_resources res = { .pio_base = PORT_PCI_CONF1, .pio_size = PCI_CONF1_PORTS,
				     .mmio_base = LAYOUT_Q35_ECAM,
				     .mmio_size = (uint32_t)LAYOUT_Q35_ECAM_SIZE, .gsi = -1 };
	struct mch_config mc = { .ecam_base = LAYOUT_Q35_ECAM, .ecam_size = LAYOUT_Q35_ECAM_SIZE,
				 .ecam = fw_ecam, .ctx = vm->fw };
	struct component mch, rc;
	int ret;

	ret = mch_create(&mc, &mch, err);
	if (!ret)
		ret = enter(vm, "mch", "q35-mch", NULL, &mch, err);
	if (ret)
		return ret;
	ret = pci_root_create_with(env, &res, &(const struct pci_root_config){
		.host = &mch_function_ops, .host_opaque = mch.obj,
		.mmio32_base = LAYOUT_Q35_MMIO32, .mmio32_end = LAYOUT_Q35_MMIO32_END,
		.ecam_gated = true }, &rc, err);
	if (ret)
		return err_prefix(err, ret, "PCI root complex: ");
	*root = pci_root_of(&rc);
	/* The MCH's window decodes through its root from now on (nothing ran before). */
	vm->fw->root = *root;
	return enter(vm, "pci", "pci-root", &res, &rc, err);
}

static int make_lpc(struct vm *vm, const struct dev_env *env, struct pci_root *root,
		    struct err *err)
{
	struct lpc_config lc = { .pm_port = PORT_Q35_PMBASE, .apm_port = PORT_Q35_APM,
				 .cpuhp_port = PORT_Q35_CPU_HOTPLUG, .rcba_addr = LAYOUT_Q35_RCBA,
				 .sci = env->irq };
	struct component c;
	int ret;

	lc.sci.gsi = IRQ_Q35_SCI;
	ret = lpc_create(env, &lc, &c, err);
	if (ret)
		return err_prefix(err, ret, "LPC: ");
	ret = enter(vm, "lpc", "ich9-lpc", NULL, &c, err);
	if (!ret && pci_root_attach(root, LAYOUT_Q35_LPC_SLOT, &lpc_function_ops, c.obj))
		ret = err_set(err, false, -EEXIST, "LPC: slot %u is taken", LAYOUT_Q35_LPC_SLOT);
	return ret;
}

static int make_hpet(struct vm *vm, const struct dev_env *env, struct err *err)
{
	struct dev_env henv = *env;
	struct dev_resources res = { .mmio_base = HPET_MMIO_BASE, .mmio_size = HPET_MMIO_SIZE,
				     .gsi = -1 };
	struct hpet_config hc = { .routes = LAYOUT_HPET_ROUTES, .legacy = fw_hpet_legacy,
				  .legacy_ctx = vm->fw };
	struct component c;
	int ret;

	/* Its own lines ungated: in LegacyReplacement, IRQ 8 is its timer 1's. */
	henv.irq = (struct irq_line){ irq_kvm_set, &vm->fd, 0 };
	ret = hpet_create_with(&henv, &res, &hc, &c, err);
	if (ret)
		return err_prefix(err, ret, "HPET: ");
	return enter(vm, "hpet", "hpet", &res, &c, err);
}

void vm_fw_slot_set(void *opaque, bool array)
{
	struct vm_fw_slot *s = opaque;
	struct kvm_userspace_memory_region r = {
		.slot = s->slot,
		.flags = KVM_MEM_READONLY,
		.guest_phys_addr = s->gpa,
		.memory_size = array ? s->size : 0,
		.userspace_addr = (uint64_t)(uintptr_t)s->hva,
	};

	if (ioctl(s->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		log_ratelimited(&s->rl, LOG_ERR, "pflash: its slot %s: %s", array ? "in" : "out",
				strerror(errno));
}

/* One flash of the pair, in array mode, its slot in. */
static int make_flash(struct vm *vm, const struct dev_env *env, bool vars, struct err *err)
{
	struct vm_fw *fw = vm->fw;
	struct vm_fw_slot *s = vars ? &fw->vars_slot : &fw->code_slot;
	struct pflash_config pc = { .fd = vars ? fw->vars_fd : fw->code_fd,
				    .size = vars ? fw->vars_size : fw->code_size, .width = 1,
				    .readonly = !vars, .set_array = vm_fw_slot_set, .opaque = s };
	struct dev_resources res = { .mmio_base = vars ? fw->vars_gpa : fw->code_gpa,
				     .mmio_size = (uint32_t)pc.size, .gsi = -1 };
	struct component c;
	int ret;

	*s = (struct vm_fw_slot){ .vm_fd = vm->fd, .slot = vars ? LAYOUT_FW_VARS_SLOT
								: LAYOUT_FW_CODE_SLOT,
				  .gpa = res.mmio_base, .size = pc.size, .rl = RATELIMIT_INIT(5) };
	ret = pflash_create(env, &res, &pc, &c, err);
	if (ret)
		return err_prefix(err, ret, "%s: ", vars ? "the variable store" : "the firmware");
	s->hva = pflash_array(c.obj);
	ret = enter(vm, vars ? "pflash1" : "pflash0", "pflash", &res, &c, err);
	if (ret)
		return ret;
	vm_fw_slot_set(s, true);
	return 0;
}

static void absent_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	memset(data, 0xff, len);
}

static void absent_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
}

static const struct bus_region_ops absent_ops = {
	.read = absent_read,
	.write = absent_write,
};

/*
 * Ports firmware probes on a PC where q35 has nothing: QEMU's debug
 * console (0x402, SeaBIOS's log; --debugcon port=0x402 shows it) and the
 * floppy controller. They answer as absent, quietly.
 */
static int claim_absent(const struct vm_config *cfg, const struct dev_env *env,
			struct err *err)
{
	static const struct { uint16_t base, len; const char *name; } ports[] = {
		{ PORT_Q35_FW_DEBUG, 1, "fw-debug" },
		{ PORT_Q35_FLOPPY, 6, "floppy" },
		{ PORT_Q35_FLOPPY + 7, 1, "floppy-dir" },
	};
	int ret = 0;

	for (unsigned int i = 0; !ret && i < sizeof(ports) / sizeof(ports[0]); i++) {
		if (cfg->debugcon.present && cfg->debugcon.port >= ports[i].base &&
		    cfg->debugcon.port < ports[i].base + ports[i].len)
			continue;
		ret = dev_claim(env, BUS_PIO, ports[i].base, ports[i].len, &absent_ops, NULL,
				ports[i].name, err);
	}
	return ret;
}

int vm_fw_devices(struct vm *vm, const struct vm_config *cfg, const struct dev_env *env,
		  struct err *err)
{
	struct pci_root *root = NULL;
	int ret;

	vm->fw->vm_fd = vm->fd;
	ret = vm_fw_image_create(vm, env, err);
	if (!ret)
		ret = make_mch_root(vm, env, &root, err);
	if (!ret)
		ret = make_lpc(vm, env, root, err);
	if (!ret)
		ret = make_hpet(vm, env, err);
	if (!ret && vm->fw->flash)
		ret = make_flash(vm, env, false, err);
	if (!ret && vm->fw->flash)
		ret = make_flash(vm, env, true, err);
	if (!ret)
		ret = claim_absent(cfg, env, err);
	return ret;
}
