/*
 * test_logreg.c - online logistic regression (agents/learn/logreg.h).
 *
 * A planted linear rule: the log-odds of success are
 *   -0.5 + seg[segment] + chan[channel] + 3.0 * score - 1.5 * age
 * (score ~ N(0, 1), age ~ U(0, 1)) and 20 categorical noise features
 * carry nothing.  After one pass over 20,000 seeded examples the model
 * ranks 5,000 held-out ones with AUC > 0.9, within 0.01 of the true
 * probabilities' own AUC, is calibrated in the large, and predicts and
 * keeps learning identically after a JSON round trip.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agents/learn/logreg.h"
#include "agents/learn/rng.h"
#include "core/fs.h"
#include "core/json.h"

TestSuite(learn_logreg, .timeout = 120);

#define NF 24 /* features per example */
#define TRAIN 20000
#define TEST 5000

static const char *const SEG[3] = {"segment=smb", "segment=mid", "segment=ent"};
static const double SEG_W[3] = {-1.5, 0.5, 2.0};
static const char *const CHAN[3] = {"channel=email", "channel=phone",
                                    "channel=linkedin"};
static const double CHAN_W[3] = {0, 1.0, -0.5};

typedef struct example {
    learn_logreg_feature f[NF];
    char noise[20][24];
    double p; /* the true probability */
    double y;
} example;

static void draw(example *e, learn_rng *r)
{
    int s = (int)(learn_rng_next(r) % 3), c = (int)(learn_rng_next(r) % 3);
    double score = learn_rng_normal(r), age = learn_rng_uniform(r);
    e->f[0] = (learn_logreg_feature){SEG[s], 1};
    e->f[1] = (learn_logreg_feature){CHAN[c], 1};
    e->f[2] = (learn_logreg_feature){"score", score};
    e->f[3] = (learn_logreg_feature){"age", age};
    for (int i = 0; i < 20; i++) {
        snprintf(e->noise[i], sizeof e->noise[i], "noise%d=%d", i,
                 (int)(learn_rng_next(r) % 5));
        e->f[4 + i] = (learn_logreg_feature){e->noise[i], 1};
    }
    double z = -0.5 + SEG_W[s] + CHAN_W[c] + 3.0 * score - 1.5 * age;
    e->p = 1 / (1 + exp(-z));
    e->y = learn_rng_uniform(r) < e->p ? 1 : 0;
}

/* Area under the ROC curve of scores s for labels y (O(n^2): the
 * fraction of (positive, negative) pairs ranked right, ties half). */
static double auc(const double *s, const double *y, int n)
{
    double right = 0, pairs = 0;
    for (int i = 0; i < n; i++) {
        if (y[i] != 1) continue;
        for (int j = 0; j < n; j++) {
            if (y[j] != 0) continue;
            pairs++;
            right += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
        }
    }
    return right / pairs;
}

static learn_logreg *train(learn_rng *r)
{
    learn_logreg *m;
    cr_assert_eq(learn_logreg_new(NULL, &m), 0);
    example e;
    for (int i = 0; i < TRAIN; i++) {
        draw(&e, r);
        cr_assert_eq(learn_logreg_update(m, e.f, NF, e.y, NULL), 0);
    }
    return m;
}

