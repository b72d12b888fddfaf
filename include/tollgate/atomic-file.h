/* Writing a file so that a crash, or a reader at the wrong moment, finds
 * the old contents or the new ones, never a mix: the bytes go to a
 * temporary file in the same directory (PATH.tmp.PID), which is fsynced
 * and renamed over PATH; then the directory is fsynced, so that the
 * rename itself survives a power cut. Used by the ACME store and the
 * quota state file. */
#ifndef TOLLGATE_ATOMIC_FILE_H
#define TOLLGATE_ATOMIC_FILE_H

#include <stddef.h>

/* Replaces path with len bytes of data, with mode (0600, 0644...; set
 * exactly, whatever the umask or a stale temporary file). Returns 0, or -1
 * with errno; on failure before the rename path is untouched and the
 * temporary file removed. */
int tg_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);

#endif
