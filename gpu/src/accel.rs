//! MSM and NTT on a [`Device`]: the host side of the kernels in `src/cuda/kernels.cu`.
//!
//! **MSM** (Pippenger, unsigned `c`-bit digits, `⌈254/c⌉` windows):
//! 1. `msm_count`: per scalar and window, count the points of each bucket
//!    (key = window·2^c + digit; digit 0 is skipped);
//! 2. on the host: prefix sums of the counts;
//!    `msm_scatter` then writes the point indices grouped by bucket;
//! 3. `msm_sum_affine`: bucket contents in chunks of at most [`CHUNK`] points,
//!    one thread per chunk (mixed XYZZ + affine additions), so that a crowded
//!    bucket (many equal digits, common in witness columns) spreads over threads;
//!    `msm_sum_xyzz` folds the chunk sums, level by level, into one point per bucket;
//! 4. `msm_bucket_reduce`: per window, segments of buckets reduce by the
//!    running-sum trick (`Σ d·B_d`), `msm_window_sum` adds the segments;
//! 5. on the host: windows combine with `c` doublings each (a few dozen points).
//!
//! Bases are uploaded once per slice (keyed by address, length and three of
//! its points) and converted to Montgomery form on the device; at most
//! [`BASES_CACHED`] slices stay resident.
//!
//! **NTT**: bit-reversal permutation, then `log n` radix-2 stages with
//! precomputed twiddles `ω^j` (cached per size and root); inverse and coset
//! variants scale or distribute powers on the device.

use std::sync::{Arc, Mutex};

use halo2_proofs::arithmetic::best_multiexp;
use halo2curves::CurveAffine;
use halo2curves::bn256::{Fq, Fr, G1, G1Affine};
use halo2curves::ff::{Field, PrimeField};
use halo2curves::group::Group;
use rayon::prelude::*;

use crate::device::{Arg, Device, DeviceError, Kernel, u32_bytes, u32_bytes_mut, u64_bytes, u64_bytes_mut};
use crate::{MsmBackend, NttBackend};

/// Most points one thread adds in a bucket-accumulation pass.
pub const CHUNK: usize = 32;
/// Base slices kept on the device.
pub const BASES_CACHED: usize = 4;
/// Twiddle tables kept on the device.
const TWIDDLES_CACHED: usize = 8;
/// Bits of a BN254 scalar.
const SCALAR_BITS: usize = 254;

/// Window size for an MSM of `n` points on a device (bucket memory grows as
/// 2^c per window, so it is capped at 16).
pub fn device_window_bits(n: usize) -> usize {
    crate::msm::window_bits(n).clamp(4, 16)
}

struct CachedBases<B> {
    key: (usize, usize, [u64; 24]),
    buf: Arc<B>,
}

struct CachedTwiddles<B> {
    n: usize,
    omega: [u8; 32],
    buf: Arc<B>,
}

/// MSM and NTT on a device. Small inputs and everything after a device failure
/// (reported on stderr, once) run on the CPU: halo2curves' MSM (the CPU prover's,
/// faster than ours) and our NTT, so a proof is never lost to a device error.
pub struct Accel<D: Device> {
    dev: D,
    /// MSMs and NTTs shorter than this run on the CPU (the device's fixed costs dominate).
    min_len: usize,
    bases: Mutex<Vec<CachedBases<D::Buf>>>,
    twiddles: Mutex<Vec<CachedTwiddles<D::Buf>>>,
    /// One operation at a time on the device.
    run: Mutex<()>,
    failed: std::sync::atomic::AtomicBool,
}

impl<D: Device> Accel<D> {
    /// A backend on `dev`; inputs shorter than `min_len` stay on the CPU.
    pub fn new(dev: D, min_len: usize) -> Self {
        Self {
            dev,
            min_len,
            bases: Mutex::new(Vec::new()),
            twiddles: Mutex::new(Vec::new()),
            run: Mutex::new(()),
            failed: Default::default(),
        }
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.dev
    }

