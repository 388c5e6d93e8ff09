/* testjson.h — JSON literals for table-driven tests: ' stands for " so
 * tables stay readable (a literal apostrophe is written \u0027). NULL stays
 * NULL (a missing object). Caller decrefs. */
#ifndef WS_TESTJSON_H
#define WS_TESTJSON_H

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static inline json_t *J(const char *text)
{
    char *copy;
    json_t *v;
    json_error_t jerr;
    if (!text)
        return NULL;
    copy = strdup(text);
    for (char *p = copy; *p; p++)
        if (*p == '\'')
            *p = '"';
    v = json_loads(copy, JSON_DECODE_ANY, &jerr);
    if (!v)
        tap_diag("bad test JSON %s: %s", text, jerr.text);
    free(copy);
    return v;
}

#endif
