//! The soundness lint: a plan builds only if every wire is pinned down.
//!
//! A proof shows that *some* field element per wire satisfies every row. The
//! circuit is sound when, for given public inputs, that assignment is unique:
//! then it is the one the integer executor computes, and no other output can
//! be proved. [`check`] establishes this for a plan from its rows alone (it
//! never looks at a witness) or fails naming the first wire it cannot pin and
//! the op that made it. [`crate::plan::build_plan`] runs it on every plan, so a
//! plan with an unpinned wire cannot be compiled, keyed or proved.
//!
//! # Facts
//!
//! For each wire the lint derives, by a fixpoint over the rows:
//!
//! * **bounded** `[lo, hi]`: in every satisfying assignment the wire is (the
//!   field element of) an integer in `[lo, hi]`;
//! * **determined**: the wire has the same value in every satisfying assignment
//!   with the same public inputs.
//!
//! The public inputs start determined. The plan is sound when every wire ends
//! determined.
//!
//! # What each row kind pins down
//!
//! Every row is read as equations over the field. A `Lin` row with `bits = t`
//! is `Σ cᵢ·aᵢ + cm·a₀·a₁ + cc − L = 0` with `L ∈ [0, 2^t)` (its limbs, each
//! range-checked by the limb table); `t = 0` makes it exact. A `Mac` row is
//! `acc − [prev] − Σ wᵢ·xᵢ = 0`, a `Dot` row `acc − [prev] − Σ xᵢ·yᵢ = 0` (its
//! products are determined once both factors are); a `Sel` row is `b·(1 − b) = 0` and
//! `y − base − b·d = 0`; a `Func` row is `(i, y) ∈ table`.
//!
//! | row kind | rule | pins |
//! |---|---|---|
//! | any equation | exact (`t = 0`), one undetermined wire `u`, linear, coefficient `c ≠ 0` | `u` determined (`u = −rest / c` has one solution in the field) |
//! | any equation | `u` linear with coefficient `±1`, every other wire bounded | `u` bounded by interval arithmetic (`u = ±(L − rest)`) — a range check when the rest is constant |
//! | any equation | undetermined wires all bounded and linear, `u` the one with the largest `|c_u|`, `Σ_{v≠u} |c_v|·span(v) + (2^t − 1) < |c_u|`, and no sum can wrap around `p` | `u` determined (mixed radix: two solutions would differ by a multiple of `c_u` smaller than `c_u`) |
//! | `Sel` | `b·(1 − b) = 0` | `b` bounded to `[0, 1]` (the only roots) |
//! | `Func` | `(i, y) ∈ table` | `i` and `y` bounded by the table's ranges; `y` determined once `i` is (tables are functions) |
//!
//! So a rescale `z + 2^(s−1) − 2^s·y − L = 0` pins `y` only because a separate
//! row range-checks `y` (a field element `y′ = (z + 2^(s−1) − L′)/2^s` satisfies
//! the rescale row for every `L′`), a sign row pins its bit only because a
//! `Sel` row makes it boolean, and a division by `n` whose remainder window is
//! wider than `n` pins nothing.
//!
//! Structural rules checked on the way: an empty operand slot of a `Lin` row
//! has coefficient 0 (its cell is free), a chained `Mac` row follows a `Mac`
//! row and a chained `Dot` row a `Dot` row (its `acc_prev` is the previous row's
//! accumulator), a `Dot` row fills every pair slot (no free factor), every `Func` tag
//! names a table, tables are functions, range checks fit the limbs.

use std::collections::VecDeque;

use crate::error::{CircuitError, Result};
use crate::plan::{LIMB_BITS, Plan, Row, Wire};

/// What the lint derived, for reports and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Wires checked (all determined).
    pub wires: usize,
    /// Equations and facts read from the rows.
    pub constraints: usize,
    /// Constraint visits until the fixpoint.
    pub visits: usize,
}