    fn note_failure(&self, what: &str, e: &DeviceError) {
        if !self.failed.swap(true, std::sync::atomic::Ordering::Relaxed) {
            eprintln!(
                "zkinfer-gpu: {what} failed on {} ({e}); using the CPU for this and later failures",
                self.dev.describe()
            );
        }
    }

    /// `Σ scalars[i]·bases[i]` on the device: the scalars' window digits sorted
    /// into buckets ([`Accel::msm_sort`]), each bucket's points summed
    /// ([`Accel::msm_buckets`]), the buckets reduced per window and the windows
    /// combined ([`Accel::msm_windows`]).
    pub fn try_msm(&self, scalars: &[Fr], bases: &[G1Affine]) -> Result<G1, DeviceError> {
        assert_eq!(scalars.len(), bases.len(), "MSM with {} scalars and {} bases", scalars.len(), bases.len());
        let n = scalars.len();
        if n == 0 {
            return Ok(G1::identity());
        }
        if n >= 1 << 28 {
            return Err(DeviceError(format!("MSM of {n} points is beyond the device backend's 2^28")));
        }
        let _run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        let c = device_window_bits(n);
        let windows = SCALAR_BITS.div_ceil(c);
        let bases_buf = self.bases_on_device(bases)?;
        let Some(sorted) = self.msm_sort(scalars, c, windows)? else {
            return Ok(G1::identity());
        };
        let buckets = self.msm_buckets(&bases_buf, sorted, windows << c)?;
        self.msm_windows(&buckets, c, windows)
    }

    /// The point indices of every (window, digit) bucket, bucket after bucket, with
    /// each bucket's count and offset; `None` when every digit is zero.
    fn msm_sort(&self, scalars: &[Fr], c: usize, windows: usize) -> Result<Option<Sorted<D::Buf>>, DeviceError> {
        let dev = &self.dev;
        let n = scalars.len();
        let keys = windows << c;
        let mut words = vec![0u64; 4 * n];
        words.par_chunks_mut(4).zip(scalars.par_iter()).for_each(|(w, s)| w.copy_from_slice(&limbs::<Fr>(s)));
        let sc = dev.upload(u64_bytes(&words))?;
        drop(words);

        let counts_buf = dev.alloc(4 * keys)?;
        let (n32, c32, w32) = (n as u32, c as u32, windows as u32);
        dev.launch(
            Kernel::MsmCount,
            n32,
            &[Arg::Buf(&sc), Arg::Buf(&counts_buf), Arg::U32(n32), Arg::U32(c32), Arg::U32(w32)],
        )?;
        let mut counts = vec![0u32; keys];
        dev.download(&counts_buf, u32_bytes_mut(&mut counts))?;
        drop(counts_buf);

        let mut offsets = vec![0u32; keys];
        let mut total = 0u64;
        for (o, &k) in offsets.iter_mut().zip(&counts) {
            *o = total as u32;
            total += k as u64;
        }
        if total == 0 {
            return Ok(None);
        }
        let cursor = dev.upload(u32_bytes(&offsets))?;
        let idx = dev.alloc(4 * total as usize)?;
        dev.launch(
            Kernel::MsmScatter,
            n32,
            &[Arg::Buf(&sc), Arg::Buf(&cursor), Arg::Buf(&idx), Arg::U32(n32), Arg::U32(c32), Arg::U32(w32)],
        )?;
        Ok(Some(Sorted { idx, counts, offsets }))
    }

