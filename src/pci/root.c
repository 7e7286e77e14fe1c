/*
 * The root complex (root.h): both configuration mechanisms decoded to
 * one access by bus, device, function and register, the host bridge,
 * and the table of attached functions.
 */
#include "pci/root.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/layout.h"
#include "util/log.h"

#define PCIR_TAG "PCIR"
#define PCIR_VERSION 1u

#define CONF1_ENABLE 0x80000000u
#define CONF1_KEPT 0x80fffffcu      /* enable, bus, device, function, register */
#define CONF1_DATA 4                /* 0xcfc from 0xcf8 */
#define RST_CNT 1                   /* 0xcf9 from 0xcf8 */
#define RST_CNT_RST_CPU 0x04

/*
 * A slot's function is published with one atomic store of ops (opaque
 * first), so vCPUs find it without a lock, and taken away with one:
 * every access counts itself in inflight while it uses the function, and
 * pci_root_detach waits until none is left.
 */
struct pci_slot {
	const struct pci_function_ops *ops;
	void *opaque;
	unsigned int inflight;
};

struct pci_root {
	pthread_mutex_t lock;           /* the latch */
	uint32_t conf1_addr;            /* CONFIG_ADDRESS */
	struct power_sink sink;
	uint64_t mmio64_base;           /* the 64-bit window, once claimed */
	uint64_t mmio32_base;           /* the 32-bit window */
	uint64_t ecam_size;             /* bytes of ECAM claimed */
	uint64_t ecam_len;              /* bytes of it that decode (atomic) */
	struct pci_slot slot[PCI_SLOTS]; /* function 0 of each device; slot 0 the host bridge */
	/* Last, 12 KiB mostly never written: the rest shares its first page (util/trim.h). */
	struct pci_config host;
};

static uint32_t host_read(void *opaque, unsigned int off, unsigned int len)
{
	return pci_config_read(opaque, off, len);
}

/* Nothing in the host bridge is writable: no lock, no state. */
static void host_write(void *opaque, unsigned int off, uint32_t v, unsigned int len)
{
}

static int host_bar_claim(void *opaque, uint64_t addr, unsigned int len, uint64_t *off)
{
	return -1;
}

static const struct pci_function_ops host_bridge_ops = {
	.cfg_read = host_read,
	.cfg_write = host_write,
	.bar_claim = host_bar_claim,
};

static uint32_t ones(unsigned int len)
{
	return len >= 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
}

/*
 * Slot s's function, counted in use until slot_put, and its ops as they
 * were loaded (*ops): a detach may clear s->ops at any time, so the
 * caller calls through this copy, never s->ops again; NULL: none.
 */
static struct pci_slot *slot_get(struct pci_slot *s, const struct pci_function_ops **ops)
{
	__atomic_add_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
	*ops = __atomic_load_n(&s->ops, __ATOMIC_SEQ_CST);
	if (*ops)
		return s;
	__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static void slot_put(struct pci_slot *s)
{
	if (s)
		__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_SEQ_CST);
}

/* The function at bus/devfn, held (slot_put), or NULL: nothing answers (all ones). */
static struct pci_slot *find(struct pci_root *r, unsigned int bus, unsigned int devfn,
			     const struct pci_function_ops **ops)
{
	if (bus != 0 || devfn >= PCI_SLOTS * PCI_FUNCS || devfn % PCI_FUNCS)
		return NULL;
	return slot_get(&r->slot[devfn / PCI_FUNCS], ops);
}

static bool access_ok(unsigned int off, unsigned int len)
{
	return (len == 1 || len == 2 || len == 4) && off < PCI_CFG_SIZE &&
	       len <= PCI_CFG_SIZE - off;
}

uint32_t pci_root_cfg_read(struct pci_root *r, unsigned int bus, unsigned int devfn,
			   unsigned int off, unsigned int len)
{
	const struct pci_function_ops *ops;
	struct pci_slot *s;
	uint32_t v = ones(len);

	if (!access_ok(off, len))
		return v;
	s = find(r, bus, devfn, &ops);
	if (s)
		v = ops->cfg_read(s->opaque, off, len) & ones(len);
	slot_put(s);
	return v;
}

void pci_root_cfg_write(struct pci_root *r, unsigned int bus, unsigned int devfn,
			unsigned int off, uint32_t v, unsigned int len)
{
	const struct pci_function_ops *ops;
	struct pci_slot *s;

	if (!access_ok(off, len))
		return;
	s = find(r, bus, devfn, &ops);
	if (s)
		ops->cfg_write(s->opaque, off, v & ones(len), len);
	slot_put(s);
}

