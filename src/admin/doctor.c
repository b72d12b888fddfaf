/* tollgate doctor URL: the seed's verification checklist against any Ollama
 * endpoint. This file reads the options, prints the report lines, and runs
 * the checks in order: connect, TLS, /api/version, /api/tags, then
 * authentication, streaming, WebSocket and the long request (those in
 * doctor-checks.c and doctor-stream.c). Exit status: 0 when nothing
 * failed, 1 when a check failed, 2 on a usage error. */
#include "tollgate/doctor.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tollgate/base64.h"
#include "tollgate/tls.h"

#include "doctor-run.h"

static const char *const LEVEL_TAG[] = {"ok", "warn", "FAIL", "skip"};

void dr_report(doctor *d, int level, const char *check, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(d->out, "%-6s%s: ", LEVEL_TAG[level], check);
  vfprintf(d->out, fmt, ap);
  fputc('\n', d->out);
  fflush(d->out);
  va_end(ap);
  d->counts[level]++;
}

/* ---- requests ---- */

#define DR_HEAD_MAX (64u << 10)
#define DR_BODY_KEEP (8u << 20) /* bytes of body kept; more is counted, not kept */

/* The client's body hook: the read each kept piece came in (its time in
 * seconds is set once the call is over and its start known). */
static void note_arrival(void *data, const char *p, size_t n, uint64_t read_ns) {
  (void)p;
  dr_resp *rs = data;
  size_t off = rs->narr ? rs->arr[rs->narr - 1].off + rs->arr[rs->narr - 1].len : 0;
  if (off >= DR_BODY_KEEP) return;
  if (n > DR_BODY_KEEP - off) n = DR_BODY_KEEP - off;
  if (rs->narr && rs->arr[rs->narr - 1].ns == read_ns) {
    rs->arr[rs->narr - 1].len += n; /* same read */
    return;
  }
  if (rs->narr == rs->carr) {
    size_t nc = rs->carr ? rs->carr * 2 : 64;
    dr_arrival *na = realloc(rs->arr, nc * sizeof *na);
    if (!na) abort(); /* out of memory in a command-line tool */
    rs->arr = na;
    rs->carr = nc;
  }
  rs->arr[rs->narr++] = (dr_arrival){.ns = read_ns, .off = off, .len = n};
}

static double secs_since(uint64_t start, uint64_t ns) { return ns > start ? (double)(ns - start) / 1e9 : 0; }

int dr_send(doctor *d, tg_http_request *rq, int read_ms, dr_resp *rs) {
  memset(rs, 0, sizeof *rs);
  rq->host = d->url.authority;
  rq->max_response = DR_HEAD_MAX;
  rq->keep_body = DR_BODY_KEEP;
  rq->connect_ms = (uint64_t)d->timeout_ms; /* the dial and the handshake */
  rq->idle_ms = (uint64_t)read_ms;          /* each wait for bytes; no limit on the whole */
  rq->on_body = note_arrival;
  rq->on_body_data = rs;
  tg_http_place to = {.host = d->url.host, .port = d->url.port, .tls = d->tls, .verify_after = !d->insecure};
  int rc = tg_http_fetch(&to, rq, &rs->res);
  const tg_http_times *t = &rs->res.resp.times;
  rs->status = rs->res.resp.head_status;
  rs->connected = t->connect != 0;
  rs->secured = t->tls != 0;
  rs->got_head = t->head != 0;
  rs->complete = rc == 0;
  rs->err = rs->res.resp.error;
  rs->errmsg = rs->res.why;
  rs->t_connect = secs_since(t->start, t->connect);
  rs->t_sent = secs_since(t->start, t->sent);
  rs->t_head = secs_since(t->start, t->head);
  rs->t_end = secs_since(t->start, t->end);
  for (size_t i = 0; i < rs->narr; i++) rs->arr[i].t = secs_since(t->start, rs->arr[i].ns);
  return rc;
}

void dr_resp_free(dr_resp *rs) {
  tg_http_result_free(&rs->res);
  free(rs->arr);
  rs->arr = NULL;
  rs->narr = rs->carr = 0;
}

const char *dr_field(const dr_resp *rs, const char *name, char *out, size_t outlen) {
  return tg_head_value_copy(&rs->res.resp.head, name, out, outlen);
}

int dr_request(doctor *d, const char *method, const char *path, const char *body, const char *extra, int with_auth,
               int read_ms, dr_resp *rs) {
  tg_buf hdrs = {0}, target = {0}; /* tg_buf_printf keeps a NUL after the text */
  int rc = tg_buf_printf(&hdrs, DR_USER_AGENT "%s%s%s", body ? "Content-Type: application/json\r\n" : "",
                         extra ? extra : "", with_auth && d->auth ? d->auth : "");
  rc |= tg_buf_printf(&target, "%s%s", d->url.base, path);
  if (rc) abort(); /* out of memory in a command-line tool */
  tg_http_request rq = {
      .method = method, .target = target.data, .headers = hdrs.data, .body = body, .body_len = body ? strlen(body) : 0};
  rc = dr_send(d, &rq, read_ms, rs);
  tg_buf_free(&hdrs);
  tg_buf_free(&target);
  return rc;
}