    /// Each bucket's sum of points (XYZZ, 128 bytes a bucket, `keys` buckets): chunks
    /// of at most [`CHUNK`] points summed in affine form, then the chunks' partial sums
    /// folded until one point per bucket is left.
    fn msm_buckets(&self, bases: &D::Buf, sorted: Sorted<D::Buf>, keys: usize) -> Result<D::Buf, DeviceError> {
        let dev = &self.dev;
        let buckets_used =
            sorted.counts.iter().zip(&sorted.offsets).enumerate().map(|(key, (&cnt, &off))| (key as u32, off, cnt));
        let Chunks { key: seg_key, start: seg_start, len: seg_len } = chunks(buckets_used);
        let nseg = seg_key.len();
        let mut partial = dev.alloc(128 * nseg)?;
        {
            let (st, ln) = (dev.upload(u32_bytes(&seg_start))?, dev.upload(u32_bytes(&seg_len))?);
            dev.launch(
                Kernel::MsmSumAffine,
                nseg as u32,
                &[
                    Arg::Buf(bases),
                    Arg::Buf(&sorted.idx),
                    Arg::Buf(&st),
                    Arg::Buf(&ln),
                    Arg::Buf(&partial),
                    Arg::U32(nseg as u32),
                ],
            )?;
        }
        drop(sorted);

        let buckets = dev.alloc(128 * keys)?;
        let mut part_key = seg_key;
        loop {
            // Runs of equal keys in `part_key` (sorted by construction).
            let mut runs: Vec<(u32, u32, u32)> = Vec::new(); // (key, start, len)
            for (i, &k) in part_key.iter().enumerate() {
                match runs.last_mut() {
                    Some(r) if r.0 == k => r.2 += 1,
                    _ => runs.push((k, i as u32, 1)),
                }
            }
            let last = runs.iter().all(|r| r.2 as usize <= CHUNK);
            let Chunks { key: keys_next, start: st, len: ln } = chunks(runs.into_iter());
            let count = st.len();
            // The last pass writes each bucket's sum into its slot; earlier ones into a new array.
            let dst: Vec<u32> = if last { keys_next.clone() } else { (0..count as u32).collect() };
            let (stb, lnb, dstb) =
                (dev.upload(u32_bytes(&st))?, dev.upload(u32_bytes(&ln))?, dev.upload(u32_bytes(&dst))?);
            let next = if last { None } else { Some(dev.alloc(128 * count)?) };
            let target = next.as_ref().unwrap_or(&buckets);
            dev.launch(
                Kernel::MsmSumXyzz,
                count as u32,
                &[
                    Arg::Buf(&partial),
                    Arg::Buf(&stb),
                    Arg::Buf(&lnb),
                    Arg::Buf(&dstb),
                    Arg::Buf(target),
                    Arg::U32(count as u32),
                ],
            )?;
            match next {
                None => break,
                Some(b) => {
                    partial = b;
                    part_key = keys_next;
                }
            }
        }
        Ok(buckets)
    }

    /// `Σ_w 2^(c·w) · Σ_d d·B_{w,d}`: the buckets reduced per window on the device (in
    /// segments), the windows combined on the host.
    fn msm_windows(&self, buckets: &D::Buf, c: usize, windows: usize) -> Result<G1, DeviceError> {
        let dev = &self.dev;
        let (c32, w32) = (c as u32, windows as u32);
        let digits = (1usize << c) - 1;
        // Each segment pays about 2c point operations for its (lo − 1)·ΣB term.
        let segs = (digits / (2 * c)).min(8192 / windows).max(1);
        let segres = dev.alloc(128 * windows * segs)?;
        dev.launch(
            Kernel::MsmBucketReduce,
            (windows * segs) as u32,
            &[Arg::Buf(buckets), Arg::Buf(&segres), Arg::U32(w32), Arg::U32(c32), Arg::U32(segs as u32)],
        )?;
        let out = dev.alloc(128 * windows)?;
        dev.launch(
            Kernel::MsmWindowSum,
            w32,
            &[Arg::Buf(&segres), Arg::Buf(&out), Arg::U32(w32), Arg::U32(segs as u32)],
        )?;
        let mut sums = vec![0u64; 16 * windows];
        dev.download(&out, u64_bytes_mut(&mut sums))?;

        let mut acc = G1::identity();
        for w in sums.chunks(16).rev() {
            for _ in 0..c {
                acc = acc.double();
            }
            acc += xyzz_to_point(w)?;
        }
        Ok(acc)
    }

