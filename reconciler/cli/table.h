/* table.h — aligned text tables for the command line, kubectl-style: each
 * column as wide as its widest cell, no cell cut, control characters in cells
 * shown escaped ("\n", "\t", "\x1b") so one cell is always one line. */
#ifndef WS_CLI_TABLE_H
#define WS_CLI_TABLE_H

#include <stdio.h>

struct ws_table {
    size_t ncols, nrows, cap;
    char **cells; /* nrows × ncols, owned */
};

/* Start a table with `ncols` column headers (copied). Free with
 * ws_table_free. Returns 0 or WS_ENOMEM. */
int ws_table_init(struct ws_table *t, size_t ncols, const char *const *headers);

/* Append a row of t->ncols cells (copied, escaped; NULL shows as "-").
 * Returns 0 or WS_ENOMEM. */
int ws_table_add(struct ws_table *t, const char *const *cells);

/* Print the header and the rows, columns three spaces apart, the last one
 * unpadded. */
void ws_table_print(const struct ws_table *t, FILE *f);

void ws_table_free(struct ws_table *t);

/* A copy of s with control characters escaped (C-style) for a terminal;
 * NULL when out of memory. Caller frees. */
char *ws_table_escape(const char *s);

#endif
