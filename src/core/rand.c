/* rand.c - kernel randomness for secrets, xorshift64* for jitter. */
#include "core/rand.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void fs_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            perror("flowstate: getrandom");
            abort();
        }
        p += got;
        n -= (size_t)got;
    }
}

/* Secrets come from a per-thread buffer refilled from getrandom(2), so a
 * batch of lease tokens costs one system call, not one each. */
static void buffered_bytes(unsigned char *out, size_t n)
{
    static _Thread_local unsigned char buf[512];
    static _Thread_local size_t left;
    while (n > 0) {
        if (left == 0) {
            fs_random_bytes(buf, sizeof buf);
            left = sizeof buf;
        }
        size_t k = n < left ? n : left;
        memcpy(out, buf + sizeof buf - left, k);
        memset(buf + sizeof buf - left, 0, k);
        left -= k;
        out += k;
        n -= k;
    }
}

void fs_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[64];
    size_t done = 0;
    while (done < nbytes) {
        size_t k = nbytes - done < sizeof b ? nbytes - done : sizeof b;
        buffered_bytes(b, k);
        for (size_t i = 0; i < k; i++) {
            out[2 * (done + i)] = hex[b[i] >> 4];
            out[2 * (done + i) + 1] = hex[b[i] & 15];
        }
        done += k;
    }
    out[2 * nbytes] = '\0';
}

double fs_rand01(void)
{
    static _Thread_local uint64_t s;
    if (s == 0) {
        fs_random_bytes(&s, sizeof s);
        s |= 1;
    }
    s ^= s >> 12;
    s ^= s << 25;
    s ^= s >> 27;
    return (double)((s * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0;
}
