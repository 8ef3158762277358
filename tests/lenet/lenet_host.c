/*
 * Host side of the LeNet example: loading CIFAR-10 images, collecting
 * calibration activations, and evaluating accuracy on several threads
 * (the kernels are reentrant: each thread has its own scratch).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lenet.h"

tq_status lenet_load_images(const char *path, int64_t first, int64_t count,
                            float **images, uint8_t **labels)
{
    const float mean[3] = {0.5f, 0.5f, 0.5f}, std[3] = {0.5f, 0.5f, 0.5f};
    uint8_t *pixels = malloc((size_t)count * 3072);
    uint8_t *lab = malloc((size_t)count);
    float *img = malloc((size_t)count * LENET_IMAGE * sizeof(float));
    tq_status s = TQ_ERR_NO_MEMORY;
    if (pixels && lab && img &&
        (s = tq_cifar10_read(path, first, count, lab, pixels)) == TQ_OK)
        s = tq_cifar10_normalize(count, pixels, mean, std, img);
    free(pixels);
    if (s != TQ_OK) {
        free(lab);
        free(img);
        return s;
    }
    *images = img;
    *labels = lab;
    return TQ_OK;
}

/* ---- calibration ---------------------------------------------------------- */

tq_status lenet_calib_collect(const lenet_f32 *m, const float *images,
                              int64_t n, lenet_calib *c)
{
    lenet_f32_acts a;
    const size_t scratch_bytes = lenet_scratch_bytes();
    void *scratch = malloc(scratch_bytes ? scratch_bytes : 1);
    tq_status s = scratch ? TQ_OK : TQ_ERR_NO_MEMORY;
    memset(c, 0, sizeof *c);
    c->images = n;
    for (int t = 0; t < LENET_TENSORS && s == TQ_OK; ++t) {
        c->acts[t] = malloc((size_t)n * lenet_act_size[t] * sizeof(float));
        if (!c->acts[t])
            s = TQ_ERR_NO_MEMORY;
    }
    lenet_f32_acts_init(&a);
    for (int64_t i = 0; i < n && s == TQ_OK; ++i) {
        memcpy(a.t[0], images + i * LENET_IMAGE, LENET_IMAGE * sizeof(float));
        s = lenet_forward_f32(m, &a, scratch, scratch_bytes);
        for (int t = 0; t < LENET_TENSORS && s == TQ_OK; ++t)
            memcpy(c->acts[t] + (size_t)i * lenet_act_size[t], a.t[t],
                   lenet_act_size[t] * sizeof(float));
    }
    free(scratch);
    /* Two passes over the stored values: the range, then the histogram
     * over exactly that range. */
    for (int t = 0; t < LENET_TENSORS && s == TQ_OK; ++t) {
        const size_t count = (size_t)n * lenet_act_size[t];
        if ((s = tq_stats_init(&c->stats[t])) != TQ_OK ||
            (s = tq_stats_update_f32(&c->stats[t], c->acts[t], count)) != TQ_OK)
            break;
        double lo = c->stats[t].min, hi = c->stats[t].max;
        if (hi <= lo)
            hi = lo + 1.0;
        if ((s = tq_histogram_init(&c->hist[t], c->bins[t], LENET_HIST_BINS,
                                   lo, hi)) != TQ_OK)
            break;
        s = tq_histogram_add_f32(&c->hist[t], c->acts[t], count);
    }
    if (s != TQ_OK)
        lenet_calib_free(c);
    return s;
}

void lenet_calib_free(lenet_calib *c)
{
    for (int t = 0; t < LENET_TENSORS; ++t) {
        free(c->acts[t]);
        c->acts[t] = NULL;
    }
}

tq_status lenet_calib_apply(const lenet_calib *c, const tq_range_config *range,
                            int symmetric, lenet_s8 *q)
{
    const tq_qscheme scheme = {8, symmetric, 0, 0};
    for (int t = 0; t < LENET_TENSORS; ++t) {
        double lo, hi;
        LENET_TRY(tq_choose_range(range, &scheme, &c->stats[t], &c->hist[t], &lo, &hi));
        LENET_TRY(tq_qparams_from_range(&scheme, lo, hi, &q->a_scale[t], &q->a_zero[t]));
    }
    return TQ_OK;
}

/* ---- evaluation ------------------------------------------------------------- */

typedef struct eval_job {
    const lenet_f32 *f;
    const lenet_s8 *q;
    const float *images;
    const uint8_t *labels;
    int64_t begin, end;
    uint8_t *preds;
    int8_t *logits; /* [n][LENET_CLASSES] int8 logits, or NULL */
    int64_t correct, ties, first_max_correct;
    double ties_random_correct;
    tq_status status;
} eval_job;

/* How the int8 logits alone would classify an image: the classes sharing
 * the top logit, the first of them (numpy's and PyTorch's argmax), and
 * whether @p label is among them. */
