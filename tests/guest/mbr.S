/*
 * A master boot record for a firmware boot (tests/integration/
 * run_firmware_test.py): SeaBIOS loads it at 0x7c00 from the first disk it
 * finds in fw_cfg's bootorder and jumps to it with that disk's number in DL.
 * It asks the firmware, not the hardware, for what it reports, so each line
 * is what SeaBIOS made of Hearth's platform:
 *
 *   MBR drive=80         it ran, from BIOS drive 0x80
 *   E820 BASE LENGTH TT  INT 15h E820: each entry of the memory map, as SeaBIOS gives it
 *   BASE <string>        INT 13h AH=42h: LBA 1 through the disk's chain
 *   WROTE                INT 13h AH=43h: LBA 2 written (the test finds it in the overlay)
 *
 * then powers off: S5 through the ICH9's PM1 control (PMBASE 0x600, as
 * SeaBIOS programs it on q35). A failed call prints FAIL and its name.
 * COM1 is driven directly, with a bounded wait for the transmitter.
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
	mov	$3, %cx                       /* SeaBIOS's serial console flushes on a tick */
9:	hlt
	loop	9b

	mov	$m_mbr, %si
	call	puts
	mov	drive, %al
	call	puthex8
	call	crlf

	xor	%ebx, %ebx                    /* INT 15h E820: each entry, at most 32 */
	movb	$32, e820_left
5:	mov	$0xe820, %eax
	mov	$0x534d4150, %edx             /* 'SMAP' */
	mov	$24, %ecx
	mov	$0x9000, %di
	movl	$1, 0x9014                    /* ACPI 3 attributes: valid unless cleared */
	int	$0x15
	mov	$f_e820, %si
	jc	fail
	cmp	$0x534d4150, %eax
	jne	fail
	push	%ebx
	mov	$m_e820, %si
	call	puts
	mov	$0x9007, %si                  /* base, then length: 8 bytes each, high first */
	call	puthex64
	mov	$' ', %al
	call	putc
	mov	$0x900f, %si
	call	puthex64
	mov	$' ', %al
	call	putc
	mov	0x9010, %al
	call	puthex8
	call	crlf
	pop	%ebx
	test	%ebx, %ebx
	jz	6f
	decb	e820_left
	jnz	5b
6:
	mov	$0x42, %ah
	mov	drive, %dl
	mov	$dap_read, %si
	int	$0x13
	mov	$f_read, %si
	jc	fail
	mov	$m_base, %si
	call	puts
	mov	$0x8000, %si
	movb	$0, 0x8040                    /* at most 64 bytes of it */
	call	puts
	call	crlf

	mov	$0x4300, %ax
	mov	drive, %dl
	mov	$dap_write, %si
	int	$0x13
	mov	$f_write, %si
	jc	fail
	mov	$m_wrote, %si
	call	puts
	call	crlf

	mov	$0x604, %dx                   /* PM1_CNT: SLP_TYP 0 (S5) | SLP_EN */
	mov	$0x2000, %ax
	out	%ax, %dx
	mov	$18, %cx                      /* a second of timer ticks for the VMM to stop it */
8:	hlt
	loop	8b
	mov	$f_s5, %si
fail:
	push	%si
	mov	$m_fail, %si
	call	puts
	pop	%si
	call	puts
	call	crlf
1:	cli
	hlt
	jmp	1b

	.include "mbr_serial.inc"

crlf:
	mov	$'\r', %al
	call	putc
	mov	$'\n', %al
	jmp	putc

puthex8:
	push	%ax
	shr	$4, %al
	call	nibble
	pop	%ax
nibble:
	and	$0xf, %al
	add	$'0', %al
	cmp	$'9', %al
	jbe	putc
	add	$('A' - '9' - 1), %al
	jmp	putc

/* puthex64: the 8 bytes ending at DS:SI, the highest first. */
puthex64:
	mov	$8, %cx
7:	std
	lodsb
	cld
	call	puthex8
	loop	7b
	ret

drive:	.byte 0
e820_left:	.byte 0
	.balign 4
dap_read:
	.byte 16, 0
	.word 1, 0x8000, 0              /* one sector to 0000:8000 */
	.quad 1
dap_write:
	.byte 16, 0
	.word 1, wdata, 0               /* one sector from this record's own bytes */
	.quad 2
m_mbr:	.asciz "MBR drive="
m_e820:	.asciz "E820 "
m_base:	.asciz "BASE "
m_wrote:	.asciz "WROTE"
m_fail:	.asciz "FAIL "
f_e820:	.asciz "int 15h e820"
f_read:	.asciz "int 13h read"
f_write:	.asciz "int 13h write"
f_s5:	.asciz "S5"
wdata:	.asciz "HEARTH-WROTE-LBA2"

	.org 510
	.byte 0x55, 0xaa
