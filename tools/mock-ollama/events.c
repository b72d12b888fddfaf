/* events.c: the bounded in-memory event log (requests, completed responses,
 * client disconnects) shared by all worker threads, read by /_mock/events. */
#include "mock.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static char *events_ring[MOCK_EVENTS_MAX]; /* compact JSON texts */
static size_t events_head;                 /* index of the oldest event */
static size_t events_count;

/* Append an event (steals the reference), dropping the oldest when full. */
void mock_events_add(json_t *ev) {
  char *text = json_dumps(ev, JSON_COMPACT);
  json_decref(ev);
  if (!text) return;
  pthread_mutex_lock(&events_lock);
  if (events_count == MOCK_EVENTS_MAX) {
    free(events_ring[events_head]);
    events_ring[events_head] = text;
    events_head = (events_head + 1) % MOCK_EVENTS_MAX;
  } else {
    events_ring[(events_head + events_count) % MOCK_EVENTS_MAX] = text;
    events_count++;
  }
  pthread_mutex_unlock(&events_lock);
}

/* All events as one JSON array, oldest first; the caller frees it. */
char *mock_events_dump(size_t *len) {
  mock_buf_t out = {0};
  mock_buf_puts(&out, "[");
  pthread_mutex_lock(&events_lock);
  for (size_t i = 0; i < events_count; i++) {
    if (i) mock_buf_puts(&out, ",");
    mock_buf_puts(&out, events_ring[(events_head + i) % MOCK_EVENTS_MAX]);
  }
  pthread_mutex_unlock(&events_lock);
  mock_buf_puts(&out, "]");
  *len = out.len;
  return out.p;
}

void mock_events_reset(void) {
  pthread_mutex_lock(&events_lock);
  for (size_t i = 0; i < events_count; i++) {
    size_t k = (events_head + i) % MOCK_EVENTS_MAX;
    free(events_ring[k]);
    events_ring[k] = NULL;
  }
  events_head = events_count = 0;
  pthread_mutex_unlock(&events_lock);
}

void mock_events_free(void) { mock_events_reset(); }

/* Log the end of a response: ev is "done", "disconnect" or "abort". */
void mock_event_end(mock_conn_t *c, const char *ev, unsigned tokens_sent) {
  const char *path = c->req.url.p ? c->req.url.p : "";
  if (strncmp(path, "/_mock/", 7) == 0) return;
  json_t *o = json_object();
  json_object_set_new(o, "ev", json_string(ev));
  json_object_set_new(o, "id", json_integer((json_int_t)c->req.id));
  json_object_set_new(o, "path", json_string(path));
  json_object_set_new(o, "tokens_sent", json_integer(tokens_sent));
  if (c->status) json_object_set_new(o, "status", json_integer(c->status));
  json_object_set_new(o, "t_ns", json_integer((json_int_t)mock_now_ns()));
  mock_events_add(o);
}
