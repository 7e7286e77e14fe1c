/*
 * The same in 32-bit protected mode (flat segments, paging off), linked
 * and loaded at 1 MiB, through the debug console's own port 0xe9:
 *
 *     hearth run --flat hello32.bin,addr=0x100000,mode=prot32 --debugcon
 */
	.code32
	.text
	.globl _start
_start:
	mov	$0xe9, %dx
	mov	$msg, %esi
1:	movb	(%esi), %al
	test	%al, %al
	jz	2f
	outb	%al, %dx
	inc	%esi
	jmp	1b
2:	cli
	hlt

msg:	.asciz "Hello\n"
