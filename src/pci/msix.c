/*
 * MSI-X's table, pending bits and capability (msix.h).
 */
#include "pci/msix.h"

#include <errno.h>
#include <string.h>

#include "core/bus.h"

#define CAP_CTRL 2                  /* message control, from the capability */
#define CAP_TABLE 4                 /* table offset | BIR */
#define CAP_PBA 8                   /* pending bits offset | BIR */
#define CAP_LEN 12
#define CTRL_ENABLE 0x8000u
#define CTRL_MASKALL 0x4000u
#define ENTRY_MASKED 0x1u

static uint16_t ctrl(const struct msix *m)
{
	return (uint16_t)pci_config_read(m->cfg, (unsigned int)m->cap + CAP_CTRL, 2);
}

bool msix_enabled(const struct msix *m)
{
	return ctrl(m) & CTRL_ENABLE;
}

static bool masked(const struct msix *m, unsigned int v)
{
	return (ctrl(m) & CTRL_MASKALL) || (m->table[v].ctrl & ENTRY_MASKED);
}

bool msix_vector_live(const struct msix *m, unsigned int v, uint64_t *addr, uint32_t *data)
{
	if (v >= m->nvec || !msix_enabled(m) || masked(m, v))
		return false;
	*addr = (uint64_t)m->table[v].addr_hi << 32 | m->table[v].addr_lo;
	*data = m->table[v].data;
	return true;
}

int msix_init(struct msix *m, struct pci_config *cfg, unsigned int nvec, unsigned int bar,
	      uint32_t table_off, uint32_t pba_off,
	      int (*deliver)(void *ctx, unsigned int v, uint64_t addr, uint32_t data),
	      void *ctx)
{
	static const uint8_t ctrl_wmask[2] = { 0x00, 0xc0 };   /* enable and mask all */
	int cap;

	if (!nvec || nvec > MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS || (table_off & 7) ||
	    (pba_off & 7) || !deliver)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	cap = pci_config_add_cap(cfg, PCI_CAP_ID_MSIX, CAP_LEN);
	if (cap < 0)
		return cap;
	m->nvec = nvec;
	m->cap = cap;
	m->cfg = cfg;
	m->deliver = deliver;
	m->ctx = ctx;
	pci_config_set(cfg, (unsigned int)cap + CAP_CTRL, nvec - 1, 2);
	pci_config_set(cfg, (unsigned int)cap + CAP_TABLE, table_off | bar, 4);
	pci_config_set(cfg, (unsigned int)cap + CAP_PBA, pba_off | bar, 4);
	pci_config_set_wmask(cfg, (unsigned int)cap + CAP_CTRL, ctrl_wmask, 2);
	for (unsigned int v = 0; v < nvec; v++)
		m->table[v].ctrl = ENTRY_MASKED;
	return 0;
}

uint32_t msix_table_size(const struct msix *m)
{
	return m->nvec * MSIX_ENTRY_SIZE;
}

uint32_t msix_pba_size(const struct msix *m)
{
	return 8 * ((m->nvec + 63) / 64);
}

static bool aligned(uint64_t off, unsigned int len, uint64_t size)
{
	return (len == 4 || len == 8) && !(off % len) && off < size && len <= size - off;
}

static void send(struct msix *m, unsigned int v)
{
	const struct msix_entry *e = &m->table[v];

	m->pending &= ~(1ull << v);
	if (m->deliver(m->ctx, v, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data))
		m->lost++;
	else
		m->delivered++;
}

/* The owner hears of the change first, then what the masks now let through goes out. */
static void flush_pending(struct msix *m)
{
	if (m->changed)
		m->changed(m->ctx);
	if (!msix_enabled(m))
		return;
	for (unsigned int v = 0; v < m->nvec; v++)
		if ((m->pending & (1ull << v)) && !masked(m, v))
			send(m, v);
}

void msix_table_read(struct msix *m, uint64_t off, uint8_t *data, unsigned int len)
{
	uint32_t w[2];

	if (!aligned(off, len, msix_table_size(m))) {
		memset(data, 0xff, len);
		return;
	}
	for (unsigned int i = 0; i < len / 4; i++) {
		uint64_t o = off + 4 * i;
		const struct msix_entry *e = &m->table[o / MSIX_ENTRY_SIZE];
		const uint32_t words[4] = { e->addr_lo, e->addr_hi, e->data, e->ctrl };

		w[i] = words[(o % MSIX_ENTRY_SIZE) / 4];
	}
	for (unsigned int i = 0; i < len; i++)
		data[i] = (uint8_t)(w[i / 4] >> (8 * (i % 4)));
}

void msix_table_write(struct msix *m, uint64_t off, const uint8_t *data, unsigned int len)
{
	if (!aligned(off, len, msix_table_size(m)))
		return;
	for (unsigned int i = 0; i < len / 4; i++) {
		uint64_t o = off + 4 * i;
		struct msix_entry *e = &m->table[o / MSIX_ENTRY_SIZE];
		uint32_t v = (uint32_t)bus_data_get(data + 4 * i, 4);

		switch ((o % MSIX_ENTRY_SIZE) / 4) {
		case 0:
			e->addr_lo = v & ~3u;   /* dword aligned: the low bits are read-only 0 */
			break;
		case 1:
			e->addr_hi = v;
			break;
		case 2:
			e->data = v;
			break;
		default:
			e->ctrl = v & ENTRY_MASKED;
			break;
		}
	}
	flush_pending(m);
}

void msix_pba_read(struct msix *m, uint64_t off, uint8_t *data, unsigned int len)
{
	if (!aligned(off, len, msix_pba_size(m))) {
		memset(data, 0xff, len);
		return;
	}
	bus_data_put(data, len, (m->pending >> (8 * off)));
}

void msix_config_written(struct msix *m)
{
	flush_pending(m);
}

bool msix_notify(struct msix *m, unsigned int v)
{
	if (v >= m->nvec || !msix_enabled(m))
		return false;
	m->pending |= 1ull << v;
	if (!masked(m, v))
		send(m, v);
	return true;
}

void msix_save(const struct msix *m, struct bytes_out *o)
{
	bytes_put_u32(o, m->nvec);
	for (unsigned int v = 0; v < m->nvec; v++) {
		bytes_put_u32(o, m->table[v].addr_lo);
		bytes_put_u32(o, m->table[v].addr_hi);
		bytes_put_u32(o, m->table[v].data);
		bytes_put_u32(o, m->table[v].ctrl);
	}
	bytes_put_u64(o, m->pending);
}

int msix_restore(struct msix *m, struct bytes_in *in, bool apply)
{
	struct msix_entry t[MSIX_MAX_VECTORS];
	uint64_t pending;
	uint32_t n = bytes_get_u32(in);

	if (in->short_read)
		return -ENODATA;
	if (n != m->nvec)
		return -EINVAL;
	for (unsigned int v = 0; v < n; v++) {
		t[v].addr_lo = bytes_get_u32(in);
		t[v].addr_hi = bytes_get_u32(in);
		t[v].data = bytes_get_u32(in);
		t[v].ctrl = bytes_get_u32(in);
		if ((t[v].addr_lo & 3) || (t[v].ctrl & ~ENTRY_MASKED))
			return -EINVAL;
	}
	pending = bytes_get_u64(in);
	if (in->short_read)
		return -ENODATA;
	if (n < 64 && (pending >> n))
		return -EINVAL;
	if (!apply)
		return 0;
	memcpy(m->table, t, sizeof(t[0]) * n);
	m->pending = pending;
	flush_pending(m);
	return 0;
}