Test(learn_logreg, learns_a_planted_linear_rule)
{
    learn_rng r;
    learn_rng_seed(&r, 2024);
    learn_logreg *m = train(&r);
    double *pred = malloc(TEST * sizeof *pred),
           *truth = malloc(TEST * sizeof *truth);
    double *y = malloc(TEST * sizeof *y);
    int right = 0;
    example e;
    for (int i = 0; i < TEST; i++) {
        draw(&e, &r);
        cr_assert_eq(learn_logreg_predict(m, e.f, NF, &pred[i]), 0);
        truth[i] = e.p;
        y[i] = e.y;
        right += (pred[i] > 0.5) == (e.y == 1);
    }
    double a = auc(pred, y, TEST), best = auc(truth, y, TEST);
    learn_logreg_calib c = learn_logreg_calibration(m);
    cr_log_info("AUC %.4f (true probabilities %.4f), accuracy %.4f, "
                "log loss %.4f, Brier %.4f, mean p %.4f vs y %.4f",
                a, best, right / (double)TEST, c.log_loss, c.brier, c.mean_p,
                c.mean_y);
    cr_assert_gt(a, 0.9);
    cr_assert_gt(a, best - 0.01);
    cr_assert_gt(right / (double)TEST, 0.8);
    cr_assert_eq(c.n, TRAIN);
    cr_assert_lt(c.log_loss, log(2) * 0.75);
    cr_assert_lt(c.brier, 0.2);
    cr_assert_float_eq(c.mean_p, c.mean_y, 0.02);
    /* the weights found match the planted ones roughly (signs at least) */
    learn_logreg_feature one[1] = {{"score", 1}};
    double p1, p0;
    learn_logreg_feature none[1] = {{"score", 0}};
    learn_logreg_predict(m, one, 1, &p1);
    learn_logreg_predict(m, none, 1, &p0);
    double w = log(p1 / (1 - p1)) - log(p0 / (1 - p0));
    cr_assert_float_eq(w, 3.0, 0.5, "score weight %g", w);
    free(pred);
    free(truth);
    free(y);
    learn_logreg_free(m);
}

static learn_logreg *through_text(const learn_logreg *m, char **text)
{
    json_t *j = learn_logreg_to_json(m);
    cr_assert_not_null(j);
    *text = fs_json_dump(j, JSON_SORT_KEYS);
    json_decref(j);
    json_t *back = json_loads(*text, 0, NULL);
    cr_assert_not_null(back);
    learn_logreg *c;
    cr_assert_eq(learn_logreg_from_json(back, &c), 0);
    json_decref(back);
    return c;
}

Test(learn_logreg, json_round_trip_is_exact_and_sparse)
{
    learn_rng r;
    learn_rng_seed(&r, 7);
    learn_logreg *a = train(&r);
    char *text1, *text2;
    learn_logreg *b = through_text(a, &text1);
    json_t *j = json_loads(text1, 0, NULL);
    size_t slots = json_array_size(json_object_get(j, "weights"));
    cr_log_info("%zu weights stored of 2^18", slots);
    cr_assert_leq(slots, 3 + 3 + 2 + 20 * 5, "only touched slots: %zu", slots);
    json_decref(j);
    example e;
    for (int i = 0; i < 2000; i++) {
        draw(&e, &r);
        double pa, pb;
        learn_logreg_update(a, e.f, NF, e.y, &pa);
        learn_logreg_update(b, e.f, NF, e.y, &pb);
        cr_assert_eq(pa, pb, "example %d: %.17g vs %.17g", i, pa, pb);
    }
    learn_logreg_free(through_text(b, &text2));
    free(text1);
    char *text3;
    learn_logreg_free(through_text(a, &text3));
    cr_assert_str_eq(text2, text3);
    cr_assert(strstr(text2, "\"format\":1"));
    free(text2);
    free(text3);
    learn_logreg_free(a);
    learn_logreg_free(b);
}

Test(learn_logreg, refuses_bad_input_and_changes_nothing)
{
    learn_logreg *m;
    learn_logreg_opts o = learn_logreg_opts_default();
    o.bits = 0;
    cr_assert_eq(learn_logreg_new(&o, &m), FS_EINVAL);
    o.bits = LEARN_LOGREG_MAX_BITS + 1;
    cr_assert_eq(learn_logreg_new(&o, &m), FS_EINVAL);
    o = learn_logreg_opts_default();
    o.rate = 0;
    cr_assert_eq(learn_logreg_new(&o, &m), FS_EINVAL);
    o = learn_logreg_opts_default();
    o.l2 = -1;
    cr_assert_eq(learn_logreg_new(&o, &m), FS_EINVAL);
    o.l2 = 0;
    o.bits = 4;
    cr_assert_eq(learn_logreg_new(&o, &m), 0);
    learn_logreg_feature ok[1] = {{"x", 1}}, null_name[1] = {{NULL, 1}},
                         inf[1] = {{"x", INFINITY}};
    double p;
    cr_assert_eq(learn_logreg_predict(m, ok, 1, &p), 0);
    cr_assert_float_eq(p, 0.5, 0, "weights start at 0");
    cr_assert_eq(learn_logreg_predict(m, null_name, 1, &p), FS_EINVAL);
    cr_assert_eq(learn_logreg_update(m, inf, 1, 1, NULL), FS_EINVAL);
    cr_assert_eq(learn_logreg_update(m, ok, 1, 1.5, NULL), FS_EINVAL);
    cr_assert_eq(learn_logreg_update(m, ok, 1, NAN, NULL), FS_EINVAL);
    cr_assert_eq(learn_logreg_calibration(m).n, 0);
    cr_assert_eq(learn_logreg_update(m, ok, 1, 0.75, &p), 0);
    cr_assert_float_eq(p, 0.5, 0);
    cr_assert_float_eq(learn_logreg_calibration(m).brier, 0.0625, 1e-15);
    cr_assert_eq(learn_logreg_update(m, NULL, 0, 1, NULL), 0, "bias only");
    learn_logreg_free(m);
}

