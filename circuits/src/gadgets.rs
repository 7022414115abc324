//! Gadgets: the arithmetic every layer is written in, each a few rows of the
//! four row kinds ([`crate::plan::Row`]), with the witness computed alongside
//! when the plan is built from a trace. Every gadget leaves its outputs pinned
//! down in the sense of [`crate::soundness`].

use crate::error::{CircuitError, Result};
use crate::plan::{FuncTable, Row, Wire};

/// The plan under construction: rows, wires (and their values), tables.
pub(crate) struct Builder {
    pub(crate) width: usize,
    pub(crate) rows: Vec<Row>,
    pub(crate) values: Option<Vec<i128>>,
    pub(crate) num_wires: usize,
    pub(crate) tables: Vec<FuncTable>,
    pub(crate) max_bits: u32,
    pub(crate) act_bits: u32,
    /// Wires pinned to constants, by value.
    pub(crate) consts: std::collections::HashMap<i128, Wire>,
    /// The tag of the function table each sharing key ([`crate::layers::lookup::share_key`]) has.
    pub(crate) shared_tables: std::collections::HashMap<String, u64>,
}

impl Builder {
    pub(crate) fn wire(&mut self, v: Option<i128>) -> Wire {
        if let Some(vals) = &mut self.values {
            vals.push(v.unwrap_or(0));
        }
        self.num_wires += 1;
        self.num_wires - 1
    }

    pub(crate) fn val(&self, w: Option<Wire>) -> i128 {
        match (w, &self.values) {
            (Some(w), Some(v)) => v[w],
            _ => 0,
        }
    }

    pub(crate) fn witness(&self) -> bool {
        self.values.is_some()
    }

    /// New wire whose value is computed by `f` in witness mode.
    pub(crate) fn derived(&mut self, f: impl FnOnce(&Self) -> i128) -> Wire {
        let v = if self.witness() { Some(f(self)) } else { None };
        self.wire(v)
    }

    /// `Σ x_i·w_i` over as many `Mac` rows as needed; returns the accumulator wire.
    pub(crate) fn mac(&mut self, terms: &[(Wire, i128)]) -> Wire {
        let mut acc: Option<Wire> = None;
        let chunks: Vec<&[(Wire, i128)]> =
            if terms.is_empty() { vec![&[]] } else { terms.chunks(self.width).collect() };
        for chunk in chunks {
            let prev = acc.map_or(0, |a| self.val(Some(a)));
            let new = self.derived(|s| prev + chunk.iter().map(|(x, w)| s.val(Some(*x)) * w).sum::<i128>());
            self.rows.push(Row::Mac {
                x: chunk.iter().map(|t| t.0).collect(),
                w: chunk.iter().map(|t| t.1).collect(),
                chain: acc.is_some(),
                acc: new,
            });
            acc = Some(new);
        }
        acc.expect("at least one row")
    }

    /// `Σ x_i·y_i` of pairs of wires over as many `Dot` rows as needed (`width / 2` pairs
    /// each, the last padded with the zero wire); returns the accumulator wire.
    pub(crate) fn dot(&mut self, pairs: &[(Wire, Wire)]) -> Result<Wire> {
        let per_row = self.width / 2;
        let zero = self.zero()?;
        let mut acc: Option<Wire> = None;
        let chunks: Vec<&[(Wire, Wire)]> = if pairs.is_empty() { vec![&[]] } else { pairs.chunks(per_row).collect() };
        for chunk in chunks {
            let mut x: Vec<Wire> = chunk.iter().map(|p| p.0).collect();
            let mut y: Vec<Wire> = chunk.iter().map(|p| p.1).collect();
            x.resize(per_row, zero);
            y.resize(per_row, zero);
            let prev = acc.map_or(0, |a| self.val(Some(a)));
            let new =
                self.derived(|s| prev + x.iter().zip(&y).map(|(&a, &b)| s.val(Some(a)) * s.val(Some(b))).sum::<i128>());
            self.rows.push(Row::Dot { x, y, chain: acc.is_some(), acc: new });
            acc = Some(new);
        }
        Ok(acc.expect("at least one row"))
    }

    /// Adds a `Lin` row after checking (in witness mode) that its sum lies in `[0, 2^bits)`.
    pub(crate) fn lin(
        &mut self,
        a: [Option<Wire>; 3],
        c: [i128; 3],
        cm: i128,
        cc: i128,
        bits: u32,
        what: &str,
    ) -> Result<()> {
        if self.witness() {
            let v = c[0] * self.val(a[0])
                + c[1] * self.val(a[1])
                + c[2] * self.val(a[2])
                + cm * self.val(a[0]) * self.val(a[1])
                + cc;
            if v < 0 || (bits < 127 && v >= 1i128 << bits) {
                return Err(CircuitError::Witness(format!("{what}: {v} is outside [0, 2^{bits})")));
            }
        }
        self.max_bits = self.max_bits.max(bits);
        self.rows.push(Row::Lin { a, c, cm, cc, bits });
        Ok(())
    }

