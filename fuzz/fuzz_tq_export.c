/*
 * libFuzzer harness of tq-export's model reader (tools/tq_export.c: the
 * "tinyq-lenet-s8" model format on top of safetensors), compiled in with
 * TQ_EXPORT_FUZZ so that a refused model returns here instead of exiting.
 * For every model it accepts, meaning is checked: the layer shapes chain,
 * the planned arena keeps every two buffers that are alive at one step
 * apart and inside the arena, no smaller than the lifetime lower bound,
 * the planned network runs on the host through the kernels (never an
 * overlap error), and the C source and header are generated.
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

static void generate(const model *m, void (*body)(out *, const model *))
{
    char *text = NULL;
    size_t len = 0;
    out o = {NULL, "memory", "model", "MODEL"};
    o.f = open_memstream(&text, &len);
    FUZZ_CHECK(o.f);
    body(&o, m);
    FUZZ_CHECK(fclose(o.f) == 0);
    FUZZ_CHECK(len > 0 && strstr(text, "model_") != NULL);
    free(text);
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
        make_lut(&m);
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
        if (st == TQ_OK) {
            generate(&m, write_header);
            generate(&m, write_source);
        }
    }
    tq_safetensors_free(file);
    return 0;
}
