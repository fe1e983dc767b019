/* logreg.c - online logistic regression, hashed features (logreg.h). */
#include "agents/learn/logreg.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/fs.h"
#include "core/xmem.h"

#define P_CLAMP 1e-15
#define ADAGRAD_EPS 1e-8

struct learn_logreg {
    learn_logreg_opts o;
    size_t size;    /* 2^bits */
    double *w, *g2; /* weights and AdaGrad sums of squared gradients */
    double bias, bias_g2;
    uint64_t n; /* calibration: sums over the updates */
    double ll_sum, brier_sum, p_sum, y_sum;
};

/* A feature's slot and sign. */
typedef struct slot {
    size_t at;
    double sign;
} slot;

learn_logreg_opts learn_logreg_opts_default(void)
{
    return (learn_logreg_opts){.bits = 18, .rate = 0.1, .l2 = 1e-6};
}

static bool opts_ok(const learn_logreg_opts *o)
{
    return o->bits >= 1 && o->bits <= LEARN_LOGREG_MAX_BITS &&
           isfinite(o->rate) && o->rate > 0 && isfinite(o->l2) && o->l2 >= 0;
}

int learn_logreg_new(const learn_logreg_opts *opts, learn_logreg **out)
{
    learn_logreg_opts o = opts ? *opts : learn_logreg_opts_default();
    if (!opts_ok(&o)) return FS_EINVAL;
    learn_logreg *m = xcalloc(1, sizeof *m);
    m->o = o;
    m->size = (size_t)1 << o.bits;
    m->w = xcalloc(m->size, sizeof *m->w);
    m->g2 = xcalloc(m->size, sizeof *m->g2);
    *out = m;
    return 0;
}

void learn_logreg_free(learn_logreg *m)
{
    if (!m) return;
    free(m->w);
    free(m->g2);
    free(m);
}

/* FNV-1a, then splitmix64's finaliser so every bit depends on every
 * byte (FNV alone mixes the low bits poorly). */
static slot hash_slot(const learn_logreg *m, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ULL;
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return (slot){(size_t)(h & (m->size - 1)), h >> 63 ? -1.0 : 1.0};
}

static bool features_ok(const learn_logreg_feature *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!f[i].name || !isfinite(f[i].value)) return false;
    return true;
}

static double sigmoid(double z)
{
    if (z >= 0) return 1 / (1 + exp(-z));
    double e = exp(z);
    return e / (1 + e);
}

static double score(const learn_logreg *m, const learn_logreg_feature *f,
                    size_t n)
{
    double z = m->bias;
    for (size_t i = 0; i < n; i++) {
        slot s = hash_slot(m, f[i].name);
        z += s.sign * m->w[s.at] * f[i].value;
    }
    return sigmoid(z);
}

int learn_logreg_predict(const learn_logreg *m, const learn_logreg_feature *f,
                         size_t n, double *p)
{
    if (!features_ok(f, n)) return FS_EINVAL;
    *p = score(m, f, n);
    return 0;
}

/* One AdaGrad step of weight *w with gradient g. */
static void adagrad(double *w, double *g2, double g, double rate)
{
    *g2 += g * g;
    *w -= rate * g / (sqrt(*g2) + ADAGRAD_EPS);
}

static void add_calibration(learn_logreg *m, double p, double y)
{
    double pc = fmin(fmax(p, P_CLAMP), 1 - P_CLAMP);
    m->n++;
    m->ll_sum -= y * log(pc) + (1 - y) * log(1 - pc);
    m->brier_sum += (p - y) * (p - y);
    m->p_sum += p;
    m->y_sum += y;
}

