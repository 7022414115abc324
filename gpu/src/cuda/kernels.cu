// zkinfer GPU kernels: BN254 field arithmetic (Montgomery, 4 x 64-bit limbs),
// G1 in XYZZ coordinates, Pippenger MSM stages and radix-2 NTT stages.
//
// Compiled at run time by NVRTC (no headers available there), and at build
// time by the host C++ compiler through `emu.h`, which runs every kernel on
// the CPU for the tests. Kernels therefore use no shared memory and no
// __syncthreads(): each thread's work is independent within a launch, and
// every launch is a 1-D grid whose threads check `tid < count`.
//
// Layouts (all little-endian u64 limbs):
//   field element   4 limbs
//   affine point    x[4] y[4]               (identity: all zero)
//   XYZZ point      X[4] Y[4] ZZ[4] ZZZ[4]  (x = X/ZZ, y = Y/ZZZ; identity: ZZ = 0)
// Values cross the host boundary in canonical form; kernels named *_to_mont /
// *_from_mont convert.

#ifndef ZK_EMU
typedef unsigned long long u64;
typedef unsigned int u32;
#define DEV __device__ __forceinline__
// Point operations are real calls: inlining them everywhere makes the module
// several MB of PTX and the driver's JIT slow at start.
#define DEV_CALL __device__ __noinline__
#define KERNEL extern "C" __global__ void
#define TID (blockIdx.x * blockDim.x + threadIdx.x)
DEV u64 mul_hi(u64 a, u64 b) { return __umul64hi(a, b); }
DEV u32 atomic_inc(u32 *p) { return atomicAdd(p, 1u); }
#endif

// ---------------------------------------------------------------- fields

struct FqCfg {
    static DEV u64 p(int i) {
        const u64 v[4] = {0x3c208c16d87cfd47ULL, 0x97816a916871ca8dULL, 0xb85045b68181585dULL, 0x30644e72e131a029ULL};
        return v[i];
    }
    static DEV u64 r2(int i) {
        const u64 v[4] = {0xf32cfc5b538afa89ULL, 0xb5e71911d44501fbULL, 0x47ab1eff0a417ff6ULL, 0x06d89f71cab8351fULL};
        return v[i];
    }
    static DEV u64 one(int i) {
        const u64 v[4] = {0xd35d438dc58f0d9dULL, 0x0a78eb28f5c70b3dULL, 0x666ea36f7879462cULL, 0x0e0a77c19a07df2fULL};
        return v[i];
    }
    static DEV u64 inv() { return 0x87d20782e4866389ULL; }
};

struct FrCfg {
    static DEV u64 p(int i) {
        const u64 v[4] = {0x43e1f593f0000001ULL, 0x2833e84879b97091ULL, 0xb85045b68181585dULL, 0x30644e72e131a029ULL};
        return v[i];
    }
    static DEV u64 r2(int i) {
        const u64 v[4] = {0x1bb8e645ae216da7ULL, 0x53fe3ab1e35c59e3ULL, 0x8c49833d53bb8085ULL, 0x0216d0b17f4e44a5ULL};
        return v[i];
    }
    static DEV u64 one(int i) {
        const u64 v[4] = {0xac96341c4ffffffbULL, 0x36fc76959f60cd29ULL, 0x666ea36f7879462eULL, 0x0e0a77c19a07df2fULL};
        return v[i];
    }
    static DEV u64 inv() { return 0xc2e1f593efffffffULL; }
};

template <class C> struct Fe {
    u64 v[4];
};

typedef Fe<FqCfg> Fq;
typedef Fe<FrCfg> Fr;

// lo + carry*2^64 = a + b*c + d (never overflows 128 bits).
DEV u64 mac(u64 a, u64 b, u64 c, u64 d, u64 &carry) {
    u64 lo = b * c;
    u64 hi = mul_hi(b, c);
    lo += a;
    hi += (lo < a);
    lo += d;
    hi += (lo < d);
    carry = hi;
    return lo;
}

