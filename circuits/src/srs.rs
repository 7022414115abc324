//! Structured reference strings (powers of tau) for KZG on BN254.
//!
//! Three sources:
//! * [`Srs::dev`]: an **INSECURE** SRS from a fixed public seed. Anyone who knows
//!   the seed knows τ and can forge proofs.
//! * [`Srs::import_ptau`]: a snarkjs / Perpetual Powers of Tau `.ptau` file,
//!   the format of the public ceremonies.
//! * [`Srs::read`]: a file written by [`Srs::write`], or a bare halo2
//!   `ParamsKZG` file (e.g. Axiom's `kzg_bn254_{k}.srs`).
//!
//! Nothing in a file is trusted that can be checked. Whatever the source:
//! every point is on its curve (and τ·G2 in the prime-order subgroup), the first
//! powers are the generators, τ is not 0 or ±1, the G1 powers are powers of the τ
//! of τ·G2 and — for files, which carry them — the Lagrange-basis points are
//! the Lagrange basis of those powers. The last two are one randomized check:
//! with random 128-bit `r_i`, `s_i` and `a = IFFT(s)` (so that `Σ_i s_i·L_i(τ) =
//! Σ_j a_j·τ^j`),
//!
//! ```text
//! Σ_i r_i·(g[i+1] − τ·g[i])  = 0      the powers are powers of the τ of τ·G2
//! Σ_i s_i·gl[i] − Σ_j a_j·g[j] = 0    the Lagrange points are IFFT(g)
//! ```
//!
//! checked as one pairing equation, `e(Σ_j (r_{j−1} − a_j)·g[j] + Σ_i s_i·gl[i],
//! G2) = e(Σ_i r_i·g[i], τG2)`: 3 multi-scalar multiplications over 2^k points
//! (two of them with 128-bit scalars) and 2 pairings; a wrong file passes with
//! probability at most 2^−127.
//!
//! The Lagrange points matter most: keygen commits the fixed columns (the
//! weights) and the permutation with them, so a crafted basis makes a verifying
//! key that commits to another circuit.
//!
//! Whether an SRS is insecure is recognised from τ·G2, not from a flag a file
//! could leave out: [`known_public_tau`] lists the τs whose secret is public
//! (the dev seed, halo2-base's zero-seed `gen_srs`). `insecure == false` means
//! only "not known to be insecure": the file's provenance (its hash, recorded in
//! setup.json, and its τ·G2 fingerprint) is what to compare with a ceremony's
//! published values.
//!
//! File format written by [`Srs::write`]: the 12 bytes `zkinfer-srs\n`, one
//! version byte (1), one flags byte (bit 0: insecure; advisory, set for the dev
//! SRS and ignored when reading), then `ParamsKZG` in halo2's raw format (k as
//! u32 LE, 2^k monomial G1 points, 2^k Lagrange G1 points, G2, τG2;
//! uncompressed, Montgomery form).

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use halo2_proofs::SerdeFormat;
use halo2_proofs::poly::EvaluationDomain;
use halo2_proofs::poly::commitment::Params;
use halo2_proofs::poly::kzg::commitment::ParamsKZG;
use halo2curves::CurveAffine;
use halo2curves::bn256::{Bn256, Fq, Fr, G1, G1Affine, G2Affine};
use halo2curves::ff::{Field, PrimeField};
use halo2curves::group::cofactor::CofactorGroup;
use halo2curves::group::prime::PrimeCurveAffine;
use halo2curves::group::{Curve, Group};
use halo2curves::pairing::Engine;
use halo2curves::serde::SerdeObject;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha3::{Digest, Keccak256};

use crate::error::{CircuitError, Result};

/// The largest k this crate reads or generates (2^28 rows is beyond any circuit we build).
pub const MAX_K: u32 = 28;

const MAGIC: &[u8; 12] = b"zkinfer-srs\n";
const VERSION: u8 = 1;
const FLAG_INSECURE: u8 = 1;
/// The public seed of the dev SRS.
const DEV_SEED: [u8; 32] = [0x5a; 32];

