/*
 * libFuzzer harness of tq-export's reader of the old LeNet format
 * (tools/tq_export.c: "tinyq-lenet-s8" on top of safetensors, what
 * --convert-lenet-s8 reads), compiled in with TQ_EXPORT_FUZZ so that a
 * refused model returns here instead of exiting. For every model it
 * accepts, meaning is checked: the layer shapes chain, the planned arena
 * keeps every two buffers that are alive at one step apart and inside the
 * arena, no smaller than the lifetime lower bound, and the old layers run
 * on the host through the kernels at the planned offsets (never an
 * overlap error), as the conversion's reference run does. (Graph files go
 * through tq_graph_load(), fuzzed by fuzz_model.c.)
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define TQ_EXPORT_FUZZ
#include "../tools/tq_export.c"

#include <stdint.h>

#include "fuzz_check.h"

static void check_plan(const model *m)
{
    FUZZ_CHECK(m->arena >= m->lower_bound);
    for (int i = 0; i < m->buffers; ++i) {
        const buffer *a = &m->b[i];
        FUZZ_CHECK(a->offset + a->size <= m->arena);
        for (int j = i + 1; j < m->buffers; ++j) {
            const buffer *b = &m->b[j];
            if (a->size && b->size && a->first <= b->last &&
                b->first <= a->last)
                FUZZ_CHECK(a->offset + a->size <= b->offset ||
                           b->offset + b->size <= a->offset);
        }
    }
    for (int l = 0; l + 1 < m->layers; ++l)
        FUZZ_CHECK(dims_bytes(&m->l[l].out_dims) ==
                   dims_bytes(&m->l[l + 1].in_dims));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static model m;
    tq_safetensors *file = NULL;
    if (tq_safetensors_parse(size ? data : (const void *)"", size, &file) !=
        TQ_OK)
        return 0;
    memset(&m, 0, sizeof m);
    m.path = "fuzz input";
    m.input_h = 32, m.input_w = 32, m.input_c = 3;
    for (int c = 0; c < 3; ++c)
        m.mean[c] = 0.5f, m.std[c] = 0.5f;
    if (setjmp(tq_export_refused) == 0) {
        load_model(file, &m);
        chain_shapes(&m);
        plan_arena(&m);
        check_plan(&m);
        int8_t *arena = calloc(m.arena ? m.arena : 1, 1);
        const layer *last = &m.l[m.layers - 1];
        int8_t *logits = malloc((size_t)last->out_features);
        int32_t *acc = malloc((size_t)last->out_features * sizeof *acc);
        FUZZ_CHECK(arena && logits && acc);
        const tq_status st = run_layers(&m, arena, logits, acc);
        free(arena);
        free(logits);
        free(acc);
        /* The plan keeps live buffers apart: never an overlap error. */
        FUZZ_CHECK(st != TQ_ERR_ALIAS);
    }
    tq_safetensors_free(file);
    return 0;
}
