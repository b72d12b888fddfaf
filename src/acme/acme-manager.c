/* The ACME manager: one thread that keeps every configured name set with
 * a usable certificate in the store. At start and after each event it
 * checks the store; a certificate that is valid and not yet at 2/3 of its
 * lifetime is left alone (never re-issued at start), anything else is
 * ordered. Failures wait retry_min_ms, doubling up to retry_max_ms. Every
 * wait is a condition-variable wait, so a stop or a new configuration
 * wakes it at once. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tollgate/access-log.h"
#include "tollgate/acme.h"
#include "tollgate/tls.h"

typedef struct set_state {
  time_t next;         /* when to look at this set again; 0 = now */
  uint64_t backoff_ms; /* the wait after the next failure */
} set_state;

struct tg_acme_manager {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  _Atomic int stop;      /* read unlocked between network steps */
  tg_acme_conf *conf;    /* the thread's own copy */
  tg_acme_conf *pending; /* a new one from tg_acme_manager_update, taken when idle */
  set_state *state;      /* parallel to conf->sets */
  tg_acme_issued_fn fn;
  void *arg;
};

/* "a.test, b.test" for log lines. */
static void names_text(const tg_acme_names *set, char *out, size_t n) {
  size_t at = 0;
  out[0] = 0;
  for (size_t i = 0; i < set->n && at + 1 < n; i++) {
    int w = snprintf(out + at, n - at, "%s%s", i ? ", " : "", set->v[i]);
    if (w < 0) break;
    at += (size_t)w;
  }
}

static void time_text(time_t t, char *out, size_t n) {
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, n, "%Y-%m-%d %H:%M:%S UTC", &tm);
}

/* Waits on the condition variable until deadline_ms (CLOCK_REALTIME), a
 * stop or an update. Called with the lock held. */
static void wait_until(tg_acme_manager *m, const struct timespec *deadline) {
  while (!m->stop && !m->pending) {
    if (pthread_cond_timedwait(&m->cond, &m->lock, deadline) == ETIMEDOUT) return;
  }
}

static struct timespec deadline_in(uint64_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += (time_t)(ms / 1000);
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
  return ts;
}

/* tg_acme_wait_fn for the protocol's polls: -1 when asked to stop. */
static int manager_wait(void *arg, uint64_t ms) {
  tg_acme_manager *m = arg;
  struct timespec ts = deadline_in(ms);
  pthread_mutex_lock(&m->lock);
  while (!m->stop && pthread_cond_timedwait(&m->cond, &m->lock, &ts) != ETIMEDOUT) {}
  int stop = m->stop;
  pthread_mutex_unlock(&m->lock);
  return stop ? -1 : 0;
}

/* After a success or a valid stored certificate: look again at renew_at;
 * never sooner than the first retry wait, so that a CA issuing lifetimes
 * too short for the clock cannot make the manager order in a loop. */
static void schedule_renewal(tg_acme_manager *m, set_state *s, const tg_acme_cert_state *st) {
  time_t soonest = time(NULL) + (time_t)((m->conf->retry_min_ms + 999) / 1000);
  s->next = st->renew_at > soonest ? st->renew_at : soonest;
  s->backoff_ms = m->conf->retry_min_ms;
}

static void schedule_retry(tg_acme_manager *m, set_state *s, const char *names, const char *err) {
  uint64_t ms = s->backoff_ms ? s->backoff_ms : m->conf->retry_min_ms;
  s->next = time(NULL) + (time_t)((ms + 999) / 1000);
  s->backoff_ms = ms * 2 > m->conf->retry_max_ms ? m->conf->retry_max_ms : ms * 2;
  char when[40];
  time_text(s->next, when, sizeof when);
  tg_log_error("acme: certificate for %s failed: %s; retrying at %s", names, err, when);
}

/* Issues set i; logs the outcome and schedules what comes next. */
static void obtain(tg_acme_manager *m, size_t i, const char *names) {
  const tg_acme_names *set = &m->conf->sets[i];
  set_state *s = &m->state[i];
  char err[600], until[40], after[40];
  tg_log_info("acme: ordering certificate for %s", names);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  tg_acme_stats stats;
  if (tg_acme_obtain(m->conf, set, manager_wait, m, &stats, err, sizeof err) < 0) {
    if (!m->stop) schedule_retry(m, s, names, err);
    return;
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  tg_acme_cert_state st;
  tg_acme_store_check(m->conf->storage, set, time(NULL), &st);
  time_text(st.not_after, until, sizeof until);
  time_text(st.renew_at, after, sizeof after);
  long ms = (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
  tg_log_info("acme: certificate for %s issued in %ld ms (%u requests to the CA, %u refused nonces retried), "
              "valid until %s, renewing after %s",
              names, ms, stats.requests, stats.bad_nonces, until, after);
  schedule_renewal(m, s, &st);
  if (m->fn) m->fn(m->arg, set);
}

/* Looks at set i: keeps a usable stored certificate, orders otherwise. */
static void visit(tg_acme_manager *m, size_t i) {
  const tg_acme_names *set = &m->conf->sets[i];
  char names[600], until[40], after[40];
  names_text(set, names, sizeof names);
  tg_acme_cert_state st;
  time_t now = time(NULL);
  if (tg_acme_store_check(m->conf->storage, set, now, &st)) {
    time_text(st.not_after, until, sizeof until);
    time_text(st.renew_at, after, sizeof after);
    tg_log_info("acme: certificate for %s is stored, valid until %s, renewing after %s", names, until, after);
    schedule_renewal(m, &m->state[i], &st);
    return;
  }
  if (st.present && st.covers && st.valid) tg_log_info("acme: certificate for %s is due for renewal", names);
  else if (st.present && !st.covers)
    tg_log_info("acme: the stored certificate for %s does not cover every name; ordering a new one", names);
  else if (st.present) tg_log_info("acme: the stored certificate for %s has expired", names);
  obtain(m, i, names);
}

static int same_names(const tg_acme_names *a, const tg_acme_names *b) {
  if (a->n != b->n) return 0;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->v[i], b->v[i]) != 0) return 0;
  return 1;
}

