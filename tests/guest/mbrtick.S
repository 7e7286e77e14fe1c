/*
 * A master boot record that runs until it is stopped, for the firmware VM's
 * snapshot, fork and migration (tests/integration/firmware_jailed.py).
 * SeaBIOS loads it at 0x7c00 and jumps to it with the disk's number in DL.
 * Every 4 BIOS timer ticks (the count SeaBIOS's IRQ 0 handler keeps at
 * 0040:006C) it reads LBA 1 through INT 13h and prints one line:
 *
 *   ok tick T line L     LBA 1 read, and it starts "HEAR" (the base's line)
 *   FAIL tick T line L   the read failed or brought something else
 *
 * T is the BIOS's tick count, L counts the lines from 0: the format of
 * tests/guest/tick.c, so a clone or a moved VM is judged line for line by
 * the same helpers (run_fork_test.ticks, run_migrate_test.one_count). The
 * line count lives in guest RAM, so it goes on across a snapshot, a fork
 * and a migration. COM1 is driven directly, with a bounded wait.
 */
	.code16
	.text
	.globl _start
_start:
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	mov	%ax, %es
	mov	%ax, %ss
	mov	$0x7c00, %sp
	sti
	cld
	mov	%dl, drive

1:	mov	0x46c, %eax                   /* the next line is due 4 ticks from now */
	add	$4, %eax
	mov	%eax, due
2:	hlt
	mov	0x46c, %eax
	sub	due, %eax
	js	2b

	movl	$0, 0x8000
	mov	$0x42, %ah
	mov	drive, %dl
	mov	$dap_read, %si
	int	$0x13
	mov	$m_fail, %si
	jc	3f
	cmpl	$0x52414548, 0x8000           /* "HEAR" */
	jne	3f
	mov	$m_ok, %si
3:	call	puts
	mov	0x46c, %eax
	call	putdec
	mov	$m_line, %si
	call	puts
	mov	line, %eax
	call	putdec
	mov	$'\n', %al                    /* tick.c's ending: no CR */
	call	putc
	incl	line
	jmp	1b

	.include "mbr_serial.inc"

/* putdec: EAX in decimal. */
putdec:
	mov	$10, %ecx
	xor	%bx, %bx
7:	xor	%edx, %edx
	div	%ecx
	push	%dx
	inc	%bx
	test	%eax, %eax
	jnz	7b
8:	pop	%ax
	add	$'0', %al
	call	putc
	dec	%bx
	jnz	8b
	ret

drive:	.byte 0
	.balign 4
due:	.long 0
line:	.long 0
dap_read:
	.byte 16, 0
	.word 1, 0x8000, 0              /* one sector to 0000:8000 */
	.quad 1
m_ok:	.asciz "ok tick "
m_fail:	.asciz "FAIL tick "
m_line:	.asciz " line "

	.org 510
	.byte 0x55, 0xaa
