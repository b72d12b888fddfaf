/* catalog.c: the fake installed models (the built-in three, or the list of
 * --models), and the JSON of /api/tags, /api/ps, /api/show and /v1/models
 * built from them (shapes of ollama's api/types.go). */
#include "mock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct catalog_entry {
  mock_model_t m;
  long long modified_unix;
  long long parameter_count;
  char digest[65]; /* a --models entry's own digest (m.digest points here) */
} catalog_entry_t;

static const catalog_entry_t builtin[] = {
    {{"llama3.2:latest", "llama", "3.2B", "Q4_K_M", "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
      2019393189, false},
     1759227163,
     3212749888,
     ""},
    {{"qwen2.5:0.5b", "qwen2", "494.03M", "Q4_K_M", "a8b0c51577010a279d933d14c2a8ab4b268079d44c5c8830c0a93900f1827c67",
      397821319, false},
     1758622363,
     494032768,
     ""},
    {{"nomic-embed-text:latest", "nomic-bert", "137M", "F16",
      "0a109f422b47e3a30ba2b10eca18548e944e8a23073ee3f3e947efcf3c45e59f", 274302450, true},
     1757412763,
     136727040,
     ""},
};
#define BUILTIN_LEN (sizeof builtin / sizeof builtin[0])

/* The catalogue in use: the built-in one unless --models replaced it. */
static const catalog_entry_t *catalog = builtin;
static size_t catalog_len = BUILTIN_LEN;
#define CATALOG_LEN catalog_len

/* RFC 3339 with nanoseconds, UTC, as Go prints a time.Time in JSON. */
void mock_format_time(char *out, size_t outlen, uint64_t unix_ns) {
  time_t sec = (time_t)(unix_ns / 1000000000u);
  struct tm tm;
  char base[32];
  gmtime_r(&sec, &tm);
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, outlen, "%s.%09uZ", base, (unsigned)(unix_ns % 1000000000u));
}

static json_t *time_json(long long unix_sec) {
  char buf[48];
  mock_format_time(buf, sizeof buf, (uint64_t)unix_sec * 1000000000u);
  return json_string(buf);
}

/* "llama3.2" finds "llama3.2:latest"; names compare case-insensitively. */
static const catalog_entry_t *find_in(const catalog_entry_t *list, size_t len, const char *name) {
  char full[300];
  if (!name || !*name) return NULL;
  snprintf(full, sizeof full, "%s%s", name, strchr(name, ':') ? "" : ":latest");
  for (size_t i = 0; i < len; i++)
    if (strcasecmp(list[i].m.name, full) == 0) return &list[i];
  return NULL;
}

const mock_model_t *mock_model_find(const char *name) {
  const catalog_entry_t *e = find_in(catalog, CATALOG_LEN, name);
  return e ? &e->m : NULL;
}

static const catalog_entry_t *entry_of(const mock_model_t *m) {
  return (const catalog_entry_t *)m; /* m is the first member */
}

size_t mock_catalog_len(void) { return catalog_len; }
const mock_model_t *mock_catalog_model(size_t i) { return i < catalog_len ? &catalog[i].m : NULL; }
size_t mock_model_index(const mock_model_t *m) { return (size_t)(entry_of(m) - catalog); }

/* A made-up model for a --models name the built-in list lacks: a digest
 * from the name's FNV-1a hash, 4.9 GB, an 8B llama (an embedding model
 * when the name says "embed"). */
static void entry_make(catalog_entry_t *e, const char *full, size_t index) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = full; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
  for (int i = 0; i < 64; i++) {
    h ^= h << 13, h ^= h >> 7, h ^= h << 17;
    e->digest[i] = "0123456789abcdef"[h & 15];
  }
  e->digest[64] = '\0';
  bool embed = strstr(full, "embed") != NULL;
  e->m = (mock_model_t){strdup(full),
                        embed ? "nomic-bert" : "llama",
                        embed ? "137M" : "8.0B",
                        "Q4_K_M",
                        e->digest,
                        embed ? 274302450 : 4920753328,
                        embed};
  e->modified_unix = 1759000000 - (long long)index * 86400;
  e->parameter_count = embed ? 136727040 : 8030261248;
}

/* --models a,b:7b,...: this instance's catalogue, in that order. Names
 * without a tag get ":latest"; the built-in names keep their details. */
