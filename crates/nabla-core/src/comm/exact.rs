//! Exact (order-independent) summation of f64 values, for reductions whose result must not
//! depend on how many ranks took part.
//!
//! A floating-point sum depends on the order of its terms, so a dot product summed over 2
//! ranks differs in the last bits from the same dot product on 1 rank; Krylov iterations then
//! drift apart and can stop one iteration earlier or later. [`ExactSum`] keeps the sum as a
//! fixed-point integer wide enough for every finite double (a Kulisch-style long accumulator in
//! 32-bit digits), so adding the same terms in any order, on any number of ranks, and combining
//! the ranks' accumulators digit-wise (an integer allreduce) gives the same integer — and the
//! same double when it is rounded back.

/// Bits per digit. Digits are stored in `i64`, so up to 2³¹ additions (or ranks combined) fit
/// before [`ExactSum::normalize`] must run; `add` normalizes on its own long before that.
const DIGIT_BITS: u32 = 32;
const DIGIT_MASK: i64 = (1 << DIGIT_BITS) - 1;
/// Exponent offset: the least significant bit of a subnormal double is 2^−1074.
const EXPONENT_BIAS: i32 = 1074;
/// Digits of an accumulator as exchanged between ranks: 69 covering 2^−1074 … 2^1024 plus
/// headroom for carries, and a last one counting non-finite terms (a sum with any is NaN).
pub const EXACT_SUM_DIGITS: usize = 70;
/// The digits holding the value (the last one of [`EXACT_SUM_DIGITS`] counts non-finite terms).
const VALUE_DIGITS: usize = EXACT_SUM_DIGITS - 1;
/// Additions between automatic normalizations (well below 2³¹ / 2).
const ADDS_BEFORE_NORMALIZE: u32 = 1 << 28;

/// A long accumulator holding a sum of finite f64 values exactly.
///
/// ```
/// use nabla_core::comm::ExactSum;
/// let mut a = ExactSum::new();
/// for v in [1e300, 1.0, -1e300, 1e-300] {
///     a.add(v);
/// }
/// assert_eq!(a.value(), 1.0 + 1e-300); // every term kept: 1.0 (the 1e-300 is below an ulp of 1)
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExactSum {
    digits: [i64; EXACT_SUM_DIGITS],
    pending: u32,
}

impl Default for ExactSum {
    fn default() -> Self {
        Self::new()
    }
}

impl ExactSum {
    /// The empty sum (zero).
    pub fn new() -> Self {
        Self {
            digits: [0; EXACT_SUM_DIGITS],
            pending: 0,
        }
    }

