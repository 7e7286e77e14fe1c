/*
 * A Multiboot kernel that loads below 1 MiB, at 0x8000, as real-mode
 * test kernels do (a.out kludge, linked to a flat binary at 0x8000). In
 * 32-bit protected mode it checks the boot magic, writes "low\n" and the
 * magic's verdict to the debug console, and ends through the debug-exit
 * port with 0x21 (exit status 67):
 *
 *     hearth run --kernel mblow.bin --debugcon --debug-exit
 */
	.code32
	.text
	.globl _start
	.set	LOAD, 0x8000
	.set	FLAGS, 0x10000		/* the a.out kludge: addresses below */
header:
	.long	0x1badb002, FLAGS, -(0x1badb002 + FLAGS)
	.long	header, LOAD, 0, 0, _start	/* load_end 0: the whole file */
_start:
	mov	$'Y', %cl		/* the boot magic as Multiboot promises it */
	cmp	$0x2badb002, %eax
	je	1f
	mov	$'N', %cl
1:	mov	$0xe9, %dx
	mov	$'l', %al
	outb	%al, %dx
	mov	$'o', %al
	outb	%al, %dx
	mov	$'w', %al
	outb	%al, %dx
	mov	$' ', %al
	outb	%al, %dx
	mov	%cl, %al
	outb	%al, %dx
	mov	$'\n', %al
	outb	%al, %dx
	mov	$0x21, %al
	mov	$0xf4, %dx
	outb	%al, %dx
2:	cli
	hlt
	jmp	2b