Test(learn_logreg, corrupt_state_is_refused)
{
    static const char *const head = "{\"format\":1,\"bits\":4,\"rate\":0.1,"
                                    "\"l2\":0,\"bias\":[0,1],";
    static const char *const tail = ",\"calibration\":{\"n\":1,"
                                    "\"log_loss_sum\":0.7,\"brier_sum\":0.25,"
                                    "\"p_sum\":0.5,\"y_sum\":1}}";
    static const char *const weights[] = {
        "\"weights\":[[16,1,1]]",
        "\"weights\":[[-1,1,1]]",
        "\"weights\":[[3,1,1],[3,1,1]]",
        "\"weights\":[[3,1,0]]",
        "\"weights\":[[3,1]]",
        "\"weights\":{}",
        "\"weight\":[]",
    };
    char buf[512];
    snprintf(buf, sizeof buf, "%s\"weights\":[[15,0.5,2]]%s", head, tail);
    json_t *j = json_loads(buf, 0, NULL);
    learn_logreg *m;
    cr_assert_eq(learn_logreg_from_json(j, &m), 0, "the valid one loads");
    learn_logreg_free(m);
    json_decref(j);
    for (size_t i = 0; i < sizeof weights / sizeof *weights; i++) {
        snprintf(buf, sizeof buf, "%s%s%s", head, weights[i], tail);
        j = json_loads(buf, 0, NULL);
        cr_assert_not_null(j, "case %zu", i);
        cr_assert_eq(learn_logreg_from_json(j, &m), FS_ECORRUPT, "case %zu", i);
        json_decref(j);
    }
    static const char *const other[] = {
        "{\"format\":2,\"bits\":4,\"rate\":0.1,\"l2\":0,\"bias\":[0,1],"
        "\"weights\":[],\"calibration\":{\"n\":0,\"log_loss_sum\":0,"
        "\"brier_sum\":0,\"p_sum\":0,\"y_sum\":0}}",
        "{\"format\":1,\"bits\":21,\"rate\":0.1,\"l2\":0,\"bias\":[0,1],"
        "\"weights\":[],\"calibration\":{\"n\":0,\"log_loss_sum\":0,"
        "\"brier_sum\":0,\"p_sum\":0,\"y_sum\":0}}",
        "{\"format\":1,\"bits\":4,\"rate\":-1,\"l2\":0,\"bias\":[0,1],"
        "\"weights\":[],\"calibration\":{\"n\":0,\"log_loss_sum\":0,"
        "\"brier_sum\":0,\"p_sum\":0,\"y_sum\":0}}",
        "{\"format\":1,\"bits\":4,\"rate\":0.1,\"l2\":0,\"bias\":[0,1],"
        "\"weights\":[],\"calibration\":{\"n\":-3,\"log_loss_sum\":0,"
        "\"brier_sum\":0,\"p_sum\":0,\"y_sum\":0}}",
        "[]",
    };
    for (size_t i = 0; i < sizeof other / sizeof *other; i++) {
        j = json_loads(other[i], 0, NULL);
        cr_assert_not_null(j, "other %zu", i);
        cr_assert_eq(learn_logreg_from_json(j, &m), FS_ECORRUPT, "other %zu",
                     i);
        json_decref(j);
    }
}
