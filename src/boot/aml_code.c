/*
 * The AML builder's statements and expressions (aml.h), for the few
 * methods Hearth's DSDT has (PCI hotplug's): ACPI 6.x §20.2.5 opcodes,
 * each followed by its operands, which the caller emits in order.
 */
#include <errno.h>
#include <string.h>

#include "boot/aml.h"

#define AML_LOCAL0_OP 0x60
#define AML_ARG0_OP 0x68
#define AML_STORE_OP 0x70
#define AML_AND_OP 0x7b
#define AML_NOTIFY_OP 0x86
#define AML_IF_OP 0xa0
#define AML_EXT_OP_PREFIX 0x5b
#define AML_OPREGION_OP 0x80        /* after AML_EXT_OP_PREFIX */
#define AML_FIELD_OP 0x81           /* after AML_EXT_OP_PREFIX */
#define AML_SPACE_SYSTEM_IO 0x01
/* FieldFlags: DWordAcc (3), NoLock (bit 4 clear), WriteAsZeros (2 in bits 6:5). */
#define AML_FIELD_DWORD_ZEROS (0x03 | (2 << 5))

static void op(struct aml_buf *b, uint8_t v)
{
	aml_bytes(b, &v, 1);
}

void aml_store(struct aml_buf *b)
{
	op(b, AML_STORE_OP);
}

void aml_and(struct aml_buf *b)
{
	op(b, AML_AND_OP);
}

void aml_notify(struct aml_buf *b)
{
	op(b, AML_NOTIFY_OP);
}

void aml_null_name(struct aml_buf *b)
{
	op(b, 0x00);
}

void aml_local(struct aml_buf *b, unsigned int n)
{
	if (n > 7) {
		aml_fail(b, -EINVAL);
		return;
	}
	op(b, (uint8_t)(AML_LOCAL0_OP + n));
}

void aml_arg(struct aml_buf *b, unsigned int n)
{
	if (n > 6) {
		aml_fail(b, -EINVAL);
		return;
	}
	op(b, (uint8_t)(AML_ARG0_OP + n));
}

size_t aml_if_begin(struct aml_buf *b)
{
	op(b, AML_IF_OP);
	return aml_len(b);
}

void aml_opregion_io(struct aml_buf *b, const char *name, uint16_t base, uint32_t len)
{
	static const uint8_t code[2] = { AML_EXT_OP_PREFIX, AML_OPREGION_OP };

	aml_bytes(b, code, sizeof(code));
	aml_name_string(b, name);
	op(b, AML_SPACE_SYSTEM_IO);
	aml_integer(b, base);
	aml_integer(b, len);
}

void aml_field_dword(struct aml_buf *b, const char *region, const char *const *names,
		     const unsigned int *bits, unsigned int n)
{
	static const uint8_t code[2] = { AML_EXT_OP_PREFIX, AML_FIELD_OP };
	size_t mark;

	aml_bytes(b, code, sizeof(code));
	mark = aml_len(b);
	aml_name_string(b, region);
	op(b, AML_FIELD_DWORD_ZEROS);
	for (unsigned int i = 0; i < n; i++) {
		/* A NamedField: its NameSeg, then its width in bits, PkgLength-encoded (one byte below 64). */
		if (strlen(names[i]) != 4 || !bits[i] || bits[i] >= 64) {
			aml_fail(b, -EINVAL);
			return;
		}
		aml_bytes(b, names[i], 4);
		op(b, (uint8_t)bits[i]);
	}
	aml_end(b, mark);
}