/// Why an SRS was refused: its points are valid curve points but do not form
/// a KZG setup (a corrupt or crafted file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SrsError {
    /// `g[0]` is not the G1 generator or the G2 point is not the G2 generator.
    #[error("the first powers are not the standard generators")]
    NotGenerators,
    /// τ·G2 is on the curve but not in the prime-order subgroup.
    #[error("τ·G2 is not in the prime-order subgroup of G2")]
    TauG2NotInSubgroup,
    /// τ is 0, 1 or −1.
    #[error("τ is 0, 1 or −1: not a secret")]
    TrivialTau,
    /// The G1 points are not consecutive powers of the τ in τ·G2.
    #[error("the G1 powers are not consecutive powers of the τ in τ·G2 (pairing check failed)")]
    NotPowersOfTau,
    /// The Lagrange-basis points are not the Lagrange basis of the G1 powers.
    #[error("the Lagrange-basis points (g_lagrange) are not the Lagrange basis of the G1 powers")]
    LagrangeBasisMismatch,
}

/// KZG parameters and where they came from.
#[derive(Clone, Debug)]
pub struct Srs {
    /// The halo2 parameters.
    pub params: ParamsKZG<Bn256>,
    /// True when τ is known to be public ([`known_public_tau`]): proofs against
    /// it prove nothing. False means only that it is not known to be.
    pub insecure: bool,
    /// keccak256 of the file it was read from ([`Srs::read`]); `None` when it
    /// was generated or imported. Downsizing keeps it (it names the source).
    pub source_keccak256: Option<[u8; 32]>,
}

/// The name of a τ whose secret is public, recognised by τ·G2: the zkinfer
/// dev seed and halo2-base's zero-seed `gen_srs` (`ParamsKZG::setup` with
/// `ChaCha20Rng::from_seed([0; 32])`). `None` for any other τ.
pub fn known_public_tau(s_g2: &G2Affine) -> Option<&'static str> {
    static KNOWN: std::sync::OnceLock<Vec<(G2Affine, &'static str)>> = std::sync::OnceLock::new();
    let known = KNOWN.get_or_init(|| {
        // ParamsKZG::setup draws τ first from its RNG.
        let tau_g2 = |seed: [u8; 32]| (G2Affine::generator() * Fr::random(ChaCha20Rng::from_seed(seed))).to_affine();
        vec![
            (tau_g2(DEV_SEED), "the zkinfer dev SRS (public seed)"),
            (tau_g2([0; 32]), "halo2-base gen_srs (zero seed)"),
        ]
    });
    known.iter().find(|(p, _)| p == s_g2).map(|(_, name)| *name)
}

impl Srs {
    /// An **INSECURE** SRS of size 2^k from a fixed public seed, for tests and demos.
    pub fn dev(k: u32) -> Result<Srs> {
        check_k(k)?;
        Ok(Srs {
            params: ParamsKZG::<Bn256>::setup(k, ChaCha20Rng::from_seed(DEV_SEED)),
            insecure: true,
            source_keccak256: None,
        })
    }

    /// log2 of the number of powers.
    pub fn k(&self) -> u32 {
        self.params.k()
    }

    /// These parameters cut down to `k` (the first 2^k powers; Lagrange basis recomputed).
    pub fn downsized(&self, k: u32) -> Result<Srs> {
        if k > self.k() {
            return Err(CircuitError::Invalid(format!(
                "cannot downsize an SRS of k = {} to the larger k = {k}; a larger SRS is needed",
                self.k()
            )));
        }
        check_k(k)?;
        let mut params = self.params.clone();
        if k < self.k() {
            params.downsize(k);
        }
        Ok(Srs { params, insecure: self.insecure, source_keccak256: self.source_keccak256 })
    }

    /// Writes the zkinfer SRS file.
    pub fn write(&self, path: &Path) -> Result<()> {
        let io = |source| CircuitError::Io { path: path.display().to_string(), source };
        let mut w = BufWriter::new(File::create(path).map_err(io)?);
        w.write_all(MAGIC).map_err(io)?;
        w.write_all(&[VERSION, if self.insecure { FLAG_INSECURE } else { 0 }]).map_err(io)?;
        self.params.write_custom(&mut w, SerdeFormat::RawBytes).map_err(io)?;
        w.flush().map_err(io)
    }