template <class C> DEV Fe<C> fe_load(const u64 *p) {
    Fe<C> r;
    for (int i = 0; i < 4; i++) r.v[i] = p[i];
    return r;
}

template <class C> DEV void fe_store(u64 *p, const Fe<C> &a) {
    for (int i = 0; i < 4; i++) p[i] = a.v[i];
}

template <class C> DEV Fe<C> fe_zero() {
    Fe<C> r;
    for (int i = 0; i < 4; i++) r.v[i] = 0;
    return r;
}

template <class C> DEV Fe<C> fe_one() {
    Fe<C> r;
    for (int i = 0; i < 4; i++) r.v[i] = C::one(i);
    return r;
}

template <class C> DEV bool fe_is_zero(const Fe<C> &a) {
    return (a.v[0] | a.v[1] | a.v[2] | a.v[3]) == 0;
}

template <class C> DEV bool fe_eq(const Fe<C> &a, const Fe<C> &b) {
    return ((a.v[0] ^ b.v[0]) | (a.v[1] ^ b.v[1]) | (a.v[2] ^ b.v[2]) | (a.v[3] ^ b.v[3])) == 0;
}

// r = a - p if a >= p (a < 2p, with `hi` the bit above the 4 limbs).
template <class C> DEV Fe<C> fe_reduce_once(const Fe<C> &a, u64 hi) {
    Fe<C> t;
    u64 borrow = 0;
    for (int i = 0; i < 4; i++) {
        u64 pi = C::p(i);
        u64 d = a.v[i] - pi;
        u64 b1 = a.v[i] < pi;
        u64 d2 = d - borrow;
        u64 b2 = d < borrow;
        t.v[i] = d2;
        borrow = b1 | b2;
    }
    // a >= p exactly when the subtraction did not borrow past the top bit.
    if (hi || !borrow) return t;
    return a;
}

template <class C> DEV Fe<C> fe_add(const Fe<C> &a, const Fe<C> &b) {
    Fe<C> s;
    u64 carry = 0;
    for (int i = 0; i < 4; i++) {
        u64 t = a.v[i] + b.v[i];
        u64 c1 = t < a.v[i];
        u64 t2 = t + carry;
        u64 c2 = t2 < t;
        s.v[i] = t2;
        carry = c1 | c2;
    }
    return fe_reduce_once<C>(s, carry);
}

template <class C> DEV Fe<C> fe_sub(const Fe<C> &a, const Fe<C> &b) {
    Fe<C> d;
    u64 borrow = 0;
    for (int i = 0; i < 4; i++) {
        u64 t = a.v[i] - b.v[i];
        u64 b1 = a.v[i] < b.v[i];
        u64 t2 = t - borrow;
        u64 b2 = t < borrow;
        d.v[i] = t2;
        borrow = b1 | b2;
    }
    if (borrow) {
        u64 carry = 0;
        for (int i = 0; i < 4; i++) d.v[i] = mac(d.v[i], 1, C::p(i), carry, carry);
    }
    return d;
}

template <class C> DEV Fe<C> fe_neg(const Fe<C> &a) {
    return fe_sub<C>(fe_zero<C>(), a);
}

// Montgomery product a*b/R mod p (CIOS).
template <class C> DEV Fe<C> fe_mul(const Fe<C> &a, const Fe<C> &b) {
    u64 t[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < 4; i++) {
        u64 carry = 0;
        for (int j = 0; j < 4; j++) t[j] = mac(t[j], a.v[j], b.v[i], carry, carry);
        u64 s = t[4] + carry;
        t[5] = (s < carry);
        t[4] = s;
        u64 m = t[0] * C::inv();
        mac(t[0], m, C::p(0), 0, carry);
        for (int j = 1; j < 4; j++) t[j - 1] = mac(t[j], m, C::p(j), carry, carry);
        s = t[4] + carry;
        t[3] = s;
        t[4] = t[5] + (s < carry);
    }
    Fe<C> r;
    for (int i = 0; i < 4; i++) r.v[i] = t[i];
    return fe_reduce_once<C>(r, t[4]);
}

