//! NumPy `.npy` arrays and `.npz` archives, read as datasets.
//!
//! `.npy` (format versions 1–3): little-endian or single-byte numbers (`f2`, `f4`, `f8`,
//! `i1`–`i8`, `u1`–`u8`, `b1`) in C order. `.npz`: a zip archive of `.npy` members
//! (`numpy.savez`, stored, or `numpy.savez_compressed`, deflated), read through its
//! central directory (zip64 included). Every length is checked against the file before
//! anything is allocated from it.

use crate::error::{QuantizeError, Result};
use std::path::Path;

/// The largest array read (elements); beyond any model's dataset.
const MAX_ELEMENTS: usize = 1 << 28;

/// One array: its shape and its values as floats.
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    /// Shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// Values, C order.
    pub values: Vec<f64>,
}

fn bad(path: &Path, reason: impl Into<String>) -> QuantizeError {
    QuantizeError::BadData { path: path.to_path_buf(), reason: reason.into() }
}

/// Parses one `.npy` array; `path` names it in errors (`member` for a member of an archive).
pub fn parse_npy(bytes: &[u8], path: &Path) -> Result<NpyArray> {
    let err = |m: String| bad(path, format!("not a NumPy .npy array: {m}"));
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(err("no \\x93NUMPY magic".into()));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, 12),
        v => return Err(err(format!("format version {v}"))),
    };
    let header = bytes.get(start..start.saturating_add(header_len)).ok_or_else(|| err("truncated header".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| err("header is not text".into()))?;
    let field = |key: &str| -> Result<&str> {
        let at = header.find(&format!("'{key}'")).ok_or_else(|| err(format!("header has no '{key}'")))?;
        let rest = header[at + key.len() + 2..].trim_start();
        Ok(rest.strip_prefix(':').ok_or_else(|| err(format!("header '{key}' has no value")))?.trim_start())
    };
    let descr = field("descr")?;
    let descr = descr.strip_prefix('\'').and_then(|d| d.split('\'').next()).ok_or_else(|| err("bad 'descr'".into()))?;
    if field("fortran_order")?.starts_with("True") {
        return Err(err("Fortran-order arrays are not read; save with np.ascontiguousarray".into()));
    }
    let shape_text = field("shape")?;
    let shape_text =
        shape_text.strip_prefix('(').and_then(|s| s.split(')').next()).ok_or_else(|| err("bad 'shape'".into()))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<usize>().map_err(|_| err(format!("shape dimension `{d}`"))))
        .collect::<Result<Vec<_>>>()?;
    let n = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| err(format!("shape {shape:?} exceeds {MAX_ELEMENTS} elements")))?;
    let (order, kind, size) = {
        let mut c = descr.chars();
        let order = c.next().unwrap_or(' ');
        let kind = c.next().unwrap_or(' ');
        (order, kind, c.as_str().parse::<usize>().unwrap_or(0))
    };
    if order == '>' && size > 1 {
        return Err(err(format!("big-endian dtype `{descr}`; save as little-endian")));
    }
    let data = &bytes[start + header_len..];
    let need = n.checked_mul(size).filter(|_| size > 0).ok_or_else(|| err(format!("dtype `{descr}`")))?;
    if data.len() < need {
        return Err(err(format!("{} data bytes for shape {shape:?} of `{descr}` ({need} needed)", data.len())));
    }
    let chunks = data[..need].chunks_exact(size);
    let values: Vec<f64> = match (kind, size) {
        ('f', 2) => chunks.map(|c| f16_to_f64(u16::from_le_bytes([c[0], c[1]]))).collect(),
        ('f', 4) => chunks.map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        ('f', 8) => chunks.map(|c| f64::from_le_bytes(c.try_into().unwrap())).collect(),
        ('i', 1) => chunks.map(|c| c[0] as i8 as f64).collect(),
        ('i', 2) => chunks.map(|c| i16::from_le_bytes([c[0], c[1]]) as f64).collect(),
        ('i', 4) => chunks.map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        ('i', 8) => chunks.map(|c| i64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        ('u', 1) | ('b', 1) => chunks.map(|c| c[0] as f64).collect(),
        ('u', 2) => chunks.map(|c| u16::from_le_bytes([c[0], c[1]]) as f64).collect(),
        ('u', 4) => chunks.map(|c| u32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        ('u', 8) => chunks.map(|c| u64::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        _ => return Err(err(format!("dtype `{descr}` (numbers and bools only)"))),
    };
    Ok(NpyArray { shape, values })
}

fn f16_to_f64(h: u16) -> f64 {
    let sign = if h >> 15 == 1 { -1.0 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as f64;
    match exp {
        0 => sign * frac * (-24f64).exp2(),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + frac / 1024.0) * ((e - 15) as f64).exp2(),
    }
}

/// The members of a `.npz` archive, in the archive's order: (name without `.npy`, array).
pub fn parse_npz(bytes: &[u8], path: &Path) -> Result<Vec<(String, NpyArray)>> {
    let err = |m: String| bad(path, format!("not a NumPy .npz archive: {m}"));
    // Offsets come from the file: every read is bounds-checked, no sum can overflow.
    let field = |o: usize, n: usize| o.checked_add(n).and_then(|end| bytes.get(o..end));
    let u16_at = |o: usize| field(o, 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as u64);
    let u32_at = |o: usize| field(o, 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()) as u64);
    let u64_at = |o: usize| field(o, 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
    // The end of central directory record: within the last 64 KiB + 22 bytes.
    let lo = bytes.len().saturating_sub(22 + 65535);
    let eocd = (lo..bytes.len().saturating_sub(21))
        .rev()
        .find(|&o| u32_at(o) == Some(0x0605_4b50))
        .ok_or_else(|| err("no end of central directory".into()))?;
    let mut entries = u16_at(eocd + 10).unwrap_or(0);
    let mut cd = u32_at(eocd + 16).unwrap_or(0);
    // Zip64: its locator sits just before the end record.
    if (entries == 0xffff || cd == 0xffff_ffff) && eocd >= 20 && u32_at(eocd - 20) == Some(0x0706_4b50) {
        let rec = u64_at(eocd - 12).ok_or_else(|| err("truncated zip64 locator".into()))?;
        let rec = usize::try_from(rec).map_err(|_| err("bad zip64 end record".into()))?;
        if u32_at(rec) != Some(0x0606_4b50) {
            return Err(err("bad zip64 end record".into()));
        }
        entries = u64_at(rec.saturating_add(32)).ok_or_else(|| err("truncated zip64 end record".into()))?;
        cd = u64_at(rec.saturating_add(48)).ok_or_else(|| err("truncated zip64 end record".into()))?;
    }
    if entries > 4096 {
        return Err(err(format!("{entries} members")));
    }
    let mut out = vec![];
    let mut at = usize::try_from(cd).map_err(|_| err("bad central directory offset".into()))?;
    for _ in 0..entries {
        if u32_at(at) != Some(0x0201_4b50) {
            return Err(err("bad central directory entry".into()));
        }
        let method = u16_at(at + 10).unwrap_or(0);
        let mut csize = u32_at(at + 20).unwrap_or(0);
        let mut usize_ = u32_at(at + 24).unwrap_or(0);
        let (name_len, extra_len, comment_len) = (
            u16_at(at + 28).unwrap_or(0) as usize,
            u16_at(at + 30).unwrap_or(0) as usize,
            u16_at(at + 32).unwrap_or(0) as usize,
        );
        let mut local = u32_at(at + 42).unwrap_or(0);
        let name = field(at + 46, name_len).ok_or_else(|| err("truncated member name".into()))?;
        let name = String::from_utf8_lossy(name).into_owned();
        // Zip64 extra field: the 0xffffffff sizes and offset, in this order.
        let extra = field(at + 46 + name_len, extra_len).unwrap_or(&[]);
        let mut e = 0;
        while e + 4 <= extra.len() {
            let id = u16::from_le_bytes([extra[e], extra[e + 1]]);
            let len = u16::from_le_bytes([extra[e + 2], extra[e + 3]]) as usize;
            if id == 1 {
                let mut f = e + 4;
                let mut next = |v: &mut u64| {
                    if *v == 0xffff_ffff
                        && let Some(b) = extra.get(f..f + 8)
                    {
                        *v = u64::from_le_bytes(b.try_into().unwrap());
                        f += 8;
                    }
                };
                next(&mut usize_);
                next(&mut csize);
                next(&mut local);
            }
            e += 4 + len;
        }
        at += 46 + name_len + extra_len + comment_len;
        let local = usize::try_from(local).unwrap_or(usize::MAX);
        if u32_at(local) != Some(0x0403_4b50) {
            return Err(err(format!("member `{name}`: bad local header")));
        }
        // (A local header was read at `local`, so `local + 30` is within the file.)
        let data_at = local + 30 + u16_at(local + 26).unwrap_or(0) as usize + u16_at(local + 28).unwrap_or(0) as usize;
        let data = field(data_at, usize::try_from(csize).unwrap_or(usize::MAX))
            .ok_or_else(|| err(format!("member `{name}` is truncated")))?;
        if usize_ > (MAX_ELEMENTS as u64) * 8 + (1 << 20) {
            return Err(err(format!("member `{name}` of {usize_} bytes")));
        }
        let member_path = path.join(&name);
        let raw: Vec<u8> = match method {
            0 => data.to_vec(),
            8 => miniz_oxide::inflate::decompress_to_vec_with_limit(data, usize_ as usize)
                .map_err(|e| err(format!("member `{name}`: deflate: {e:?}")))?,
            m => return Err(err(format!("member `{name}`: compression method {m}"))),
        };
        let array = parse_npy(&raw, &member_path)?;
        out.push((name.strip_suffix(".npy").unwrap_or(&name).to_string(), array));
    }
    Ok(out)
}
