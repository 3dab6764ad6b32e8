/* Total size of difflib's matching blocks, for SequenceMatcher(None, a, b, autojunk=False).
 *
 * The same algorithm as CPython's difflib (find_longest_match + the queue in
 * get_matching_blocks), with arrays instead of dicts:
 *   - b2j: the positions of each code point of b, ascending (a hash table of
 *     code point -> slice of one positions array);
 *   - j2len: the length of the match ending at (i - 1, j), in an array indexed
 *     by j + 1, cleared through the list of entries the previous row touched;
 *   - ties broken exactly as difflib does: the first (i, j) in row-major order
 *     whose run is strictly longer than the best so far.
 * No junk (isjunk=None) and no popular-element pruning (autojunk=False), so the
 * junk-extension loops of find_longest_match never fire and are left out.
 * The ratio (2.0 * M / T) is computed by the caller in Python, so the float
 * operations are difflib's own.
 *
 * Strings come in as UTF-32 code points. Returns M, or -1 if out of memory.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct { uint32_t key; int32_t start; int32_t count; int32_t used; } slot_t;

static size_t table_size(size_t n) {
    size_t s = 16;
    while (s < 2 * n + 1) s <<= 1;
    return s;
}

static inline uint32_t hash32(uint32_t x) {
    x ^= x >> 16; x *= 0x7feb352dU; x ^= x >> 15; x *= 0x846ca68bU; x ^= x >> 16;
    return x;
}

static slot_t *lookup(slot_t *table, size_t mask, uint32_t key) {
    size_t h = hash32(key) & mask;
    while (table[h].used && table[h].key != key) h = (h + 1) & mask;
    return &table[h];
}

long long match_count(const uint32_t *a, int32_t la, const uint32_t *b, int32_t lb) {
    if (la == 0 || lb == 0) return 0;
    size_t tsize = table_size((size_t)lb);
    size_t mask = tsize - 1;
    slot_t *table = calloc(tsize, sizeof(slot_t));
    int32_t *pos = malloc(sizeof(int32_t) * (size_t)lb);
    int32_t *fill = NULL;
    int32_t *prev = calloc((size_t)lb + 1, sizeof(int32_t));
    int32_t *cur = calloc((size_t)lb + 1, sizeof(int32_t));
    int32_t *tprev = malloc(sizeof(int32_t) * ((size_t)lb + 1));
    int32_t *tcur = malloc(sizeof(int32_t) * ((size_t)lb + 1));
    int32_t nmin = la < lb ? la : lb;
    int32_t *stack = malloc(sizeof(int32_t) * 4 * ((size_t)nmin + 2) * 2);
    /* a[i]'s slot, looked up once per i of the whole string */
    slot_t **aslot = malloc(sizeof(slot_t *) * (size_t)la);
    long long total = -1;
    if (!table || !pos || !prev || !cur || !tprev || !tcur || !stack || !aslot) goto done;

    /* count occurrences, then prefix offsets, then fill positions ascending */
    for (int32_t j = 0; j < lb; j++) {
        slot_t *s = lookup(table, mask, b[j]);
        if (!s->used) { s->used = 1; s->key = b[j]; s->count = 0; }
        s->count++;
    }
    {
        int32_t off = 0;
        for (size_t h = 0; h < tsize; h++) {
            if (table[h].used) { table[h].start = off; off += table[h].count; }
        }
    }
    fill = calloc(tsize, sizeof(int32_t));
    if (!fill) goto done;
    for (int32_t j = 0; j < lb; j++) {
        slot_t *s = lookup(table, mask, b[j]);
        size_t h = (size_t)(s - table);
        pos[s->start + fill[h]++] = j;
    }
    for (int32_t i = 0; i < la; i++) {
        slot_t *s = lookup(table, mask, a[i]);
        aslot[i] = s->used ? s : NULL;
    }

    total = 0;
    int32_t sp = 0;
    stack[sp++] = 0; stack[sp++] = la; stack[sp++] = 0; stack[sp++] = lb;
    while (sp > 0) {
        int32_t bhi = stack[--sp], blo = stack[--sp], ahi = stack[--sp], alo = stack[--sp];
        int32_t besti = alo, bestj = blo, bestsize = 0;
        int32_t nprev = 0;
        for (int32_t i = alo; i < ahi; i++) {
            int32_t ncur = 0;
            slot_t *s = aslot[i];
            if (s) {
                const int32_t *p = pos + s->start;
                int32_t lo = 0, hi = s->count;
                while (lo < hi) {  /* first position >= blo */
                    int32_t mid = (lo + hi) >> 1;
                    if (p[mid] < blo) lo = mid + 1; else hi = mid;
                }
                for (int32_t t = lo; t < s->count; t++) {
                    int32_t j = p[t];
                    if (j >= bhi) break;
                    int32_t k = prev[j] + 1;  /* prev[j] = run ending at (i - 1, j - 1) */
                    cur[j + 1] = k;
                    tcur[ncur++] = j + 1;
                    if (k > bestsize) { besti = i - k + 1; bestj = j - k + 1; bestsize = k; }
                }
            }
            for (int32_t t = 0; t < nprev; t++) prev[tprev[t]] = 0;
            int32_t *tmp = prev; prev = cur; cur = tmp;
            tmp = tprev; tprev = tcur; tcur = tmp;
            nprev = ncur;
        }
        for (int32_t t = 0; t < nprev; t++) prev[tprev[t]] = 0;
        /* difflib's extension loops (no junk): kept for fidelity, they cannot grow a maximal run */
        while (besti > alo && bestj > blo && a[besti - 1] == b[bestj - 1]) { besti--; bestj--; bestsize++; }
        while (besti + bestsize < ahi && bestj + bestsize < bhi && a[besti + bestsize] == b[bestj + bestsize]) bestsize++;
        if (bestsize) {
            total += bestsize;
            if (alo < besti && blo < bestj) {
                stack[sp++] = alo; stack[sp++] = besti; stack[sp++] = blo; stack[sp++] = bestj;
            }
            if (besti + bestsize < ahi && bestj + bestsize < bhi) {
                stack[sp++] = besti + bestsize; stack[sp++] = ahi; stack[sp++] = bestj + bestsize; stack[sp++] = bhi;
            }
        }
    }
done:
    free(table); free(pos); free(fill); free(prev); free(cur); free(tprev); free(tcur); free(stack); free(aslot);
    return total;
}