/* ECAM: bus in bits 27:20 of the offset, device and function 19:12, register 11:0. */
static bool ecam_decodes(struct pci_root *r, uint64_t offset)
{
	return offset < __atomic_load_n(&r->ecam_len, __ATOMIC_ACQUIRE);
}

void pci_root_set_ecam(struct pci_root *r, uint64_t len)
{
	__atomic_store_n(&r->ecam_len, len < r->ecam_size ? len : r->ecam_size, __ATOMIC_RELEASE);
}

static void ecam_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	uint32_t v = len > 4 || !ecam_decodes(opaque, offset) ? 0xffffffffu :
		     pci_root_cfg_read(opaque, (unsigned int)(offset >> 20),
				       (unsigned int)(offset >> 12) & 0xff,
				       (unsigned int)offset & 0xfff, len);

	/* An 8-byte access is none the spec allows: all ones, both halves. */
	bus_data_put(data, len, len > 4 ? ~0ull : v);
}

static void ecam_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	if (len > 4 || !ecam_decodes(opaque, offset))
		return;
	pci_root_cfg_write(opaque, (unsigned int)(offset >> 20), (unsigned int)(offset >> 12) & 0xff,
			   (unsigned int)offset & 0xfff, (uint32_t)bus_data_get(data, len), len);
}

static const struct bus_region_ops ecam_ops = {
	.read = ecam_read,
	.write = ecam_write,
};

/*
 * CONFIG_DATA's byte i reaches register (CONFIG_ADDRESS & 0xfc) + i; an
 * access that runs past the dword, or with the enable bit clear, reaches
 * nothing.
 */
static bool conf1_target(struct pci_root *r, unsigned int port_off, unsigned int len,
			 unsigned int *bus, unsigned int *devfn, unsigned int *reg)
{
	uint32_t a;

	pthread_mutex_lock(&r->lock);
	a = r->conf1_addr;
	pthread_mutex_unlock(&r->lock);
	if (!(a & CONF1_ENABLE) || port_off + len > 4)
		return false;
	*bus = (a >> 16) & 0xff;
	*devfn = (a >> 8) & 0xff;
	*reg = (a & 0xfc) + port_off;
	return true;
}

static void conf1_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct pci_root *r = opaque;
	unsigned int bus, devfn, reg;
	uint32_t v = ones(len);

	if (offset == 0 && len == 4) {
		pthread_mutex_lock(&r->lock);
		v = r->conf1_addr;
		pthread_mutex_unlock(&r->lock);
	} else if (offset == RST_CNT && len == 1) {
		v = 0;
	} else if (offset >= CONF1_DATA &&
		   conf1_target(r, (unsigned int)offset - CONF1_DATA, len, &bus, &devfn, &reg)) {
		v = pci_root_cfg_read(r, bus, devfn, reg, len);
	}
	bus_data_put(data, len, v);
}

static void conf1_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct pci_root *r = opaque;
	uint32_t v = (uint32_t)bus_data_get(data, len);
	unsigned int bus, devfn, reg;

	if (offset == 0 && len == 4) {
		pthread_mutex_lock(&r->lock);
		r->conf1_addr = v & CONF1_KEPT;
		pthread_mutex_unlock(&r->lock);
	} else if (offset == RST_CNT && len == 1) {
		/* A dword CONFIG_ADDRESS write covers 0xcf9 too, and is no reset. */
		if (v & RST_CNT_RST_CPU) {
			log_debug("pci: reset via port 0xcf9 (0x%02x)", v);
			power_sink_raise(&r->sink, POWER_RESET);
		}
	} else if (offset >= CONF1_DATA &&
		   conf1_target(r, (unsigned int)offset - CONF1_DATA, len, &bus, &devfn, &reg)) {
		pci_root_cfg_write(r, bus, devfn, reg, v, len);
	}
}

static const struct bus_region_ops conf1_ops = {
	.read = conf1_read,
	.write = conf1_write,
};

/* The function whose BAR decodes addr, held, and the offset in it; NULL: none (all ones). */
static struct pci_slot *bar_owner(struct pci_root *r, uint64_t addr, unsigned int len,
				  int *bar, uint64_t *off, const struct pci_function_ops **ops)
{
	for (unsigned int i = 1; i < PCI_SLOTS; i++) {
		struct pci_slot *s = slot_get(&r->slot[i], ops);

		if (s && (*bar = (*ops)->bar_claim(s->opaque, addr, len, off)) >= 0)
			return s;
		slot_put(s);
	}
	return NULL;
}

