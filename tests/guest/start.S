/*
 * Entry point of every test guest. Hearth enters in 64-bit mode with
 * interrupts off and RSI = the boot_params (zero page) address; we set
 * our own stack and hand the zero page to guest_main().
 */
	.code64
	.section .text.start, "ax"
	.globl _start
_start:
	cli
	movabs	$guest_stack_top, %rsp
	xorl	%ebp, %ebp
	movq	%rsi, %rdi
	call	guest_main
	call	guest_poweroff
1:	cli
	hlt
	jmp	1b

	.section .bss
	.balign 16
guest_stack:
	.skip	16384
guest_stack_top:

	.section .note.GNU-stack, "", @progbits