json_t *dr_json(const dr_resp *rs) {
  if (!rs->res.resp.body.len) return NULL;
  return json_loadb(rs->res.resp.body.data, rs->res.resp.body.len, 0, NULL);
}

/* The "error" string of an Ollama- or OpenAI-shaped body, or "". */
static void body_error(const dr_resp *rs, char *out, size_t n) {
  json_t *j = dr_json(rs), *e = j ? json_object_get(j, "error") : NULL;
  if (json_is_object(e)) e = json_object_get(e, "message");
  snprintf(out, n, "%s", json_is_string(e) ? json_string_value(e) : "");
  json_decref(j);
}

void dr_outcome(const dr_resp *rs, char *out, size_t n) {
  if (rs->err && !rs->got_head) {
    snprintf(out, n, "nothing: %s after %.1f s", rs->errmsg, rs->t_end);
    return;
  }
  char msg[160], server[80];
  const tg_head *h = &rs->res.resp.head;
  body_error(rs, msg, sizeof msg);
  const char *via = dr_field(rs, "Server", server, sizeof server);
  snprintf(out, n, "%d %.*s%s%s%s%s%s", rs->status, (int)h->target.len, h->target.len ? tg_head_str(h, h->target) : "",
           msg[0] ? ": " : "", msg, via ? " (via " : "", via ? via : "", via ? ")" : "");
  if (rs->err) snprintf(out + strlen(out), n - strlen(out), ", then %s", rs->errmsg);
}

/* ---- connect and TLS ---- */

static int check_connect(doctor *d, const dr_resp *rs) {
  if (!rs->connected) {
    dr_report(d, DR_FAIL, "connect", "cannot reach %s:%s: %s", d->url.host, d->url.port, rs->errmsg);
    return -1;
  }
  dr_report(d, DR_OK, "connect", "%s (%s) in %.1f ms", d->url.authority, rs->res.addr, rs->t_connect * 1000.0);
  return 0;
}

/* "in 89 days", "in 11 h", "3 days ago". */
static void expiry_text(long long secs, char *out, size_t n) {
  long long a = secs < 0 ? -secs : secs;
  const char *unit = a >= 2 * 86400 ? "days" : "h";
  long long v = a >= 2 * 86400 ? a / 86400 : a / 3600;
  if (secs < 0) snprintf(out, n, "expired %lld %s ago", v, unit);
  else snprintf(out, n, "expires in %lld %s", v, unit);
}

static void report_cert(doctor *d, const tg_tls_peer *t) {
  char exp[64], subj[180] = "";
  expiry_text(t->secs_left, exp, sizeof exp);
  if (t->verify != X509_V_OK) {
    if (t->subject[0]) snprintf(subj, sizeof subj, "subject %s, ", t->subject);
    dr_report(d, DR_FAIL, "tls", "%s, the certificate does not verify for %s: %s (%sissuer %s, %s%s)", t->version,
              d->url.host, X509_verify_cert_error_string(t->verify), subj, t->issuer, exp,
              d->cacert ? "" : "; for a private CA pass --cacert FILE");
    return;
  }
  int soon = t->secs_left < 14 * 86400LL;
  dr_report(d, soon ? DR_WARN : DR_OK, "tls", "%s (%s), certificate valid for %s, %s (issuer %s)%s", t->version,
            t->cipher, d->url.host, exp, t->issuer, soon ? ": renew it soon" : "");
}

/* Returns -1 when the remaining checks cannot run. */
static int check_tls(doctor *d, const dr_resp *rs) {
  if (!d->url.tls) return 0;
  if (!rs->secured) {
    int ip = strspn(d->url.host, "0123456789.:abcdefABCDEF") == strlen(d->url.host);
    dr_report(d, DR_FAIL, "tls", "TLS handshake: %s%s", rs->errmsg,
              ip ? " (no server name (SNI) is sent to an IP address: try the host name)" : "");
    return -1;
  }
  report_cert(d, &rs->res.resp.tls);
  if (rs->res.resp.tls.verify != X509_V_OK && !d->insecure) {
    dr_report(d, DR_SKIP, "other checks", "not run over an unverified connection (--insecure runs them)");
    return -1;
  }
  return 0;
}

/* ---- version and models ---- */

static const char *auth_hint(const doctor *d, int status) {
  if ((status == 401 || status == 403) && !d->auth) return ": the endpoint wants credentials (--user U:P or --key K)";
  if (status == 404) return ": is the URL the Ollama API root? (it may carry a path: https://host/ollama)";
  return "";
}