/// One equation or fact read from a row.
enum Constraint {
    /// `Σ lin + Σ prod + cc − L = 0`, `L ∈ [0, 2^bits)`.
    Eq { lin: Vec<(Wire, i128)>, prod: Vec<(Wire, Wire, i128)>, cc: i128, bits: u32 },
    /// `b ∈ {0, 1}`.
    Bool(Wire),
    /// `(i, y)` is a row of table `t` (index into `Plan::tables`).
    Table { i: Wire, y: Wire, t: usize },
}

impl Constraint {
    fn wires(&self) -> Vec<Wire> {
        match self {
            Constraint::Eq { lin, prod, .. } => {
                lin.iter().map(|t| t.0).chain(prod.iter().flat_map(|p| [p.0, p.1])).collect()
            }
            Constraint::Bool(b) => vec![*b],
            Constraint::Table { i, y, .. } => vec![*i, *y],
        }
    }
}

/// An integer interval `[lo, hi]`.
type Interval = (i128, i128);

fn add(a: Interval, b: Interval) -> Option<Interval> {
    Some((a.0.checked_add(b.0)?, a.1.checked_add(b.1)?))
}

fn scale(a: Interval, c: i128) -> Option<Interval> {
    let (x, y) = (a.0.checked_mul(c)?, a.1.checked_mul(c)?);
    Some((x.min(y), x.max(y)))
}

fn mul(a: Interval, b: Interval) -> Option<Interval> {
    let c = [a.0.checked_mul(b.0)?, a.0.checked_mul(b.1)?, a.1.checked_mul(b.0)?, a.1.checked_mul(b.1)?];
    Some((*c.iter().min()?, *c.iter().max()?))
}

fn span(a: Interval) -> Option<i128> {
    a.1.checked_sub(a.0)
}

/// How often one wire's bound may tighten before later tightenings are ignored
/// (a looser bound is still a true one; this only bounds the work).
const MAX_TIGHTENINGS: u8 = 16;

struct Lint<'a> {
    plan: &'a Plan,
    det: Vec<bool>,
    bound: Vec<Option<Interval>>,
    tightenings: Vec<u8>,
    /// Constraints that mention each wire.
    uses: Vec<Vec<u32>>,
    queue: VecDeque<usize>,
    queued: Vec<bool>,
    table_ranges: Vec<(Interval, Interval)>,
}

/// Checks that every wire of `plan` is pinned down (see the module docs).
pub fn check(plan: &Plan) -> Result<Report> {
    let cons = constraints(plan)?;
    let n = plan.num_wires;
    let mut uses: Vec<Vec<u32>> = vec![vec![]; n];
    for (ci, c) in cons.iter().enumerate() {
        for w in c.wires() {
            if w >= n {
                return Err(unsound(plan, format!("a row reads wire {w}, but the plan has {n} wires")));
            }
            if uses[w].last() != Some(&(ci as u32)) {
                uses[w].push(ci as u32);
            }
        }
    }
    let table_ranges = plan
        .tables
        .iter()
        .map(|t| {
            let range = |f: fn(&(i128, i128)) -> i128| {
                (t.entries.iter().map(f).min().unwrap_or(0), t.entries.iter().map(f).max().unwrap_or(0))
            };
            (range(|e| e.0), range(|e| e.1))
        })
        .collect();
    let mut det = vec![false; n];
    for &w in &plan.inputs {
        det[w] = true;
    }
    let mut lint = Lint {
        plan,
        det,
        bound: vec![None; n],
        tightenings: vec![0; n],
        uses,
        queue: (0..cons.len()).collect(),
        queued: vec![true; cons.len()],
        table_ranges,
    };
    let mut visits = 0;
    while let Some(ci) = lint.queue.pop_front() {
        lint.queued[ci] = false;
        visits += 1;
        lint.visit(&cons[ci])?;
    }
    let undetermined: Vec<Wire> = (0..n).filter(|&w| !lint.det[w]).collect();
    if let Some(&w) = undetermined.first() {
        let rows = lint.rows_reading(w);
        let why = if rows.is_empty() {
            "no row constrains it".to_string()
        } else if lint.bound[w].is_none() {
            format!("it is not range-checked, and rows {rows:?} do not determine it from pinned wires")
        } else {
            format!("rows {rows:?} bound it but do not determine it from pinned wires")
        };
        let more = match undetermined.len() - 1 {
            0 => String::new(),
            m => format!(" ({m} more wires are not pinned)"),
        };
        return Err(unsound(plan, format!("{} is not pinned down: {why}{more}", plan.describe_wire(w))));
    }
    Ok(Report { wires: n, constraints: cons.len(), visits })
}

