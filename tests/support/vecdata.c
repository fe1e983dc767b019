/*
 * vecdata.c - test data for the vector index (see vecdata.h).  Centres
 * and points of vd_clustered come from two streams of one seed, so the
 * centres do not depend on n.
 */
#include "support/vecdata.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/fs.h"
#include "core/xmem.h"
#include "memory/fvecs.h"

const char *vd_data_dir(void)
{
    const char *env = getenv("FLOWSTATE_DATA_DIR");
    return env && *env ? env : "../shared/data";
}

static void *load(const char *name, bool ivecs, size_t *n, size_t *d)
{
    char path[1024], why[FVECS_ERRLEN];
    snprintf(path, sizeof path, "%s/siftsmall/%s", vd_data_dir(), name);
    if (access(path, R_OK) != 0)
        cr_skip_test("%s not found (set FLOWSTATE_DATA_DIR to the folder "
                     "holding siftsmall/)",
                     path);
    void *data;
    int rc = ivecs
                 ? ivecs_read(path, 0, (int32_t **)&data, n, d, why, sizeof why)
                 : fvecs_read(path, 0, (float **)&data, n, d, why, sizeof why);
    cr_assert_eq(rc, 0, "%s", why);
    return data;
}

void vd_sift_load(vd_sift *s)
{
    size_t nq2, dq;
    s->base = load("siftsmall_base.fvecs", false, &s->nb, &s->d);
    s->query = load("siftsmall_query.fvecs", false, &s->nq, &dq);
    s->truth = load("siftsmall_groundtruth.ivecs", true, &nq2, &s->nt);
    cr_assert_eq(s->nb, 10000);
    cr_assert_eq(s->d, 128);
    cr_assert_eq(dq, 128);
    cr_assert_eq(s->nq, 100);
    cr_assert_eq(nq2, 100);
    cr_assert_eq(s->nt, 100);
}

void vd_sift_free(vd_sift *s)
{
    free(s->base);
    free(s->query);
    free(s->truth);
}

uint64_t vd_next(vd_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}

double vd_uniform(vd_rng *r)
{
    return (double)(vd_next(r) >> 11) * 0x1.0p-53;
}

double vd_gauss(vd_rng *r)
{
    double u = vd_uniform(r), v = vd_uniform(r);
    return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

float *vd_clustered(uint64_t seed, size_t n, size_t d, size_t nclusters,
                    double sigma)
{
    vd_rng rc = {seed * 2 + 1}, rp = {seed * 2 + 0x9e3779b97f4a7c15ULL};
    float *centre = xmalloc(nclusters * d * sizeof *centre);
    for (size_t i = 0; i < nclusters * d; i++)
        centre[i] = (float)vd_gauss(&rc);
    float *x = xmalloc(n * d * sizeof *x);
    for (size_t i = 0; i < n; i++) {
        const float *c = centre + (i % nclusters) * d;
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = c[j] + (float)(sigma * vd_gauss(&rp));
    }
    free(centre);
    return x;
}

double vd_recall(const int64_t *found, size_t nfound, const int64_t *truth,
                 size_t k)
{
    size_t hit = 0;
    for (size_t i = 0; i < nfound && i < k; i++)
        for (size_t j = 0; j < k; j++)
            if (found[i] == truth[j]) {
                hit++;
                break;
            }
    return (double)hit / (double)k;
}
