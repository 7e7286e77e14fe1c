/*
 * Entry of the Multiboot test guests (32-bit, paging off). The BSP saves
 * EAX and EBX, loads its own GDT (the loader's may be anywhere) and calls
 * mb_main(eax, ebx). An AP woken by INIT/SIPI starts in real mode at
 * MB_TRAMPOLINE, where mb_main copied ap_trampoline: it switches to
 * protected mode, takes a stack by its APIC ID and calls ap_main(id).
 */
#define MB_TRAMPOLINE 0x8000
#define MB_HEADER_FLAGS 0x3	/* page-aligned modules, memory information */
#define LAPIC_ID 0xfee00020
#define AP_STACK 4096
#define AP_MAX 8

	.section .multiboot, "a"
	.balign 4
	.long	0x1badb002
	.long	MB_HEADER_FLAGS
	.long	-(0x1badb002 + MB_HEADER_FLAGS)

	.code32
	.section .text.start, "ax"
	.globl _start
_start:
	cli
	movl	$stack_top, %esp
	pushl	%ebx
	pushl	%eax
	lgdt	gdt_desc
	ljmp	$0x08, $1f
1:	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	xorl	%ebp, %ebp
	call	mb_main
	call	guest_poweroff
2:	cli
	hlt
	jmp	2b

	.globl ap_entry32
ap_entry32:
	movw	$0x10, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	movl	LAPIC_ID, %eax
	shrl	$24, %eax
	cmpl	$AP_MAX, %eax
	jae	3f
	movl	%eax, %ecx
	incl	%ecx
	shll	$12, %ecx		/* (id + 1) * AP_STACK */
	leal	ap_stacks(%ecx), %esp
	pushl	%eax
	call	ap_main
3:	cli
	hlt
	jmp	3b

/* Copied to MB_TRAMPOLINE; position-dependent only through that address. */
	.code16
	.globl ap_trampoline, ap_trampoline_end
ap_trampoline:
	cli
	xorw	%ax, %ax
	movw	%ax, %ds
	lgdtl	MB_TRAMPOLINE + (tramp_gdt_desc - ap_trampoline)
	movl	%cr0, %eax
	orl	$1, %eax
	movl	%eax, %cr0
	ljmpl	$0x08, $ap_entry32
	.balign 4
tramp_gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt
ap_trampoline_end:
	.code32

	.section .data
	.balign 8
gdt:
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x08: flat 32-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: flat data */
gdt_end:
gdt_desc:
	.word	gdt_end - gdt - 1
	.long	gdt

	.section .bss
	.balign 16
stack:
	.skip	16384
stack_top:
	.balign 16
ap_stacks:
	.skip	AP_STACK * (AP_MAX + 1)

	.section .note.GNU-stack, "", @progbits
