/*
 * rand.h - randomness: secrets from the kernel, and a fast per-thread PRNG
 * for jitter.  Tokens are lower-case hex.
 */
#ifndef RAND_H
#define RAND_H
#include <stddef.h>
#include <stdint.h>

/* Fills buf with n bytes from getrandom(2); aborts if the kernel refuses. */
void fs_random_bytes(void *buf, size_t n);
/* Writes 2*nbytes hex digits of fresh randomness plus NUL into out. */
void fs_random_hex(char *out, size_t nbytes);
/* A uniform double in [0,1) from a per-thread xorshift generator. */
double fs_rand01(void);

#endif
