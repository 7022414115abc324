//! Fixed-point arithmetic: the rounding rules every op of the integer
//! executor uses, and which the circuit proves.
//!
//! A tensor with `scale_bits = s` holds integers `q` standing for the real
//! number `q · 2^-s`. All rounding is **round half up** (towards +∞ on ties),
//! defined on exact integers, so the executor and the circuit agree bit for
//! bit:
//!
//! * [`div_round`]`(x, d) = ⌊(2x + d) / 2d⌋` for `d > 0`. The circuit proves
//!   it as `2x + d = 2d·y + r` with `0 ≤ r < 2d`.
//! * [`rescale`]`(x, s)` = `div_round(x, 2^s)` for `s > 0` (equivalently
//!   `(x + 2^(s-1)) >> s` with an arithmetic shift), `x · 2^-s` for `s ≤ 0`.
//! * [`quantize_value`]`(v, s) = ⌊v · 2^s + 1/2⌋` for floats.

/// `⌊(2x + d) / 2d⌋`: `x / d` rounded to the nearest integer, ties towards +∞.
///
/// # Panics
/// If `d ≤ 0` (an invariant of the model, never input-dependent).
pub fn div_round(x: i128, d: i128) -> i128 {
    assert!(d > 0, "div_round by non-positive divisor {d}");
    (2 * x + d).div_euclid(2 * d)
}

/// `⌊x / 2^s⌋`, an arithmetic shift right (floor, not truncation).
pub fn floor_shift(x: i128, s: u32) -> i128 {
    x >> s
}

/// Moves `x` by `shift` binary places: `div_round(x, 2^shift)` when `shift > 0`,
/// `x · 2^-shift` when `shift ≤ 0`.
pub fn rescale(x: i128, shift: i32) -> i128 {
    if shift > 0 {
        let s = shift as u32;
        (x + (1i128 << (s - 1))) >> s
    } else {
        x << (-shift) as u32
    }
}

/// `⌊v · 2^s + 1/2⌋` as an integer (round half up), saturating at the i64 range.
pub fn quantize_value(v: f64, scale_bits: i32) -> i64 {
    let scaled = v * (scale_bits as f64).exp2();
    let r = (scaled + 0.5).floor();
    if r >= i64::MAX as f64 {
        i64::MAX
    } else if r <= i64::MIN as f64 {
        i64::MIN
    } else {
        r as i64
    }
}

/// The real number a quantized value stands for: `q · 2^-s`.
pub fn dequantize_value(q: i64, scale_bits: i32) -> f64 {
    q as f64 * (-scale_bits as f64).exp2()
}

/// The inclusive range `[-2^(bits-1), 2^(bits-1) - 1]` of a signed `bits`-bit value.
pub fn signed_range(bits: u32) -> (i128, i128) {
    let half = 1i128 << (bits - 1);
    (-half, half - 1)
}

/// The largest `s` (within `[min, max]`) such that `max_abs · 2^s ≤ limit`.
///
/// `max_abs == 0` (a tensor that is always zero) returns `max`.
pub fn fit_scale_bits(max_abs: f64, limit: f64, min: i32, max: i32) -> i32 {
    if max_abs <= 0.0 || !max_abs.is_finite() {
        return max;
    }
    let s = (limit / max_abs).log2().floor() as i32;
    let mut s = s.clamp(min, max);
    // Guard against log2 rounding at exact powers of two.
    while s > min && max_abs * (s as f64).exp2() > limit {
        s -= 1;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Exact reference: the nearest integer to n/d, ties towards +∞, by
    /// comparing remainders instead of using the formula under test.
    fn nearest(n: i128, d: i128) -> i128 {
        let q = n.div_euclid(d);
        let r = n.rem_euclid(d); // 0 ≤ r < d
        if 2 * r >= d { q + 1 } else { q }
    }

    #[test]
    fn ties_round_up() {
        assert_eq!(div_round(1, 2), 1);
        assert_eq!(div_round(-1, 2), 0);
        assert_eq!(div_round(3, 2), 2);
        assert_eq!(div_round(-3, 2), -1);
        assert_eq!(div_round(5, 4), 1);
        assert_eq!(div_round(-6, 4), -1);
        assert_eq!(rescale(-6, 2), -1);
        assert_eq!(rescale(6, 2), 2);
        assert_eq!(rescale(-5, 0), -5);
        assert_eq!(rescale(-5, -3), -40);
        assert_eq!(quantize_value(0.5, 0), 1);
        assert_eq!(quantize_value(-0.5, 0), 0);
        assert_eq!(quantize_value(-0.51, 0), -1);
        assert_eq!(quantize_value(0.3, 4), 5); // 4.8 -> 5
    }

    #[test]
    fn fit_scale_examples() {
        // 1.0 into 1023: 2^9 = 512 fits, 2^10 = 1024 does not.
        assert_eq!(fit_scale_bits(1.0, 1023.0, -30, 30), 9);
        assert_eq!(fit_scale_bits(3.0, 1023.0, -30, 30), 8);
        assert_eq!(fit_scale_bits(0.0, 1023.0, -30, 30), 30);
        assert_eq!(fit_scale_bits(1e9, 1023.0, -30, 30), -20);
    }

    proptest! {
        #[test]
        fn div_round_is_nearest_half_up(x in -(1i128 << 80)..(1i128 << 80), d in 1i128..(1i128 << 40)) {
            prop_assert_eq!(div_round(x, d), nearest(x, d));
        }

        #[test]
        fn div_round_witness_equation(x in -(1i128 << 80)..(1i128 << 80), d in 1i128..(1i128 << 40)) {
            // What the circuit checks: 2x + d = 2d·y + r with 0 ≤ r < 2d.
            let y = div_round(x, d);
            let r = 2 * x + d - 2 * d * y;
            prop_assert!((0..2 * d).contains(&r));
        }

        #[test]
        fn rescale_equals_div_round_by_power_of_two(x in -(1i128 << 90)..(1i128 << 90), s in 1u32..40) {
            prop_assert_eq!(rescale(x, s as i32), div_round(x, 1i128 << s));
            prop_assert_eq!(rescale(x, s as i32), nearest(x, 1i128 << s));
        }

        #[test]
        fn rescale_error_is_at_most_half(x in -(1i128 << 50)..(1i128 << 50), s in 1i32..30) {
            let y = rescale(x, s);
            let exact = x as f64 / (s as f64).exp2();
            prop_assert!((y as f64 - exact).abs() <= 0.5 + 1e-9);
        }

        #[test]
        fn left_rescale_is_exact(x in -(1i128 << 60)..(1i128 << 60), s in 0i32..30) {
            prop_assert_eq!(rescale(rescale(x, -s), s), x);
        }

        #[test]
        fn floor_shift_is_floor(x in -(1i128 << 90)..(1i128 << 90), s in 0u32..40) {
            prop_assert_eq!(floor_shift(x, s), x.div_euclid(1i128 << s));
        }

        #[test]
        fn quantize_roundtrip_within_half_ulp(v in -1000.0f64..1000.0, s in -4i32..20) {
            let q = quantize_value(v, s);
            let back = dequantize_value(q, s);
            prop_assert!((back - v).abs() <= 0.5 * (-s as f64).exp2() + 1e-9);
        }

        #[test]
        fn fit_scale_fits(max_abs in 1e-6f64..1e6, limit in 1.0f64..1e6) {
            let s = fit_scale_bits(max_abs, limit, -60, 60);
            prop_assert!(max_abs * (s as f64).exp2() <= limit);
            prop_assert!(max_abs * ((s + 1) as f64).exp2() > limit);
        }
    }
}