template <class C> DEV Fe<C> fe_sqr(const Fe<C> &a) {
    return fe_mul<C>(a, a);
}

template <class C> DEV Fe<C> fe_double(const Fe<C> &a) {
    return fe_add<C>(a, a);
}

template <class C> DEV Fe<C> fe_to_mont(const Fe<C> &a) {
    Fe<C> r2;
    for (int i = 0; i < 4; i++) r2.v[i] = C::r2(i);
    return fe_mul<C>(a, r2);
}

template <class C> DEV Fe<C> fe_from_mont(const Fe<C> &a) {
    Fe<C> one = fe_zero<C>();
    one.v[0] = 1;
    return fe_mul<C>(a, one);
}

// a^e for a small exponent (Montgomery in and out).
template <class C> DEV Fe<C> fe_pow_u64(const Fe<C> &a, u64 e) {
    Fe<C> acc = fe_one<C>();
    Fe<C> base = a;
    while (e) {
        if (e & 1) acc = fe_mul<C>(acc, base);
        base = fe_sqr<C>(base);
        e >>= 1;
    }
    return acc;
}

// ---------------------------------------------------------------- G1 (y^2 = x^3 + 3)

struct Xyzz {
    Fq x, y, zz, zzz;
};

DEV Xyzz xyzz_identity() {
    Xyzz r;
    r.x = fe_zero<FqCfg>();
    r.y = fe_zero<FqCfg>();
    r.zz = fe_zero<FqCfg>();
    r.zzz = fe_zero<FqCfg>();
    return r;
}

DEV bool xyzz_is_identity(const Xyzz &p) {
    return fe_is_zero<FqCfg>(p.zz);
}

DEV Xyzz xyzz_load(const u64 *p) {
    Xyzz r;
    r.x = fe_load<FqCfg>(p);
    r.y = fe_load<FqCfg>(p + 4);
    r.zz = fe_load<FqCfg>(p + 8);
    r.zzz = fe_load<FqCfg>(p + 12);
    return r;
}

DEV void xyzz_store(u64 *p, const Xyzz &a) {
    fe_store<FqCfg>(p, a.x);
    fe_store<FqCfg>(p + 4, a.y);
    fe_store<FqCfg>(p + 8, a.zz);
    fe_store<FqCfg>(p + 12, a.zzz);
}

// dbl-2008-s-1 (a = 0).
DEV_CALL Xyzz xyzz_double(const Xyzz &p) {
    if (xyzz_is_identity(p) || fe_is_zero<FqCfg>(p.y)) return xyzz_identity();
    Fq u = fe_double<FqCfg>(p.y);
    Fq v = fe_sqr<FqCfg>(u);
    Fq w = fe_mul<FqCfg>(u, v);
    Fq s = fe_mul<FqCfg>(p.x, v);
    Fq x2 = fe_sqr<FqCfg>(p.x);
    Fq m = fe_add<FqCfg>(fe_double<FqCfg>(x2), x2);
    Xyzz r;
    r.x = fe_sub<FqCfg>(fe_sqr<FqCfg>(m), fe_double<FqCfg>(s));
    r.y = fe_sub<FqCfg>(fe_mul<FqCfg>(m, fe_sub<FqCfg>(s, r.x)), fe_mul<FqCfg>(w, p.y));
    r.zz = fe_mul<FqCfg>(v, p.zz);
    r.zzz = fe_mul<FqCfg>(w, p.zzz);
    return r;
}

