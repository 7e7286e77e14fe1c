/*
 * A library Hearth loads only when a feature asks for it (libslirp for a
 * user-mode NIC, GnuTLS for a migration's TLS): dlopen'd once, its
 * functions copied into the caller's table of pointers, the handle kept
 * for the process's life. A process that never asks maps none of them.
 */
#ifndef HEARTH_UTIL_DLIB_H
#define HEARTH_UTIL_DLIB_H

#include <stddef.h>

/* One function: its name in the library, and where its pointer goes in the table. */
struct dlib_sym {
	const char *name;
	size_t off;
};

/*
 * so opened (RTLD_NOW | RTLD_LOCAL) and each of syms[0..n) stored at
 * table + its off. 0, or -ELIBACC with why saying what failed (dlerror's
 * text, or the first name missing); a half-filled table is the caller's
 * never to read.
 */
int dlib_load(const char *so, const struct dlib_sym *syms, size_t n, void *table, char *why,
	      size_t why_len);
/* The same, the handle kept in *handle for dlib_unload. */
int dlib_load_handle(const char *so, const struct dlib_sym *syms, size_t n, void *table,
		     char *why, size_t why_len, void **handle);
/*
 * A library given up by a process that will never call it (the zygote,
 * GnuTLS): closed, and table (size bytes) zeroed. Its mappings go unless a
 * library it needs is marked to stay (p11-kit is, NODELETE).
 */
void dlib_unload(void **handle, void *table, size_t size);

#endif
