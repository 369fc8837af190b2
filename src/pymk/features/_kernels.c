/* Per-query-user neighbourhood kernels behind pymk.features.native (see that module for the contract).
 *
 * Why C by hand: each of these walks one user's 2-hop (or bounded PPR) neighbourhood with a dense scratch
 * vector that is reset only where it was touched. scipy's sparse products allocate and clear O(n_users)
 * scratch on every call, which dominates a real-time request on a large graph (sx-askubuntu-a2q: ~0.4 ms
 * per product, ~20 products per batch); numba cannot be installed beside our numpy/llvmlite pins.
 *
 * Graph: symmetric CSR (indptr int64, indices int32, n users); weights aligned with indices.
 * Outputs are CSR rows with sorted column indices. Functions that write a variable number of entries take
 * a capacity and return the entries written, or -1 when the capacity is too small (the caller grows it
 * and calls again). Scratch arrays are zero on entry and left zero on return. No allocation, no Python
 * API: the module is loaded with ctypes, which releases the GIL around each call.
 */
#include <Python.h>
#include <stdint.h>
#include <math.h>
#include <stdlib.h>

static int cmp_i32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Position of x in the sorted indices[lo..hi), or -1. */
static inline int64_t find_sorted(const int32_t *indices, int64_t lo, int64_t hi, int32_t x) {
    int64_t end = hi;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (indices[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return (lo < end && indices[lo] == x) ? lo : -1;
}

/* Upper bound of the 2-hop row sizes of `users`: the sum of their neighbours' degrees. */
int64_t pymk_two_hop_bound(int64_t b, const int64_t *users, const int64_t *indptr, const int32_t *indices) {
    int64_t total = 0;
    for (int64_t i = 0; i < b; i++) {
        int64_t u = users[i];
        for (int64_t p = indptr[u]; p < indptr[u + 1]; p++) {
            int32_t w = indices[p];
            total += indptr[w + 1] - indptr[w];
        }
    }
    return total;
}

/* The 2-hop rows of `users`, five scores on one pattern (every v reached by a path u - w - v):
 *   cn[v]  = sum_w 1                       aa[v] = sum_w inv_logdeg[w]
 *   ra[v]  = sum_w inv_deg[w]              wra[v] = sum_w weight(u,w) * inv_strength[w] * weight(w,v)
 *   two[v] = sum_w inv_sqrtdeg[w]
 * acc: double (5 * n) zero scratch; mark: uint8 (n) zero scratch; touched: int32 (n) scratch. */
int64_t pymk_neighbourhood(int64_t b, const int64_t *users, const int64_t *indptr, const int32_t *indices,
                           const double *weight, const double *inv_logdeg, const double *inv_deg,
                           const double *inv_strength, const double *inv_sqrtdeg, double *acc, uint8_t *mark,
                           int32_t *touched, int64_t cap, int64_t *out_indptr, int32_t *out_indices,
                           float *cn, float *aa, float *ra, float *wra, float *two) {
    int64_t nnz = 0;
    out_indptr[0] = 0;
    for (int64_t i = 0; i < b; i++) {
        int64_t u = users[i];
        int64_t t = 0;
        for (int64_t p = indptr[u]; p < indptr[u + 1]; p++) {
            int32_t w = indices[p];
            double a = inv_logdeg[w], r = inv_deg[w], s = inv_sqrtdeg[w], wu = weight[p] * inv_strength[w];
            for (int64_t q = indptr[w]; q < indptr[w + 1]; q++) {
                int32_t v = indices[q];
                double *x = acc + 5 * (int64_t)v;
                if (!mark[v]) {
                    mark[v] = 1;
                    touched[t++] = v;
                }
                x[0] += 1.0;
                x[1] += a;
                x[2] += r;
                x[3] += wu * weight[q];
                x[4] += s;
            }
        }
        int overflow = nnz + t > cap;
        if (!overflow) qsort(touched, (size_t)t, sizeof(int32_t), cmp_i32);
        for (int64_t k = 0; k < t; k++) {
            int32_t v = touched[k];
            double *x = acc + 5 * (int64_t)v;
            if (!overflow) {
                out_indices[nnz + k] = v;
                cn[nnz + k] = (float)x[0];
                aa[nnz + k] = (float)x[1];
                ra[nnz + k] = (float)x[2];
                wra[nnz + k] = (float)x[3];
                two[nnz + k] = (float)x[4];
            }
            x[0] = x[1] = x[2] = x[3] = x[4] = 0.0;
            mark[v] = 0;
        }
        if (overflow) return -1;
        nnz += t;
        out_indptr[i + 1] = nnz;
    }
    return nnz;
}

/* Bounded-work personalized PageRank of each source in `users` (pymk.features.local_ppr):
 *   x_0 = e_u,  x_{t+1} = restart e_u + (1 - restart) prune(x_t) D^-1 A,  row = x_T,
 * prune keeping v while x_t[v] >= tolerance * deg v (u always). A source of degree 0 gets an empty row.
 * x, y: double (n) zero scratch; mark: uint8 (n) zero scratch; cur, nxt: int32 (n) scratch. */
int64_t pymk_ppr(int64_t b, const int64_t *users, const int64_t *indptr, const int32_t *indices,
                 int64_t iterations, double restart, double tolerance, double *x, double *y, uint8_t *mark,
                 int32_t *cur, int32_t *nxt, int64_t cap, int64_t *out_indptr, int32_t *out_indices,
                 float *out_data) {
    int64_t nnz = 0;
    out_indptr[0] = 0;
    for (int64_t i = 0; i < b; i++) {
        int64_t u = users[i];
        int64_t nc = 0;
        if (indptr[u + 1] > indptr[u]) {
            x[u] = 1.0;
            cur[nc++] = (int32_t)u;
            for (int64_t it = 0; it < iterations; it++) {
                int64_t nn = 0;
                for (int64_t k = 0; k < nc; k++) {
                    int32_t v = cur[k];
                    double val = x[v];
                    int64_t lo = indptr[v], hi = indptr[v + 1];
                    x[v] = 0.0;
                    if (hi == lo || (val < tolerance * (double)(hi - lo) && v != u)) continue;
                    double share = val * (1.0 - restart) / (double)(hi - lo);
                    for (int64_t q = lo; q < hi; q++) {
                        int32_t w = indices[q];
                        if (!mark[w]) {
                            mark[w] = 1;
                            nxt[nn++] = w;
                        }
                        y[w] += share;
                    }
                }
                if (!mark[u]) {
                    mark[u] = 1;
                    nxt[nn++] = (int32_t)u;
                }
                y[u] += restart;
                for (int64_t k = 0; k < nn; k++) mark[nxt[k]] = 0;
                double *ts = x; x = y; y = ts;
                int32_t *ti = cur; cur = nxt; nxt = ti;
                nc = nn;
            }
        }
        int overflow = nnz + nc > cap;
        if (!overflow) qsort(cur, (size_t)nc, sizeof(int32_t), cmp_i32);
        for (int64_t k = 0; k < nc; k++) {
            int32_t v = cur[k];
            if (!overflow) {
                out_indices[nnz + k] = v;
                out_data[nnz + k] = (float)x[v];
            }
            x[v] = 0.0;
        }
        if (overflow) return -1;
        nnz += nc;
        out_indptr[i + 1] = nnz;
    }
    return nnz;
}

/* Length-3 path scores at candidate pairs: out[p] = sum_z two[rows[p], z] * A[z, cols[p]] * inv_sqrtdeg[z],
 * `two` the CSR rows of pymk_neighbourhood (b rows), rows sorted. scratch: double (n) zero scratch.
 * Per pair the cheaper side is walked: the candidate's neighbours (summing the scattered 2-hop row), or
 * the user's 2-hop users tested against the candidate's neighbour bitset (`hub[c]` >= 0: its row of
 * `bits`, `row_bytes` each; the popular candidates every user gets) or looked up in its sorted
 * neighbours. */
void pymk_l3(int64_t b, const int64_t *two_indptr, const int32_t *two_indices, const float *two_data, int64_t m,
             const int64_t *rows, const int64_t *cols, const int64_t *indptr, const int32_t *indices,
             const double *inv_sqrtdeg, const int32_t *hub, const uint8_t *bits, int64_t row_bytes,
             double *scratch, float *out) {
    int64_t p = 0;
    for (int64_t i = 0; i < b; i++) {
        int64_t lo = two_indptr[i], hi = two_indptr[i + 1];
        for (int64_t k = lo; k < hi; k++) scratch[two_indices[k]] = (double)two_data[k] * inv_sqrtdeg[two_indices[k]];
        for (; p < m && rows[p] == i; p++) {
            int64_t c = cols[p], a = indptr[c], e = indptr[c + 1];
            double s = 0.0;
            int32_t h = hub[c];
            if (hi == lo) {
            } else if (h >= 0 && e - a > hi - lo) {
                const uint8_t *row = bits + (int64_t)h * row_bytes;
                for (int64_t k = lo; k < hi; k++) {
                    int32_t z = two_indices[k];
                    if ((row[z >> 3] >> (z & 7)) & 1) s += scratch[z];
                }
            } else if (e - a <= 16 * (hi - lo)) {
                for (int64_t q = a; q < e; q++) s += scratch[indices[q]];
            } else { /* a hub candidate: look the (fewer) 2-hop users up in its sorted neighbours */
                for (int64_t k = lo; k < hi; k++) {
                    int32_t z = two_indices[k];
                    if (find_sorted(indices, a, e, z) >= 0) s += scratch[z];
                }
            }
            out[p] = (float)s;
        }
        for (int64_t k = lo; k < hi; k++) scratch[two_indices[k]] = 0.0;
    }
}

/* Is v a worse guess than x (lower resource allocation; ties: the higher index)? */
static inline int worse(const double *score, int32_t v, int32_t x) {
    return score[v] < score[x] || (score[v] == score[x] && v > x);
}

/* Each user's best non-neighbours by resource allocation (pymk.features.completion's guesses): for u in
 * 0..n-1, ra[v] = sum_w inv_deg[w] over paths u - w - v with v neither u nor a neighbour; the want[u]
 * largest (ties: the lower v) go to out[indptr_out[u] .. + counts[u]) in no particular order, counts[u]
 * <= want[u] (fewer where the 2-hop reach is smaller); indptr_out = the running sum of want. scratch:
 * double (n) zero; touched: int32 (n). Each row's kept set is a min-heap on "worse" while it is built. */
void pymk_ra_guesses(int64_t n, const int64_t *indptr, const int32_t *indices, const double *inv_deg,
                     const int64_t *want, const int64_t *indptr_out, double *scratch, int32_t *touched,
                     int32_t *out, int64_t *counts) {
    for (int64_t u = 0; u < n; u++) {
        int64_t k = want[u], t = 0, size = 0;
        int32_t *heap = out + indptr_out[u];
        counts[u] = 0;
        if (k <= 0) continue;
        for (int64_t p = indptr[u]; p < indptr[u + 1]; p++) {
            int32_t w = indices[p];
            for (int64_t q = indptr[w]; q < indptr[w + 1]; q++) {
                int32_t v = indices[q];
                if (scratch[v] == 0.0) touched[t++] = v;
                scratch[v] += inv_deg[w];
            }
        }
        scratch[u] = -1.0; /* excluded: itself and its neighbours */
        for (int64_t p = indptr[u]; p < indptr[u + 1]; p++) scratch[indices[p]] = -1.0;
        for (int64_t i = 0; i < t; i++) {
            int32_t v = touched[i];
            if (scratch[v] <= 0.0) continue;
            if (size < k) { /* push, sift up */
                int64_t c = size++;
                while (c > 0) {
                    int64_t parent = (c - 1) / 2;
                    if (!worse(scratch, v, heap[parent])) break;
                    heap[c] = heap[parent];
                    c = parent;
                }
                heap[c] = v;
            } else if (worse(scratch, heap[0], v)) { /* replace the worst kept, sift down */
                int64_t c = 0;
                for (;;) {
                    int64_t l = 2 * c + 1, r = l + 1, m = c;
                    int32_t at = v;
                    if (l < size && worse(scratch, heap[l], at)) { m = l; at = heap[l]; }
                    if (r < size && worse(scratch, heap[r], at)) m = r;
                    if (m == c) break;
                    heap[c] = heap[m];
                    c = m;
                }
                heap[c] = v;
            }
        }
        counts[u] = size;
        for (int64_t i = 0; i < t; i++) scratch[touched[i]] = 0.0;
        scratch[u] = 0.0;
        for (int64_t p = indptr[u]; p < indptr[u + 1]; p++) scratch[indices[p]] = 0.0;
    }
}

/* Completed-graph scores at candidate pairs (pymk.features.completion), on a weighted symmetric graph D
 * (indptr, indices sorted, data): for pair p, u = users[rows[p]] and c = cols[p],
 *   out[2p] = sum_w D[u,w] D[w,c] inv_strength[w]        out[2p+1] = sum_w D[u,w] D[w,c]
 * rows sorted. scratch: double (2n) zero scratch, values kept as (ra, cn)-like pairs so that one cache
 * line serves both sums; touched: int32 (n). Per user the cheaper of two ways:
 * - its 2-hop row over D accumulated once (sum of its neighbours' degrees), each pair then read off it —
 *   the way for a user of a few neighbours facing hub candidates;
 * - per pair, the candidate's row walked against the user's scattered row, or, for a candidate with 16x
 *   more neighbours, the user's neighbours looked up in the candidate's sorted row. */
void pymk_completed(int64_t b, const int64_t *users, int64_t m, const int64_t *rows, const int64_t *cols,
                    const int64_t *indptr, const int32_t *indices, const double *data,
                    const double *inv_strength, double *scratch, int32_t *touched, float *out) {
    int64_t p = 0;
    for (int64_t i = 0; i < b; i++) {
        int64_t u = users[i], lo = indptr[u], hi = indptr[u + 1], du = hi - lo, end = p;
        int64_t two_hop = 0, per_pair = 0;
        for (int64_t k = lo; k < hi; k++) two_hop += indptr[indices[k] + 1] - indptr[indices[k]];
        for (; end < m && rows[end] == i; end++) {
            int64_t dc = indptr[cols[end] + 1] - indptr[cols[end]];
            per_pair += 4 + (dc <= 16 * du ? dc : 12 * du);
        }
        if (two_hop < per_pair) {
            int64_t t = 0;
            for (int64_t k = lo; k < hi; k++) {
                int64_t w = indices[k];
                double f = data[k] * inv_strength[w], g = data[k];
                for (int64_t q = indptr[w]; q < indptr[w + 1]; q++) {
                    double *at = scratch + 2 * (int64_t)indices[q];
                    if (at[1] == 0.0) touched[t++] = indices[q];
                    at[0] += f * data[q];
                    at[1] += g * data[q];
                }
            }
            for (; p < end; p++) {
                const double *at = scratch + 2 * cols[p];
                out[2 * p] = (float)at[0];
                out[2 * p + 1] = (float)at[1];
            }
            for (int64_t k = 0; k < t; k++) {
                scratch[2 * (int64_t)touched[k]] = 0.0;
                scratch[2 * (int64_t)touched[k] + 1] = 0.0;
            }
            continue;
        }
        for (int64_t k = lo; k < hi; k++) {
            int64_t w = indices[k];
            scratch[2 * w] = data[k] * inv_strength[w];
            scratch[2 * w + 1] = data[k];
        }
        for (; p < end; p++) {
            int64_t c = cols[p], a = indptr[c], e = indptr[c + 1];
            double ra = 0.0, cn = 0.0;
            if (e - a <= 16 * du) {
                for (int64_t q = a; q < e; q++) {
                    const double *at = scratch + 2 * (int64_t)indices[q];
                    ra += at[0] * data[q];
                    cn += at[1] * data[q];
                }
            } else {
                for (int64_t k = lo; k < hi; k++) {
                    int32_t w = indices[k];
                    int64_t l = find_sorted(indices, a, e, w);
                    if (l >= 0) {
                        double x = data[k] * data[l];
                        cn += x;
                        ra += x * inv_strength[w];
                    }
                }
            }
            out[2 * p] = (float)ra;
            out[2 * p + 1] = (float)cn;
        }
        for (int64_t k = lo; k < hi; k++) {
            int64_t w = indices[k];
            scratch[2 * w] = 0.0;
            scratch[2 * w + 1] = 0.0;
        }
    }
}

/* Position of each pair (rows[p], cols[p]) in CSR rows (indptr, indices; sorted), or -1 if absent. */
void pymk_lookup(const int64_t *indptr, const int32_t *indices, int64_t m, const int64_t *rows,
                 const int64_t *cols, int64_t *out) {
    for (int64_t p = 0; p < m; p++) out[p] = find_sorted(indices, indptr[rows[p]], indptr[rows[p] + 1], (int32_t)cols[p]);
}

typedef struct {
    float value;
    int32_t col;
} scored;

static int cmp_scored(const void *a, const void *b) { /* value descending, then column ascending */
    const scored *x = (const scored *)a, *y = (const scored *)b;
    if (x->value != y->value) return x->value < y->value ? 1 : -1;
    return (x->col > y->col) - (x->col < y->col);
}

/* Bits of `mark` while one user's candidates are gathered. */
#define LINKED 1
#define PICKED 2

/* The `k` best entries of one CSR row by value (ties: lower column) that are positive, known, not the user
 * and not linked to it, appended to `picked` (marked PICKED). */
static int64_t top_of_row(int64_t lo, int64_t hi, const int32_t *indices, const float *data, int64_t k,
                          const uint8_t *known, uint8_t *mark, scored *buf, int32_t *picked, int64_t np) {
    int64_t t = 0;
    for (int64_t q = lo; q < hi; q++) {
        int32_t c = indices[q];
        if (data[q] > 0 && known[c] && !(mark[c] & LINKED)) buf[t++] = (scored){data[q], c};
    }
    if (t > k) qsort(buf, (size_t)t, sizeof(scored), cmp_scored);
    for (int64_t j = 0; j < t && j < k; j++) {
        int32_t c = buf[j].col;
        if (!(mark[c] & PICKED)) {
            mark[c] |= PICKED;
            picked[np++] = c;
        }
    }
    return np;
}

/* Merged candidates of each user (pymk.candidates.sources without the gnn source): the `k_fof` best
 * of its `fof` row (Adamic-Adar), the `k_ppr` best of its `ppr` row, and the users of `global` (n_global)
 * that are valid for it; valid = known, not the user, not a neighbour. Output pairs sorted by row then
 * column. mark: uint8 (n) zero scratch; buf: (n) scored scratch (8 bytes each); picked: int32 (n). */
int64_t pymk_candidates(int64_t b, const int64_t *users, const int64_t *indptr, const int32_t *indices,
                        const uint8_t *known, const int64_t *fof_indptr, const int32_t *fof_indices,
                        const float *fof_data, int64_t k_fof, const int64_t *ppr_indptr,
                        const int32_t *ppr_indices, const float *ppr_data, int64_t k_ppr, int64_t n_global,
                        const int32_t *global, uint8_t *mark, void *buf, int32_t *picked, int64_t cap,
                        int64_t *out_rows, int64_t *out_cols) {
    int64_t m = 0;
    for (int64_t i = 0; i < b; i++) {
        int64_t u = users[i];
        mark[u] |= LINKED;
        for (int64_t p = indptr[u]; p < indptr[u + 1]; p++) mark[indices[p]] |= LINKED;
        int64_t np = 0;
        np = top_of_row(fof_indptr[i], fof_indptr[i + 1], fof_indices, fof_data, k_fof, known, mark,
                        (scored *)buf, picked, np);
        np = top_of_row(ppr_indptr[i], ppr_indptr[i + 1], ppr_indices, ppr_data, k_ppr, known, mark,
                        (scored *)buf, picked, np);
        for (int64_t j = 0; j < n_global; j++) {
            int32_t c = global[j];
            if (known[c] && !mark[c]) {
                mark[c] |= PICKED;
                picked[np++] = c;
            }
        }
        int overflow = m + np > cap;
        if (!overflow) qsort(picked, (size_t)np, sizeof(int32_t), cmp_i32);
        for (int64_t j = 0; j < np; j++) {
            if (!overflow) {
                out_rows[m + j] = i;
                out_cols[m + j] = picked[j];
            }
            mark[picked[j]] = 0;
        }
        mark[u] = 0;
        for (int64_t p = indptr[u]; p < indptr[u + 1]; p++) mark[indices[p]] = 0;
        if (overflow) return -1;
        m += np;
    }
    return m;
}

/* Value at (row, col) of CSR rows (sorted), 0 if absent. */
static inline float at(const int64_t *indptr, const int32_t *indices, const float *data, int64_t row, int32_t col) {
    int64_t lo = indptr[row], end = indptr[row + 1], hi = end;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (indices[mid] < col) lo = mid + 1;
        else hi = mid;
    }
    return (lo < end && indices[lo] == col) ? data[lo] : 0.0f;
}

/* The feature rows of pymk.features.pairs.pair_features (same columns, same float32 arithmetic) for the
 * pairs (users[rows[p]], cols[p]), rows sorted. n_blocks = 8 scores in BLOCKS order: cn, aa, ra, wra from
 * the shared 2-hop pattern, l3 given, svd from `emb` (n x dim), gnn from `gnn` (n x gdim, or NULL:
 * zeros), ppr from its rows. Then the 8 scores over the user's best, the 5 mutual-friend shares, the
 * candidate's `n_user` user features and the query user's `n_query` ones (columns `query_cols`). */
void pymk_pair_features(int64_t b, const int64_t *users, int64_t m, const int64_t *rows, const int64_t *cols,
                        const int64_t *two_indptr, const int32_t *two_indices, const float *cn,
                        const float *aa, const float *ra, const float *wra, const float *l3, const float *emb,
                        int64_t dim, const float *gnn, int64_t gdim, const int64_t *ppr_indptr,
                        const int32_t *ppr_indices, const float *ppr_data, const float *degree,
                        const float *user_features, int64_t n_user, const int64_t *query_cols,
                        int64_t n_query, int64_t width, float *out) {
    const int K = 8;
    int64_t p = 0;
    for (int64_t i = 0; i < b; i++) {
        int64_t lo = p, u = users[i];
        float mx[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        const float *eu = emb + u * dim, *gu = gnn ? gnn + u * gdim : NULL;
        for (; p < m && rows[p] == i; p++) {
            int32_t c = (int32_t)cols[p];
            float *o = out + p * width;
            int64_t a = two_indptr[i], e = two_indptr[i + 1], h = e;
            while (a < h) {
                int64_t mid = a + (h - a) / 2;
                if (two_indices[mid] < c) a = mid + 1;
                else h = mid;
            }
            int found = a < e && two_indices[a] == c;
            o[0] = found ? cn[a] : 0.0f;
            o[1] = found ? aa[a] : 0.0f;
            o[2] = found ? ra[a] : 0.0f;
            o[3] = found ? wra[a] : 0.0f;
            o[4] = l3[p];
            double s = 0.0;
            const float *ec = emb + (int64_t)c * dim;
            for (int64_t d = 0; d < dim; d++) s += (double)eu[d] * (double)ec[d];
            o[5] = (float)s;
            double g = 0.0;
            if (gnn) {
                const float *gc = gnn + (int64_t)c * gdim;
                for (int64_t d = 0; d < gdim; d++) g += (double)gu[d] * (double)gc[d];
            }
            o[6] = (float)g;
            o[7] = at(ppr_indptr, ppr_indices, ppr_data, i, c);
            for (int k = 0; k < K; k++)
                if (o[k] > mx[k]) mx[k] = o[k];
            float du = degree[u], dc = degree[c], x = o[0];
            float *r = o + 2 * K;
            r[0] = x / fmaxf(du + dc - x, 1.0f);
            r[1] = x / fmaxf(du, 1.0f);
            r[2] = x / fmaxf(dc, 1.0f);
            r[3] = x / fmaxf(fminf(du, dc), 1.0f);
            r[4] = x / fmaxf(fmaxf(du, dc), 1.0f);
            const float *fc = user_features + (int64_t)c * n_user, *fu = user_features + u * n_user;
            for (int64_t f = 0; f < n_user; f++) r[5 + f] = fc[f];
            for (int64_t f = 0; f < n_query; f++) r[5 + n_user + f] = fu[query_cols[f]];
        }
        for (int k = 0; k < K; k++) mx[k] = fmaxf(mx[k], 1e-12f);
        for (int64_t q = lo; q < p; q++) {
            float *o = out + q * width;
            for (int k = 0; k < K; k++) o[K + k] = o[k] / mx[k];
        }
    }
}

/* k-core numbers (Batagelj & Zaversnik 2003, O(edges)): users sit in bins by remaining degree; the one of
 * least remaining degree is removed next, and each neighbour of larger remaining degree moves down one
 * bin. deg: int64 (n), the degrees on entry and the core numbers on return (no self-loops); bins: int64
 * (max_deg + 1); pos, vert: int64 (n) scratch. */
void pymk_core_numbers(int64_t n, const int64_t *indptr, const int32_t *indices, int64_t max_deg, int64_t *deg,
                       int64_t *bins, int64_t *pos, int64_t *vert) {
    for (int64_t d = 0; d <= max_deg; d++) bins[d] = 0;
    for (int64_t v = 0; v < n; v++) bins[deg[v]]++;
    for (int64_t d = 0, start = 0; d <= max_deg; d++) {
        int64_t count = bins[d];
        bins[d] = start;
        start += count;
    }
    for (int64_t v = 0; v < n; v++) {
        pos[v] = bins[deg[v]]++;
        vert[pos[v]] = v;
    }
    for (int64_t d = max_deg; d > 0; d--) bins[d] = bins[d - 1];
    if (max_deg >= 0) bins[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t v = vert[i];
        for (int64_t p = indptr[v]; p < indptr[v + 1]; p++) {
            int64_t u = indices[p];
            if (deg[u] > deg[v]) {
                int64_t du = deg[u], pu = pos[u], first = bins[du], w = vert[first];
                if (u != w) {
                    pos[u] = first;
                    vert[pu] = w;
                    pos[w] = pu;
                    vert[first] = u;
                }
                bins[du]++;
                deg[u]--;
            }
        }
    }
}

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_kernels",
    .m_doc = "C kernels of pymk.features.native (called through ctypes).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
