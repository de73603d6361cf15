// The helpers of the trainer's C kernels (kernels_c.go, winograd_c.go), which are written so
// that the compiler vectorises the loops over channels. On x86-64 GCC builds each kernel in
// three versions (AVX-512, AVX2 with FMA, the SSE2 baseline) and the loader picks the best
// the CPU has at start-up.
#ifndef NATSSL_TRAINER_KERNELS_H
#define NATSSL_TRAINER_KERNELS_H

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
#define MV __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MV
#endif

// CB is the channel block of the kernels that work on a few channels at a time: 16 floats,
// one AVX-512 register.
#define CB 16

// cpy copies n ≤ CB floats; the common n = CB becomes vector moves rather than a call.
static inline void cpy(float *restrict d, const float *restrict s, int n) {
	if (n == CB) {
		memcpy(d, s, CB * sizeof(float));
	} else {
		memcpy(d, s, n * sizeof(float));
	}
}

#endif