fn unsound(plan: &Plan, msg: String) -> CircuitError {
    CircuitError::Unsound(format!("model `{}`: {msg}", plan.model_name))
}

/// Reads every row as equations and facts, checking the structural rules.
fn constraints(plan: &Plan) -> Result<Vec<Constraint>> {
    let mut cons = Vec::with_capacity(plan.rows.len() + plan.rows.len() / 4);
    let bad = |r: usize, what: String| unsound(plan, format!("row {r} ({}): {what}", plan.describe_row(r)));
    for (i, t) in plan.tables.iter().enumerate() {
        if t.tag == 0 || plan.tables[..i].iter().any(|o| o.tag == t.tag) {
            return Err(unsound(plan, format!("function table tag {} is 0 or used twice", t.tag)));
        }
        let mut idx: Vec<i128> = t.entries.iter().map(|e| e.0).collect();
        idx.sort_unstable();
        if idx.windows(2).any(|p| p[0] == p[1]) {
            return Err(unsound(plan, format!("function table {} maps one index to two values", t.tag)));
        }
    }
    for (r, row) in plan.rows.iter().enumerate() {
        match row {
            Row::Mac { x, w, chain, acc } => {
                if x.len() != w.len() || x.len() > plan.width {
                    return Err(bad(r, format!("{} inputs, {} weights, width {}", x.len(), w.len(), plan.width)));
                }
                let mut lin = vec![(*acc, 1)];
                if *chain {
                    match r.checked_sub(1).map(|p| &plan.rows[p]) {
                        Some(Row::Mac { acc: prev, .. }) => lin.push((*prev, -1)),
                        _ => return Err(bad(r, "a chained multiply-accumulate row must follow another".into())),
                    }
                }
                for (&xi, &wi) in x.iter().zip(w) {
                    lin.push((xi, wi.checked_neg().ok_or_else(|| bad(r, format!("weight {wi}")))?));
                }
                let lin = merge(lin).ok_or_else(|| bad(r, "coefficients overflow".into()))?;
                cons.push(Constraint::Eq { lin, prod: vec![], cc: 0, bits: 0 });
            }
            Row::Dot { x, y, chain, acc } => {
                if x.len() != y.len() || x.len() != plan.width / 2 {
                    return Err(bad(r, format!("{} × {} factors, width {}", x.len(), y.len(), plan.width)));
                }
                let mut lin = vec![(*acc, 1)];
                if *chain {
                    match r.checked_sub(1).map(|p| &plan.rows[p]) {
                        Some(Row::Dot { acc: prev, .. }) => lin.push((*prev, -1)),
                        _ => return Err(bad(r, "a chained dot-product row must follow another".into())),
                    }
                }
                let lin = merge(lin).ok_or_else(|| bad(r, "coefficients overflow".into()))?;
                let prod = x.iter().zip(y).map(|(&a, &b)| (a, b, -1)).collect();
                cons.push(Constraint::Eq { lin, prod, cc: 0, bits: 0 });
            }
            Row::Lin { a, c, cm, cc, bits } => {
                for i in 0..3 {
                    if a[i].is_none() && (c[i] != 0 || (i < 2 && *cm != 0)) {
                        return Err(bad(
                            r,
                            format!("operand slot {i} is empty but has a coefficient: its cell is free"),
                        ));
                    }
                }
                if *bits > 120 || bits.div_ceil(LIMB_BITS) as usize > plan.limbs() {
                    return Err(bad(r, format!("a {bits}-bit range check does not fit the limbs")));
                }
                let lin = merge((0..3).filter_map(|i| a[i].map(|w| (w, c[i]))).collect())
                    .ok_or_else(|| bad(r, "coefficients overflow".into()))?;
                if cm.unsigned_abs() > MAX_COEFFICIENT as u128 || cc.unsigned_abs() > MAX_COEFFICIENT as u128 {
                    return Err(bad(r, format!("coefficient {cm} or constant {cc} too large")));
                }
                let prod = match (a[0], a[1]) {
                    (Some(p), Some(q)) if *cm != 0 => vec![(p, q, *cm)],
                    _ => vec![],
                };
                cons.push(Constraint::Eq { lin, prod, cc: *cc, bits: *bits });
            }
            Row::Sel { base, d, b, y } => {
                cons.push(Constraint::Bool(*b));
                let lin = merge(vec![(*y, 1), (*base, -1)]).expect("small coefficients");
                cons.push(Constraint::Eq { lin, prod: vec![(*b, *d, -1)], cc: 0, bits: 0 });
            }
            Row::Func { lookups } => {
                for (n, l) in lookups.iter().enumerate() {
                    if l.slot >= plan.func_slots.max(1) || lookups[..n].iter().any(|o| o.slot == l.slot) {
                        return Err(bad(
                            r,
                            format!("lookup slot {} is outside the plan's {} or used twice", l.slot, plan.func_slots),
                        ));
                    }
                    match plan.tables.iter().position(|t| t.tag == l.tag) {
                        // The circuit looks slot s up in table set s only.
                        Some(t) if plan.tables[t].set == l.slot => cons.push(Constraint::Table { i: l.i, y: l.y, t }),
                        Some(_) => {
                            return Err(bad(
                                r,
                                format!("function table {} is not in the set of slot {}", l.tag, l.slot),
                            ));
                        }
                        None => return Err(bad(r, format!("function table {} does not exist", l.tag))),
                    }
                }
            }
        }
    }
    Ok(cons)
}

