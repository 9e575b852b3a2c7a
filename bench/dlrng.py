"""dl-train's sample order in Python, for side-by-side runs with the same data order.

A re-implementation (not a binding) of lib/core/rng.c: xoshiro256** seeded
through splitmix64, Lemire's bounded integers, Fisher-Yates from the top.
dl-train shuffles each epoch with the stream seeded by seed ^ 0x5eed5eed5eed5eed
and then draws one 64-bit augmentation key (lib/train/trainer.c), so
epoch_orders() does the same.
"""
M64 = (1 << 64) - 1


class Rng:
    def __init__(self, seed):
        x = seed & M64
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def u64(self):
        s = self.s
        r = (((s[1] * 5) & M64) << 7 | ((s[1] * 5) & M64) >> 57) & M64
        r = (r * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = ((s[3] << 45) | (s[3] >> 19)) & M64
        return r

    def below(self, n):
        m = (self.u64() >> 32) * n
        low = m & 0xFFFFFFFF
        if low < n:
            threshold = ((1 << 32) - n) % n
            while low < threshold:
                m = (self.u64() >> 32) * n
                low = m & 0xFFFFFFFF
        return m >> 32

    def shuffle(self, v):
        for i in range(len(v), 1, -1):
            j = self.below(i)
            v[i - 1], v[j] = v[j], v[i - 1]


def epoch_orders(n, seed):
    """Yields dl-train's sample order for epoch 1, 2, ..."""
    r = Rng(seed ^ 0x5EED5EED5EED5EED)
    while True:
        v = list(range(n))
        r.shuffle(v)
        r.u64()  # the epoch's augmentation key
        yield v