static void check_version(doctor *d, const dr_resp *rs) {
  char out[300], server[80];
  json_t *j = rs->status == 200 ? dr_json(rs) : NULL;
  json_t *v = json_object_get(j, "version");
  if (json_is_string(v)) {
    const char *via = dr_field(rs, "Server", server, sizeof server);
    dr_report(d, DR_OK, "version", "Ollama %s%s%s%s", json_string_value(v), via ? " (via " : "", via ? via : "",
              via ? ")" : "");
  } else {
    dr_outcome(rs, out, sizeof out);
    dr_report(d, DR_FAIL, "version", "/api/version answered %s%s", out, auth_hint(d, rs->status));
  }
  json_decref(j);
}

/* Embedding models cannot generate: skip them when picking one. */
static int is_embedding(json_t *m) {
  const char *name = json_string_value(json_object_get(m, "name"));
  const char *fam = json_string_value(json_object_get(json_object_get(m, "details"), "family"));
  return (name && strstr(name, "embed")) || (fam && strstr(fam, "bert"));
}

static void list_models(doctor *d, json_t *models) {
  tg_buf names = {0};
  size_t i, n = json_array_size(models);
  json_t *m;
  json_array_foreach(models, i, m) {
    const char *name = json_string_value(json_object_get(m, "name"));
    if (i < 10) tg_buf_printf(&names, "%s%s", i ? ", " : "", name ? name : "?");
    if (!d->model && name && !is_embedding(m)) d->model = strdup(name);
  }
  if (n > 10) tg_buf_printf(&names, " and %zu more", n - 10);
  if (n) dr_report(d, DR_OK, "models", "%zu: %s", n, names.data);
  else dr_report(d, DR_WARN, "models", "none installed (ollama pull MODEL); streaming needs one or --model");
  tg_buf_free(&names);
}

static void check_models(doctor *d) {
  dr_resp rs;
  char out[300];
  dr_request(d, "GET", "/api/tags", NULL, NULL, 1, d->timeout_ms, &rs);
  d->tags_status = rs.status;
  json_t *j = rs.status == 200 ? dr_json(&rs) : NULL;
  json_t *models = json_object_get(j, "models");
  if (json_is_array(models)) list_models(d, models);
  else {
    dr_outcome(&rs, out, sizeof out);
    dr_report(d, DR_FAIL, "models", "/api/tags answered %s%s", out, auth_hint(d, rs.status));
  }
  if (d->model_opt) {
    free(d->model);
    d->model = strdup(d->model_opt);
  }
  json_decref(j);
  dr_resp_free(&rs);
}

/* ---- options ---- */

static void usage(FILE *f) {
  fputs("usage: tollgate doctor [options] URL\n"
        "       tollgate doctor --config FILE [options] [URL]\n"
        "  Runs the verification checklist against an Ollama endpoint (direct, behind\n"
        "  tollgate, or behind any proxy); URL may carry a path: https://host/ollama\n"
        "  -c, --config FILE    also check each server of each upstream FILE names:\n"
        "                       reachable, version, models, loaded models\n"
        "      --model NAME     model for the generations (default: the first listed)\n"
        "      --user U:P       Basic credentials: check they are required and accepted\n"
        "      --key K          Bearer key: check it is required and accepted\n"
        "      --cacert FILE    trust these CA certificates instead of the system store\n"
        "  -k, --insecure       run the checks even when the certificate does not verify\n"
        "      --ws-path PATH   path for the WebSocket handshake (default: URL path + /)\n"
        "      --slow           also send a request whose first byte takes over 60 s\n"
        "      --timeout S      limit for connecting and short requests (default 10)\n"
        "  -h, --help           this text\n"
        "Exit status: 0 when no check failed, 1 when one did, 2 on a usage error.\n",
        f);
}

static int usage_error(const char *msg, const char *arg) {
  fprintf(stderr, "tollgate doctor: %s%s (tollgate doctor --help)\n", msg, arg ? arg : "");
  return 2;
}

static int parse_timeout(doctor *d, const char *s) {
  char *end;
  double v = strtod(s, &end);
  if (*end || !(v > 0) || v > 3600) return -1;
  d->timeout_ms = (int)(v * 1000.0);
  return 0;
}