    /// The device copy of `bases` (uploaded and converted on first use).
    fn bases_on_device(&self, bases: &[G1Affine]) -> Result<Arc<D::Buf>, DeviceError> {
        let mut tag = [0u64; 24];
        for (i, p) in [bases[0], bases[bases.len() / 2], bases[bases.len() - 1]].iter().enumerate() {
            tag[8 * i..8 * i + 8].copy_from_slice(&affine_words(p));
        }
        let key = (bases.as_ptr() as usize, bases.len(), tag);
        let mut cache = self.bases.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = cache.iter().position(|c| c.key == key) {
            let hit = cache.remove(pos);
            let buf = hit.buf.clone();
            cache.push(hit);
            return Ok(buf);
        }
        let mut words = vec![0u64; 8 * bases.len()];
        words.par_chunks_mut(8).zip(bases.par_iter()).for_each(|(w, p)| w.copy_from_slice(&affine_words(p)));
        let buf = self.dev.upload(u64_bytes(&words))?;
        let n = bases.len() as u32;
        self.dev.launch(Kernel::FqPointsToMont, n, &[Arg::Buf(&buf), Arg::U32(n)])?;
        let buf = Arc::new(buf);
        if cache.len() >= BASES_CACHED {
            cache.remove(0);
        }
        cache.push(CachedBases { key, buf: buf.clone() });
        Ok(buf)
    }

    fn twiddles_on_device(&self, n: usize, omega: Fr) -> Result<Arc<D::Buf>, DeviceError> {
        let repr = omega.to_repr();
        let mut cache = self.twiddles.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = cache.iter().find(|c| c.n == n && c.omega == repr) {
            return Ok(c.buf.clone());
        }
        let half = (n / 2).max(1);
        let mut words = vec![0u64; 4 * half];
        let chunk = 1024;
        words.par_chunks_mut(4 * chunk).enumerate().for_each(|(ci, part)| {
            let mut p = omega.pow_vartime([(ci * chunk) as u64]);
            for w in part.chunks_mut(4) {
                w.copy_from_slice(&limbs::<Fr>(&p));
                p *= omega;
            }
        });
        let buf = self.dev.upload(u64_bytes(&words))?;
        self.dev.launch(Kernel::FrToMont, half as u32, &[Arg::Buf(&buf), Arg::U32(half as u32)])?;
        let buf = Arc::new(buf);
        if cache.len() >= TWIDDLES_CACHED {
            cache.remove(0);
        }
        cache.push(CachedTwiddles { n, omega: repr, buf: buf.clone() });
        Ok(buf)
    }

