/* fuzz_chart_index.c — reconciler/source/chart.c's index.yaml reader on any
 * bytes: a Helm repository's index is outside input, read as a stream of
 * events. Whatever it returns must be well formed: every entry's strings
 * NUL-terminated, at most the limit of versions. */
#include "fuzz.h"

#include "base/log.h"
#include "source/chart.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ws_log_setup(WS_LOG_ERROR, 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ws_chart_entries e;
    struct ws_err err;
    size_t i;
    if (size > FUZZ_MAX_INPUT)
        return 0;
    /* the chart the seeds use, and one no input names */
    if (ws_chart_index_read(&e, NULL, (const char *)data, size, "operator", &err) == 0) {
        for (i = 0; i < e.n; i++) {
            FUZZ_CHECK(!e.v[i].version || strlen(e.v[i].version) < size + 1, "entry %zu: version", i);
            FUZZ_CHECK(!e.v[i].url || strlen(e.v[i].url) < size + 1, "entry %zu: url", i);
        }
        ws_chart_entries_free(&e);
    } else {
        FUZZ_CHECK(err.msg[0] != '\0', "an error without a message");
    }
    if (ws_chart_index_read(&e, NULL, (const char *)data, size, "", &err) == 0)
        ws_chart_entries_free(&e);
    return 0;
}
