/*
 * bench_data.c - the data_processor library on 100,000 lead rows:
 * validate, normalize and dedupe, one after the other as the
 * data_processing workflow runs them, one thread.
 *
 * The rows: leads-10000.csv (../shared/data/crm/datablist, or --data DIR)
 * recombined into distinct people (first name, last name and company
 * each from another lead, an address and phone numbers of their own, in
 * the file's four phone styles), the other fields copied.  Without the
 * file the names come from a small built-in list.  Then planted, on
 * --rows: 1% variants of earlier rows in the five ways the tests use
 * (address case and blanks, phone rewritten, last name misspelt, blanks
 * in name and company, upper case), each findable one way only; and
 * 0.5% bad rows (a cut-off address or a 2-digit phone).
 *
 * Stages (wall and CPU time, rows/s of each; CPU time is steadier on a
 * busy machine): validate (a schema of the issue's kind for the lead fields),
 * normalize (default rules, taking the validated records), dedupe of the
 * normalized records on both e-mail and phone fields, the name (first +
 * last) and the company as context.  Each is timed alone; the table
 * gives seconds and rows/s, and the total of the three.  Profile and
 * reading the CSV are shown as extra rows.  Checks printed after: the
 * invalid count against the bad rows planted, and how many planted
 * variants came back in a group with their source (recall), and how many
 * groups hold no planted pair.
 *
 * usage: bench_data [--data DIR] [--rows N] [--seed S]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agents/data/dp_dedupe.h"
#include "agents/data/dp_normalize.h"
#include "agents/data/dp_profile.h"
#include "agents/data/dp_read.h"
#include "agents/data/dp_validate.h"
#include "core/xmem.h"

static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;

static unsigned long long next_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Wall and CPU time of one stage. */
typedef struct stamp {
    double wall, cpu;
} stamp;

static stamp now(void)
{
    return (stamp){clock_s(CLOCK_MONOTONIC), clock_s(CLOCK_PROCESS_CPUTIME_ID)};
}

static stamp since(stamp a, stamp b)
{
    return (stamp){b.wall - a.wall, b.cpu - a.cpu};
}

/* splitmix64: the lead a field of person r comes from. */
static size_t pick(size_t r, unsigned salt, size_t n)
{
    unsigned long long z = (unsigned long long)r * 0x9E3779B97F4A7C15ULL + salt;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return (size_t)((z ^ (z >> 31)) % n);
}

static const char *str(const json_t *rec, const char *k)
{
    const char *s = json_string_value(json_object_get(rec, k));
    return s ? s : "";
}

static void put(json_t *rec, const char *k, const char *v)
{
    json_object_set_new(rec, k, json_string(v));
}

/* ---- source leads ---------------------------------------------------- */

/* Leads built in when the file is absent: enough names to recombine. */
static json_t *builtin_leads(void)
{
    static const char *const first[] = {
        "Jaime", "Cody",  "Mary", "Ahmed", "Lena", "Bruno", "Yuki",  "Olga",
        "Ravi",  "Sofia", "Liam", "Chloe", "Omar", "Ines",  "Tariq", "Greta"};
    static const char *const last[] = {
        "Hayes",   "Salinas", "Nguyen", "Okafor", "Schmidt", "Rossi",  "Tanaka",
        "Ivanova", "Patel",   "Garcia", "Murphy", "Dubois",  "Haddad", "Silva",
        "Khan",    "Larsen",  "Moreau", "Novak",  "Costa",   "Berg"};
    json_t *leads = json_array();
    for (size_t i = 0; i < 2000; i++) {
        char co[64];
        snprintf(co, sizeof co, "%s %s", last[(i * 7) % 20],
                 i % 3 ? "Inc" : "LLC");
        json_array_append_new(
            leads, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
                             "First Name", first[i % 16], "Last Name",
                             last[(i / 16) % 20], "Company", co, "Website",
                             "https://example.com/", "Source", "Referral",
                             "Deal Stage", "New Lead", "Notes", "generated"));
    }
    return leads;
}

