/* Seeded random numbers: xoshiro256** seeded through splitmix64.
 * The state is a plain value, so it is saved in checkpoints and resumed
 * bit-identically; there is no hidden global generator. */
#ifndef DL_CORE_RNG_H
#define DL_CORE_RNG_H

#include <stdint.h>

typedef struct dl_rng {
	uint64_t s[4];
} dl_rng;

void dl_rng_seed(dl_rng *r, uint64_t seed);
uint64_t dl_rng_u64(dl_rng *r);
/* Uniform in [0, n), unbiased; n > 0. */
uint32_t dl_rng_below(dl_rng *r, uint32_t n);
/* Uniform float in [0, 1). */
float dl_rng_uniform(dl_rng *r);
/* Fisher-Yates shuffle of v[0..n). */
void dl_rng_shuffle_u32(dl_rng *r, uint32_t *v, uint32_t n);

#endif
