/*
 * The destination's side of a live migration's stream (docs/migration.md):
 * the header, then every record into the image (stream.h) until END.
 */
#ifndef HEARTH_MIGRATE_RECV_H
#define HEARTH_MIGRATE_RECV_H

#include "migrate/send.h"
#include "migrate/image.h"
#include "util/err.h"

/*
 * Reads fd's stream into im (mig_image_init'ed) until END, or until
 * POSTCOPY was taken (im->pc: the rest is read beside the faults); p counts what
 * came. 0, or -errno with err naming the fault (the record, the cut, the
 * timeout); im then holds whatever came, for mig_image_release.
 */
int mig_recv_stream(int fd, struct mig_image *im, struct mig_progress *p, struct err *err);

#endif