static void window_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	uint64_t addr = ((struct pci_root *)opaque)->mmio32_base + offset, off;
	const struct pci_function_ops *ops;
	struct pci_slot *s;
	int bar;

	s = bar_owner(opaque, addr, len, &bar, &off, &ops);
	if (s)
		ops->bar_read(s->opaque, bar, off, data, len);
	else
		bus_data_put(data, len, ~0ull);
	slot_put(s);
}

static void window_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	uint64_t addr = ((struct pci_root *)opaque)->mmio32_base + offset, off;
	const struct pci_function_ops *ops;
	struct pci_slot *s;
	int bar;

	s = bar_owner(opaque, addr, len, &bar, &off, &ops);
	if (s)
		ops->bar_write(s->opaque, bar, off, data, len);
	slot_put(s);
}

static const struct bus_region_ops window_ops = {
	.read = window_read,
	.write = window_write,
};

static void window64_read(void *opaque, uint64_t offset, uint8_t *data, unsigned int len)
{
	struct pci_root *r = opaque;

	window_read(r, r->mmio64_base + offset - r->mmio32_base, data, len);
}

static void window64_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned int len)
{
	struct pci_root *r = opaque;

	window_write(r, r->mmio64_base + offset - r->mmio32_base, data, len);
}

static const struct bus_region_ops window64_ops = {
	.read = window64_read,
	.write = window64_write,
};

int pci_root_claim_window64(struct pci_root *r, struct bus *bus, uint64_t base, uint64_t size,
			    struct err *err)
{
	struct dev_env env = { .bus = bus };

	if (r->mmio64_base || !size || base < (1ull << 32))
		return err_set(err, false, -EINVAL, "the PCI 64-bit window at %#llx: taken or "
			       "below 4 GiB", (unsigned long long)base);
	r->mmio64_base = base;
	return dev_claim(&env, BUS_MMIO, base, size, &window64_ops, r, "pci-window64", err);
}

uint64_t pci_root_bar_base(unsigned int slot, uint64_t size)
{
	uint64_t base = LAYOUT_PCI_MMIO32 + (uint64_t)slot * size;

	if (!size || slot >= PCI_SLOTS || base + size > LAYOUT_PCI_MMIO32_END)
		return 0;
	return base;
}

unsigned int pci_root_free_slot(const struct pci_root *r)
{
	for (unsigned int i = 1; i < PCI_SLOTS; i++)
		if (!__atomic_load_n(&r->slot[i].ops, __ATOMIC_SEQ_CST))
			return i;
	return 0;
}

static int pci_root_save(void *obj, struct bytes_out *o, struct err *err)
{
	struct pci_root *r = obj;

	pthread_mutex_lock(&r->lock);
	bytes_put_tag(o, PCIR_TAG, PCIR_VERSION);
	bytes_put_u32(o, r->conf1_addr);
	pthread_mutex_unlock(&r->lock);
	return 0;
}

static int pci_root_restore(void *obj, const void *in, size_t len, bool apply, struct err *err)
{
	struct pci_root *r = obj;
	struct bytes_in b = bytes_in_init(in, len);
	uint32_t addr;
	int ret = bytes_get_tag(&b, PCIR_TAG, PCIR_VERSION);

	if (ret)
		return ret;
	addr = bytes_get_u32(&b);
	ret = bytes_in_finish(&b);
	if (ret)
		return ret;
	if (addr & ~CONF1_KEPT)
		return -EINVAL;     /* no write keeps those bits */
	if (apply) {
		pthread_mutex_lock(&r->lock);
		r->conf1_addr = addr;
		pthread_mutex_unlock(&r->lock);
	}
	return 0;
}