    /// The NTT family on the device: optional `pre` powers, the transform with
    /// `omega`, optional scaling by `scale`, optional `post` powers. On an error
    /// `a` is unchanged.
    pub fn try_transform(
        &self,
        a: &mut [Fr],
        omega: Fr,
        pre: Option<Fr>,
        scale: Option<Fr>,
        post: Option<Fr>,
    ) -> Result<(), DeviceError> {
        let n = a.len();
        assert!(n.is_power_of_two(), "NTT size {n} is not a power of two");
        if n >= 1 << 28 {
            return Err(DeviceError(format!("NTT of size {n} is beyond the device backend's 2^28")));
        }
        let _run = self.run.lock().unwrap_or_else(|e| e.into_inner());
        let dev = &self.dev;
        let n32 = n as u32;
        let mut words = vec![0u64; 4 * n];
        words.par_chunks_mut(4).zip(a.par_iter()).for_each(|(w, s)| w.copy_from_slice(&limbs::<Fr>(s)));
        let src = dev.upload(u64_bytes(&words))?;
        dev.launch(Kernel::FrToMont, n32, &[Arg::Buf(&src), Arg::U32(n32)])?;
        let constant = |v: Fr| -> Result<D::Buf, DeviceError> {
            let b = dev.upload(u64_bytes(&limbs::<Fr>(&v)))?;
            dev.launch(Kernel::FrToMont, 1, &[Arg::Buf(&b), Arg::U32(1)])?;
            Ok(b)
        };
        if let Some(g) = pre {
            let gb = constant(g)?;
            dev.launch(Kernel::FrDistributePowers, n32, &[Arg::Buf(&src), Arg::Buf(&gb), Arg::U32(n32)])?;
        }
        let data = dev.alloc(32 * n)?;
        dev.launch(
            Kernel::NttBitReverse,
            n32,
            &[Arg::Buf(&src), Arg::Buf(&data), Arg::U32(n32), Arg::U32(n.trailing_zeros())],
        )?;
        drop(src);
        if n > 1 {
            let tw = self.twiddles_on_device(n, omega)?;
            let mut half = 1usize;
            while half < n {
                let stride = n / (2 * half);
                dev.launch(
                    Kernel::NttStage,
                    n32 / 2,
                    &[Arg::Buf(&data), Arg::Buf(&tw), Arg::U32(n32), Arg::U32(half as u32), Arg::U32(stride as u32)],
                )?;
                half *= 2;
            }
        }
        if let Some(k) = scale {
            let kb = constant(k)?;
            dev.launch(Kernel::FrScale, n32, &[Arg::Buf(&data), Arg::Buf(&kb), Arg::U32(n32)])?;
        }
        if let Some(g) = post {
            let gb = constant(g)?;
            dev.launch(Kernel::FrDistributePowers, n32, &[Arg::Buf(&data), Arg::Buf(&gb), Arg::U32(n32)])?;
        }
        dev.launch(Kernel::FrFromMont, n32, &[Arg::Buf(&data), Arg::U32(n32)])?;
        dev.download(&data, u64_bytes_mut(&mut words))?;
        // Checked in full before `a` is touched, so a failure leaves the input intact.
        let values: Option<Vec<Fr>> = words.par_chunks(4).map(from_limbs::<Fr>).collect();
        let values = values.ok_or_else(|| DeviceError("the device returned a non-canonical field element".into()))?;
        a.copy_from_slice(&values);
        Ok(())
    }
}

impl<D: Device> MsmBackend for Accel<D> {
    fn name(&self) -> &'static str {
        "device"
    }
    fn msm(&self, scalars: &[Fr], bases: &[G1Affine]) -> G1 {
        if scalars.len() < self.min_len || self.failed.load(std::sync::atomic::Ordering::Relaxed) {
            return best_multiexp(scalars, bases);
        }
        self.try_msm(scalars, bases).unwrap_or_else(|e| {
            self.note_failure("MSM", &e);
            best_multiexp(scalars, bases)
        })
    }
}

impl<D: Device> Accel<D> {
    fn transform_or_cpu(&self, a: &mut [Fr], omega: Fr, pre: Option<Fr>, scale: Option<Fr>, post: Option<Fr>) {
        if a.len() >= self.min_len && !self.failed.load(std::sync::atomic::Ordering::Relaxed) {
            match self.try_transform(a, omega, pre, scale, post) {
                Ok(()) => return,
                Err(e) => self.note_failure("NTT", &e),
            }
        }
        if let Some(g) = pre {
            crate::ntt::distribute_powers(a, g);
        }
        crate::ntt::ntt(a, omega);
        if let Some(k) = scale {
            a.par_iter_mut().for_each(|x| *x *= k);
        }
        if let Some(g) = post {
            crate::ntt::distribute_powers(a, g);
        }
    }
}

