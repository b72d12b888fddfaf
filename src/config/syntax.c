/* The config parser: tokens to a tree of generic directives
 *   name arg* ;        or        name arg* { directive* }
 * It knows no directive names (directives.c does); after a syntax error it
 * resynchronises at the next ';', '{' or '}' and carries on. */
#include <stdlib.h>
#include <string.h>

#include "syntax.h"

/* Deeper blocks are skipped with an error; the directive table uses two
 * levels today, and a bound keeps the recursion bounded on hostile input. */
#define TG_CFG_MAX_DEPTH 8

typedef struct parser {
  tg_cfg_lexer lx;
  tg_cfg_token tok; /* the lookahead */
  tg_cfg_errors *errs;
} parser;

static int next(parser *p) {
  free(p->tok.text);
  return tg_cfg_lex(&p->lx, &p->tok);
}

/* Moves the lookahead's text into a token the caller keeps. */
static int take(parser *p, tg_cfg_token *out) {
  *out = p->tok;
  p->tok.text = NULL;
  return next(p);
}

void tg_cfg_node_free(tg_cfg_node *n) {
  free(n->name.text);
  for (size_t i = 0; i < n->nargs; i++) free(n->args[i].text);
  free(n->args);
  for (size_t i = 0; i < n->nkids; i++) tg_cfg_node_free(&n->kids[i]);
  free(n->kids);
  memset(n, 0, sizeof *n);
}

const char *tg_cfg_node_text(const tg_cfg_node *n, unsigned max_line, char *buf, size_t size) {
  size_t len = (size_t)snprintf(buf, size, "%s", n->name.text);
  for (size_t i = 0; i < n->nargs && len < size; i++) {
    if (max_line && n->args[i].line > max_line) break;
    len += (size_t)snprintf(buf + len, size - len, " %s", n->args[i].text);
  }
  if (len >= size && size > 4) strcpy(buf + size - 4, "...");
  return buf;
}

static int push_arg(tg_cfg_node *n, const tg_cfg_token *t) {
  tg_cfg_token *v = realloc(n->args, (n->nargs + 1) * sizeof *v);
  if (!v) return -1;
  n->args = v;
  n->args[n->nargs++] = *t;
  return 0;
}

static int push_kid(tg_cfg_node *parent, const tg_cfg_node *kid) {
  if (parent->nkids % 8 == 0) {
    tg_cfg_node *v = realloc(parent->kids, (parent->nkids + 8) * sizeof *v);
    if (!v) return -1;
    parent->kids = v;
  }
  parent->kids[parent->nkids++] = *kid;
  return 0;
}

/* Skips a block whose '{' is the lookahead, up to its matching '}' or EOF,
 * without recursion. */
static int skip_block(parser *p) {
  size_t depth = 0;
  do {
    if (p->tok.type == TG_TOK_LBRACE) depth++;
    if (p->tok.type == TG_TOK_RBRACE) depth--;
    if (next(p) < 0) return -1;
  } while (depth > 0 && p->tok.type != TG_TOK_EOF);
  return 0;
}

static int parse_block(parser *p, tg_cfg_node *parent, int depth);

/* Reads the arguments after the name and the ';' or block that ends the
 * directive. At the top level (depth 0) a stray '}' that ended it early is
 * consumed here, so that it is reported once. */
static int parse_rest(parser *p, tg_cfg_node *n, int depth) {
  for (;;) {
    tg_cfg_token t;
    switch (p->tok.type) {
    case TG_TOK_WORD:
    case TG_TOK_STRING:
      if (take(p, &t) < 0 || push_arg(n, &t) < 0) return free(t.text), -1;
      break;
    case TG_TOK_SEMI: return next(p);
    case TG_TOK_LBRACE:
      n->has_block = 1;
      n->bline = p->tok.line;
      n->bcol = p->tok.col;
      if (depth + 1 < TG_CFG_MAX_DEPTH) {
        if (next(p) < 0) return -1;
        return parse_block(p, n, depth + 1);
      }
      tg_cfg_error_at(p->errs, p->tok.line, p->tok.col, "blocks nested too deeply (at most %d)", TG_CFG_MAX_DEPTH);
      return skip_block(p);
    default: {
      char text[80];
      tg_cfg_error_at(p->errs, p->tok.line, p->tok.col, "expected ';' after '%s'",
                      tg_cfg_node_text(n, 0, text, sizeof text));
      if (p->tok.type == TG_TOK_RBRACE && depth == 0) return next(p);
      return 0;
    }
    }
  }
}

