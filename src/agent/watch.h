/*
 * Directory watchers (inotify), for filesystem.Filesystem's WatchDir (a
 * server stream of events) and CreateWatcher / GetWatcherEvents /
 * RemoveWatcher (the same events, queued until asked for). Events are
 * named as envd's fsnotify names them: CREATE (a new or moved-in entry),
 * WRITE, REMOVE, RENAME (moved away) and CHMOD (attributes), with the
 * entry's path relative to the watched directory. Watches are added with
 * the requesting user's credentials, so only what they may read is watched.
 */
#ifndef HEARTH_AGENT_WATCH_H
#define HEARTH_AGENT_WATCH_H

struct agent;
struct watch_table;

int watch_table_create(struct watch_table **out);
/* Stops every watcher (streams end). */
void watch_table_destroy(struct agent *a, struct watch_table *t);

#endif
