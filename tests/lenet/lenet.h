/*
 * The CIFAR-10 tutorial LeNet expressed with tinyq kernels by hand: a float
 * model, its int8 counterpart, and the forward passes of both. This was the
 * lab's code before the lab moved to the graph API (examples/cifar10/ptq.c);
 * it is kept as the tests' independent reference (test_graph_lenet,
 * test_convert_lenet, test_lenet_e2e, the firmware's host side) and reads
 * and writes the old tinyq-lenet-s8 files.
 *
 *   x0  32x32x3  --conv1 5x5 -> relu -> maxpool2-->  a1 14x14x6
 *   a1           --conv2 5x5 -> relu -> maxpool2-->  a2 5x5x16
 *   a2 (flatten 400) --fc1 -> relu-->  a3 120
 *   a3           --fc2 -> relu-->      a4 84
 *   a4           --fc3-->              a5 10 (logits)
 *
 * All activations are NHWC; conv weights OHWI; fc1's columns are permuted
 * at load time from PyTorch's (c, h, w) flatten order to our (h, w, c).
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#ifndef LENET_H
#define LENET_H

#include <stddef.h>
#include <stdint.h>

#include <tinyq.h>

/* Return early from a function returning tq_status. */
#define LENET_TRY(expr)                \
    do {                               \
        tq_status try_s_ = (expr);     \
        if (try_s_ != TQ_OK)           \
            return try_s_;             \
    } while (0)

enum { LENET_LAYERS = 5, LENET_TENSORS = 6, LENET_CLASSES = 10 };
enum { LENET_IMAGE = 32 * 32 * 3 };
enum { LENET_MAX_OUT = 120 }; /* widest layer: fc1 */

/* Static description of one layer. */
typedef struct lenet_layer {
    const char *name;   /* PyTorch module name: conv1, ..., fc3 */
    int is_conv;
    int32_t out, in, k; /* out channels, in channels/features, kernel */
    int relu;           /* followed by ReLU (and, for convs, a 2x2 pool) */
} lenet_layer;

extern const lenet_layer lenet_layers[LENET_LAYERS];

/* Element counts of the activations x0, a1..a5. */
extern const size_t lenet_act_size[LENET_TENSORS];

/* Weight count of layer l (out * in * k * k). */
size_t lenet_weight_count(int l);

/* The float model, weights in tinyq layouts. */
typedef struct lenet_f32 {
    float *w[LENET_LAYERS];
    float *b[LENET_LAYERS]; /* NULL when the model has no biases */
    int has_bias;
    float storage[61770 + 236];
} lenet_f32;

/* Load a model written by train.py (PyTorch layouts) and convert it. */
tq_status lenet_load_f32(const char *path, lenet_f32 *m);

/* Activations of one float forward pass (the calibration taps). */
typedef struct lenet_f32_acts {
    float *t[LENET_TENSORS]; /* t[0] = input x0, t[5] = logits */
    float storage[32 * 32 * 3 + 14 * 14 * 6 + 5 * 5 * 16 + 120 + 84 + 10];
} lenet_f32_acts;

void lenet_f32_acts_init(lenet_f32_acts *a);

/* Float forward of one NHWC image already in a->t[0]; fills t[1..5]. */
tq_status lenet_forward_f32(const lenet_f32 *m, lenet_f32_acts *a,
                            void *scratch, size_t scratch_bytes);

/* Scratch the forward passes need (the larger of the two). */
size_t lenet_scratch_bytes(void);

/* The int8 model: everything integer inference needs. */
typedef struct lenet_s8 {
    int8_t *w[LENET_LAYERS];                 /* OHWI / [out][in] codes */
    int32_t *b[LENET_LAYERS];                /* int32 at s_in * s_w, or NULL */
    float w_scale[LENET_LAYERS][LENET_MAX_OUT];
    int32_t w_channels[LENET_LAYERS];        /* 1 (per tensor) or out */
    float a_scale[LENET_TENSORS];            /* activation scales */
    int32_t a_zero[LENET_TENSORS];           /* activation zero points */
    int32_t mult[LENET_LAYERS][LENET_MAX_OUT];
    int32_t shift[LENET_LAYERS][LENET_MAX_OUT];
    int32_t act_min[LENET_LAYERS], act_max[LENET_LAYERS];
    int32_t rounding;                        /* tq_rounding */
    int has_bias;
    int8_t wq_storage[61770];
    int32_t bias_storage[236];
} lenet_s8;

