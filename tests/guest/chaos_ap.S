/*
 * The chaos guest's second vCPU: a real-mode trampoline that chaos.c
 * copies to CHAOS_AP_TRAMPOLINE (0x10000, SIPI vector 0x10) and starts
 * with INIT-SIPI-SIPI. It goes straight to long mode on Hearth's own
 * identity-mapped page tables (PML4 at 0x2000, as the BSP was entered)
 * with a GDT of its own, and calls chaos_ap_main() on its own stack.
 */
	.section .text
	.code16
	.globl chaos_ap_tramp, chaos_ap_tramp_end
chaos_ap_tramp:
	cli
	movw	%cs, %ax
	movw	%ax, %ds
	lgdtl	(ap_gdtr - chaos_ap_tramp)
	movl	%cr4, %eax
	orl	$0x20, %eax		/* PAE */
	movl	%eax, %cr4
	movl	$0x2000, %eax		/* Hearth's PML4 */
	movl	%eax, %cr3
	movl	$0xc0000080, %ecx	/* EFER.LME */
	rdmsr
	orl	$0x100, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$0x80000001, %eax	/* PG | PE */
	movl	%eax, %cr0
	ljmpl	$0x08, $(0x10000 + ap_long - chaos_ap_tramp)

	.code64
ap_long:
	movl	$0x10, %eax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movabs	$chaos_ap_stack_top, %rsp
	movabs	$chaos_ap_main, %rax
	call	*%rax
1:	cli
	hlt
	jmp	1b

	.balign 8
ap_gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08: 64-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: data */
ap_gdtr:
	.word	ap_gdtr - ap_gdt - 1
	.long	0x10000 + ap_gdt - chaos_ap_tramp
chaos_ap_tramp_end:

	.section .bss
	.balign 16
	.skip	16384
	.globl chaos_ap_stack_top
chaos_ap_stack_top:

	.section .note.GNU-stack, "", @progbits