typedef struct logit_top {
    int count, first, has_label;
} logit_top;

static logit_top top_of_logits(const int8_t *logits, int label)
{
    logit_top t = {1, 0, label == 0};
    for (int i = 1; i < LENET_CLASSES; ++i) {
        if (logits[i] > logits[t.first])
            t = (logit_top){1, i, label == i};
        else if (logits[i] == logits[t.first])
            ++t.count, t.has_label |= label == i;
    }
    return t;
}

static void *eval_worker(void *arg)
{
    eval_job *j = arg;
    const size_t scratch_bytes = lenet_scratch_bytes();
    void *scratch = malloc(scratch_bytes ? scratch_bytes : 1);
    lenet_f32_acts a;
    int8_t x0[LENET_IMAGE], logits[LENET_CLASSES];
    int32_t acc[LENET_CLASSES];
    j->status = scratch ? TQ_OK : TQ_ERR_NO_MEMORY;
    lenet_f32_acts_init(&a);
    for (int64_t i = j->begin; i < j->end && j->status == TQ_OK; ++i) {
        const float *img = j->images + i * LENET_IMAGE;
        int pred;
        if (j->q) {
            /* The input is quantized once; everything after is integer. */
            j->status = tq_s8_quantize_f32(LENET_IMAGE, img, j->q->a_scale[0],
                                           j->q->a_zero[0], x0);
            if (j->status == TQ_OK)
                j->status = lenet_forward_s8(j->q, x0, logits, acc, scratch,
                                             scratch_bytes);
            pred = lenet_predict_s8(acc);
            const logit_top t = top_of_logits(logits, j->labels[i]);
            j->ties += t.count > 1;
            j->first_max_correct += t.first == j->labels[i];
            j->ties_random_correct += t.has_label ? 1.0 / t.count : 0.0;
            if (j->logits)
                memcpy(j->logits + i * LENET_CLASSES, logits, LENET_CLASSES);
        } else {
            memcpy(a.t[0], img, LENET_IMAGE * sizeof(float));
            j->status = lenet_forward_f32(j->f, &a, scratch, scratch_bytes);
            pred = lenet_predict_f32(a.t[LENET_TENSORS - 1]);
        }
        j->correct += pred == j->labels[i];
        if (j->preds)
            j->preds[i] = (uint8_t)pred;
    }
    free(scratch);
    return NULL;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static tq_status evaluate(const lenet_f32 *f, const lenet_s8 *q,
                          const float *images, const uint8_t *labels, int64_t n,
                          int threads, uint8_t *preds, int8_t *logits,
                          const uint8_t *ref, lenet_eval *e)
{
    enum { MAX_THREADS = 16 };
    eval_job jobs[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    uint8_t *own = NULL;
    if (threads < 1)
        threads = 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    if (!preds && ref && !(preds = own = malloc((size_t)n)))
        return TQ_ERR_NO_MEMORY;
    const double t0 = seconds_now();
    int started[MAX_THREADS] = {0};
    for (int t = 0; t < threads; ++t)
        jobs[t] = (eval_job){f, q, images, labels, n * t / threads,
                             n * (t + 1) / threads, preds, logits, 0, 0, 0,
                             0.0, TQ_OK};
    for (int t = 1; t < threads; ++t)
        started[t] = pthread_create(&tid[t], NULL, eval_worker, &jobs[t]) == 0;
    for (int t = 0; t < threads; ++t)
        if (!started[t])
            eval_worker(&jobs[t]); /* this thread's share, or a failed start */
    for (int t = 1; t < threads; ++t)
        if (started[t])
            pthread_join(tid[t], NULL);
    memset(e, 0, sizeof *e);
    e->seconds = seconds_now() - t0;
    e->images = n;
    tq_status s = TQ_OK;
    for (int t = 0; t < threads; ++t) {
        e->correct += jobs[t].correct;
        e->int8_ties += jobs[t].ties;
        e->int8_first_max_correct += jobs[t].first_max_correct;
        e->int8_ties_random_correct += jobs[t].ties_random_correct;
        if (jobs[t].status != TQ_OK)
            s = jobs[t].status;
    }
    for (int64_t i = 0; ref && i < n; ++i)
        e->agree += preds[i] == ref[i];
    free(own);
    return s;
}

tq_status lenet_eval_f32(const lenet_f32 *m, const float *images,
                         const uint8_t *labels, int64_t n, int threads,
                         uint8_t *preds, const uint8_t *ref, lenet_eval *e)
{
    return evaluate(m, NULL, images, labels, n, threads, preds, NULL, ref, e);
}

tq_status lenet_eval_s8(const lenet_s8 *q, const float *images,
                        const uint8_t *labels, int64_t n, int threads,
                        uint8_t *preds, const uint8_t *ref, lenet_eval *e)
{
    return evaluate(NULL, q, images, labels, n, threads, preds, NULL, ref, e);
}