bool mock_catalog_set(const char *list) {
  size_t n = 1;
  for (const char *p = list; *p; p++) n += *p == ',';
  catalog_entry_t *entries = calloc(n, sizeof *entries);
  char *copy = strdup(list), *save = NULL;
  size_t len = 0;
  for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
    char full[256];
    if (!*name || strlen(name) > 200) break;
    snprintf(full, sizeof full, "%s%s", name, strchr(name, ':') ? "" : ":latest");
    const catalog_entry_t *known = find_in(builtin, BUILTIN_LEN, full);
    if (find_in(entries, len, full)) continue; /* named twice */
    if (known) entries[len] = *known;
    else entry_make(&entries[len], full, len);
    len++;
  }
  free(copy);
  if (len == 0) {
    free(entries);
    return false;
  }
  catalog = entries;
  catalog_len = len;
  return true;
}

static json_t *details_json(const mock_model_t *m) {
  return json_pack("{s:s,s:s,s:s,s:[s],s:s,s:s}", "parent_model", "", "format", "gguf", "family", m->family, "families",
                   m->family, "parameter_size", m->parameter_size, "quantization_level", m->quantization);
}

json_t *mock_catalog_tags(void) {
  json_t *list = json_array();
  for (size_t i = 0; i < CATALOG_LEN; i++) {
    const mock_model_t *m = &catalog[i].m;
    json_array_append_new(list, json_pack("{s:s,s:s,s:o,s:I,s:s,s:o}", "name", m->name, "model", m->name, "modified_at",
                                          time_json(catalog[i].modified_unix), "size", (json_int_t)m->size, "digest",
                                          m->digest, "details", details_json(m)));
  }
  return json_pack("{s:o}", "models", list);
}

/* One /api/ps entry: a loaded model and when it will be unloaded. */
json_t *mock_catalog_ps_entry(const mock_model_t *m, uint64_t expires_unix_ns, int context_length) {
  char expires[48];
  mock_format_time(expires, sizeof expires, expires_unix_ns);
  return json_pack("{s:s,s:s,s:I,s:s,s:o,s:s,s:I,s:i}", "name", m->name, "model", m->name, "size",
                   (json_int_t)m->size + 1200000000, "digest", m->digest, "details", details_json(m), "expires_at",
                   expires, "size_vram", (json_int_t)m->size + 1200000000, "context_length", context_length);
}

/* Without the simulator: the first model loaded, kept alive for five more minutes. */
json_t *mock_catalog_ps(void) {
  json_t *entry = mock_catalog_ps_entry(&catalog[0].m, ((uint64_t)time(NULL) + 300) * 1000000000u, 4096);
  return json_pack("{s:[o]}", "models", entry);
}

json_t *mock_catalog_show(const mock_model_t *m) {
  const catalog_entry_t *e = entry_of(m);
  char modelfile[512], ctx_key[64];
  snprintf(modelfile, sizeof modelfile,
           "# Modelfile generated by \"ollama show\"\n# To build a new Modelfile based on this, "
           "replace FROM with:\n# FROM %s\n\nFROM /usr/share/ollama/.ollama/models/blobs/"
           "sha256-%s\nTEMPLATE \"{{ .Prompt }}\"\n",
           m->name, m->digest);
  snprintf(ctx_key, sizeof ctx_key, "%s.context_length", m->family);
  json_t *info = json_pack("{s:s,s:I,s:i}", "general.architecture", m->family, "general.parameter_count",
                           (json_int_t)e->parameter_count, ctx_key, m->embedding ? 2048 : 131072);
  return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:[s],s:o}", "license", "MOCK LICENSE", "modelfile", modelfile,
                   "parameters", "stop                           \"<|eot_id|>\"", "template", "{{ .Prompt }}",
                   "details", details_json(m), "model_info", info, "capabilities",
                   m->embedding ? "embedding" : "completion", "modified_at", time_json(e->modified_unix));
}

json_t *mock_catalog_openai_model(const mock_model_t *m) {
  return json_pack("{s:s,s:s,s:I,s:s}", "id", m->name, "object", "model", "created",
                   (json_int_t)entry_of(m)->modified_unix, "owned_by", "library");
}

json_t *mock_catalog_openai_models(void) {
  json_t *data = json_array();
  for (size_t i = 0; i < CATALOG_LEN; i++) json_array_append_new(data, mock_catalog_openai_model(&catalog[i].m));
  return json_pack("{s:s,s:o}", "object", "list", "data", data);
}