    /// Reads a zkinfer SRS file or a bare halo2 `ParamsKZG` file (raw format)
    /// and checks it (module docs): a file that is not a KZG setup is refused
    /// with [`CircuitError::Srs`]. `insecure` comes from τ·G2
    /// ([`known_public_tau`]), never from the file's flag byte alone.
    pub fn read(path: &Path) -> Result<Srs> {
        let io = |source| CircuitError::Io { path: path.display().to_string(), source };
        let bad = |what: String| CircuitError::Invalid(format!("{}: {what}", path.display()));
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut r = HashingReader { inner: BufReader::new(file), hash: Keccak256::new() };
        let mut head = [0u8; 14];
        let got = read_up_to(&mut r, &mut head).map_err(io)?;
        // A headerless file starts with k: the bytes already read are its first ones.
        let (flagged, header_len, prefix) = if got == 14 && &head[..12] == MAGIC {
            if head[12] != VERSION {
                return Err(bad(format!("unsupported SRS file version {}", head[12])));
            }
            (head[13] & FLAG_INSECURE != 0, 14u64, Vec::new())
        } else {
            (false, 0u64, head[..got].to_vec())
        };
        let mut rest = std::io::Cursor::new(prefix).chain(&mut r);
        let mut kb = [0u8; 4];
        rest.read_exact(&mut kb).map_err(|_| bad("truncated: no k".into()))?;
        let k = u32::from_le_bytes(kb);
        if k > MAX_K {
            return Err(bad(format!("k = {k} is larger than the supported {MAX_K}; not an SRS file?")));
        }
        // 2 * 2^k G1 points of 64 bytes, then two G2 points of 128 bytes.
        let expect = header_len + 4 + (2u64 << k) * 64 + 256;
        if len != expect {
            return Err(bad(format!(
                "{len} bytes, but an SRS of k = {k} has {expect}; the file is truncated or not an SRS"
            )));
        }
        check_k(k)?;
        let n = 1usize << k;
        let mut points = |what: &str| -> Result<Vec<G1Affine>> {
            (0..n).map(|i| G1Affine::read_checked(&mut rest).map_err(|e| bad(format!("{what}[{i}]: {e}")))).collect()
        };
        let g = points("g")?;
        let g_lagrange = points("g_lagrange")?;
        let g2 = G2Affine::read_checked(&mut rest).map_err(|e| bad(format!("g2: {e}")))?;
        let s_g2 = G2Affine::read_checked(&mut rest).map_err(|e| bad(format!("s_g2: {e}")))?;
        drop(rest);
        let source_keccak256: [u8; 32] = r.hash.finalize().into();
        let refused = |error| CircuitError::Srs { path: path.display().to_string(), error };
        check_setup(&g, Some(&g_lagrange), None, g2, s_g2).map_err(refused)?;
        let insecure = known_public_tau(&s_g2).is_some() || flagged;
        let params = dummy_params().from_parts(k, g, Some(g_lagrange), g2, s_g2);
        Ok(Srs { params, insecure, source_keccak256: Some(source_keccak256) })
    }

