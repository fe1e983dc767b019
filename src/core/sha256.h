/*
 * sha256.h - SHA-256 (FIPS 180-4), used to store API keys and agent tokens
 * hashed: the database never holds a usable secret.
 */
#ifndef SHA256_H
#define SHA256_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void sha256(const void *data, size_t len, uint8_t out[32]);
/* Lower-case hex of sha256(s): out must hold 65 bytes. */
void sha256_hex(const char *s, char out[65]);
/* Constant-time comparison of two equal-length byte strings. */
bool fs_ct_equal(const void *a, const void *b, size_t n);

#endif
