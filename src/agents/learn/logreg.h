/*
 * logreg.h - online logistic regression over hashed features, for
 * predicting the success of a job (a reply, a meeting booked) from what is
 * known when it is planned.
 *
 * Features are (name, value) pairs: a category is a name carrying its
 * value, "segment=smb" with value 1; a number is its name with the value,
 * ("score", 0.73).  Names are never stored: each is hashed (64-bit FNV-1a
 * of its bytes, then the splitmix64 finaliser) into one of 2^bits weights
 * (bits <= 20) - the hashing trick - and the hash's top bit gives the
 * feature a sign, +1 or -1, so colliding features tend to cancel rather
 * than add up (Weinberger et al. 2009).  A bias weight stands apart from
 * the table.
 *
 *   predict   p = sigmoid(bias + sum_j sign_j * w[slot_j] * value_j)
 *   update    y in [0, 1] (1 = success); gradient g = (p - y) * sign *
 *             value + l2 * w on each slot the example touches (lazy L2:
 *             untouched weights are left alone; none on the bias), then
 *             AdaGrad: G += g^2, w -= rate * g / (sqrt(G) + 1e-8)
 *
 * Calibration: update() scores each example before learning from it
 * (progressive validation), and keeps the mean log loss (p clamped to
 * [1e-15, 1 - 1e-15]), the mean Brier score (p - y)^2, and the mean
 * prediction beside the mean outcome (equal when calibrated in the large).
 *
 * Deterministic: no randomness, weights start at 0 (p = 0.5).  Cost:
 * O(features) per predict/update; 2 * 2^bits doubles of memory.
 *
 * State as JSON (learn_logreg_to_json), sparse - only slots that have
 * learned something (non-zero AdaGrad sum) are written:
 *
 *   {"format":1, "bits":18, "rate":0.1, "l2":1e-06, "bias":[w, G],
 *    "weights":[[slot, w, G], ...],
 *    "calibration":{"n":1200, "log_loss_sum":..., "brier_sum":...,
 *                   "p_sum":..., "y_sum":...}}
 *
 * Not thread-safe: one owner at a time.
 */
#ifndef LEARN_LOGREG_H
#define LEARN_LOGREG_H
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define LEARN_LOGREG_MAX_BITS 20
#define LEARN_LOGREG_FORMAT 1

typedef struct learn_logreg learn_logreg;

typedef struct learn_logreg_opts {
    unsigned bits; /* 2^bits weights, 1..LEARN_LOGREG_MAX_BITS (18) */
    double rate;   /* AdaGrad step, > 0 (0.1) */
    double l2;     /* L2 penalty, >= 0 (1e-6) */
} learn_logreg_opts;

typedef struct learn_logreg_feature {
    const char *name; /* "segment=smb", "score": any non-NULL string */
    double value;     /* 1 for a category; finite */
} learn_logreg_feature;

typedef struct learn_logreg_calib {
    uint64_t n;      /* examples learned from */
    double log_loss; /* mean log loss of the predictions made before */
    double brier;    /* mean (p - y)^2 of the same */
    double mean_p;   /* mean prediction */
    double mean_y;   /* mean outcome */
} learn_logreg_calib;

learn_logreg_opts learn_logreg_opts_default(void);

/* A model with every weight 0; opts NULL = defaults.  Errors: FS_EINVAL
 * (opts out of range).  OUT: *out (free with learn_logreg_free). */
int learn_logreg_new(const learn_logreg_opts *opts, learn_logreg **out);
void learn_logreg_free(learn_logreg *m);

/* The probability of success given n features.  Errors: FS_EINVAL (a
 * NULL name or a value that is not finite).  OUT: *p. */
int learn_logreg_predict(const learn_logreg *m, const learn_logreg_feature *f,
                         size_t n, double *p);

/*
 * Learns from one outcome y in [0, 1] (fractions allowed) of an example
 * with n features.  Nothing changes on error.  Errors: FS_EINVAL (y, or a
 * feature as for predict).  OUT: *p_before, the prediction made before
 * learning (may be NULL).
 */
int learn_logreg_update(learn_logreg *m, const learn_logreg_feature *f,
                        size_t n, double y, double *p_before);

/* The calibration so far (all zero before the first update). */
learn_logreg_calib learn_logreg_calibration(const learn_logreg *m);

/* The state in the format above; the caller owns the result. */
json_t *learn_logreg_to_json(const learn_logreg *m);

/*
 * Rebuilds a model from learn_logreg_to_json()'s output (predictions and
 * later updates are bit-identical).  Errors: FS_ECORRUPT (not format 1,
 * wrong shape, an option out of range, a slot outside the table or given
 * twice, a value that is not finite).  OUT: *out (caller frees).
 */
int learn_logreg_from_json(const json_t *state, learn_logreg **out);

#endif
