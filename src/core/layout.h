/*
 * The guest-physical and port layout Hearth presents. One place, so the
 * boot code, ACPI tables and devices cannot disagree.
 */
#ifndef HEARTH_CORE_LAYOUT_H
#define HEARTH_CORE_LAYOUT_H

/* Low memory used by the loader (all below the 640 KiB EBDA line). */
#define LAYOUT_GDT 0x1000ull
#define LAYOUT_PML4 0x2000ull
#define LAYOUT_PDPT 0x3000ull
#define LAYOUT_PD 0x4000ull       /* four pages: 4 GiB of 2 MiB mappings */
/*
 * The boot tables as one block from the GDT's page: the GDT alone (32-bit
 * entry), or the GDT and the page tables above it (64-bit entry). A --flat
 * image may move the block (boot/flat.h); the offsets stay.
 */
#define LAYOUT_TABLES_GDT_SIZE 0x1000ull
#define LAYOUT_TABLES_SIZE (LAYOUT_PD + 4 * 0x1000ull - LAYOUT_GDT)
#define LAYOUT_BOOT_PARAMS 0x8000ull
#define LAYOUT_BOOT_STACK 0x8ff0ull  /* for ELF test guests */
#define LAYOUT_CMDLINE 0x20000ull
#define LAYOUT_CMDLINE_MAX 0x10000ull
#define LAYOUT_EBDA 0x9fc00ull

/* ACPI tables live in the BIOS area the kernel scans for the RSDP. */
#define LAYOUT_ACPI_BASE 0xe0000ull
#define LAYOUT_ACPI_SIZE 0x20000ull

#define LAYOUT_KERNEL_LOAD 0x100000ull /* 1 MiB, protocol's default */

/* The 32-bit hole: [3 GiB, 4 GiB) is never RAM. */
#define LAYOUT_MMIO_HOLE_START 0xc0000000ull
#define LAYOUT_MMIO_HOLE_END 0x100000000ull
#define LAYOUT_VIRTIO_MMIO_BASE 0xd0000000ull /* 4 KiB per device */
#define LAYOUT_VIRTIO_MMIO_STRIDE 0x1000ull
/*
 * Each virtio-mmio device has a pin of its own (edge-triggered irqfd
 * pulses cannot share one safely): the IOAPIC's non-ISA pins first, then
 * the ISA lines no legacy device of ours uses (not 0-2, the timer and
 * the cascade, 1 and 4, the keyboard and COM1, or 8, the RTC; 3 is
 * COM2's, which Hearth has not). KVM's IOAPIC has 24 pins, so 19 devices.
 * The first 16 are the order every snapshot was laid out in: append only.
 * The last one is VMGenID's where the VM has it, as in Firecracker, whose
 * VMGenID takes one of its legacy lines too: 18 devices then.
 */
#define LAYOUT_VIRTIO_GSIS { 16, 17, 18, 19, 20, 21, 22, 23, 5, 6, 7, 9, 10, 11, 12, 14, \
			     3, 13, 15 }
#define LAYOUT_VIRTIO_MAX 19
/*
 * PCI (pci/root.h): the ECAM window of bus 0, which the MCFG describes,
 * and the window the host bridge's _CRS hands out for memory BARs:
 * 32-bit memory in the hole between ECAM and the IOAPIC.
 */
#define LAYOUT_PCI_ECAM 0xe0000000ull
#define LAYOUT_PCI_ECAM_SIZE 0x100000ull      /* bus 0 only */
#define LAYOUT_PCI_MMIO32 0xe8000000ull
#define LAYOUT_PCI_MMIO32_END 0xfc000000ull   /* exclusive; the IOAPIC is above */
#define PORT_PCI_CONF1 0xcf8                  /* CONFIG_ADDRESS; CONFIG_DATA at 0xcfc */
/*
 * PCI hotplug (pci/hotplug.h), on a VM whose virtio devices are on PCI:
 * its registers (QEMU's piix4 port) and the GED's interrupt, the last
 * IOAPIC pin, which no virtio-mmio device takes on such a VM.
 */
#define PORT_PCI_HOTPLUG 0xae00
#define LAYOUT_PCI_HOTPLUG_GSI 23
#define LAYOUT_IOAPIC 0xfec00000ull
#define LAYOUT_LAPIC 0xfee00000ull

/*
 * Ports KVM's in-kernel devices answer (with the in-kernel irqchip and
 * PIT): the PICs, the PIT and the speaker port. A device put there would
 * never see the guest's accesses.
 */
