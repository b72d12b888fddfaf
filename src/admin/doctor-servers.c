/* tollgate doctor --config FILE: each Ollama server of each upstream the
 * configuration names, asked directly (not through tollgate): reachable,
 * its version, its models and those loaded; then, per upstream of several
 * servers, how many are up and which models only some servers have
 * (docs/doctor.md#servers). Each request is a blocking call of the shared
 * HTTP client on a connection of its own. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor-run.h"
#include "tollgate/config.h"

#define DS_BODY_MAX (8u << 20)

/* GET path on host:port; the JSON body of a 200, else NULL with why. */
static json_t *ds_get(const doctor *d, const tg_hostport *hp, const char *path, char *why, size_t n,
                      double *connect_ms) {
  char port[8], host[300];
  snprintf(port, sizeof port, "%u", hp->port);
  snprintf(host, sizeof host, "%s:%u", hp->host, hp->port);
  tg_http_request rq = {.method = "GET",
                        .target = path,
                        .host = host,
                        .max_response = DS_BODY_MAX,
                        .timeout_ms = (uint64_t)d->timeout_ms};
  tg_http_place to = {.host = hp->host, .port = port};
  tg_http_result res;
  json_t *j = NULL;
  if (tg_http_fetch(&to, &rq, &res) < 0) {
    snprintf(why, n, "%s", res.why[0] ? res.why : "failed");
  } else if (res.resp.status != 200) {
    snprintf(why, n, "%s answered %d", path, res.resp.status);
  } else if (!(j = json_loadb(res.resp.body.data ? res.resp.body.data : "", res.resp.body.len, 0, NULL))) {
    snprintf(why, n, "%s answered something that is not JSON", path);
  }
  if (connect_ms && res.resp.times.connect) *connect_ms = (double)(res.resp.times.connect - res.resp.times.start) / 1e6;
  tg_http_result_free(&res);
  return j;
}

/* "a, b, c and 4 more" of a {"models":[{"name":...}]} list; the count. */
static size_t ds_names(json_t *list, tg_buf *out) {
  json_t *models = json_object_get(list, "models"), *m;
  size_t i, n = json_array_size(models);
  json_array_foreach(models, i, m) {
    const char *name = json_string_value(json_object_get(m, "name"));
    if (i < 8) tg_buf_printf(out, "%s%s", i ? ", " : "", name ? name : "?");
  }
  if (n > 8) tg_buf_printf(out, " and %zu more", n - 8);
  return n;
}

/* One server: one report line. Returns 1 when it is up, and adds each of
 * its models to `seen` (name -> the number of servers that list it). */
static int ds_server(doctor *d, const tg_upstream_conf *up, const tg_server_conf *s, json_t *seen) {
  char check[200], why[300];
  double ms = 0;
  snprintf(check, sizeof check, "server %s %s:%u", up->name, s->addr.host, s->addr.port);
  json_t *ver = ds_get(d, &s->addr, "/api/version", why, sizeof why, &ms);
  if (!ver) {
    dr_report(d, DR_FAIL, check, "%s", why);
    return 0;
  }
  json_t *tags = ds_get(d, &s->addr, "/api/tags", why, sizeof why, NULL);
  json_t *ps = tags ? ds_get(d, &s->addr, "/api/ps", why, sizeof why, NULL) : NULL;
  const char *v = json_string_value(json_object_get(ver, "version"));
  if (!tags || !ps) {
    dr_report(d, DR_FAIL, check, "reachable (Ollama %s), but %s", v ? v : "?", why);
  } else {
    tg_buf names = {0}, loaded = {0};
    size_t n = ds_names(tags, &names), nl = ds_names(ps, &loaded);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(tags, "models"), i, m) {
      const char *name = json_string_value(json_object_get(m, "name"));
      if (name) json_object_set_new(seen, name, json_integer(json_integer_value(json_object_get(seen, name)) + 1));
    }
    dr_report(d, n ? DR_OK : DR_WARN, check, "Ollama %s, connected in %.1f ms%s; %zu models%s%s; %zu loaded%s%s",
              v ? v : "?", ms,
              s->drain    ? " (draining)"
              : s->backup ? " (backup)"
                          : "",
              n, n ? ": " : "", n ? names.data : " (ollama pull MODEL)", nl, nl ? ": " : "", nl ? loaded.data : "");
    tg_buf_free(&names);
    tg_buf_free(&loaded);
  }
  int ok = tags && ps;
  json_decref(ver);
  json_decref(tags);
  json_decref(ps);
  return ok;
}

/* An upstream of several servers: how many answered, and the models not
 * on every server that answered (a request for one goes only where it is). */
static void ds_upstream(doctor *d, const tg_upstream_conf *up) {
  json_t *seen = json_object();
  size_t nup = 0;
  for (size_t i = 0; i < up->nservers; i++) nup += (size_t)ds_server(d, up, &up->servers[i], seen);
  if (up->nservers > 1) {
    char check[120];
    tg_buf some = {0};
    size_t partial = 0;
    for (void *it = json_object_iter(seen); it; it = json_object_iter_next(seen, it)) {
      if ((size_t)json_integer_value(json_object_iter_value(it)) == nup) continue;
      if (partial < 8) tg_buf_printf(&some, "%s%s", partial ? ", " : "", json_object_iter_key(it));
      partial++;
    }
    snprintf(check, sizeof check, "upstream %s", up->name);
    int level = nup == up->nservers ? DR_OK : nup ? DR_WARN : DR_FAIL;
    dr_report(d, level, check, "%zu of %zu servers answer; %zu models in all%s%s%s", nup, up->nservers,
              json_object_size(seen), partial ? ", on some of them only: " : ", each on every server",
              partial ? some.data : "", partial > 8 ? " ..." : "");
    tg_buf_free(&some);
  }
  json_decref(seen);
}

int dr_check_servers(doctor *d) {
  int nerrors = 0;
  tg_config *cfg = tg_config_load(d->config_path, stderr, &nerrors);
  if (!cfg) {
    fprintf(stderr, "tollgate doctor: %s: the configuration does not load\n", d->config_path);
    return -1;
  }
  for (size_t u = 0; u < cfg->nupstreams; u++) ds_upstream(d, &cfg->upstreams[u]);
  tg_config_free(cfg);
  return 0;
}
