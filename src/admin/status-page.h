/* The admin listener's page (the live view): its files, from
 * src/admin/page/ by tools/embed-page.sh into status-assets.c. */
#ifndef TOLLGATE_STATUS_PAGE_H
#define TOLLGATE_STATUS_PAGE_H

#include <stddef.h>

typedef struct tg_status_asset {
  const char *path, *type, *body;
  size_t len;
} tg_status_asset;

/* Ended by a row whose path is NULL. */
extern const tg_status_asset tg_status_assets[];

/* The headers every file of the page is sent with: a strict CSP (nothing
 * from outside the admin listener, no inline script or style). */
#define TG_STATUS_PAGE_HEADERS                                                                                         \
  "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "             \
  "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'\r\n"                                    \
  "X-Content-Type-Options: nosniff\r\nReferrer-Policy: no-referrer\r\nCache-Control: no-cache\r\n"

#endif