static json_t *load_leads(const char *dir, bool *from_file)
{
    char path[1024];
    json_t *recs, *errs;
    snprintf(path, sizeof path, "%s/crm/datablist/leads-10000.csv", dir);
    *from_file = dp_read_records(path, true, 0, &recs, &errs) == 0 &&
                 json_array_size(recs) > 100;
    json_decref(errs);
    if (*from_file) return recs;
    json_decref(recs);
    fprintf(stderr, "bench_data: %s not usable; using built-in names\n", path);
    return builtin_leads();
}

/* ---- rows ------------------------------------------------------------ */

/* A phone number unique to r in one of four styles, maybe with an
 * extension. */
static void phone_of(size_t r, int salt, char *out, size_t cap)
{
    unsigned a = 200 + (unsigned)(r % 800), e = 200 + (unsigned)(r / 800 % 800);
    unsigned n = (unsigned)((r * 7 + (size_t)salt * 3331) % 10000);
    static const char *const styles[] = {"(%03u)%03u-%04u", "%03u-%03u-%04u",
                                         "%03u.%03u.%04u", "+1-%03u-%03u-%04u"};
    int len = snprintf(out, cap, styles[(r + (size_t)salt) % 4], a, e, n);
    if (r % 3 == 0 && len > 0)
        snprintf(out + len, cap - (size_t)len, "x%u",
                 (unsigned)(r % 9000 + 100));
}

/* Lower-case letters of s into out (no blanks or punctuation). */
static void letters(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 1 < cap; s++) {
        char c = *s;
        if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
        if (c >= 'a' && c <= 'z') out[n++] = c;
    }
    out[n] = '\0';
}

/* Distinct person r, recombined from the source leads. */
static json_t *person(const json_t *leads, size_t r)
{
    size_t n = json_array_size(leads);
    const json_t *base = json_array_get(leads, r % n);
    const json_t *fa = json_array_get(leads, pick(r, 1, n));
    const json_t *la = json_array_get(leads, pick(r, 2, n));
    const json_t *co = json_array_get(leads, pick(r, 3, n));
    json_t *p = json_deep_copy(base);
    char buf[256], f[64], l[64];
    snprintf(buf, sizeof buf, "%zu", r + 1);
    put(p, "Index", buf);
    put(p, "First Name", str(fa, "First Name"));
    put(p, "Last Name", str(la, "Last Name"));
    put(p, "Company", str(co, "Company"));
    letters(str(fa, "First Name"), f, sizeof f);
    letters(str(la, "Last Name"), l, sizeof l);
    snprintf(buf, sizeof buf, "%s.%s.%zu@example%zu.com", f, l, r, r % 97);
    put(p, "Email 1", buf);
    snprintf(buf, sizeof buf, "%c%s%zu@mail%zu.org", f[0] ? f[0] : 'x', l, r,
             r % 89);
    put(p, "Email 2", buf);
    phone_of(r, 0, buf, sizeof buf);
    put(p, "Phone 1", buf);
    phone_of(r + 640000, 1, buf, sizeof buf);
    put(p, "Phone 2", buf);
    return p;
}

static char *upper(const char *s)
{
    char *u = xstrdup(s);
    for (char *p = u; *p; p++)
        if (*p >= 'a' && *p <= 'z') *p = (char)(*p - 32);
    return u;
}