    /// Range-checks an activation: `x + 2^(B-1) ∈ [0, 2^B)`.
    pub(crate) fn range_act(&mut self, x: Wire) -> Result<()> {
        let half = 1i128 << (self.act_bits - 1);
        self.lin([Some(x), None, None], [1, 0, 0], 0, half, self.act_bits, "activation range")
    }

    /// Range-checks a signed `bits`-bit value: `x + 2^(bits-1) ∈ [0, 2^bits)`.
    pub(crate) fn range_signed(&mut self, x: Wire, bits: u32, what: &str) -> Result<()> {
        self.lin([Some(x), None, None], [1, 0, 0], 0, 1i128 << (bits - 1), bits, what)
    }

    /// `y = rescale(c0·a0 + c1·a1 + cm·a0·a1 + add, shift)`, range-checked as an activation.
    pub(crate) fn combine(
        &mut self,
        a: [Option<Wire>; 2],
        c: [i128; 2],
        cm: i128,
        add: i128,
        shift: i32,
        node: &str,
    ) -> Result<Wire> {
        self.combine_in(a, c, cm, add, shift, self.act_bits, node)
    }

    /// [`Self::combine`] with `y` range-checked to a signed `range_bits`-bit value.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn combine_in(
        &mut self,
        a: [Option<Wire>; 2],
        c: [i128; 2],
        cm: i128,
        add: i128,
        shift: i32,
        range_bits: u32,
        node: &str,
    ) -> Result<Wire> {
        let z = |s: &Self| c[0] * s.val(a[0]) + c[1] * s.val(a[1]) + cm * s.val(a[0]) * s.val(a[1]) + add;
        let y = self.derived(|s| zkinfer_quantize::fixed::rescale(z(s), shift));
        if shift > 0 {
            // z + 2^(s-1) - 2^s·y ∈ [0, 2^s)
            let half = 1i128 << (shift - 1);
            self.lin([a[0], a[1], Some(y)], [c[0], c[1], -(1i128 << shift)], cm, add + half, shift as u32, node)?;
        } else {
            // z · 2^-s - y = 0 exactly
            let m = 1i128 << (-shift);
            self.lin([a[0], a[1], Some(y)], [c[0] * m, c[1] * m, -1], cm * m, add * m, 0, node)?;
        }
        if range_bits == self.act_bits {
            self.range_act(y)?;
        } else {
            self.range_signed(y, range_bits, node)?;
        }
        Ok(y)
    }

    /// `y = rescale(acc + bias, shift)` for linear layers.
    pub(crate) fn rescale(&mut self, acc: Wire, bias: i128, shift: i32, node: &str) -> Result<Wire> {
        self.combine([Some(acc), None], [1, 0], 0, bias, shift, node)
    }

    /// Boolean `b` with `b = 1 ⇔ x ≥ 0`, for `x ∈ [-2^(bits-1), 2^(bits-1))`.
    pub(crate) fn sign(&mut self, x: Wire, bits: u32) -> Result<Wire> {
        let b = self.derived(|s| i128::from(s.val(Some(x)) >= 0));
        // x + (1 - b)·2^(bits-1) ∈ [0, 2^(bits-1))
        let half = 1i128 << (bits - 1);
        self.lin([Some(x), Some(b), None], [1, -half, 0], 0, half, bits - 1, "sign")?;
        Ok(b)
    }

    /// The shared wire constrained to 0.
    pub(crate) fn zero(&mut self) -> Result<Wire> {
        self.constant(0)
    }

    /// The shared wire constrained to `v` (`w − v = 0`, one row per distinct constant).
    pub(crate) fn constant(&mut self, v: i128) -> Result<Wire> {
        if let Some(&w) = self.consts.get(&v) {
            return Ok(w);
        }
        let w = self.wire(Some(v));
        self.lin([Some(w), None, None], [1, 0, 0], 0, -v, 0, "constant")?;
        self.consts.insert(v, w);
        Ok(w)
    }

    /// `y = base + b·d` with boolean `b`.
    pub(crate) fn select(&mut self, base: Wire, d: Wire, b: Wire) -> Wire {
        let y = self.derived(|s| s.val(Some(base)) + s.val(Some(b)) * s.val(Some(d)));
        self.rows.push(Row::Sel { base, d, b, y });
        y
    }

    pub(crate) fn relu(&mut self, x: Wire) -> Result<Wire> {
        let b = self.sign(x, self.act_bits)?;
        let z = self.zero()?;
        Ok(self.select(z, x, b))
    }

    /// `y = x ≥ 0 ? x : rescale(α·x, s)`. The branch `neg = rescale(α·x, s)` is computed for
    /// every `x`; with `|α| > 1` it can leave the activation range where it is not taken, so it
    /// is range-checked `extra` bits wider and the selected output as an activation.
    pub(crate) fn leaky_relu(&mut self, x: Wire, alpha: i128, s: u32, node: &str) -> Result<Wire> {
        let extra = (128 - alpha.unsigned_abs().leading_zeros()).saturating_sub(s);
        let neg = self.combine_in([Some(x), None], [alpha, 0], 0, 0, s as i32, self.act_bits + extra, node)?;
        let b = self.sign(x, self.act_bits)?;
        // d = x - neg
        let d = self.derived(|st| st.val(Some(x)) - st.val(Some(neg)));
        self.lin([Some(x), Some(neg), Some(d)], [1, -1, -1], 0, 0, 0, node)?;
        let y = self.select(neg, d, b);
        if extra > 0 {
            self.range_act(y)?;
        }
        Ok(y)
    }

    /// `y = op(x)`: `i = ⌊x / 2^in_shift⌋` by a decomposition row, `(i, y)` by a lookup into
    /// the op's function table (which holds only the defined entries, so it also bounds `i`).
    pub(crate) fn lookup(
        &mut self,
        x: Wire,
        op: &zkinfer_quantize::ops::lookup::Lookup,
        tag: u64,
        node: &str,
    ) -> Result<Wire> {
        let shift = op.in_shift;
        let i = self.derived(|s| s.val(Some(x)) >> shift);
        // x - 2^d·i ∈ [0, 2^d)
        self.lin([Some(x), Some(i), None], [1, -(1i128 << shift), 0], 0, 0, shift, node)?;
        let y = if self.witness() {
            let v = op.get(self.val(Some(x)) as i64).map_err(|e| CircuitError::Witness(format!("{node}: {e}")))?;
            self.wire(Some(v as i128))
        } else {
            self.wire(None)
        };
        self.rows.push(Row::func(tag, i, y));
        Ok(y)
    }

    /// `y = div_round(acc, n)`: `2·acc + n − 2n·y − r = 0` with the remainder `r ∈ [0, 2n)`
    /// and `y` range-checked as an activation. The range check on `y` is what pins it:
    /// without it, `y′ = (2·acc + n − r′)/(2n) mod p` satisfies the division for any `r′`.
    pub(crate) fn div_round(&mut self, acc: Wire, n: i128, node: &str) -> Result<Wire> {
        let y = self.derived(|s| zkinfer_quantize::fixed::div_round(s.val(Some(acc)), n));
        let r = self.derived(|s| 2 * s.val(Some(acc)) + n - 2 * n * s.val(Some(y)));
        self.lin([Some(acc), Some(y), Some(r)], [2, -2 * n, -1], 0, n, 0, node)?;
        let bits = (128 - (2 * n - 1).leading_zeros()).max(1);
        // r ∈ [0, 2^bits), and when 2^bits > 2n also (2n − 1) − r ∈ [0, 2^bits).
        self.lin([Some(r), None, None], [1, 0, 0], 0, 0, bits, node)?;
        if (2 * n).count_ones() != 1 {
            self.lin([Some(r), None, None], [-1, 0, 0], 0, 2 * n - 1, bits, node)?;
        }
        self.range_act(y)?;
        Ok(y)
    }

    /// `min(m, v)` via `e = m − v`, its sign (1 ⇔ m ≥ v), and `y = m + b·(v − m)`.
    pub(crate) fn min(&mut self, m: Wire, v: Wire) -> Result<Wire> {
        let e = self.derived(|s| s.val(Some(m)) - s.val(Some(v)));
        self.lin([Some(m), Some(v), Some(e)], [1, -1, -1], 0, 0, 0, "min")?;
        let b = self.sign(e, self.act_bits + 1)?;
        let d = self.derived(|s| s.val(Some(v)) - s.val(Some(m)));
        self.lin([Some(v), Some(m), Some(d)], [1, -1, -1], 0, 0, 0, "min")?;
        Ok(self.select(m, d, b))
    }

    /// `−x`, exactly.
    pub(crate) fn neg(&mut self, x: Wire) -> Result<Wire> {
        let n = self.derived(|s| -s.val(Some(x)));
        self.lin([Some(x), Some(n), None], [1, 1, 0], 0, 0, 0, "neg")?;
        Ok(n)
    }

    /// Makes `b` boolean (`b·(1 − b) = 0`, through a select row whose other wires are 0).
    pub(crate) fn boolean(&mut self, b: Wire) -> Result<()> {
        let z = self.zero()?;
        self.rows.push(Row::Sel { base: z, d: z, b, y: z });
        Ok(())
    }

    /// `max(m, v)` via `d = v - m`, its sign, and a select.
    pub(crate) fn max(&mut self, m: Wire, v: Wire) -> Result<Wire> {
        let d = self.derived(|s| s.val(Some(v)) - s.val(Some(m)));
        self.lin([Some(v), Some(m), Some(d)], [1, -1, -1], 0, 0, 0, "max")?;
        let b = self.sign(d, self.act_bits + 1)?;
        Ok(self.select(m, d, b))
    }
}
