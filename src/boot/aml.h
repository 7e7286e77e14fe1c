/*
 * A small AML (ACPI Machine Language) builder, enough for a DSDT that
 * describes a handful of fixed devices. Encodings follow ACPI 6.x
 * chapter 20 (AML) and section 6.4 (resource descriptors).
 *
 * The builder writes into a caller-supplied, bounded buffer. Errors are
 * sticky: after the first failure every call is a no-op and aml_error()
 * reports the first -errno, so callers emit a whole tree and check once.
 *
 * Objects with a PkgLength (Scope, Device, Method, Package, Buffer) are
 * built as begin/end pairs: *_begin() returns a mark, the body is emitted,
 * and aml_end() (or aml_restemplate_end()) inserts the length in front of
 * the body, because its encoded size depends on the body's size.
 */
#ifndef HEARTH_BOOT_AML_H
#define HEARTH_BOOT_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct aml_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int err; /* 0 or the first -errno */
};

/* PkgLength can express at most 28 bits. */
#define AML_PKGLEN_MAX 0x0fffffffu

void aml_init(struct aml_buf *b, uint8_t *mem, size_t cap);
int aml_error(const struct aml_buf *b);
size_t aml_len(const struct aml_buf *b);

/* Raw bytes, for callers emitting something the builder lacks. */
void aml_bytes(struct aml_buf *b, const void *p, size_t n);
/* Makes err the buffer's sticky error (the first one stays). */
void aml_fail(struct aml_buf *b, int err);

/*
 * Encodes a PkgLength whose value (which counts the encoding itself) is
 * value into out, in the shortest form. Returns the number of bytes (1-4)
 * or -EINVAL when value needs more than 28 bits.
 */
int aml_pkglen_encode(uint8_t out[4], uint32_t value);

/*
 * A NameString: "\\_SB.COM1", "^FOO", "_HID", "RTC" (padded to "RTC_").
 * Segments are 1-4 chars of [A-Z0-9_], not starting with a digit.
 */
void aml_name_string(struct aml_buf *b, const char *path);

/* Name(name, ...): the caller emits the data object right after. */
void aml_name(struct aml_buf *b, const char *name);

/* Data objects. aml_integer picks the shortest encoding. */
void aml_integer(struct aml_buf *b, uint64_t v);
void aml_string(struct aml_buf *b, const char *s);
void aml_buffer(struct aml_buf *b, const void *data, size_t n);
/* EISAID("PNP0501") as a DWordConst; -EINVAL on a malformed id. */
void aml_eisaid(struct aml_buf *b, const char *id);
/* The 32-bit value EISAID() compresses id to; 0 or -EINVAL. */
int aml_eisaid_value(const char *id, uint32_t *out);

/* PkgLength-bearing objects. */
size_t aml_scope_begin(struct aml_buf *b, const char *name);
size_t aml_device_begin(struct aml_buf *b, const char *name);
size_t aml_method_begin(struct aml_buf *b, const char *name, unsigned int nargs,
			bool serialized);
size_t aml_package_begin(struct aml_buf *b, uint8_t nelems);
void aml_end(struct aml_buf *b, size_t mark);

/* Return(<object emitted next>), for methods. */
void aml_return(struct aml_buf *b);

/*
 * ResourceTemplate(): a Buffer holding descriptors and an End Tag.
 * aml_restemplate_end() appends the End Tag and closes the Buffer.
 */
size_t aml_restemplate_begin(struct aml_buf *b);
void aml_restemplate_end(struct aml_buf *b, size_t mark);

/* Resource descriptors (ACPI 6.4.2 small, 6.4.3 large). */
void aml_res_io16(struct aml_buf *b, uint16_t min, uint16_t max, uint8_t align,
		  uint8_t len);
void aml_res_irq_noflags(struct aml_buf *b, uint16_t irq_mask);
/*
 * A QWord Address Space Descriptor for memory [min, max] (fixed minimum
 * and maximum): what Linux's ptp_vmclock reads VMClock's page from.
 */
void aml_res_qword_memory(struct aml_buf *b, bool writable, bool cacheable, uint64_t min,
			  uint64_t max);
void aml_res_memory32_fixed(struct aml_buf *b, bool writable, uint32_t base,
			    uint32_t size);

/*
 * A window a bridge decodes for the devices below it (bus numbers, I/O
 * ports, 32-bit memory), [min, max], each within its descriptor's width
 * (16 bits for the first two).
 */
enum aml_window { AML_WINDOW_BUS, AML_WINDOW_IO, AML_WINDOW_MEM32, AML_WINDOW_MEM64 };
void aml_res_window(struct aml_buf *b, enum aml_window kind, uint64_t min, uint64_t max);

enum aml_irq_trigger { AML_IRQ_LEVEL, AML_IRQ_EDGE };
enum aml_irq_polarity { AML_IRQ_ACTIVE_HIGH, AML_IRQ_ACTIVE_LOW };

/* Extended Interrupt, ResourceConsumer, one interrupt, no source. */
void aml_res_ext_irq(struct aml_buf *b, enum aml_irq_trigger trig,
		     enum aml_irq_polarity pol, bool shared, uint32_t gsi);
void aml_res_end_tag(struct aml_buf *b);

/*
 * Statements and expressions for methods (aml_code.c), each followed by
 * its operands, emitted in order by the caller:
 *   Store(src, dst)        aml_store, then src, then dst
 *   And(a, b, target)      aml_and, then a, b and a target (aml_null_name: none)
 *   Notify(object, value)  aml_notify, then a name string and an integer
 *   If(predicate) {...}    aml_if_begin, the predicate, the body, aml_end
 * LocalN (0-7) and ArgN (0-6) as operands.
 */
void aml_store(struct aml_buf *b);
void aml_and(struct aml_buf *b);
void aml_notify(struct aml_buf *b);
void aml_null_name(struct aml_buf *b);
void aml_local(struct aml_buf *b, unsigned int n);
void aml_arg(struct aml_buf *b, unsigned int n);
size_t aml_if_begin(struct aml_buf *b);
/* OperationRegion(name, SystemIO, base, len). */
void aml_opregion_io(struct aml_buf *b, const char *name, uint16_t base, uint32_t len);
/*
 * Field(region, DWordAcc, NoLock, WriteAsZeros) { names[i], bits[i], ... }:
 * 4-character names, widths of 1 to 63 bits.
 */
void aml_field_dword(struct aml_buf *b, const char *region, const char *const *names,
		     const unsigned int *bits, unsigned int n);

#endif
