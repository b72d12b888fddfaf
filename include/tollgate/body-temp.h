/* tg_body_temp: a request body kept in a temporary file, written and read
 * back without blocking the loop (docs/upstreams.md#the-body-read-whole).
 *
 * The file is made in a directory (client_body_temp_path) without a name:
 * open(2) with O_TMPFILE where the filesystem supports it, else mkstemp(3)
 * and unlink(2) at once; mode 0600 either way. Every system call on it
 * (the open, each pwrite and pread, the close) runs on libuv's thread
 * pool, one at a time; the loop only copies bytes in and out.
 *
 * Writing: bytes given are copied into a buffer that goes to the file
 * while the next fills; past TG_BODY_TEMP_HIGH bytes waiting the writer is
 * told to stop reading its source, and told again (TG_BODY_TEMP_ROOM) when
 * it may go on. Reading: a cursor from the start (tg_body_temp_rewind),
 * one piece of up to TG_BODY_TEMP_PIECE bytes at a time. Memory: the
 * write buffers go once the body's end is flushed, the piece once the
 * last one is handed out, so an exchange that streams its answer for
 * minutes holds only the object and its descriptor.
 *
 * Lifetime: the owner (an exchange) releases it when it ends; no callback
 * reaches the owner after that, and the object closes its descriptor and
 * frees itself once the system call under way (if any) has returned. */
#ifndef TOLLGATE_BODY_TEMP_H
#define TOLLGATE_BODY_TEMP_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct tg_body_temp tg_body_temp;

#define TG_BODY_TEMP_HIGH (256u * 1024) /* bytes waiting for the disk past which the writer pauses */
#define TG_BODY_TEMP_PIECE (64u * 1024) /* bytes one read gives back */

typedef enum {
  TG_BODY_TEMP_ROOM,       /* the writer, told to pause, may go on */
  TG_BODY_TEMP_FLUSHED,    /* every byte given is in the file (asked for by tg_body_temp_flushed) */
  TG_BODY_TEMP_PIECE_READ, /* n bytes at tg_body_temp_data: the piece at the cursor, now past it */
  TG_BODY_TEMP_FAILED,     /* a system call failed (tg_body_temp_error): the file is of no more use */
} tg_body_temp_event;

typedef void (*tg_body_temp_cb)(void *owner, tg_body_temp_event ev, size_t n);

/* A body file in dir (not opened yet: the first write's turn on the thread
 * pool opens it). cb and owner get the events. NULL without memory. */
tg_body_temp *tg_body_temp_new(uv_loop_t *loop, const char *dir, tg_body_temp_cb cb, void *owner);

/* Who gets the events from now on. */
void tg_body_temp_owner(tg_body_temp *t, tg_body_temp_cb cb, void *owner);

/* Appends n bytes (copied). Returns 0, 1 when the writer should stop
 * reading until TG_BODY_TEMP_ROOM, or -1 (no memory, or the file failed). */
int tg_body_temp_write(tg_body_temp *t, const char *p, size_t n);

/* Is every byte given in the file? When not, TG_BODY_TEMP_FLUSHED comes
 * once it is (or TG_BODY_TEMP_FAILED). */
int tg_body_temp_flushed(tg_body_temp *t);

/* Bytes given so far: the body's length. */
uint64_t tg_body_temp_size(const tg_body_temp *t);

/* Reading from the start again (a new upstream connection): the piece at
 * 0 comes as TG_BODY_TEMP_PIECE_READ. A read under way is forgotten. Call
 * only once the file is flushed. */
void tg_body_temp_rewind(tg_body_temp *t);

/* Reads the piece at the cursor. Returns 1 when one is coming, 0 at the
 * end or while a read is under way (its piece comes first). */
int tg_body_temp_next(tg_body_temp *t);

/* Has every byte been handed out since the last rewind? */
int tg_body_temp_read_all(const tg_body_temp *t);

/* The piece just read (valid until the next read starts). */
const char *tg_body_temp_data(const tg_body_temp *t);

/* The errno of the system call that failed, 0 if none. */
int tg_body_temp_error(const tg_body_temp *t);

/* The owner is gone: no more events; closed and freed once idle. */
void tg_body_temp_release(tg_body_temp *t);

#endif