int learn_logreg_update(learn_logreg *m, const learn_logreg_feature *f,
                        size_t n, double y, double *p_before)
{
    if (!(y >= 0 && y <= 1) || !features_ok(f, n)) return FS_EINVAL;
    double p = score(m, f, n), err = p - y;
    add_calibration(m, p, y);
    adagrad(&m->bias, &m->bias_g2, err, m->o.rate);
    for (size_t i = 0; i < n; i++) {
        slot s = hash_slot(m, f[i].name);
        double g = err * s.sign * f[i].value + m->o.l2 * m->w[s.at];
        adagrad(&m->w[s.at], &m->g2[s.at], g, m->o.rate);
    }
    if (p_before) *p_before = p;
    return 0;
}

learn_logreg_calib learn_logreg_calibration(const learn_logreg *m)
{
    if (m->n == 0) return (learn_logreg_calib){0};
    double n = (double)m->n;
    return (learn_logreg_calib){m->n, m->ll_sum / n, m->brier_sum / n,
                                m->p_sum / n, m->y_sum / n};
}

json_t *learn_logreg_to_json(const learn_logreg *m)
{
    json_t *ws = json_array();
    for (size_t i = 0; i < m->size; i++)
        if (m->g2[i] != 0)
            json_array_append_new(
                ws, json_pack("[I,f,f]", (json_int_t)i, m->w[i], m->g2[i]));
    return json_pack(
        "{s:i, s:i, s:f, s:f, s:[f,f], s:o, s:{s:I, s:f, s:f, s:f, s:f}}",
        "format", LEARN_LOGREG_FORMAT, "bits", (int)m->o.bits, "rate",
        m->o.rate, "l2", m->o.l2, "bias", m->bias, m->bias_g2, "weights", ws,
        "calibration", "n", (json_int_t)m->n, "log_loss_sum", m->ll_sum,
        "brier_sum", m->brier_sum, "p_sum", m->p_sum, "y_sum", m->y_sum);
}

static bool all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i])) return false;
    return true;
}

/* Fills the slots listed in ws ([slot, w, G] each, G > 0, once each). */
static int load_weights(learn_logreg *m, json_t *ws)
{
    size_t i;
    json_t *e;
    if (!json_is_array(ws)) return FS_ECORRUPT;
    json_array_foreach(ws, i, e) {
        json_int_t at;
        double v[2];
        if (json_unpack(e, "[I,F,F!]", &at, &v[0], &v[1]) || at < 0 ||
            (size_t)at >= m->size || !all_finite(v, 2) || !(v[1] > 0) ||
            m->g2[at] != 0)
            return FS_ECORRUPT;
        m->w[at] = v[0];
        m->g2[at] = v[1];
    }
    return 0;
}

int learn_logreg_from_json(const json_t *state, learn_logreg **out)
{
    json_int_t format, bits, n;
    learn_logreg_opts o;
    double b[2], sums[4];
    json_t *ws;
    learn_logreg *m;
    if (json_unpack((json_t *)state,
                    "{s:I, s:I, s:F, s:F, s:[F,F!], s:o, "
                    "s:{s:I, s:F, s:F, s:F, s:F}}",
                    "format", &format, "bits", &bits, "rate", &o.rate, "l2",
                    &o.l2, "bias", &b[0], &b[1], "weights", &ws, "calibration",
                    "n", &n, "log_loss_sum", &sums[0], "brier_sum", &sums[1],
                    "p_sum", &sums[2], "y_sum", &sums[3]) ||
        format != LEARN_LOGREG_FORMAT || bits < 1 ||
        bits > LEARN_LOGREG_MAX_BITS || n < 0 || !all_finite(b, 2) ||
        b[1] < 0 || !all_finite(sums, 4))
        return FS_ECORRUPT;
    o.bits = (unsigned)bits;
    if (learn_logreg_new(&o, &m)) return FS_ECORRUPT;
    if (load_weights(m, ws)) goto corrupt;
    m->bias = b[0];
    m->bias_g2 = b[1];
    m->n = (uint64_t)n;
    m->ll_sum = sums[0];
    m->brier_sum = sums[1];
    m->p_sum = sums[2];
    m->y_sum = sums[3];
    *out = m;
    return 0;
corrupt:
    learn_logreg_free(m);
    return FS_ECORRUPT;
}