    /// Imports a snarkjs / Perpetual Powers of Tau `.ptau` file (BN254), keeping the first
    /// 2^k powers (all of them when `k` is `None`).
    ///
    /// Checks the curve (the field modulus in the header), that every point is on its
    /// curve, and that the powers are powers of one τ: with random `r_i`,
    /// `e(Σ r_i τ^{i+1} G1, G2) = e(Σ r_i τ^i G1, τ G2)`.
    pub fn import_ptau(path: &Path, k: Option<u32>) -> Result<Srs> {
        let io = |source| CircuitError::Io { path: path.display().to_string(), source };
        let bad = |what: String| CircuitError::Invalid(format!("{}: {what}", path.display()));
        let file = File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut r = BufReader::new(file);
        let mut magic = [0u8; 4];
        r.read_exact(&mut magic).map_err(|_| bad("too short for a .ptau file".into()))?;
        if &magic != b"ptau" {
            return Err(bad("not a .ptau file (magic is not \"ptau\")".into()));
        }
        let _version = read_u32(&mut r).map_err(|_| bad("truncated header".into()))?;
        let n_sections = read_u32(&mut r).map_err(|_| bad("truncated header".into()))?;
        if n_sections > 64 {
            return Err(bad(format!("{n_sections} sections: not a .ptau file")));
        }
        // Section table: type → (offset, size).
        let mut sections = std::collections::HashMap::new();
        let mut pos = 12u64;
        for _ in 0..n_sections {
            let ty = read_u32(&mut r).map_err(|_| bad("truncated section header".into()))?;
            let size = read_u64(&mut r).map_err(|_| bad("truncated section header".into()))?;
            pos += 12;
            if size > len.saturating_sub(pos) {
                return Err(bad(format!("section {ty} claims {size} bytes past the end of the file")));
            }
            sections.entry(ty).or_insert((pos, size));
            pos += size;
            r.seek(SeekFrom::Start(pos)).map_err(io)?;
        }
        let section = |ty: u32| sections.get(&ty).copied().ok_or_else(|| bad(format!("section {ty} is missing")));

        // Section 1: n8, q, power.
        let (off, size) = section(1)?;
        r.seek(SeekFrom::Start(off)).map_err(io)?;
        let n8 = read_u32(&mut r).map_err(|_| bad("truncated header section".into()))?;
        if n8 != 32 || size < 4 + 32 + 4 {
            return Err(bad(format!("field element size {n8} bytes: only BN254 (32) is supported")));
        }
        let mut q = [0u8; 32];
        r.read_exact(&mut q).map_err(io)?;
        if q != fq_modulus_le() {
            return Err(bad("the curve is not BN254 (bn128)".into()));
        }
        let power = read_u32(&mut r).map_err(io)?;
        if power > MAX_K {
            return Err(bad(format!("power {power} is larger than the supported {MAX_K}")));
        }
        let k = k.unwrap_or(power);
        if k > power {
            return Err(bad(format!("holds 2^{power} powers; k = {k} needs 2^{k}")));
        }
        check_k(k)?;
        let n = 1usize << k;

        // Section 2: τ^i G1, 2·2^power − 1 points of 64 bytes. Section 3: τ^i G2, 128 bytes each.
        let (off, size) = section(2)?;
        if size < (n as u64) * 64 {
            return Err(bad(format!("tauG1 section has {size} bytes, fewer than 2^{k} points")));
        }
        r.seek(SeekFrom::Start(off)).map_err(io)?;
        let mut g = Vec::with_capacity(n + 1);
        for i in 0..n {
            let p = G1Affine::read_checked(&mut r).map_err(|e| bad(format!("tauG1[{i}]: {e}")))?;
            g.push(p);
        }
        // One more power for the consistency check, when the file has it.
        let next = if size >= (n as u64 + 1) * 64 {
            Some(G1Affine::read_checked(&mut r).map_err(|e| bad(format!("tauG1[{n}]: {e}")))?)
        } else {
            None
        };
        let (off, size) = section(3)?;
        if size < 2 * 128 {
            return Err(bad("tauG2 section has fewer than 2 points".into()));
        }
        r.seek(SeekFrom::Start(off)).map_err(io)?;
        let g2 = G2Affine::read_checked(&mut r).map_err(|e| bad(format!("tauG2[0]: {e}")))?;
        let s_g2 = G2Affine::read_checked(&mut r).map_err(|e| bad(format!("tauG2[1]: {e}")))?;

        check_setup(&g, None, next, g2, s_g2)
            .map_err(|error| CircuitError::Srs { path: path.display().to_string(), error })?;
        let insecure = known_public_tau(&s_g2).is_some();
        // The Lagrange basis is computed from the checked powers.
        let params = dummy_params().from_parts(k, g, None, g2, s_g2);
        Ok(Srs { params, insecure, source_keccak256: None })
    }
}

fn check_k(k: u32) -> Result<()> {
    if !(1..=MAX_K).contains(&k) {
        return Err(CircuitError::Invalid(format!("k = {k} is outside the supported range 1..={MAX_K}")));
    }
    Ok(())
}

/// A `ParamsKZG` to call `from_parts` on (halo2-axiom has no free constructor).
fn dummy_params() -> ParamsKZG<Bn256> {
    ParamsKZG::<Bn256>::setup(1, ChaCha20Rng::from_seed([0; 32]))
}