// p + (x2, y2) with the affine point in Montgomery form; (0, 0) is the identity.
// madd-2008-s.
DEV_CALL Xyzz xyzz_add_affine(const Xyzz &p, const Fq &x2, const Fq &y2) {
    if (fe_is_zero<FqCfg>(x2) && fe_is_zero<FqCfg>(y2)) return p;
    if (xyzz_is_identity(p)) {
        Xyzz r;
        r.x = x2;
        r.y = y2;
        r.zz = fe_one<FqCfg>();
        r.zzz = fe_one<FqCfg>();
        return r;
    }
    Fq u2 = fe_mul<FqCfg>(x2, p.zz);
    Fq s2 = fe_mul<FqCfg>(y2, p.zzz);
    Fq pp_ = fe_sub<FqCfg>(u2, p.x);
    Fq r_ = fe_sub<FqCfg>(s2, p.y);
    if (fe_is_zero<FqCfg>(pp_)) {
        if (fe_is_zero<FqCfg>(r_)) return xyzz_double(p);
        return xyzz_identity();
    }
    Fq pp = fe_sqr<FqCfg>(pp_);
    Fq ppp = fe_mul<FqCfg>(pp_, pp);
    Fq q = fe_mul<FqCfg>(p.x, pp);
    Xyzz r;
    r.x = fe_sub<FqCfg>(fe_sub<FqCfg>(fe_sqr<FqCfg>(r_), ppp), fe_double<FqCfg>(q));
    r.y = fe_sub<FqCfg>(fe_mul<FqCfg>(r_, fe_sub<FqCfg>(q, r.x)), fe_mul<FqCfg>(p.y, ppp));
    r.zz = fe_mul<FqCfg>(p.zz, pp);
    r.zzz = fe_mul<FqCfg>(p.zzz, ppp);
    return r;
}

// add-2008-s.
DEV_CALL Xyzz xyzz_add(const Xyzz &p, const Xyzz &q) {
    if (xyzz_is_identity(p)) return q;
    if (xyzz_is_identity(q)) return p;
    Fq u1 = fe_mul<FqCfg>(p.x, q.zz);
    Fq u2 = fe_mul<FqCfg>(q.x, p.zz);
    Fq s1 = fe_mul<FqCfg>(p.y, q.zzz);
    Fq s2 = fe_mul<FqCfg>(q.y, p.zzz);
    Fq pp_ = fe_sub<FqCfg>(u2, u1);
    Fq r_ = fe_sub<FqCfg>(s2, s1);
    if (fe_is_zero<FqCfg>(pp_)) {
        if (fe_is_zero<FqCfg>(r_)) return xyzz_double(p);
        return xyzz_identity();
    }
    Fq pp = fe_sqr<FqCfg>(pp_);
    Fq ppp = fe_mul<FqCfg>(pp_, pp);
    Fq qq = fe_mul<FqCfg>(u1, pp);
    Xyzz r;
    r.x = fe_sub<FqCfg>(fe_sub<FqCfg>(fe_sqr<FqCfg>(r_), ppp), fe_double<FqCfg>(qq));
    r.y = fe_sub<FqCfg>(fe_mul<FqCfg>(r_, fe_sub<FqCfg>(qq, r.x)), fe_mul<FqCfg>(s1, ppp));
    r.zz = fe_mul<FqCfg>(fe_mul<FqCfg>(p.zz, q.zz), pp);
    r.zzz = fe_mul<FqCfg>(fe_mul<FqCfg>(p.zzz, q.zzz), ppp);
    return r;
}

// k * p for a small k (double-and-add from the top bit).
DEV_CALL Xyzz xyzz_mul_small(const Xyzz &p, u32 k) {
    Xyzz acc = xyzz_identity();
    int top = 31;
    while (top >= 0 && !((k >> top) & 1u)) top--;
    for (int bit = top; bit >= 0; bit--) {
        acc = xyzz_double(acc);
        if ((k >> bit) & 1) acc = xyzz_add(acc, p);
    }
    return acc;
}

// ---------------------------------------------------------------- MSM kernels