/// The largest coefficient magnitude the lint reasons about. The lint's integers must equal
/// the field's: sums of a row's coefficients stay far below `p` (≈ 2^253.6) and never wrap
/// an `i128`; a plan with a larger coefficient is refused.
pub const MAX_COEFFICIENT: i128 = 1 << 120;

/// Sums the coefficients of repeated wires and drops zero ones; `None` if a coefficient
/// exceeds [`MAX_COEFFICIENT`] in magnitude.
fn merge(mut lin: Vec<(Wire, i128)>) -> Option<Vec<(Wire, i128)>> {
    lin.sort_by_key(|t| t.0);
    let mut out: Vec<(Wire, i128)> = Vec::with_capacity(lin.len());
    for (w, c) in lin {
        if c.unsigned_abs() > MAX_COEFFICIENT as u128 {
            return None;
        }
        match out.last_mut() {
            Some(last) if last.0 == w => last.1 += c,
            _ => out.push((w, c)),
        }
    }
    out.retain(|t| t.1 != 0);
    Some(out)
}

impl Lint<'_> {
    fn rows_reading(&self, w: Wire) -> Vec<usize> {
        let mut rows: Vec<usize> = self
            .plan
            .rows
            .iter()
            .enumerate()
            .filter(|(_, r)| match r {
                Row::Mac { x, acc, .. } => *acc == w || x.contains(&w),
                Row::Dot { x, y, acc, .. } => *acc == w || x.contains(&w) || y.contains(&w),
                Row::Lin { a, .. } => a.contains(&Some(w)),
                Row::Sel { base, d, b, y } => [base, d, b, y].contains(&&w),
                Row::Func { lookups } => lookups.iter().any(|l| l.i == w || l.y == w),
            })
            .map(|(i, _)| i)
            .take(4)
            .collect();
        rows.dedup();
        rows
    }

    fn touch(&mut self, w: Wire) {
        for k in 0..self.uses[w].len() {
            let ci = self.uses[w][k] as usize;
            if !self.queued[ci] {
                self.queued[ci] = true;
                self.queue.push_back(ci);
            }
        }
    }

    fn determine(&mut self, w: Wire) {
        if !self.det[w] {
            self.det[w] = true;
            self.touch(w);
        }
    }

    fn narrow(&mut self, w: Wire, iv: Interval) -> Result<()> {
        let new = match self.bound[w] {
            None => iv,
            Some(old) => (old.0.max(iv.0), old.1.min(iv.1)),
        };
        if new.0 > new.1 {
            return Err(unsound(
                self.plan,
                format!(
                    "{}: its constraints contradict each other (no value satisfies them)",
                    self.plan.describe_wire(w)
                ),
            ));
        }
        if self.bound[w] != Some(new) && (self.bound[w].is_none() || self.tightenings[w] < MAX_TIGHTENINGS) {
            self.tightenings[w] = self.tightenings[w].saturating_add(1);
            self.bound[w] = Some(new);
            self.touch(w);
        }
        Ok(())
    }

    fn visit(&mut self, c: &Constraint) -> Result<()> {
        match c {
            Constraint::Bool(b) => self.narrow(*b, (0, 1)),
            Constraint::Table { i, y, t } => {
                let (i, y, (ir, yr)) = (*i, *y, self.table_ranges[*t]);
                self.narrow(i, ir)?;
                self.narrow(y, yr)?;
                if self.det[i] {
                    self.determine(y);
                }
                Ok(())
            }
            Constraint::Eq { lin, prod, cc, bits } => self.visit_eq(lin, prod, *cc, *bits),
        }
    }

    fn visit_eq(&mut self, lin: &[(Wire, i128)], prod: &[(Wire, Wire, i128)], cc: i128, bits: u32) -> Result<()> {
        let window: Interval = (0, (1i128 << bits) - 1);
        // Determination.
        let undetermined: Vec<(Wire, i128)> = lin.iter().copied().filter(|t| !self.det[t.0]).collect();
        let prod_determined = prod.iter().all(|p| self.det[p.0] && self.det[p.1]);
        let in_prod = |w: Wire| prod.iter().any(|p| p.0 == w || p.1 == w);
        if prod_determined && !undetermined.is_empty() {
            if bits == 0 && undetermined.len() == 1 {
                self.determine(undetermined[0].0);
            } else if let Some(u) = self.mixed_radix(&undetermined, window.1) {
                self.determine(u);
            }
        }
        // Bounds.
        for &(u, c) in lin {
            if (c != 1 && c != -1) || in_prod(u) {
                continue;
            }
            let mut rest = Some((cc, cc));
            for &(v, cv) in lin {
                if v != u {
                    rest = rest.and_then(|r| add(r, scale(self.bound[v]?, cv)?));
                }
            }
            for &(p, q, cm) in prod {
                rest = rest.and_then(|r| add(r, scale(mul(self.bound[p]?, self.bound[q]?)?, cm)?));
            }
            // c·u = L − rest
            let Some(rest) = rest else { continue };
            let Some(neg) = (|| Some((window.0.checked_sub(rest.1)?, window.1.checked_sub(rest.0)?)))() else {
                continue;
            };
            if let Some(iv) = scale(neg, c) {
                self.narrow(u, iv)?;
            }
        }
        Ok(())
    }

    /// The wire that the mixed-radix rule determines, if it applies.
    fn mixed_radix(&self, undetermined: &[(Wire, i128)], window_span: i128) -> Option<Wire> {
        let &(u, cu) = undetermined.iter().max_by_key(|t| t.1.unsigned_abs())?;
        let mut others = window_span;
        for &(v, cv) in undetermined {
            if v != u {
                others = others.checked_add(cv.checked_abs()?.checked_mul(span(self.bound[v]?)?)?)?;
            }
        }
        let cu_abs = cu.checked_abs()?;
        // No wrap-around: every difference of two solutions stays an integer below 2^127 < p.
        others.checked_add(cu_abs.checked_mul(span(self.bound[u]?)?)?)?;
        (others < cu_abs).then_some(u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::FuncTable;

    fn plan(rows: Vec<Row>, num_wires: usize, inputs: Vec<Wire>, tables: Vec<FuncTable>) -> Plan {
        let max_bits = rows.iter().map(|r| if let Row::Lin { bits, .. } = r { *bits } else { 0 }).max().unwrap_or(0);
        Plan {
            width: 4,
            rows,
            num_wires,
            values: None,
            inputs,
            outputs: vec![num_wires - 1],
            tables,
            func_slots: 1,
            max_bits,
            model_name: "test".into(),
            wire_ops: vec![u32::MAX; num_wires],
            row_ops: vec![],
            op_names: vec![],
        }
    }

    fn range(x: Wire, bits: u32) -> Row {
        Row::Lin { a: [Some(x), None, None], c: [1, 0, 0], cm: 0, cc: 1 << (bits - 1), bits }
    }

    /// `y = rescale(x, s)` with `y` range-checked: sound.
    fn rescale_rows(range_y: bool, window_bits: u32) -> Vec<Row> {
        let mut rows = vec![
            range(0, 16),
            Row::Lin { a: [Some(0), Some(1), None], c: [1, -(1 << 4), 0], cm: 0, cc: 8, bits: window_bits },
        ];
        if range_y {
            rows.push(range(1, 16));
        }
        rows
    }

    #[test]
    fn rescale_with_a_range_checked_output_is_sound() {
        check(&plan(rescale_rows(true, 4), 2, vec![0], vec![])).unwrap();
    }

    #[test]
    fn rescale_without_a_range_check_is_rejected() {
        let e = check(&plan(rescale_rows(false, 4), 2, vec![0], vec![])).unwrap_err().to_string();
        assert!(e.contains("wire 1") && e.contains("not range-checked"), "{e}");
    }

    #[test]
    fn a_remainder_window_wider_than_the_divisor_is_rejected() {
        // 5 bits of remainder for a division by 16: two quotients fit.
        let e = check(&plan(rescale_rows(true, 5), 2, vec![0], vec![])).unwrap_err().to_string();
        assert!(e.contains("wire 1") && e.contains("do not determine"), "{e}");
    }

    /// `2·acc + n − 2n·y − r = 0`, `r ∈ [0, 2n)`, `y` range-checked: sound; without the upper
    /// bound on `r` (window 2^b > 2n) it is not.
    #[test]
    fn division_with_an_explicit_remainder() {
        let n = 3i128;
        let rows = |upper: bool| {
            let mut rows = vec![
                range(0, 16),
                Row::Lin { a: [Some(0), Some(1), Some(2)], c: [2, -2 * n, -1], cm: 0, cc: n, bits: 0 },
                Row::Lin { a: [Some(2), None, None], c: [1, 0, 0], cm: 0, cc: 0, bits: 3 },
                range(1, 16),
            ];
            if upper {
                rows.push(Row::Lin { a: [Some(2), None, None], c: [-1, 0, 0], cm: 0, cc: 2 * n - 1, bits: 3 });
            }
            rows
        };
        let mut p = plan(rows(true), 3, vec![0], vec![]);
        p.outputs = vec![1];
        check(&p).unwrap();
        let mut p = plan(rows(false), 3, vec![0], vec![]);
        p.outputs = vec![1];
        let e = check(&p).unwrap_err().to_string();
        assert!(e.contains("wire 1") || e.contains("wire 2"), "{e}");
    }

    /// A sign bit needs a select row to be boolean.
    #[test]
    fn a_sign_bit_without_booleanity_is_rejected() {
        let sign = Row::Lin { a: [Some(0), Some(1), None], c: [1, -(1 << 15), 0], cm: 0, cc: 1 << 15, bits: 15 };
        let zero = Row::Lin { a: [Some(2), None, None], c: [1, 0, 0], cm: 0, cc: 0, bits: 0 };
        let sel = Row::Sel { base: 2, d: 0, b: 1, y: 3 };
        check(&plan(vec![range(0, 16), sign.clone(), zero.clone(), sel], 4, vec![0], vec![])).unwrap();
        // The same bit used only in an exact equation (no b·(1 − b) = 0): not pinned.
        let use_b = Row::Lin { a: [Some(2), Some(1), Some(3)], c: [1, 1, -1], cm: 0, cc: 0, bits: 0 };
        let e = check(&plan(vec![range(0, 16), sign, zero, use_b], 4, vec![0], vec![])).unwrap_err().to_string();
        assert!(e.contains("wire 1"), "{e}");
    }

    #[test]
    fn a_lookup_pins_its_index_by_the_table() {
        let t = FuncTable { tag: 1, entries: (-8..8).map(|i| (i, 2 * i)).collect(), set: 0 };
        let rows = vec![
            range(0, 8),
            Row::Lin { a: [Some(0), Some(1), None], c: [1, -16, 0], cm: 0, cc: 0, bits: 4 },
            Row::func(1, 1, 2),
        ];
        check(&plan(rows.clone(), 3, vec![0], vec![t.clone()])).unwrap();
        let dup = FuncTable { tag: 1, entries: vec![(0, 1), (0, 2)], set: 0 };
        assert!(check(&plan(rows, 3, vec![0], vec![dup])).unwrap_err().to_string().contains("two values"));
    }

    #[test]
    fn structural_rules() {
        // An empty slot with a coefficient.
        let free = Row::Lin { a: [Some(0), None, None], c: [1, 5, 0], cm: 0, cc: 0, bits: 0 };
        let e = check(&plan(vec![range(0, 16), free], 1, vec![0], vec![])).unwrap_err().to_string();
        assert!(e.contains("free"), "{e}");
        // A chained Mac row after a Lin row.
        let mac = Row::Mac { x: vec![0], w: vec![3], chain: true, acc: 1 };
        let e = check(&plan(vec![range(0, 16), mac], 2, vec![0], vec![])).unwrap_err().to_string();
        assert!(e.contains("chained"), "{e}");
        // A wire no row mentions.
        let mac = Row::Mac { x: vec![0], w: vec![3], chain: false, acc: 2 };
        let e = check(&plan(vec![range(0, 16), mac], 3, vec![0], vec![])).unwrap_err().to_string();
        assert!(e.contains("wire 1") && e.contains("no row"), "{e}");
    }

    /// A dot row `acc = Σ x_i·y_i` pins its accumulator once both factors of every pair are
    /// pinned; a factor nothing pins leaves it free, and the row's shape is checked.
    #[test]
    fn dot_rows() {
        let zero = Row::Lin { a: [Some(2), None, None], c: [1, 0, 0], cm: 0, cc: 0, bits: 0 };
        let dot = |x: Vec<Wire>, y: Vec<Wire>, chain: bool, acc: Wire| Row::Dot { x, y, chain, acc };
        // Inputs 0 and 1; wire 2 the zero; 3 = 0·1 + 2·2 (width 4: two pairs); 4 chained.
        let rows = vec![
            range(0, 8),
            range(1, 8),
            zero.clone(),
            dot(vec![0, 2], vec![1, 2], false, 3),
            dot(vec![1, 2], vec![1, 2], true, 4),
        ];
        check(&plan(rows, 5, vec![0, 1], vec![])).unwrap();
        // Wire 3 is range-checked but not determined: a product with it leaves the
        // accumulator (wire 2) free.
        let one_zero = Row::Lin { a: [Some(1), None, None], c: [1, 0, 0], cm: 0, cc: 0, bits: 0 };
        let rows = vec![range(0, 8), one_zero, range(3, 8), dot(vec![0, 1], vec![3, 1], false, 2)];
        let mut p = plan(rows, 4, vec![0], vec![]);
        p.outputs = vec![2];
        let e = check(&p).unwrap_err().to_string();
        assert!(e.contains("wire 2 is not pinned"), "{e}");
        // A short row (a free pair slot) and a chain after a non-dot row.
        let e = check(&plan(vec![range(0, 8), dot(vec![0], vec![0], false, 1)], 2, vec![0], vec![]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("factors"), "{e}");
        let e = check(&plan(vec![range(0, 8), dot(vec![0, 0], vec![0, 0], true, 1)], 2, vec![0], vec![]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("chained dot-product"), "{e}");
    }

    #[test]
    fn contradictory_bounds_are_reported() {
        let lo = Row::Lin { a: [Some(0), None, None], c: [1, 0, 0], cm: 0, cc: -100, bits: 4 };
        let e = check(&plan(vec![range(0, 4), lo], 1, vec![0], vec![])).unwrap_err().to_string();
        assert!(e.contains("contradict"), "{e}");
    }
}