#define PORT_KVM_PIC1 0x20        /* and 0x21 */
#define PORT_KVM_PIT 0x40         /* to 0x43 */
#define PORT_KVM_SPEAKER 0x61
#define PORT_KVM_PIC2 0xa0        /* and 0xa1 */

/* Ports and ISA interrupt lines: where vmm/devices.c's table puts each device. */
#define PORT_COM1 0x3f8
#define IRQ_COM1 4
#define IRQ_KBD 1                 /* the i8042's keyboard, ISA IRQ 1 */
#define PORT_I8042_DATA 0x60
#define PORT_I8042_CMD (PORT_I8042_DATA + 4) /* the i8042 has it four above its data port */
#define PORT_RTC 0x70             /* index; data at 0x71 */
#define IRQ_RTC 8
#define PORT_FW_CFG 0x510         /* QEMU's: the selector; the data byte at 0x511 */
#define PORT_TESTDEV 0xe0         /* pc-testdev's latch, its flush at 0xe4 (QEMU's) */
#define MMIO_TESTDEV 0xff000000ull /* pc-testdev's RAM-like window */
#define MMIO_BOOT_TIMER 0xc0000000ull /* --boot-timer's page: Firecracker's x86 address */
/*
 * VMClock's page (devices/vmclock.h): QEMU's address, a read-only memslot
 * of its own (numbered past guest RAM's), described to the guest by ACPI.
 */
#define LAYOUT_VMCLOCK 0xfeffb000ull
#define LAYOUT_VMCLOCK_SIZE 0x1000ull
#define LAYOUT_VMCLOCK_SLOT 32u
/*
 * VMGenID (devices/vmgenid.h): the 16 bytes at the start of a page of its
 * own, the page below VMClock's, a read-only memslot numbered below
 * VMClock's (guest RAM takes slots 0 and 1); and its interrupt, the last
 * virtio-mmio line (LAYOUT_VIRTIO_GSIS), which a Generic Event Device
 * turns into Notify(VGEN, 0x80).
 */
#define LAYOUT_VMGENID 0xfeffa000ull
#define LAYOUT_VMGENID_SIZE 0x1000ull
#define LAYOUT_VMGENID_SLOT 31u
#define LAYOUT_VMGENID_GSI 15
/*
 * The pmem devices' windows (vmm/vm_pmem.c): above RAM and the 32-bit
 * hole, 2 MiB aligned, a memslot each numbered from here (past VMClock's).
 */
#define LAYOUT_PMEM_SLOT 33u
/*
 * The memory hotplug region (virtio-mem, mem/guest_mem_hotplug.h): above
 * RAM and the 32-bit hole, on a 1 GiB boundary (Linux's virtio_mem wants
 * the region aligned to its memory block size, 128 MiB on x86-64 and up
 * to 2 GiB on hosts with much RAM; 1 GiB covers what our guests see).
 * Its KVM slots are numbered from LAYOUT_HOTPLUG_SLOT_BASE, at most
 * LAYOUT_HOTPLUG_MAX_SLOTS of them (KVM's limit is 509 on old kernels,
 * 32764 since 4.x), and it ends below 2^46 (a guest's 46 physical bits).
 */
#define LAYOUT_HOTPLUG_ALIGN (1ull << 30)
#define LAYOUT_HOTPLUG_SLOT_BASE 64u
#define LAYOUT_HOTPLUG_MAX_SLOTS 4096u
#define LAYOUT_HOTPLUG_LIMIT (1ull << 46)
/*
 * Passed-through devices (pci/vfio.h): their BARs in the 32-bit window
 * past the first 16 MiB (virtio-pci's BARs are below), their KVM slots
 * where the memory hotplug region's would be (a VM with one has none).
 */
#define LAYOUT_PCI_VFIO_BARS (LAYOUT_PCI_MMIO32 + 0x1000000ull)
/*
 * The host bridge's 64-bit window (on a VM with a passed-through device:
 * for BARs the 32-bit window cannot hold): past RAM and 4 GiB, on a
 * 1 GiB line, this size unless the guest's physical address bits end
 * it sooner; the pmem windows go past it.
 */