// The c-bit digit of a canonical scalar (4 limbs) starting at bit `start`.
DEV u32 scalar_digit(const u64 *s, u32 start, u32 c) {
    u32 limb = start >> 6;
    u32 shift = start & 63;
    u64 v = s[limb] >> shift;
    if (shift + c > 64 && limb < 3) v |= s[limb + 1] << (64 - shift);
    return (u32)(v & ((1ULL << c) - 1));
}

// Affine bases: canonical -> Montgomery, in place (the identity stays zero).
KERNEL fq_points_to_mont(u64 *pts, u32 n) {
    u32 i = TID;
    if (i >= n) return;
    for (int k = 0; k < 2; k++) {
        Fq a = fe_load<FqCfg>(pts + 8 * (u64)i + 4 * k);
        fe_store<FqCfg>(pts + 8 * (u64)i + 4 * k, fe_to_mont<FqCfg>(a));
    }
}

// counts[w * 2^c + d] += 1 for every nonzero digit d of scalar i in window w.
KERNEL msm_count(const u64 *scalars, u32 *counts, u32 n, u32 c, u32 windows) {
    u32 i = TID;
    if (i >= n) return;
    const u64 *s = scalars + 4 * (u64)i;
    for (u32 w = 0; w < windows; w++) {
        u32 d = scalar_digit(s, w * c, c);
        if (d) atomic_inc(&counts[(w << c) + d]);
    }
}

// idx[cursor[key]++] = i: the point indices grouped by bucket key.
KERNEL msm_scatter(const u64 *scalars, u32 *cursor, u32 *idx, u32 n, u32 c, u32 windows) {
    u32 i = TID;
    if (i >= n) return;
    const u64 *s = scalars + 4 * (u64)i;
    for (u32 w = 0; w < windows; w++) {
        u32 d = scalar_digit(s, w * c, c);
        if (d) idx[atomic_inc(&cursor[(w << c) + d])] = i;
    }
}

// out[s] = sum of bases[idx[start[s] .. start[s] + len[s]]].
KERNEL msm_sum_affine(const u64 *bases, const u32 *idx, const u32 *start, const u32 *len, u64 *out, u32 nseg) {
    u32 s = TID;
    if (s >= nseg) return;
    Xyzz acc = xyzz_identity();
    u32 a = start[s];
    for (u32 k = 0; k < len[s]; k++) {
        const u64 *b = bases + 8 * (u64)idx[a + k];
        acc = xyzz_add_affine(acc, fe_load<FqCfg>(b), fe_load<FqCfg>(b + 4));
    }
    xyzz_store(out + 16 * (u64)s, acc);
}

// dst[dst_index[s]] = sum of src[start[s] .. start[s] + len[s]].
KERNEL msm_sum_xyzz(const u64 *src, const u32 *start, const u32 *len, const u32 *dst_index, u64 *dst, u32 nseg) {
    u32 s = TID;
    if (s >= nseg) return;
    Xyzz acc = xyzz_identity();
    u32 a = start[s];
    for (u32 k = 0; k < len[s]; k++) acc = xyzz_add(acc, xyzz_load(src + 16 * (u64)(a + k)));
    xyzz_store(dst + 16 * (u64)dst_index[s], acc);
}

// Thread (w, j) covers digits [lo, hi) of window w (segment j of `segs`) and
// writes sum_{d in [lo, hi)} d * bucket[w][d] by the running-sum trick.
KERNEL msm_bucket_reduce(const u64 *buckets, u64 *out, u32 windows, u32 c, u32 segs) {
    u32 t = TID;
    if (t >= windows * segs) return;
    u32 w = t / segs;
    u32 j = t % segs;
    u32 digits = (1u << c) - 1;
    u32 per = (digits + segs - 1) / segs;
    u32 lo = 1 + j * per;
    u32 hi = lo + per;
    if (hi > digits + 1) hi = digits + 1;
    Xyzz running = xyzz_identity();
    Xyzz acc = xyzz_identity();
    if (lo < hi) {
        for (u32 d = hi; d-- > lo;) {
            running = xyzz_add(running, xyzz_load(buckets + 16 * (((u64)w << c) + d)));
            acc = xyzz_add(acc, running);
        }
        // acc = sum (d - lo + 1) B_d; add (lo - 1) * sum B_d.
        if (lo > 1) acc = xyzz_add(acc, xyzz_mul_small(running, lo - 1));
    }
    xyzz_store(out + 16 * (u64)t, acc);
}