static void pci_root_destroy(void *obj)
{
	struct pci_root *r = obj;

	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static const struct component_ops pci_root_component = {
	.save = pci_root_save,
	.restore = pci_root_restore,
	.destroy = pci_root_destroy,
};

struct pci_root *pci_root_of(const struct component *c)
{
	return c && c->ops == &pci_root_component ? c->obj : NULL;
}

int pci_root_attach(struct pci_root *r, unsigned int slot, const struct pci_function_ops *ops,
		    void *opaque)
{
	struct pci_slot *s;
	int ret = 0;

	if (!r || !ops || !ops->cfg_read || !ops->cfg_write || !ops->bar_claim || !ops->bar_read ||
	    !ops->bar_write || slot == 0 || slot >= PCI_SLOTS)
		return -EINVAL;
	s = &r->slot[slot];
	/* The lock orders attaches and detaches; accesses never take it. */
	pthread_mutex_lock(&r->lock);
	if (__atomic_load_n(&s->ops, __ATOMIC_SEQ_CST)) {
		ret = -EEXIST;
	} else {
		s->opaque = opaque;
		__atomic_store_n(&s->ops, ops, __ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int pci_root_detach(struct pci_root *r, unsigned int slot)
{
	struct pci_slot *s;

	if (!r || slot == 0 || slot >= PCI_SLOTS)
		return -EINVAL;
	s = &r->slot[slot];
	pthread_mutex_lock(&r->lock);
	if (!__atomic_load_n(&s->ops, __ATOMIC_SEQ_CST)) {
		pthread_mutex_unlock(&r->lock);
		return -ENOENT;
	}
	__atomic_store_n(&s->ops, NULL, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&r->lock);
	/*
	 * An access that found the function before the store finishes with
	 * it; none can find it after. A vCPU's status write waits for the io
	 * thread, hence never on that thread.
	 */
	while (__atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST))
		usleep(100);
	s->opaque = NULL;
	return 0;
}

int pci_root_create_with(const struct dev_env *env, const struct dev_resources *res,
			 const struct pci_root_config *cfg, struct component *out,
			 struct err *err)
{
	uint64_t win = cfg->mmio32_end ? cfg->mmio32_base : LAYOUT_PCI_MMIO32;
	uint64_t win_end = cfg->mmio32_end ? cfg->mmio32_end : LAYOUT_PCI_MMIO32_END;
	struct pci_root *r;
	int ret;

	if (res->pio_size != PCI_CONF1_PORTS || res->mmio_size < PCI_ECAM_BUS_SIZE ||
	    res->mmio_size % PCI_ECAM_BUS_SIZE || win >= win_end)
		return err_set(err, false, -EINVAL, "the PCI root needs 8 ports and 1 MiB of ECAM "
			       "a bus");
	r = calloc(1, sizeof(*r));
	if (!r)
		return err_set(err, false, -ENOMEM, "out of memory");
	pthread_mutex_init(&r->lock, NULL);
	r->sink = env->power;
	r->mmio32_base = win;
	r->ecam_size = res->mmio_size;
	r->ecam_len = cfg->ecam_gated ? 0 : r->ecam_size;
	if (cfg->host) {
		r->slot[0] = (struct pci_slot){ cfg->host, cfg->host_opaque, 0 };
	} else {
		/* Read-only throughout: the host bridge has nothing the guest sets, so no state. */
		pci_config_init(&r->host, &(struct pci_ids){ .vendor = PCI_HOST_VENDOR,
			.device = PCI_HOST_DEVICE, .class_code = PCI_CLASS_HOST_BRIDGE,
			}, false);
		r->slot[0] = (struct pci_slot){ &host_bridge_ops, &r->host, 0 };
	}
	/* First, while nothing on the bus can point at r yet. */
	ret = dev_claim(env, BUS_PIO, res->pio_base, res->pio_size, &conf1_ops, r, "pci-conf1",
			err);
	if (ret) {
		pci_root_destroy(r);
		return ret;
	}
	/* From here on the bus holds r, and cannot let go of it: a failure leaves it there. */
	ret = dev_claim(env, BUS_MMIO, res->mmio_base, r->ecam_size, &ecam_ops, r, "pci-ecam",
			err);
	if (!ret)
		ret = dev_claim(env, BUS_MMIO, win, win_end - win, &window_ops, r, "pci-window", err);
	if (ret)
		return ret;
	*out = (struct component){ &pci_root_component, r };
	return 0;
}

int pci_root_create(const struct dev_env *env, const struct dev_resources *res,
		    struct component *out, struct err *err)
{
	struct dev_resources one = *res;

	/* Bus 0's ECAM, whatever window the table gives (its size is the MCFG's). */
	one.mmio_size = PCI_ECAM_BUS_SIZE;
	if (res->mmio_size < PCI_ECAM_BUS_SIZE)
		one.mmio_size = res->mmio_size;
	return pci_root_create_with(env, &one, &(const struct pci_root_config){ 0 }, out, err);
}
