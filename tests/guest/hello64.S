/*
 * The same in 64-bit long mode (identity-mapped first 4 GiB), linked at
 * 0x1000, where Hearth's boot tables would go: they move above the image
 * (boot/flat.h). The entry is 16 bytes in, past a few bytes of padding.
 *
 *     hearth run --flat hello64.bin,addr=0x1000,entry=0x1010,mode=long --debugcon
 */
	.code64
	.text
	.globl _start
	.fill	16, 1, 0xcc		/* int3: entering at addr instead of entry fails loudly */
_start:
	mov	$0xe9, %dx
	lea	msg(%rip), %rsi
1:	movb	(%rsi), %al
	test	%al, %al
	jz	2f
	outb	%al, %dx
	inc	%rsi
	jmp	1b
2:	cli
	hlt

msg:	.asciz "Hello\n"