// out[w] = sum of the window's segment results, converted to canonical form.
KERNEL msm_window_sum(const u64 *segres, u64 *out, u32 windows, u32 segs) {
    u32 w = TID;
    if (w >= windows) return;
    Xyzz acc = xyzz_identity();
    for (u32 j = 0; j < segs; j++) acc = xyzz_add(acc, xyzz_load(segres + 16 * ((u64)w * segs + j)));
    acc.x = fe_from_mont<FqCfg>(acc.x);
    acc.y = fe_from_mont<FqCfg>(acc.y);
    acc.zz = fe_from_mont<FqCfg>(acc.zz);
    acc.zzz = fe_from_mont<FqCfg>(acc.zzz);
    xyzz_store(out + 16 * (u64)w, acc);
}

// ---------------------------------------------------------------- NTT kernels (Fr)

KERNEL fr_to_mont(u64 *a, u32 n) {
    u32 i = TID;
    if (i >= n) return;
    fe_store<FrCfg>(a + 4 * (u64)i, fe_to_mont<FrCfg>(fe_load<FrCfg>(a + 4 * (u64)i)));
}

KERNEL fr_from_mont(u64 *a, u32 n) {
    u32 i = TID;
    if (i >= n) return;
    fe_store<FrCfg>(a + 4 * (u64)i, fe_from_mont<FrCfg>(fe_load<FrCfg>(a + 4 * (u64)i)));
}

// dst[bitrev(i)] = src[i].
KERNEL ntt_bit_reverse(const u64 *src, u64 *dst, u32 n, u32 log_n) {
    u32 i = TID;
    if (i >= n) return;
    u32 r = 0;
    for (u32 b = 0; b < log_n; b++) r |= ((i >> b) & 1u) << (log_n - 1 - b);
    for (int k = 0; k < 4; k++) dst[4 * (u64)r + k] = src[4 * (u64)i + k];
}

// One radix-2 Cooley-Tukey stage over blocks of 2*half; tw[j] = w^j (j < n/2).
KERNEL ntt_stage(u64 *a, const u64 *tw, u32 n, u32 half, u32 stride) {
    u32 t = TID;
    if (t >= n / 2) return;
    u32 j = t % half;
    u64 i0 = (u64)(t / half) * 2 * half + j;
    u64 i1 = i0 + half;
    Fr w = fe_load<FrCfg>(tw + 4 * (u64)j * stride);
    Fr u = fe_load<FrCfg>(a + 4 * i0);
    Fr v = fe_mul<FrCfg>(fe_load<FrCfg>(a + 4 * i1), w);
    fe_store<FrCfg>(a + 4 * i0, fe_add<FrCfg>(u, v));
    fe_store<FrCfg>(a + 4 * i1, fe_sub<FrCfg>(u, v));
}

// a[i] *= k (k: one Montgomery element).
KERNEL fr_scale(u64 *a, const u64 *k, u32 n) {
    u32 i = TID;
    if (i >= n) return;
    fe_store<FrCfg>(a + 4 * (u64)i, fe_mul<FrCfg>(fe_load<FrCfg>(a + 4 * (u64)i), fe_load<FrCfg>(k)));
}

// a[i] *= g^i (g: one Montgomery element).
KERNEL fr_distribute_powers(u64 *a, const u64 *g, u32 n) {
    u32 i = TID;
    if (i >= n) return;
    Fr p = fe_pow_u64<FrCfg>(fe_load<FrCfg>(g), i);
    fe_store<FrCfg>(a + 4 * (u64)i, fe_mul<FrCfg>(fe_load<FrCfg>(a + 4 * (u64)i), p));
}
