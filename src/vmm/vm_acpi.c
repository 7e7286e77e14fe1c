/*
 * The ACPI tables' description of a VM (boot/acpi.h's struct acpi_config),
 * from its layout: a direct boot writes them into its RAM (vm.c), a
 * firmware boot hands them to the firmware through fw_cfg (vm_fw_cfg.c),
 * where they describe QEMU q35's chipset too.
 */
#include "vmm/vm.h"

#include "chipset/lpc.h"
#include "core/layout.h"
#include "devices/fw_cfg.h"
#include "devices/platform.h"

void vm_acpi_config(const struct vm *vm, struct acpi_config *cfg)
{
	*cfg = (struct acpi_config){
		.ncpus = vm->ncpus,
		.ioapic_addr = (uint32_t)LAYOUT_IOAPIC,
		.lapic_addr = (uint32_t)LAYOUT_LAPIC,
		.sleep_ctl_port = PORT_ACPI_SLEEP_CTL,
		.sleep_sts_port = PORT_ACPI_SLEEP_STS,
		.reset_port = PORT_ACPI_RESET,
		.reset_value = ACPI_RESET_VALUE,
		.s5_slp_typ = ACPI_S5_SLP_TYP,
		.com1_port = PORT_COM1,
		.com1_irq = IRQ_COM1,
		.fw_cfg_port = PORT_FW_CFG,
		.fw_cfg_len = FW_CFG_PORTS,
		.mmio_devs = vm->mmio_devs,
		.n_mmio_devs = vm->n_mmio_devs,
		.vmclock_addr = vm->vmclock ? LAYOUT_VMCLOCK : 0,
		.vmclock_size = (uint32_t)LAYOUT_VMCLOCK_SIZE,
		.vmgenid_addr = vm->vmgenid ? LAYOUT_VMGENID : 0,
		.vmgenid_gsi = LAYOUT_VMGENID_GSI,
		.pci = { .ecam = LAYOUT_PCI_ECAM, .bus_end = 0, .mmio32_base = LAYOUT_PCI_MMIO32,
			 .mmio32_end = LAYOUT_PCI_MMIO32_END, .mmio64_base = vm->mmio64_base,
			 .mmio64_end = vm->mmio64_base + vm->mmio64_size, .msi = vm->pci,
			 /* Hotplug where the virtio devices are functions. */
			 .hotplug_port = vm->pci ? PORT_PCI_HOTPLUG : 0,
			 .hotplug_gsi = LAYOUT_PCI_HOTPLUG_GSI },
	};
	if (!vm->firmware)
		return;
	/* QEMU's q35: fw_cfg with DMA, ECAM where the firmware puts it, the ICH9's PM block. */
	cfg->fw_cfg_len = FW_CFG_PORTS_DMA;
	cfg->s5_slp_typ = 0;
	cfg->pci.ecam = LAYOUT_Q35_ECAM;
	cfg->pci.mmio32_base = LAYOUT_Q35_MMIO32;
	cfg->pci.mmio32_end = LAYOUT_Q35_MMIO32_END;
	cfg->fw = (struct acpi_fw){ .pm_base = PORT_Q35_PMBASE, .sci_irq = IRQ_Q35_SCI,
				    .smi_cmd = PORT_Q35_APM, .acpi_enable = LPC_APM_ACPI_ENABLE,
				    .acpi_disable = LPC_APM_ACPI_DISABLE, .hpet_addr = HPET_MMIO_BASE,
				    .rcba_addr = LAYOUT_Q35_RCBA,
				    .rcba_size = (uint32_t)LAYOUT_Q35_RCBA_SIZE };
}