/* A block directive whose arguments run onto a later line almost always
 * means a forgotten ';' before it ("workers auto" NEWLINE "site x {"): no
 * directive spans lines before its '{'. Splits such a node at the first
 * argument on a new line, pushing the head to parent as a directive of its
 * own, so that the block is read as belonging to the directive that opens
 * it. */
static int split_lost_semicolons(parser *p, tg_cfg_node *parent, tg_cfg_node *n) {
  for (;;) {
    size_t k = 0;
    while (k < n->nargs && n->args[k].line == n->name.line) k++;
    if (!n->has_block || k == n->nargs) return 0;
    tg_cfg_node head = {.name = n->name, .args = NULL, .nargs = k};
    if (k && !(head.args = malloc(k * sizeof *head.args))) return -1;
    if (k) memcpy(head.args, n->args, k * sizeof *head.args);
    char text[80];
    tg_cfg_error_at(p->errs, n->args[k].line, n->args[k].col, "expected ';' after '%s'",
                    tg_cfg_node_text(&head, 0, text, sizeof text));
    if (push_kid(parent, &head) < 0) {
      free(head.args);
      return -1;
    }
    n->name = n->args[k];
    memmove(n->args, n->args + k + 1, (n->nargs - k - 1) * sizeof *n->args);
    n->nargs -= k + 1;
  }
}

static int parse_directive(parser *p, tg_cfg_node *parent, int depth) {
  tg_cfg_node n = {0};
  int r = take(p, &n.name);
  if (r == 0) r = parse_rest(p, &n, depth);
  if (r == 0) r = split_lost_semicolons(p, parent, &n);
  if (r == 0) r = push_kid(parent, &n);
  if (r < 0) tg_cfg_node_free(&n);
  return r;
}

/* Reads directives into parent until its '}' (depth > 0) or EOF. */
static int parse_block(parser *p, tg_cfg_node *parent, int depth) {
  for (;;) {
    tg_cfg_token *t = &p->tok;
    switch (t->type) {
    case TG_TOK_EOF:
      if (depth > 0)
        tg_cfg_error_at(p->errs, t->line, t->col, "missing '}' for '%s' opened at %u:%u", parent->name.text,
                        parent->name.line, parent->name.col);
      return 0;
    case TG_TOK_RBRACE:
      if (depth > 0) return next(p);
      tg_cfg_error_at(p->errs, t->line, t->col, "unexpected '}'");
      if (next(p) < 0) return -1;
      break;
    case TG_TOK_SEMI:
      tg_cfg_error_at(p->errs, t->line, t->col, "unexpected ';'");
      if (next(p) < 0) return -1;
      break;
    case TG_TOK_LBRACE:
      tg_cfg_error_at(p->errs, t->line, t->col, "unexpected '{' (a block needs a directive name before it)");
      if (skip_block(p) < 0) return -1;
      break;
    default:
      if (parse_directive(p, parent, depth) < 0) return -1;
      break;
    }
  }
}

int tg_cfg_parse_tree(const char *text, size_t len, tg_cfg_errors *errs, tg_cfg_node *root) {
  parser p = {.errs = errs};
  memset(root, 0, sizeof *root);
  tg_cfg_lexer_init(&p.lx, text, len, errs);
  int r = tg_cfg_lex(&p.lx, &p.tok);
  if (r == 0) r = parse_block(&p, root, 0);
  free(p.tok.text);
  if (r < 0) {
    errs->oom = 1;
    tg_cfg_node_free(root);
  }
  return r;
}
