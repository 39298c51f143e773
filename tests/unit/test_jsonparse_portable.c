/* test_jsonparse_portable.c - test_jsonparse.c on the parser built without SSE2.
 *
 * On x86-64 every build of util/jsonparse.c scans strings and whitespace 16 bytes a step with
 * SSE2; the portable scans (8 bytes a step in a word, then a byte at a time) are what other
 * machines run. JSONPARSE_PORTABLE selects them here, so that both paths answer the same
 * tests, the block boundaries among them. */
#define JSONPARSE_PORTABLE 1
#include "test_jsonparse.c"
