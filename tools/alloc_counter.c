// LD_PRELOAD interposer that counts malloc-family calls, so tests can prove that
// dqt-run's token loop allocates nothing. The runtime finds `dqt_alloc_count` with
// dlsym and reports the calls made between the first and last generated token.
//   cc -shared -fPIC -O2 -o alloc_counter.so tools/alloc_counter.c
//   LD_PRELOAD=./alloc_counter.so dqt-run model.dqt "Hi" --stats
// Forwarding uses glibc's __libc_* entry points (no dlsym recursion at startup).
#define _GNU_SOURCE
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static _Atomic unsigned long long calls;

unsigned long long dqt_alloc_count(void) { return atomic_load(&calls); }

void *malloc(size_t n) { atomic_fetch_add(&calls, 1); return __libc_malloc(n); }
void *calloc(size_t a, size_t b) { atomic_fetch_add(&calls, 1); return __libc_calloc(a, b); }
void *realloc(void *p, size_t n) { atomic_fetch_add(&calls, 1); return __libc_realloc(p, n); }
void *memalign(size_t a, size_t n) { atomic_fetch_add(&calls, 1); return __libc_memalign(a, n); }
void *aligned_alloc(size_t a, size_t n) { atomic_fetch_add(&calls, 1); return __libc_memalign(a, n); }
int posix_memalign(void **out, size_t a, size_t n) {
    atomic_fetch_add(&calls, 1);
    void *p = __libc_memalign(a, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