/* How weights are quantized. The last layer is always per tensor, so that
 * its int32 accumulators share one scale and their argmax is the class. */
typedef struct lenet_wq_config {
    int per_channel;
    int32_t method; /* tq_range_method for the weights (symmetric) */
    double k;       /* for TQ_RANGE_KSIGMA */
    int symmetric;  /* 0 only for fake quantization: int8 kernels need 1 */
} lenet_wq_config;

/* Quantize the weights of @f into @q (w, w_scale, w_channels). */
tq_status lenet_quantize_weights(const lenet_f32 *f, const lenet_wq_config *c,
                                 lenet_s8 *q);

/* With activation parameters in q->a_scale / a_zero, derive multipliers,
 * shifts, clamps and int32 biases. */
tq_status lenet_finish_s8(const lenet_f32 *f, lenet_s8 *q);

/* Integer-only forward of one image already quantized (x0, codes of
 * a_scale[0] / a_zero[0]); writes the int8 logits and, for the prediction,
 * the int32 accumulators of the last layer. */
tq_status lenet_forward_s8(const lenet_s8 *q, const int8_t *x0,
                           int8_t logits[LENET_CLASSES],
                           int32_t acc[LENET_CLASSES], void *scratch,
                           size_t scratch_bytes);

/* The class of an int8 network: argmax of the last layer's int32
 * accumulators (before requantization), lowest index on exact ties. */
int lenet_predict_s8(const int32_t acc[LENET_CLASSES]);

/* argmax of float logits, lowest index on ties (as torch.argmax). */
int lenet_predict_f32(const float logits[LENET_CLASSES]);

/* Save / load a quantized model as safetensors (int8 weights, int32 biases,
 * weight and activation scales, zero points, multipliers, shifts). */
tq_status lenet_save_s8(const char *path, const lenet_s8 *q);
tq_status lenet_load_s8(const char *path, lenet_s8 *q);


/* ---- calibration and evaluation (host side: heap and threads) ---------- */

#ifndef LENET_HIST_BINS
#define LENET_HIST_BINS 2048
#endif

/* Activations of the float model on a calibration set, with their
 * statistics and histograms (over each tensor's [min, max]). */
typedef struct lenet_calib {
    int64_t images;
    float *acts[LENET_TENSORS]; /* images x lenet_act_size[t] values */
    tq_stats stats[LENET_TENSORS];
    tq_histogram hist[LENET_TENSORS];
    uint64_t bins[LENET_TENSORS][LENET_HIST_BINS];
} lenet_calib;

/* Run the float model over n NHWC images and record every activation. */
tq_status lenet_calib_collect(const lenet_f32 *m, const float *images,
                              int64_t n, lenet_calib *c);
void lenet_calib_free(lenet_calib *c);

/* Choose every activation's range with @p range and set q->a_scale/a_zero
 * (asymmetric int8 unless @p symmetric). */
tq_status lenet_calib_apply(const lenet_calib *c, const tq_range_config *range,
                            int symmetric, lenet_s8 *q);

/* What an evaluation over a labelled set measured. */
typedef struct lenet_eval {
    int64_t images, correct;
    int64_t agree;      /* predictions equal to a reference's, if given */
    int64_t int8_ties;  /* images whose top int8 logit is tied */
    /* Other prediction rules on the int8 logits, for comparison with tools
     * that only have those: the first maximum (numpy's and PyTorch's
     * argmax), and the expected count when ties are broken at random. */
    int64_t int8_first_max_correct;
    double int8_ties_random_correct;
    double seconds;     /* wall time of the forward passes */
} lenet_eval;

/* Float / int8 accuracy over n NHWC images, on @p threads threads.
 * @p preds (n bytes, may be NULL) receives the predicted classes;
 * @p ref (may be NULL) is compared with them to count agreement. */
tq_status lenet_eval_f32(const lenet_f32 *m, const float *images,
                         const uint8_t *labels, int64_t n, int threads,
                         uint8_t *preds, const uint8_t *ref, lenet_eval *e);
tq_status lenet_eval_s8(const lenet_s8 *q, const float *images,
                        const uint8_t *labels, int64_t n, int threads,
                        uint8_t *preds, const uint8_t *ref, lenet_eval *e);

/* Load records [first, first + count) of a CIFAR-10 batch file as
 * normalised NHWC floats (mean 0.5, std 0.5) and labels; heap-allocated. */
tq_status lenet_load_images(const char *path, int64_t first, int64_t count,
                            float **images, uint8_t **labels);

#endif /* LENET_H */
