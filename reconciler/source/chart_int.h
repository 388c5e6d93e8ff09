/* chart_int.h — what chart.c shares with chart_deps.c (not an API). */
#ifndef WS_CHART_INT_H
#define WS_CHART_INT_H

/* asprintf into a new string; NULL on ENOMEM. Caller frees. */
char *ws__chart_fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
/* A regular file at p (symlinks followed)? */
int ws__chart_file_exists(const char *p);

#endif
