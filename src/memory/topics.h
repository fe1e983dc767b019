/*
 * topics.h - the words that characterise each group of texts, to label
 * clusters.
 *
 * Words come from text.h (lower-cased, unstemmed; digits-only words and
 * words under three bytes are skipped).  A word's score in a group is
 * (its count in the group / the group's word count) * ln(1 + N / df), with
 * N texts and df the texts containing it: frequent in the group, rare
 * elsewhere.  Ties go to the alphabetically first word, so labels are
 * stable.
 */
#ifndef TOPICS_H
#define TOPICS_H
#include <stddef.h>

typedef struct topics topics;

/* texts[i] belongs to group[i] in 0..ngroups-1.  OUT: *out. */
int topics_build(const char *const *texts, const int *group, size_t n,
                 size_t ngroups, size_t nterms, topics **out);
/* The j-th best word of group g, or NULL when it has fewer; valid until
 * topics_free. */
const char *topics_term(const topics *t, size_t g, size_t j);
void topics_free(topics *t);

#endif