/* A variant of src of one of five kinds (see the top comment). */
static json_t *variant(const json_t *src, int kind)
{
    json_t *v = json_deep_copy(src);
    char buf[256], *u;
    put(v, "Email 2", "");
    put(v, "Phone 2", "");
    if (kind != 0) put(v, "Email 1", "");
    if (kind != 1) put(v, "Phone 1", "");
    switch (kind) {
    case 0:
        u = upper(str(src, "Email 1"));
        snprintf(buf, sizeof buf, " %s  ", u);
        put(v, "Email 1", buf);
        free(u);
        break;
    case 1: { /* digits rewritten, the extension kept */
        const char *p = str(src, "Phone 1"), *x = strchr(p, 'x');
        char d[32];
        size_t n = 0;
        for (; *p && p != x && n + 1 < sizeof d; p++)
            if (*p >= '0' && *p <= '9') d[n++] = *p;
        d[n] = '\0';
        const char *t = n == 11 ? d + 1 : d;
        snprintf(buf, sizeof buf, "%.3s %.3s %.4s%s%s", t, t + 3, t + 6,
                 x ? " ext. " : "", x ? x + 1 : "");
        put(v, "Phone 1", buf);
        break;
    }
    case 2:
        snprintf(buf, sizeof buf, "%s", str(src, "Last Name"));
        if (strlen(buf) > 3) {
            char c = buf[1];
            buf[1] = buf[2], buf[2] = c;
        }
        put(v, "Last Name", buf);
        break;
    case 3:
        snprintf(buf, sizeof buf, "  %s ", str(src, "First Name"));
        put(v, "First Name", buf);
        snprintf(buf, sizeof buf, " %s  ", str(src, "Company"));
        put(v, "Company", buf);
        break;
    default:
        u = upper(str(src, "Last Name"));
        put(v, "Last Name", u);
        free(u);
        u = upper(str(src, "Company"));
        put(v, "Company", u);
        free(u);
    }
    return v;
}

typedef struct plan {
    size_t rows, variants, bad;
    size_t *src; /* src[k]: the row variant k (at rows - variants + k) copies */
} plan;

/* The rows: people, then bad rows spoilt in place, then variants. */
static json_t *make_rows(const json_t *leads, plan *pl)
{
    json_t *rows = json_array();
    size_t people = pl->rows - pl->variants;
    for (size_t r = 0; r < people; r++)
        json_array_append_new(rows, person(leads, r));
    for (size_t b = 0; b < pl->bad; b++) {
        json_t *rec =
            json_array_get(rows, (b * 2 + 1) * (people / (2 * pl->bad + 1)));
        if (b % 2)
            put(rec, "Phone 1", "12");
        else
            put(rec, "Email 1", "someone@");
    }
    pl->src = xmalloc((pl->variants + 1) * sizeof *pl->src);
    for (size_t k = 0; k < pl->variants; k++) {
        size_t s;
        do
            s = (size_t)(next_rand() % people);
        while (s % (people / (2 * pl->bad + 1)) == 0);
        pl->src[k] = s;
        json_array_append_new(rows,
                              variant(json_array_get(rows, s), (int)(k % 5)));
    }
    return rows;
}

/* ---- checks ---------------------------------------------------------- */

/* Planted pairs found in one group, and groups with no planted pair. */
static void recall(const json_t *result, const plan *pl, size_t *found,
                   size_t *other)
{
    size_t n = pl->rows, first_variant = pl->rows - pl->variants;
    size_t *group = xmalloc((n + 1) * sizeof *group);
    for (size_t i = 0; i < n; i++)
        group[i] = SIZE_MAX;
    const json_t *g, *m;
    size_t gi, mi;
    json_array_foreach(json_object_get(result, "groups"), gi, g)
        json_array_foreach(json_object_get(g, "members"), mi, m)
            group[json_integer_value(m)] = gi;
    *found = 0;
    char *has_pair =
        xcalloc(json_array_size(json_object_get(result, "groups")) + 1, 1);
    for (size_t k = 0; k < pl->variants; k++) {
        size_t v = first_variant + k;
        if (group[v] != SIZE_MAX && group[v] == group[pl->src[k]]) {
            ++*found;
            has_pair[group[v]] = 1;
        }
    }
    *other = 0;
    for (size_t i = 0; i < json_array_size(json_object_get(result, "groups"));
         i++)
        *other += !has_pair[i];
    free(has_pair);
    free(group);
}

static const char *const SCHEMA =
    "{\"fields\":{"
    "\"Email 1\":{\"type\":\"email\",\"required\":true},"
    "\"Email 2\":\"email\","
    "\"Phone 1\":\"phone\",\"Phone 2\":\"phone\","
    "\"First Name\":{\"type\":\"string\",\"required\":true,\"max_length\":100},"
    "\"Last Name\":{\"type\":\"string\",\"required\":true,\"max_length\":100},"
    "\"Company\":{\"type\":\"string\",\"max_length\":200},"
    "\"Website\":\"url\",\"Index\":{\"type\":\"integer\",\"min\":1}}}";