#define LAYOUT_PCI_MMIO64_SIZE (64ull << 30)
#define LAYOUT_PCI_MMIO64_ALIGN (1ull << 30)
#define LAYOUT_VFIO_SLOT_BASE LAYOUT_HOTPLUG_SLOT_BASE
/*
 * The firmware platform (--firmware: docs/firmware.md), QEMU's q35 as
 * Debian's SeaBIOS and OVMF are built for it. Both program the ECAM
 * window (the MCH's PCIEXBAR), the ICH9's PM block (PMBASE) and its
 * root complex registers (RCBA) at these addresses; Hearth claims them
 * there and decodes each only while the guest's register says the same
 * (chipset/q35.h). RAM below 4 GiB stops at the ECAM window, as on
 * QEMU: all of it there when it fits, else 2 GiB (LAYOUT_Q35_LOWMEM).
 */
#define LAYOUT_Q35_ECAM 0xb0000000ull
#define LAYOUT_Q35_ECAM_SIZE 0x10000000ull     /* 256 buses; Hearth has bus 0 */
#define LAYOUT_Q35_LOWMEM 0x80000000ull        /* low RAM when it all does not fit below ECAM */
#define LAYOUT_Q35_MMIO32 0xc0000000ull        /* the bridge's 32-bit window: firmware's BARs */
#define LAYOUT_Q35_MMIO32_END 0xfec00000ull    /* exclusive; the IOAPIC */
#define LAYOUT_Q35_RCBA 0xfed1c000ull
#define LAYOUT_Q35_RCBA_SIZE 0x4000ull
#define PORT_Q35_PMBASE 0x600                  /* the ICH9's PM block, 128 ports */
#define PORT_Q35_APM 0xb2                      /* APM control, status at 0xb3 */
#define PORT_Q35_CPU_HOTPLUG 0xcd8             /* QEMU's CPU hotplug block: absent here */
#define LAYOUT_Q35_LPC_SLOT 31u                /* the LPC bridge, 00:1f.0 */
#define PORT_Q35_FW_DEBUG 0x402                /* QEMU's debug console SeaBIOS logs to: absent */
#define PORT_Q35_FLOPPY 0x3f0                  /* a floppy controller's ports: absent */
#define IRQ_Q35_SCI 9                          /* ACPI_CNTL's SCI_IRQ_SEL 0 */
/*
 * The HPET (devices/hpet.h), the address the ACPI HPET table names, and
 * the IOAPIC pins its comparators may be routed to: q35's 2, 8 and 16-22
 * (23 is the hotplug GED's, LAYOUT_PCI_HOTPLUG_GSI).
 */
#define HPET_MMIO_BASE 0xfed00000ull
#define LAYOUT_HPET_ROUTES 0x007f0104u
/*
 * The firmware image below 4 GiB: a ROM (a KVM_MEM_READONLY slot) or,
 * with a variable store, QEMU's two CFI flashes, the code at the top and
 * the store under it; their slots sit below VMGenID's. The last 128 KiB
 * of the image also appear at 0xe0000 (QEMU's isa-bios): there Hearth
 * has RAM, loaded from the image when the VM is made.
 */
#define LAYOUT_FW_TOP 0x100000000ull
#define LAYOUT_FW_MAX (16ull << 20)            /* code and store together */
#define LAYOUT_FW_CODE_SLOT 29u
#define LAYOUT_FW_VARS_SLOT 30u
/*
 * KVM's identity-map page and real-mode TSS (VT-x), where QEMU puts them
 * for a firmware VM (its code flash covers Hearth's usual pages): under
 * 0xff000000, above VMClock's page; the firmware's e820 reserves them.
 */
#define LAYOUT_Q35_KVM_IDENTITY 0xfeffc000ull
#define LAYOUT_Q35_KVM_TSS 0xfeffd000ull
#define LAYOUT_Q35_KVM_PAGES_SIZE 0x4000ull
#define LAYOUT_ISA_BIOS 0xe0000ull
#define LAYOUT_ISA_BIOS_SIZE 0x20000ull
#define PORT_DEBUGCON 0xe9        /* QEMU's isa-debugcon (Bochs' port e9 hack) */
#define PORT_ACPI_SLEEP_CTL 0x600 /* FADT SLEEP_CONTROL_REG, 8 bits */
#define PORT_ACPI_SLEEP_STS 0x601 /* FADT SLEEP_STATUS_REG, 8 bits */
#define PORT_ACPI_RESET 0x602     /* FADT RESET_REG, 8 bits */
#define ACPI_RESET_VALUE 0x1
#define ACPI_S5_SLP_TYP 5         /* \_S5 value and the SLP_TYP we accept */

#endif