/* Takes a pending configuration; sets that were there before keep their
 * schedule and backoff. Called with the lock held. */
static void take_pending(tg_acme_manager *m) {
  tg_acme_conf *nc = m->pending;
  set_state *ns = calloc(nc->nsets + 1, sizeof *ns);
  if (!ns) return; /* keep the old one; the next update tries again */
  for (size_t i = 0; i < nc->nsets; i++) {
    ns[i].backoff_ms = nc->retry_min_ms;
    for (size_t j = 0; j < m->conf->nsets; j++)
      if (same_names(&nc->sets[i], &m->conf->sets[j])) ns[i] = m->state[j];
  }
  tg_acme_conf_free(m->conf);
  free(m->state);
  m->conf = nc;
  m->state = ns;
  m->pending = NULL;
}

static void *manager_main(void *arg) {
  tg_acme_manager *m = arg;
  pthread_mutex_lock(&m->lock);
  while (!m->stop) {
    if (m->pending) take_pending(m);
    time_t now = time(NULL), soonest = 0;
    for (size_t i = 0; i < m->conf->nsets && !m->stop && !m->pending; i++) {
      if (m->state[i].next <= now) {
        pthread_mutex_unlock(&m->lock); /* the network and the disk, unlocked */
        visit(m, i);
        pthread_mutex_lock(&m->lock);
        now = time(NULL);
      }
      if (!soonest || m->state[i].next < soonest) soonest = m->state[i].next;
    }
    if (m->stop || m->pending) continue;
    struct timespec ts = {.tv_sec = soonest ? soonest : now + 86400};
    wait_until(m, &ts);
  }
  pthread_mutex_unlock(&m->lock);
  tg_tls_thread_done(); /* the ciphertext buffer of the CA calls' TLS */
  return NULL;
}

tg_acme_manager *tg_acme_manager_start(const tg_acme_conf *conf, tg_acme_issued_fn fn, void *arg) {
  tg_acme_manager *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->fn = fn;
  m->arg = arg;
  m->conf = tg_acme_conf_dup(conf);
  m->state = m->conf ? calloc(m->conf->nsets + 1, sizeof *m->state) : NULL;
  if (!m->state) goto fail;
  for (size_t i = 0; i < m->conf->nsets; i++) m->state[i].backoff_ms = m->conf->retry_min_ms;
  pthread_mutex_init(&m->lock, NULL);
  pthread_cond_init(&m->cond, NULL);
  if (pthread_create(&m->thread, NULL, manager_main, m) == 0) return m;
  pthread_cond_destroy(&m->cond);
  pthread_mutex_destroy(&m->lock);
fail:
  tg_acme_conf_free(m->conf);
  free(m->state);
  free(m);
  return NULL;
}

void tg_acme_manager_update(tg_acme_manager *m, const tg_acme_conf *conf) {
  if (!m || !conf) return;
  tg_acme_conf *copy = tg_acme_conf_dup(conf);
  if (!copy) {
    tg_log_error("acme: out of memory: the new acme configuration is not applied");
    return;
  }
  pthread_mutex_lock(&m->lock);
  tg_acme_conf_free(m->pending);
  m->pending = copy;
  pthread_cond_broadcast(&m->cond);
  pthread_mutex_unlock(&m->lock);
}

void tg_acme_manager_stop(tg_acme_manager *m) {
  if (!m) return;
  pthread_mutex_lock(&m->lock);
  m->stop = 1;
  pthread_cond_broadcast(&m->cond);
  pthread_mutex_unlock(&m->lock);
  pthread_join(m->thread, NULL);
  pthread_cond_destroy(&m->cond);
  pthread_mutex_destroy(&m->lock);
  tg_acme_conf_free(m->conf);
  tg_acme_conf_free(m->pending);
  free(m->state);
  free(m);
  tg_acme_challenges_clear();
}