static const char *const KEYS =
    "[\"Email 1\",\"Email 2\",\"Phone 1\",\"Phone 2\","
    " {\"field\":[\"First Name\",\"Last "
    "Name\"],\"match\":\"name\"},\"Company\"]";

static void row(const char *stage, size_t n, stamp s)
{
    printf("%-22s %9.3f %9.3f %12.0f %12.0f\n", stage, s.wall, s.cpu,
           (double)n / s.wall, (double)n / s.cpu);
}

int main(int argc, char **argv)
{
    const char *dir = getenv("FLOWSTATE_DATA_DIR");
    plan pl = {.rows = 100000};
    if (!dir || !*dir) dir = "../shared/data";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--data") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--rows") && i + 1 < argc)
            pl.rows = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            rng_state = strtoull(argv[++i], NULL, 10) | 1;
        else {
            fprintf(stderr,
                    "usage: bench_data [--data DIR] [--rows N] [--seed S]\n");
            return 2;
        }
    }
    if (pl.rows < 1000) pl.rows = 1000;
    pl.variants = pl.rows / 100;
    pl.bad = pl.rows / 200;

    bool from_file;
    stamp t0 = now();
    json_t *leads = load_leads(dir, &from_file);
    stamp t_read = since(t0, now());
    json_t *rows = make_rows(leads, &pl);
    printf("data_processor: %zu rows (%s; %zu planted variants, %zu bad rows), "
           "one thread\n\n",
           pl.rows,
           from_file ? "recombined from leads-10000.csv" : "built-in names",
           pl.variants, pl.bad);
    printf("%-22s %9s %9s %12s %12s\n", "stage", "wall s", "cpu s", "rows/s",
           "rows/cpu-s");

    json_t *schema = json_loads(SCHEMA, 0, NULL),
           *keys = json_loads(KEYS, 0, NULL);
    json_t *val, *norm, *dup, *prof;
    stamp t1 = now();
    int rc = dp_validate(rows, schema, &val);
    stamp t2 = now();
    rc |= dp_normalize(rows, NULL, &norm);
    stamp t3 = now();
    rc |= dp_dedupe(json_object_get(norm, "records"), keys, NULL, &dup);
    stamp t4 = now();
    rc |= dp_profile(rows, &prof);
    stamp t5 = now();
    if (rc) {
        fprintf(stderr, "bench_data: a stage failed\n");
        return 1;
    }
    row("validate", pl.rows, since(t1, t2));
    row("normalize", pl.rows, since(t2, t3));
    row("dedupe", pl.rows, since(t3, t4));
    row("total (the three)", pl.rows, since(t1, t4));
    row("profile (extra)", pl.rows, since(t4, t5));
    if (from_file)
        row("read CSV (10,000 rows)", json_array_size(leads), t_read);

    size_t found, other;
    recall(dup, &pl, &found, &other);
    printf("\nvalidate: %lld valid, %lld invalid (want %zu: the %zu bad rows, "
           "and the %zu variants without Email 1)\n",
           json_integer_value(json_object_get(val, "valid")),
           json_integer_value(json_object_get(val, "invalid")),
           pl.bad + pl.variants - (pl.variants + 4) / 5, pl.bad,
           pl.variants - (pl.variants + 4) / 5);
    printf("normalize: %lld values changed, %zu unparsed\n",
           json_integer_value(json_object_get(norm, "changes")),
           json_array_size(json_object_get(norm, "unparsed")));
    printf("dedupe: %zu groups; planted variants found %zu/%zu (%.1f%%); "
           "groups without a planted pair %zu (people who happen to share a\n"
           "        name, or nearly, and a company)\n",
           json_array_size(json_object_get(dup, "groups")), found, pl.variants,
           100.0 * (double)found / (double)pl.variants, other);
    json_decref(val);
    json_decref(norm);
    json_decref(dup);
    json_decref(prof);
    json_decref(schema);
    json_decref(keys);
    json_decref(rows);
    json_decref(leads);
    free(pl.src);
    return 0;
}
