/* The config error list and the lexer: bytes to tokens with line and
 * column. See syntax.h. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "syntax.h"

static void record(tg_cfg_errors *e, unsigned line, unsigned col, int warning, const char *fmt, va_list ap) {
  if (e->n == e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 16;
    tg_cfg_error *v = realloc(e->v, cap * sizeof *v);
    if (!v) {
      e->oom = 1;
      return;
    }
    e->v = v;
    e->cap = cap;
  }
  char *msg = NULL;
  if (vasprintf(&msg, fmt, ap) < 0) {
    e->oom = 1;
    return;
  }
  e->v[e->n++] = (tg_cfg_error){line, col, msg, warning};
}

void tg_cfg_error_at(tg_cfg_errors *e, unsigned line, unsigned col, const char *fmt, ...) {
  e->nerrs++;
  va_list ap;
  va_start(ap, fmt);
  record(e, line, col, 0, fmt, ap);
  va_end(ap);
}

void tg_cfg_warn_at(tg_cfg_errors *e, unsigned line, unsigned col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  record(e, line, col, 1, fmt, ap);
  va_end(ap);
}

/* Errors print in file order; qsort is not stable, so ties on position
 * keep the order found through an explicit rank. */
typedef struct ranked {
  tg_cfg_error e;
  size_t order;
} ranked;

static int ranked_cmp(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->e.line != y->e.line) return x->e.line < y->e.line ? -1 : 1;
  if (x->e.col != y->e.col) return x->e.col < y->e.col ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

static void errors_sort(tg_cfg_errors *e) {
  if (e->n < 2) return;
  ranked *r = malloc(e->n * sizeof *r);
  if (!r) return; /* print them in the order found */
  for (size_t i = 0; i < e->n; i++) r[i] = (ranked){e->v[i], i};
  qsort(r, e->n, sizeof *r, ranked_cmp);
  for (size_t i = 0; i < e->n; i++) e->v[i] = r[i].e;
  free(r);
}

void tg_cfg_errors_flush(tg_cfg_errors *e, const char *name, FILE *err) {
  if (!name) name = "config";
  errors_sort(e);
  for (size_t i = 0; i < e->n; i++) {
    if (err && i < TG_CFG_MAX_PRINTED)
      fprintf(err, "%s:%u:%u: %s%s\n", name, e->v[i].line, e->v[i].col, e->v[i].warning ? "warning: " : "",
              e->v[i].msg);
    free(e->v[i].msg);
  }
  if (err && e->nerrs > TG_CFG_MAX_PRINTED)
    fprintf(err, "%s: %d errors; only the first %d are shown\n", name, e->nerrs, TG_CFG_MAX_PRINTED);
  else if (err && e->oom) fprintf(err, "%s: out of memory while reading the config\n", name);
  free(e->v);
  e->v = NULL;
  e->n = e->cap = 0;
}

void tg_cfg_lexer_init(tg_cfg_lexer *lx, const char *text, size_t len, tg_cfg_errors *errs) {
  lx->p = text;
  lx->end = text + len;
  lx->line = 1;
  lx->col = 1;
  lx->errs = errs;
}

static int is_space(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static int is_control(unsigned char c) { return (c < 0x20 && !is_space(c)) || c == 0x7f; }

static int is_word_char(unsigned char c) { return !is_space(c) && !is_control(c) && !strchr(";{}\"#", c); }

static void advance(tg_cfg_lexer *lx) {
  if (*lx->p == '\n') {
    lx->line++;
    lx->col = 1;
  } else {
    lx->col++;
  }
  lx->p++;
}

/* Skips blanks, comments and invalid bytes (reporting the latter). */
static void skip_blank(tg_cfg_lexer *lx) {
  while (lx->p < lx->end) {
    unsigned char c = (unsigned char)*lx->p;
    if (c == '#') {
      while (lx->p < lx->end && *lx->p != '\n') advance(lx);
    } else if (is_control(c)) {
      tg_cfg_error_at(lx->errs, lx->line, lx->col, "invalid character 0x%02x", c);
      advance(lx);
    } else if (is_space(c)) {
      advance(lx);
    } else {
      return;
    }
  }
}

/* Reads a quoted string; lx->p is at the opening quote. The string may not
 * span lines: an unterminated one ends at the end of its line. */
static char *lex_string(tg_cfg_lexer *lx) {
  unsigned line = lx->line, col = lx->col;
  char *out = malloc((size_t)(lx->end - lx->p)), *w = out;
  if (!out) return NULL;
  advance(lx);
  for (;;) {
    if (lx->p == lx->end || *lx->p == '\n') {
      tg_cfg_error_at(lx->errs, line, col, "unterminated string");
      break;
    }
    unsigned char c = (unsigned char)*lx->p;
    if (c == '"') {
      advance(lx);
      break;
    }
    if (c == '\\' && lx->p + 1 < lx->end && (lx->p[1] == '"' || lx->p[1] == '\\')) {
      advance(lx);
      c = (unsigned char)*lx->p;
    } else if (c == '\\') {
      tg_cfg_error_at(lx->errs, lx->line, lx->col, "invalid escape in string (only \\\" and \\\\ are allowed)");
    } else if (is_control(c)) {
      tg_cfg_error_at(lx->errs, lx->line, lx->col, "invalid character 0x%02x", c);
      advance(lx);
      continue;
    }
    *w++ = (char)c;
    advance(lx);
  }
  *w = '\0';
  return out;
}

static char *lex_word(tg_cfg_lexer *lx) {
  const char *start = lx->p;
  while (lx->p < lx->end && is_word_char((unsigned char)*lx->p)) advance(lx);
  return strndup(start, (size_t)(lx->p - start));
}

int tg_cfg_lex(tg_cfg_lexer *lx, tg_cfg_token *tok) {
  skip_blank(lx);
  *tok = (tg_cfg_token){TG_TOK_EOF, NULL, lx->line, lx->col};
  if (lx->p == lx->end) return 0;
  switch (*lx->p) {
  case ';':
  case '{':
  case '}': /* punctuation: one byte, no text */
    tok->type = *lx->p == ';' ? TG_TOK_SEMI : *lx->p == '{' ? TG_TOK_LBRACE : TG_TOK_RBRACE;
    advance(lx);
    return 0;
  case '"':
    tok->type = TG_TOK_STRING;
    tok->text = lex_string(lx);
    break;
  default:
    tok->type = TG_TOK_WORD;
    tok->text = lex_word(lx);
    break;
  }
  if (!tok->text) {
    lx->errs->oom = 1;
    return -1;
  }
  return 0;
}