/// The checks of the module docs on the points of an SRS: `g` the G1 powers
/// (2^k of them), `next` the power after them when known (a .ptau has it),
/// `g_lagrange` the Lagrange basis (as many) when the source carries one.
fn check_setup(
    g: &[G1Affine],
    g_lagrange: Option<&[G1Affine]>,
    next: Option<G1Affine>,
    g2: G2Affine,
    s_g2: G2Affine,
) -> std::result::Result<(), SrsError> {
    let n = g.len();
    // Both callers read 2^k points of each kind.
    assert!(n.is_power_of_two() && g_lagrange.is_none_or(|gl| gl.len() == n), "an SRS has 2^k powers");
    if g[0] != G1Affine::generator() || g2 != G2Affine::generator() {
        return Err(SrsError::NotGenerators);
    }
    if !bool::from(s_g2.to_curve().is_torsion_free()) {
        return Err(SrsError::TauG2NotInSubgroup);
    }
    if bool::from(s_g2.is_identity()) || s_g2 == g2 || s_g2 == -g2 {
        return Err(SrsError::TrivialTau);
    }
    let mut rng = ChaCha20Rng::from_entropy();
    // Pairs (g[i], g[i+1]) for i < n − 1, and (g[n−1], next) when given, weighed by r.
    let m = if next.is_some() { n } else { n - 1 };
    let r = short_random(&mut rng, m);
    let next_term = |r: &[Fr]| next.map(|p| p * r[n - 1]);
    let powers_hold = || {
        let mut lhs = msm(&r[..n - 1], &g[1..]);
        lhs += next_term(&r).unwrap_or_else(G1::identity);
        pairs_hold(lhs, msm(&r, &g[..m]), s_g2)
    };
    let Some(gl) = g_lagrange else {
        return if powers_hold() { Ok(()) } else { Err(SrsError::NotPowersOfTau) };
    };
    if n == 1 {
        // The only Lagrange point is g[0].
        return if gl[0] == g[0] { Ok(()) } else { Err(SrsError::LagrangeBasisMismatch) };
    }
    // Both checks in one equation (module docs): with s weighing the Lagrange
    // points and a = IFFT(s), Σ s_i·gl[i] − Σ a_j·g[j] is 0 exactly when the basis
    // is right, so it is added to the left side of the powers check. r and s are
    // independent, so a wrong file passes with probability ≤ 2^−127.
    let domain = EvaluationDomain::<Fr>::new(1, n.trailing_zeros());
    let s = short_random(&mut rng, n);
    let a = domain.lagrange_to_coeff(domain.lagrange_from_vec(s.clone()));
    // Coefficients of g on the left: r shifted by one (g[j] pairs with r[j−1]) minus a.
    let c: Vec<Fr> = (0..n).map(|j| if j == 0 { -a[0] } else { r[j - 1] - a[j] }).collect();
    let mut lhs = msm(&c, g) + msm(&s, gl);
    lhs += next_term(&r).unwrap_or_else(G1::identity);
    if pairs_hold(lhs, msm(&r, &g[..m]), s_g2) {
        return Ok(());
    }
    // Which one failed: only on the error path.
    if powers_hold() { Err(SrsError::LagrangeBasisMismatch) } else { Err(SrsError::NotPowersOfTau) }
}

/// `e(lhs, G2) = e(rhs, τG2)`.
fn pairs_hold(lhs: G1, rhs: G1, s_g2: G2Affine) -> bool {
    Bn256::pairing(&lhs.to_affine(), &G2Affine::generator()) == Bn256::pairing(&rhs.to_affine(), &s_g2)
}

/// `len` random field elements below 2^128: enough for a batch check (a wrong
/// input passes with probability ≤ 2^−128 per check), and MSMs with short
/// scalars take about half the time.
fn short_random(rng: &mut ChaCha20Rng, len: usize) -> Vec<Fr> {
    use rand::Rng;
    (0..len).map(|_| Fr::from_u128(rng.r#gen::<u128>())).collect()
}

fn msm(scalars: &[Fr], bases: &[G1Affine]) -> G1 {
    halo2_proofs::arithmetic::best_multiexp(scalars, bases)
}

/// The BN254 base field modulus, little-endian, as the .ptau header stores it.
fn fq_modulus_le() -> [u8; 32] {
    // p − 1 in canonical form, plus one.
    let minus_one = -Fq::ONE;
    let mut bytes = minus_one.to_repr();
    let mut carry = 1u16;
    for b in bytes.iter_mut() {
        let s = *b as u16 + carry;
        *b = s as u8;
        carry = s >> 8;
    }
    bytes
}

fn read_u32(r: &mut impl Read) -> std::io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_u64(r: &mut impl Read) -> std::io::Result<u64> {
    let mut b = [0u8; 8];
    r.read_exact(&mut b)?;
    Ok(u64::from_le_bytes(b))
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hash: Keccak256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}

/// Raw (LE Montgomery, uncompressed) point reading with on-curve checks.
trait ReadChecked: Sized {
    fn read_checked(r: &mut impl Read) -> std::io::Result<Self>;
}

impl<C: CurveAffine + SerdeObject> ReadChecked for C {
    fn read_checked(r: &mut impl Read) -> std::io::Result<Self> {
        let p = <C as SerdeObject>::read_raw(r)?;
        if bool::from(p.is_on_curve()) {
            Ok(p)
        } else {
            Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "point is not on the curve"))
        }
    }
}