impl<D: Device> NttBackend for Accel<D> {
    fn name(&self) -> &'static str {
        "device"
    }
    fn ntt(&self, a: &mut [Fr], omega: Fr) {
        self.transform_or_cpu(a, omega, None, None, None)
    }
    fn intt(&self, a: &mut [Fr], omega: Fr) {
        let inv = omega.invert().expect("root of unity is not zero");
        let n_inv = Fr::from(a.len() as u64).invert().expect("n is not zero in Fr");
        self.transform_or_cpu(a, inv, None, Some(n_inv), None)
    }
    fn coset_ntt(&self, a: &mut [Fr], omega: Fr, g: Fr) {
        self.transform_or_cpu(a, omega, Some(g), None, None)
    }
    fn coset_intt(&self, a: &mut [Fr], omega: Fr, g: Fr) {
        let inv = omega.invert().expect("root of unity is not zero");
        let n_inv = Fr::from(a.len() as u64).invert().expect("n is not zero in Fr");
        let g_inv = g.invert().expect("coset generator is not zero");
        self.transform_or_cpu(a, inv, None, Some(n_inv), Some(g_inv))
    }
}

/// Segments of at most [`CHUNK`] consecutive entries, none crossing a run.
/// The bucket sort of an MSM's scalar digits ([`Accel::msm_sort`]).
struct Sorted<B> {
    /// Point indices, bucket after bucket.
    idx: B,
    /// Points per bucket.
    counts: Vec<u32>,
    /// Where each bucket starts in `idx`.
    offsets: Vec<u32>,
}

struct Chunks {
    key: Vec<u32>,
    start: Vec<u32>,
    len: Vec<u32>,
}

/// Splits runs `(key, start, len)` (empty ones skipped) into [`Chunks`], in order.
fn chunks(runs: impl Iterator<Item = (u32, u32, u32)>) -> Chunks {
    let mut c = Chunks { key: Vec::new(), start: Vec::new(), len: Vec::new() };
    for (key, start, len) in runs {
        let mut done = 0;
        while done < len {
            let l = (len - done).min(CHUNK as u32);
            c.key.push(key);
            c.start.push(start + done);
            c.len.push(l);
            done += l;
        }
    }
    c
}

/// A field element's canonical little-endian limbs.
fn limbs<F: PrimeField<Repr = [u8; 32]>>(x: &F) -> [u64; 4] {
    let r = x.to_repr();
    std::array::from_fn(|i| u64::from_le_bytes(r[8 * i..8 * i + 8].try_into().expect("8 bytes")))
}

/// The field element of canonical limbs, if they are below the modulus.
fn from_limbs<F: PrimeField<Repr = [u8; 32]>>(w: &[u64]) -> Option<F> {
    let mut r = [0u8; 32];
    for (i, l) in w.iter().enumerate() {
        r[8 * i..8 * i + 8].copy_from_slice(&l.to_le_bytes());
    }
    F::from_repr(r).into()
}

/// x and y, canonical; the identity is all zero.
fn affine_words(p: &G1Affine) -> [u64; 8] {
    let mut out = [0u64; 8];
    if let Some(c) = Option::<halo2curves::Coordinates<G1Affine>>::from(p.coordinates()) {
        out[..4].copy_from_slice(&limbs::<Fq>(c.x()));
        out[4..].copy_from_slice(&limbs::<Fq>(c.y()));
    }
    out
}

/// An XYZZ point from the device (canonical coordinates), checked to be on the curve.
fn xyzz_to_point(w: &[u64]) -> Result<G1, DeviceError> {
    let bad = || DeviceError("the device returned a non-canonical coordinate".into());
    let x = from_limbs::<Fq>(&w[0..4]).ok_or_else(bad)?;
    let y = from_limbs::<Fq>(&w[4..8]).ok_or_else(bad)?;
    let zz = from_limbs::<Fq>(&w[8..12]).ok_or_else(bad)?;
    let zzz = from_limbs::<Fq>(&w[12..16]).ok_or_else(bad)?;
    if bool::from(zz.is_zero()) {
        return Ok(G1::identity());
    }
    let ax = x * zz.invert().expect("nonzero");
    let ay = y * Option::<Fq>::from(zzz.invert())
        .ok_or_else(|| DeviceError("the device returned ZZZ = 0 with ZZ ≠ 0".into()))?;
    let p: Option<G1Affine> = G1Affine::from_xy(ax, ay).into();
    p.map(G1::from).ok_or_else(|| DeviceError("the device returned a point off the curve".into()))
}
