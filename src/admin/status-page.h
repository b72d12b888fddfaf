/* The admin listener's status page (see status-page.c). */
#ifndef TOLLGATE_STATUS_PAGE_H
#define TOLLGATE_STATUS_PAGE_H

extern const char tg_status_page_html[];
extern const unsigned long tg_status_page_len;

#endif
