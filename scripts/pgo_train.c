/* pgo_train.c - the training run of a profile-guided build (make PGO=1): decides each review
 * given, with the policies of a directory, on both endpoints, 'n' times each. */
#include <stdio.h>
#include <stdlib.h>

#include "admission/decide.h"
#include "util/buf.h"
#include "util/file.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: pgo_train N POLICY_DIR REVIEW.json...\n");
        return 2;
    }
    long n = atol(argv[1]);
    diag_list dl;
    diag_list_init(&dl);
    policy_set *set = policy_set_load_dir(argv[2], &dl);
    if (set == NULL) {
        fprintf(stderr, "pgo_train: cannot load the policies in %s\n", argv[2]);
        return 1;
    }
    admission_policy pol = {.set = set};
    arena *a = arena_new(ARENA_REQUEST_BUDGET);
    for (int r = 3; r < argc; r++) {
        buf body;
        buf_init(&body, (size_t)4 << 20);
        if (file_read(argv[r], body.cap, &body, &dl) != 0) {
            fprintf(stderr, "pgo_train: cannot read %s\n", argv[r]);
            return 1;
        }
        for (long i = 0; i < n; i++)
            for (int m = 0; m < 2; m++) {
                arena_reset(a);
                admission_result res;
                admission_process(m ? ADMISSION_MUTATE : ADMISSION_VALIDATE, body.data, body.len,
                                  &pol, a, &res);
                free(res.body);
            }
        buf_clear(&body);
    }
    arena_free(a);
    policy_set_unref(set);
    diag_list_clear(&dl);
    return 0;
}
