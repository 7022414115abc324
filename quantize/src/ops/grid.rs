//! Index arithmetic over row-major tensors, shared by every op that moves or
//! windows values (convolutions, pooling, wiring), so that the executor and
//! the circuit walk the same elements in the same order.

/// Row-major strides of `shape` (the last axis has stride 1).
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for d in (0..shape.len().saturating_sub(1)).rev() {
        s[d] = s[d + 1] * shape[d + 1];
    }
    s
}

/// Calls `f(multi-index)` for every index of `dims` in row-major order (once, with an
/// empty index, for zero dims; never when a dim is 0).
pub fn for_each_index(dims: &[usize], mut f: impl FnMut(&[usize])) {
    if dims.contains(&0) {
        return;
    }
    let mut idx = vec![0usize; dims.len()];
    loop {
        f(&idx);
        let mut d = dims.len();
        loop {
            if d == 0 {
                return;
            }
            d -= 1;
            idx[d] += 1;
            if idx[d] < dims[d] {
                break;
            }
            idx[d] = 0;
        }
    }
}

/// The flat row-major index of `idx` in a tensor with `strides`.
pub fn flat_index(idx: &[usize], strides: &[usize]) -> usize {
    idx.iter().zip(strides).map(|(i, s)| i * s).sum()
}

/// A window over the spatial axes of an `[N, C, spatial…]` tensor: kernel,
/// strides, dilations and explicit padding (`pads` = begins ‖ ends).
#[derive(Clone, Copy, Debug)]
pub struct Geometry<'a> {
    /// Kernel size per spatial axis.
    pub kernel: &'a [usize],
    /// Stride per spatial axis.
    pub strides: &'a [usize],
    /// Padding: the begins of every spatial axis, then the ends.
    pub pads: &'a [usize],
    /// Dilation per spatial axis (empty: all 1).
    pub dilations: &'a [usize],
}

impl Geometry<'_> {
    fn dilation(&self, a: usize) -> usize {
        self.dilations.get(a).copied().unwrap_or(1)
    }

    /// For the output position `out` (spatial), the input position of kernel offset `k` on
    /// axis `a`, as a signed coordinate (negative or ≥ the input size: padding).
    pub fn input_coord(&self, a: usize, out: usize, k: usize) -> isize {
        (out * self.strides[a] + k * self.dilation(a)) as isize - self.pads[a] as isize
    }

    /// Checks the parameters have one entry per spatial axis (two for pads) and no zero.
    pub fn validate(&self, rank: usize) -> Result<(), String> {
        let dil_ok = self.dilations.is_empty() || self.dilations.len() == rank;
        if self.kernel.len() != rank || self.strides.len() != rank || self.pads.len() != 2 * rank || !dil_ok {
            return Err(format!(
                "window parameters for {rank} spatial axes: kernel {:?}, strides {:?}, pads {:?}, dilations {:?}",
                self.kernel, self.strides, self.pads, self.dilations
            ));
        }
        if self.kernel.contains(&0) || self.strides.contains(&0) || self.dilations.contains(&0) {
            return Err("zero kernel, stride or dilation".into());
        }
        Ok(())
    }

    /// Calls `f(in-bounds input spatial offsets, kernel offsets, padded count)` for every
    /// output spatial position of `out_sp` in row-major order, where the input has spatial
    /// dims `in_sp`; the padded count is the number of kernel positions inside the padded
    /// input (the divisor of an average with `count_include_pad`).
    pub fn for_each_window(&self, in_sp: &[usize], out_sp: &[usize], mut f: impl FnMut(&[(usize, usize)], usize)) {
        let r = in_sp.len();
        let in_strides = strides(in_sp);
        let k_strides = strides(self.kernel);
        let mut taps: Vec<(usize, usize)> = Vec::new();
        let mut coord = vec![0isize; r];
        for_each_index(out_sp, |o| {
            taps.clear();
            let mut padded = 1usize;
            for a in 0..r {
                let limit = (in_sp[a] + self.pads[r + a]) as isize;
                padded *= (0..self.kernel[a]).filter(|&k| self.input_coord(a, o[a], k) < limit).count();
            }
            for_each_index(self.kernel, |k| {
                for a in 0..r {
                    coord[a] = self.input_coord(a, o[a], k[a]);
                    if coord[a] < 0 || coord[a] >= in_sp[a] as isize {
                        return;
                    }
                }
                let i: usize = (0..r).map(|a| coord[a] as usize * in_strides[a]).sum();
                taps.push((i, flat_index(k, &k_strides)));
            });
            f(&taps, padded);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_and_strides() {
        let mut all = vec![];
        for_each_index(&[2, 3], |i| all.push(i.to_vec()));
        assert_eq!(all, [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]]);
        assert_eq!(strides(&[2, 3, 4]), [12, 4, 1]);
        let mut n = 0;
        for_each_index(&[], |i| {
            assert!(i.is_empty());
            n += 1
        });
        assert_eq!(n, 1);
        for_each_index(&[3, 0], |_| panic!("no index in an empty tensor"));
    }

    #[test]
    fn a_padded_dilated_window() {
        // 1-D: input 5, kernel 2, dilation 2, pad 1 each side, stride 2 → outputs 0..3.
        let g = Geometry { kernel: &[2], strides: &[2], pads: &[1, 1], dilations: &[2] };
        let mut got = vec![];
        g.for_each_window(&[5], &[3], |taps, padded| got.push((taps.to_vec(), padded)));
        // out 0: coords -1, 1 → (1, k1); out 1: 1, 3; out 2: 3, 5 (5 is padding, inside the padded extent 6).
        assert_eq!(got, [(vec![(1, 1)], 2), (vec![(1, 0), (3, 1)], 2), (vec![(3, 0)], 2)]);
    }
}