static int parse_args(doctor *d, int argc, char **argv) {
  static const struct option longs[] = {{"model", required_argument, 0, 'm'},
                                        {"user", required_argument, 0, 'u'},
                                        {"key", required_argument, 0, 'K'},
                                        {"cacert", required_argument, 0, 'C'},
                                        {"insecure", no_argument, 0, 'k'},
                                        {"ws-path", required_argument, 0, 'W'},
                                        {"slow", no_argument, 0, 'S'},
                                        {"timeout", required_argument, 0, 'T'},
                                        {"help", no_argument, 0, 'h'},
                                        {"config", required_argument, 0, 'c'},
                                        {0, 0, 0, 0}};
  int ch;
  optind = 1;
  while ((ch = getopt_long(argc, argv, "khc:", longs, NULL)) != -1) {
    switch (ch) {
    case 'm': d->model_opt = optarg; break;
    case 'c': d->config_path = optarg; break;
    case 'u': d->user = optarg; break;
    case 'K': d->key = optarg; break;
    case 'C': d->cacert = optarg; break;
    case 'k': d->insecure = 1; break;
    case 'W': d->ws_path = optarg; break;
    case 'S': d->slow = 1; break;
    case 'T':
      if (parse_timeout(d, optarg) < 0) return usage_error("--timeout takes seconds, e.g. 10: ", optarg);
      break;
    case 'h': usage(stdout); exit(0);
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc - 1 && !(d->config_path && optind == argc))
    return usage_error(d->config_path ? "give at most one URL" : "give exactly one URL", NULL);
  if (d->user && d->key) return usage_error("--user and --key exclude each other", NULL);
  if (d->user && !strchr(d->user, ':')) return usage_error("--user takes USER:PASSWORD", NULL);
  if (d->ws_path && d->ws_path[0] != '/') return usage_error("--ws-path must start with '/': ", d->ws_path);
  d->url_text = optind < argc ? argv[optind] : NULL;
  return 0;
}

/* "Authorization: Basic base64(u:p)\r\n" or "Authorization: Bearer K\r\n". */
static void make_auth(doctor *d) {
  tg_buf b = {0};
  if (d->key) tg_buf_printf(&b, "Authorization: Bearer %s\r\n", d->key);
  if (d->user) {
    size_t n = strlen(d->user);
    char *enc = malloc(tg_b64_encoded_len(n) + 1);
    if (!enc) abort();
    tg_b64_encode(d->user, n, enc);
    tg_buf_printf(&b, "Authorization: Basic %s\r\n", enc);
    free(enc);
  }
  d->auth = b.data;
}

/* ---- the run ---- */

/* Connect, TLS, version: one request. Returns -1 when nothing else can run. */
static int first_checks(doctor *d) {
  dr_resp rs;
  dr_request(d, "GET", "/api/version", NULL, NULL, 1, d->timeout_ms, &rs);
  int rc = check_connect(d, &rs);
  if (rc == 0) rc = check_tls(d, &rs);
  if (rc == 0) check_version(d, &rs);
  dr_resp_free(&rs);
  return rc;
}

static void run_checks(doctor *d) {
  if (first_checks(d) < 0) return;
  check_models(d);
  dr_check_auth(d);
  dr_check_stream(d);
  dr_check_websocket(d);
  dr_check_slow(d);
}

static int setup(doctor *d) {
  char err[300];
  if (!d->url_text) return 0; /* --config alone */
  if (tg_http_url_parse(d->url_text, &d->url, err, sizeof err) < 0) return usage_error(err, NULL);
  /* The certificate is checked after the handshake (tg_http_place.verify_after), to report the exact reason. */
  if (d->url.tls && !(d->tls = tg_tls_client_ctx(d->cacert, 0, err, sizeof err))) {
    fprintf(stderr, "tollgate doctor: %s\n", err);
    return 2;
  }
  make_auth(d);
  return 0;
}

static void teardown(doctor *d) {
  if (d->tls) SSL_CTX_free(d->tls);
  tg_tls_thread_done(); /* the thread's ciphertext buffer */
  tg_http_url_free(&d->url);
  free(d->auth);
  free(d->model);
}

int tg_doctor_main(int argc, char **argv) {
  doctor d = {.timeout_ms = 10000, .out = stdout};
  int rc = parse_args(&d, argc, argv);
  if (rc) return rc;
  signal(SIGPIPE, SIG_IGN);
  rc = setup(&d);
  if (rc == 0) {
    fprintf(d.out, "tollgate doctor %s: %s%s%s\n", TG_VERSION, d.url_text ? d.url_text : "",
            d.url_text && d.config_path ? " and " : "", d.config_path ? d.config_path : "");
    if (d.url_text) run_checks(&d);
    if (d.config_path && dr_check_servers(&d) < 0) rc = 2;
    fprintf(d.out, "summary: %d ok, %d warning%s, %d failed, %d skipped\n", d.counts[DR_OK], d.counts[DR_WARN],
            d.counts[DR_WARN] == 1 ? "" : "s", d.counts[DR_FAIL], d.counts[DR_SKIP]);
    if (rc == 0) rc = d.counts[DR_FAIL] ? 1 : 0;
  }
  teardown(&d);
  return rc;
}
