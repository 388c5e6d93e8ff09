/* table.c — aligned text tables for the command line (table.h). */
#include "cli/table.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/util.h"

char *ws_table_escape(const char *s)
{
    struct ws_buf b;
    ws_buf_init(&b, 0);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char esc[8];
        if (*p >= 0x20 && *p != 0x7f) {
            if (ws_buf_append(&b, (const char *)p, 1) < 0)
                goto nomem;
            continue;
        }
        snprintf(esc, sizeof(esc), *p == '\n' ? "\\n" : *p == '\t' ? "\\t" : *p == '\r' ? "\\r" : "\\x%02x", *p);
        if (ws_buf_append(&b, esc, strlen(esc)) < 0)
            goto nomem;
    }
    return ws_buf_steal(&b);
nomem:
    ws_buf_free(&b);
    return NULL;
}

int ws_table_init(struct ws_table *t, size_t ncols, const char *const *headers)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
    return ws_table_add(t, headers);
}

int ws_table_add(struct ws_table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **c = realloc(t->cells, cap * t->ncols * sizeof(char *));
        if (!c)
            return WS_ENOMEM;
        t->cells = c;
        t->cap = cap;
    }
    for (size_t i = 0; i < t->ncols; i++) {
        if (!(t->cells[t->nrows * t->ncols + i] = ws_table_escape(cells[i] ? cells[i] : "-"))) {
            while (i-- > 0)
                free(t->cells[t->nrows * t->ncols + i]);
            return WS_ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

/* Display width: UTF-8 continuation bytes take no column. */
static size_t width(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

void ws_table_print(const struct ws_table *t, FILE *f)
{
    size_t *w = calloc(t->ncols ? t->ncols : 1, sizeof(size_t));
    if (!w)
        return;
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = width(t->cells[r * t->ncols + c]);
            if (n > w[c])
                w[c] = n;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *cell = t->cells[r * t->ncols + c];
            fputs(cell, f);
            if (c + 1 < t->ncols)
                fprintf(f, "%*s", (int)(w[c] - width(cell) + 3), "");
        }
        fputc('\n', f);
    }
    free(w);
}

void ws_table_free(struct ws_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof(*t));
}