    /// Adds one value exactly. A NaN or infinite term makes the sum NaN (so a solver's
    /// finiteness checks still see it after a reduction).
    #[inline]
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            self.digits[VALUE_DIGITS] += 1;
            return;
        }
        if v == 0.0 {
            return;
        }
        let bits = v.to_bits();
        let negative = bits >> 63 == 1;
        let biased_exp = ((bits >> 52) & 0x7ff) as i32;
        let fraction = bits & ((1u64 << 52) - 1);
        // v = mantissa · 2^(exp − 1074) with an integer mantissa.
        let (mantissa, exp) = if biased_exp == 0 {
            (fraction, 0)
        } else {
            (fraction | (1u64 << 52), biased_exp - 1)
        };
        let offset = exp as u32; // ≥ 0 by construction (exp counts from 2^−1074)
        let first = (offset / DIGIT_BITS) as usize;
        let shift = offset % DIGIT_BITS;
        let wide = (mantissa as u128) << shift;
        for d in 0..3 {
            let part = ((wide >> (DIGIT_BITS * d as u32)) as i64) & DIGIT_MASK;
            if part != 0 {
                if negative {
                    self.digits[first + d] -= part;
                } else {
                    self.digits[first + d] += part;
                }
            }
        }
        self.pending += 1;
        if self.pending >= ADDS_BEFORE_NORMALIZE {
            self.normalize();
        }
    }

    /// Adds another accumulator (what an integer allreduce of [`digits`](Self::digits) does).
    pub fn merge(&mut self, other: &ExactSum) {
        self.normalize();
        let mut o = other.clone();
        o.normalize();
        for (a, b) in self.digits.iter_mut().zip(o.digits.iter()) {
            *a += b;
        }
        self.normalize();
    }

    /// Propagates carries so every digit but the top one lies in [0, 2³²): the canonical form,
    /// identical for equal sums.
    pub fn normalize(&mut self) {
        for i in 0..VALUE_DIGITS - 1 {
            let carry = self.digits[i] >> DIGIT_BITS; // arithmetic shift: floor division
            self.digits[i] -= carry << DIGIT_BITS;
            self.digits[i + 1] += carry;
        }
        self.pending = 0;
    }

    /// The digits in canonical form, for an integer allreduce across ranks (sum them digit-wise,
    /// then rebuild with [`from_digits`](Self::from_digits)).
    pub fn digits(&mut self) -> &[i64; EXACT_SUM_DIGITS] {
        self.normalize();
        &self.digits
    }

    /// An accumulator from digits summed across ranks (any number below 2³⁰ of them).
    pub fn from_digits(digits: &[i64]) -> Self {
        let mut s = Self::new();
        for (a, b) in s.digits.iter_mut().zip(digits) {
            *a = *b;
        }
        s.normalize();
        s
    }

    /// The sum rounded to f64 (deterministic: equal sums give equal bits). Sums beyond the f64
    /// range give ±∞.
    pub fn value(&self) -> f64 {
        if self.digits[VALUE_DIGITS] != 0 {
            return f64::NAN;
        }
        let mut s = self.clone();
        s.normalize();
        let top = s.digits[VALUE_DIGITS - 1];
        // Negative sums: negate all digits and renormalize, so the magnitude's digits are all in
        // [0, 2³²) and can be summed from the top down without cancellation.
        let negative = top < 0;
        if negative {
            for d in s.digits.iter_mut() {
                *d = -*d;
            }
            s.normalize();
        }
        let mut acc = 0.0f64;
        // Summing digits from the most significant down, the first three nonzero digits decide
        // the value to within an ulp; later ones only affect rounding and are added anyway.
        for i in (0..VALUE_DIGITS).rev() {
            let d = s.digits[i];
            if d != 0 {
                acc += d as f64 * pow2(DIGIT_BITS as i32 * i as i32 - EXPONENT_BIAS);
            }
        }
        if negative {
            -acc
        } else {
            acc
        }
    }
}

/// 2^e for any e in the f64 range (subnormal and overflowing results included).
fn pow2(e: i32) -> f64 {
    if e > 1023 {
        f64::INFINITY
    } else if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else if e >= -1074 {
        f64::from_bits(1u64 << (e + 1074))
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(values: &[f64]) -> f64 {
        let mut a = ExactSum::new();
        values.iter().for_each(|&v| a.add(v));
        a.value()
    }

    #[test]
    fn order_independent_and_exact_on_cancellation() {
        let mut v: Vec<f64> = (0..10_000)
            .map(|i| ((i as f64) * 0.7361).sin() * 10f64.powi((i % 41) - 20))
            .collect();
        let forward = exact(&v);
        v.reverse();
        assert_eq!(forward.to_bits(), exact(&v).to_bits());
        v.sort_by(|a, b| a.abs().partial_cmp(&b.abs()).unwrap());
        assert_eq!(forward.to_bits(), exact(&v).to_bits());
        assert_eq!(exact(&[1e300, 1.0, -1e300]), 1.0);
        assert_eq!(exact(&[0.1, 0.2, -0.1, -0.2]), 0.0);
        assert_eq!(exact(&[-3.5, 1.25]), -2.25);
        assert_eq!(exact(&[f64::MIN_POSITIVE / 8.0; 8]), f64::MIN_POSITIVE);
        assert_eq!(exact(&[f64::MAX, f64::MAX]), f64::INFINITY);
        assert!(exact(&[1.0, f64::NAN]).is_nan());
        assert!(exact(&[f64::INFINITY, 1.0]).is_nan());
    }

    #[test]
    fn split_sums_merge_to_the_same_bits() {
        let v: Vec<f64> = (0..5000)
            .map(|i| ((i * 7919) % 1013) as f64 / 977.0 - 0.5)
            .collect();
        let whole = exact(&v);
        for parts in [2, 3, 7] {
            let chunk = v.len().div_ceil(parts);
            let mut digits = vec![0i64; EXACT_SUM_DIGITS];
            for c in v.chunks(chunk) {
                let mut a = ExactSum::new();
                c.iter().for_each(|&x| a.add(x));
                for (d, s) in digits.iter_mut().zip(a.digits()) {
                    *d += s;
                }
            }
            assert_eq!(
                ExactSum::from_digits(&digits).value().to_bits(),
                whole.to_bits()
            );
        }
        let naive: f64 = v.iter().sum();
        assert!((naive - whole).abs() <= 1e-12 * v.iter().map(|x| x.abs()).sum::<f64>());
    }
}
