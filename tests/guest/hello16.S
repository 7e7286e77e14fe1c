/*
 * The introductory example of every KVM tutorial: 16-bit code loaded at
 * guest-physical 0 (CS base 0, IP 0) writes "Hello\n" one byte at a time
 * to port 0xf1, then stops. Built with `as --32` and linked to a flat
 * binary at 0 (meson.build); run as
 *
 *     hearth run --flat hello16.bin --debugcon port=0xf1
 *
 * which prints Hello and exits 0 with "guest halted" on stderr.
 */
	.code16
	.text
	.globl _start
_start:
	mov	$0xf1, %dx
	mov	$msg, %si
1:	mov	%cs:(%si), %al
	test	%al, %al
	jz	2f
	out	%al, %dx
	inc	%si
	jmp	1b
2:	cli
	hlt

msg:	.asciz "Hello\n"
