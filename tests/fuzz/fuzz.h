/* fuzz.h — what every fuzz target shares: libFuzzer's entry points and the
 * bound on one input. Each target is one file, tests/fuzz/fuzz_<name>.c,
 * built and run by scripts/fuzz (`make fuzz`). */
#ifndef WS_FUZZ_H
#define WS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Larger inputs are refused: one case must stay cheap enough for thousands
 * a second, and every parser here has its own limits far above this. */
#define FUZZ_MAX_INPUT ((size_t)64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated copy of n bytes (libFuzzer's buffer is not terminated,
 * and ASan then catches a parser reading past its length). */
static inline char *fuzz_strndup(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        if (n)
            memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* A broken property (not a sanitizer finding): report and crash, so
 * libFuzzer saves the input. */
#define FUZZ_CHECK(cond, ...)                                              \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "fuzz check failed: %s: ", #cond);             \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
            abort();                                                       \
        }                                                                  \
    } while (0)

#endif
