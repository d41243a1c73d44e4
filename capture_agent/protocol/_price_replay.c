/* The provably-fair price replay (PROTOCOL.md §5), compiled: the same algorithm as the pure-Python reference in
 * fairness.py, which stays the specification and the tests' oracle. Built by scripts/setup.sh through
 * _price_replay.py and loaded with ctypes, so it needs no Python headers and no libc beyond the compiler's own
 * headers. Bit-exact needs IEEE double arithmetic in source order: the build passes -ffp-contract=off (no fused
 * multiply-add) and never -ffast-math; sqrt is correctly rounded in C as in Python.
 */
#include <stddef.h>
#include <stdint.h>

#define MAX_ITERATIONS 5000
#define PATH_CAPACITY (MAX_ITERATIONS + 1)

typedef struct {
    uint8_t s[256];
    uint8_t i, j;
} Arc4;

/* The keystream state lives in locals while bytes are drawn: stores into s[] (uint8_t, which may alias anything)
 * would otherwise force i and j back to memory on every byte. */
static inline uint8_t next_byte(uint8_t *s, unsigned *i, unsigned *j) {
    uint8_t t, u;
    *i = (*i + 1) & 255;
    t = s[*i];
    *j = (*j + t) & 255;
    u = s[*j];
    s[*i] = u;
    s[*j] = t;
    return s[(u + t) & 255];
}

/* seedrandom's mixkey over UTF-16-LE code units, then the ARC4 key schedule and the dropped first 256 bytes. */
static void seed_arc4(Arc4 *g, const uint8_t *utf16le, size_t units) {
    uint8_t key[256];
    size_t key_length = 0;
    unsigned smear = 0;
    for (size_t k = 0; k < units; k++) {
        unsigned code = (unsigned)utf16le[2 * k] | ((unsigned)utf16le[2 * k + 1] << 8);
        size_t slot = k & 255;
        if (slot < key_length) {
            smear ^= key[slot] * 19u;
            key[slot] = (uint8_t)(smear + code);
        } else { /* JS: undefined * 19 is NaN, and smear ^ NaN == smear */
            key[key_length++] = (uint8_t)(smear + code);
        }
    }
    if (key_length == 0) {
        key[0] = 0;
        key_length = 1;
    }
    uint8_t *s = g->s;
    unsigned i, j = 0;
    for (i = 0; i < 256; i++) s[i] = (uint8_t)i;
    for (i = 0; i < 256; i++) {
        uint8_t t = s[i];
        j = (j + key[i % key_length] + t) & 255;
        s[i] = s[j];
        s[j] = t;
    }
    i = j = 0;
    for (int k = 0; k < 256; k++) next_byte(s, &i, &j); /* RC4-drop-256 */
    g->i = (uint8_t)i;
    g->j = (uint8_t)j;
}

/* seedrandom's double: 48 bits, extended a byte at a time to at least 52 significant bits, then cut to 53. All
 * integers stay below 2^61 and d is a power of two, so every step is exact, as in JS and the Python reference. */
static double draw(Arc4 *g) {
    uint8_t *s = g->s;
    unsigned i = g->i, j = g->j;
    uint64_t n = 0, x = 0;
    double d = 281474976710656.0; /* 256^6 */
    for (int k = 0; k < 6; k++) n = (n << 8) | next_byte(s, &i, &j);
    while (n < (UINT64_C(1) << 52)) {
        n = (n + x) << 8;
        d *= 256.0;
        x = next_byte(s, &i, &j);
    }
    g->i = (uint8_t)i;
    g->j = (uint8_t)j;
    while (n >= (UINT64_C(1) << 53)) {
        n >>= 1;
        d *= 0.5;
        x >>= 1;
    }
    return (double)(n + x) / d;
}

/* One game: writes prices[0..rug_tick-1] and returns rug_tick. version is 1, 2 or 3. */
static int64_t replay_game(const uint8_t *utf16le, size_t units, int version, double *prices) {
    const int god_candles = version == 3;
    const int capped_volatility = version != 1;
    Arc4 g;
    seed_arc4(&g, utf16le, units);
    double price = 1.0;
    int64_t length = 0;
    prices[length++] = price;
    for (int iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
        if (draw(&g) < 0.005) break;
        if (god_candles && draw(&g) < 0.00001 && price <= 100.0) {
            price *= 10.0;
            prices[length++] = price;
            continue;
        }
        double change;
        if (draw(&g) < 0.125) {
            double size = 0.15 + draw(&g) * (0.25 - 0.15);
            change = draw(&g) > 0.5 ? size : -size;
        } else {
            double drift = -0.02 + draw(&g) * (0.03 - -0.02);
            double root = __builtin_sqrt(price);
            /* Python's min(10.0, root) and max(0.0, x) keep the first argument unless the second is smaller or
             * larger: the same comparisons here, so NaN and -0.0 come out alike. */
            double volatility = 0.005 * (capped_volatility ? (root < 10.0 ? root : 10.0) : root);
            change = drift + volatility * (2.0 * draw(&g) - 1.0);
        }
        double next = price * (1.0 + change);
        price = next > 0.0 ? next : 0.0;
        prices[length++] = price;
    }
    return length;
}

/* Replays games[first..count) in order into one flat buffer: game k's seed is utf16le[offsets[k]..offsets[k+1])
 * (bytes), its prices land in out one game after another from out[0], its length in lengths[k]. Stops before a
 * game that might not fit in the remaining capacity; returns the index of the first game not replayed. */
int64_t vectra_price_paths(int64_t first, int64_t count, const uint8_t *utf16le, const int64_t *offsets,
                           const uint8_t *versions, double *out, int64_t capacity, int64_t *lengths) {
    int64_t used = 0;
    for (int64_t k = first; k < count; k++) {
        if (capacity - used < PATH_CAPACITY) return k;
        size_t units = (size_t)(offsets[k + 1] - offsets[k]) / 2;
        lengths[k] = replay_game(utf16le + offsets[k], units, versions[k], out + used);
        used += lengths[k];
    }
    return count;
}

/* The most prices one game can write: the loader sizes its buffers with it. */
int64_t vectra_price_path_capacity(void) { return PATH_CAPACITY; }
