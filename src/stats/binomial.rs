//! Binomial tail probabilities and the exact one-sided binomial test.
//!
//! Used when a probe counts how many of `n` inputs flipped to the target label
//! and asks whether that rate exceeds a baseline rate `p0`.
//!
//! Tails are summed from Loader's saddle-point pmf (see `discrete.rs`), so
//! they keep ~1e-13 relative accuracy for n up to 10^6 and beyond, including
//! p-values far below 1e-30. `statrs::function::beta::beta_reg` — the
//! textbook route via `P(X >= k) = I_p(k, n - k + 1)` — loses up to ~5e-10
//! relative accuracy at n = 10^6 because it forms `ln Γ` differences of
//! numbers around 10^7.
//!
//! Reference: the exact binomial test as in W. J. Conover, *Practical
//! Nonparametric Statistics* (3rd ed., 1999), section 3.1; numerical method:
//! C. Loader (2000), "Fast and Accurate Computation of Binomial
//! Probabilities". Matches `scipy.stats.binomtest(..., alternative='greater')`.

use super::discrete::{Direction, binomial_pmf, tail_sum};

/// P(X >= k) for X ~ Bin(n, p).
///
/// Exact values at the boundaries: 1 for `k == 0`, 0 for `k > n`.
/// Returns NaN when `p` is NaN or outside [0, 1].
pub fn binomial_sf_ge(k: u64, n: u64, p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    if k > binomial_mode(n, p) {
        upper_tail(k, n, p)
    } else {
        // P(X >= k) is at least ~1/3 here, so the complement is accurate.
        (1.0 - lower_tail(k - 1, n, p)).clamp(0.0, 1.0)
    }
}

/// P(X <= k) for X ~ Bin(n, p).
///
/// Exact value 1 for `k >= n`. Returns NaN when `p` is NaN or outside [0, 1].
pub fn binomial_cdf_le(k: u64, n: u64, p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if k >= n {
        return 1.0;
    }
    if k < binomial_mode(n, p) { lower_tail(k, n, p) } else { (1.0 - upper_tail(k + 1, n, p)).clamp(0.0, 1.0) }
}

/// One-sided exact binomial test of H0: rate = `p0` against H1: rate > `p0`,
/// having observed `k` successes in `n` trials. Returns the p-value
/// P(X >= k | X ~ Bin(n, p0)), as `scipy.stats.binomtest(k, n, p0,
/// alternative='greater')` does.
///
/// Inputs that cannot be evidence return the neutral p-value 1.0: `n == 0`,
/// `k > n` (impossible counts) and `p0` NaN or outside [0, 1].
pub fn binomial_test_greater(k: u64, n: u64, p0: f64) -> f64 {
    if n == 0 || k > n || !(0.0..=1.0).contains(&p0) {
        return 1.0;
    }
    binomial_sf_ge(k, n, p0)
}

/// A mode of Bin(n, p): floor((n + 1) p), capped at n. Off-by-one rounding is
/// harmless: both neighbours of the true mode still lie on the monotone side
/// of the tail they start.
fn binomial_mode(n: u64, p: f64) -> u64 {
    // (n + 1) p <= n + 1 < 2^64 for any n that fits a count; the cast saturates.
    (((n as f64) + 1.0) * p).floor().min(n as f64) as u64
}

/// P(X >= k), summed upwards from k; requires k > mode and 0 < p.
fn upper_tail(k: u64, n: u64, p: f64) -> f64 {
    let q = 1.0 - p;
    let odds = p / q;
    let first = binomial_pmf(k, n, p, q);
    tail_sum(first, k, n, Direction::Up, |x| (n - x) as f64 / (x + 1) as f64 * odds)
}

/// P(X <= k), summed downwards from k; requires k < mode (so p > 0).
fn lower_tail(k: u64, n: u64, p: f64) -> f64 {
    let q = 1.0 - p;
    let inverse_odds = q / p;
    let first = binomial_pmf(k, n, p, q);
    tail_sum(first, k, 0, Direction::Down, |x| x as f64 / (n - x + 1) as f64 * inverse_odds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    // Relative tolerance for p-values against scipy (which uses Boost's
    // incomplete beta, itself accurate to ~1e-15).
    const REL: f64 = 1e-9;

    #[test]
    fn sf_ge_matches_scipy_for_small_n() {
        // scipy.stats.binom.sf(6, 20, 0.1)
        assert_relative_eq!(binomial_sf_ge(7, 20, 0.1), 0.002386089408966118, max_relative = REL);
        // scipy.stats.binom.sf(9, 10, 0.3)  (k == n: 0.3^10)
        assert_relative_eq!(binomial_sf_ge(10, 10, 0.3), 5.9048999999999975e-06, max_relative = REL);
        // scipy.stats.binom.sf(599, 1000, 0.5)
        assert_relative_eq!(binomial_sf_ge(600, 1000, 0.5), 1.3642320780329735e-10, max_relative = REL);
        // scipy.stats.binom.sf(199, 1000, 0.1)
        assert_relative_eq!(binomial_sf_ge(200, 1000, 0.1), 2.9280548038287287e-21, max_relative = REL);
    }

    #[test]
    fn sf_ge_matches_scipy_for_a_million_trials() {
        // scipy.stats.binom.sf(501999, 1000000, 0.5)
        assert_relative_eq!(binomial_sf_ge(502_000, 1_000_000, 0.5), 3.1804668750394e-05, max_relative = REL);
        // scipy.stats.binom.sf(500499, 1000000, 0.5)
        assert_relative_eq!(binomial_sf_ge(500_500, 1_000_000, 0.5), 0.15889734568166486, max_relative = REL);
        // scipy.stats.binom.sf(39, 1000000, 1e-5)
        assert_relative_eq!(binomial_sf_ge(40, 1_000_000, 1e-5), 7.338409669445836e-13, max_relative = REL);
        // scipy.stats.binom.sf(2, 1000000, 1e-5)  (k below the mean: complement path)
        assert_relative_eq!(binomial_sf_ge(3, 1_000_000, 1e-5), 0.9972306950833858, max_relative = REL);
        // scipy.stats.binom.sf(505799, 1000000, 0.5)  (a p-value near 1e-31)
        assert_relative_eq!(binomial_sf_ge(505_800, 1_000_000, 0.5), 2.081465421907934e-31, max_relative = REL);
        // scipy.stats.binom.sf(999999, 1000000, 0.999999)  (k == n: ~1/e)
        assert_relative_eq!(binomial_sf_ge(1_000_000, 1_000_000, 0.999_999), 0.36787925722106646, max_relative = REL);
    }

    #[test]
    fn sf_ge_beats_scipy_against_50_digit_sums() {
        // Where scipy's Boost incomplete beta is itself off by ~1e-13 relative,
        // exact sums (mpmath, 40-50 digits) show the saddle-point tails are
        // closer. Tolerance 1e-13.
        // 1 - sum(binomial(10**6, x) * p**x * (1-p)**(10**6-x) for x in range(3)), p = 1e-5
        // (scipy.stats.binom.sf(2, 1000000, 1e-5) gives 0.9972306950833858)
        assert_relative_eq!(binomial_sf_ge(3, 1_000_000, 1e-5), 0.997_230_695_083_511_8, max_relative = 1e-13);
        // sum(binomial(10**6, x) / 2**(10**6) for x in range(502000, 10**6 + 1))
        // (scipy.stats.binom.sf(501999, 1000000, 0.5) gives 3.1804668750394e-05)
        assert_relative_eq!(binomial_sf_ge(502_000, 1_000_000, 0.5), 3.180_466_875_041_244_4e-5, max_relative = 1e-13);
        // sum(binomial(10**6, x) * p**x * (1-p)**(10**6-x) for x in range(3)), p = 1e-5
        assert_relative_eq!(binomial_cdf_le(2, 1_000_000, 1e-5), 0.002_769_304_916_488_164_6, max_relative = 1e-13);
    }

    #[test]
    fn sf_ge_boundaries() {
        // scipy.stats.binom.sf(-1, 10, 0.3)
        assert_eq!(binomial_sf_ge(0, 10, 0.3), 1.0);
        // scipy.stats.binom.sf(0, 1000000, 0.5) rounds to 1.0
        assert_eq!(binomial_sf_ge(1, 1_000_000, 0.5), 1.0);
        assert_eq!(binomial_sf_ge(0, 0, 0.3), 1.0);
        assert_eq!(binomial_sf_ge(1, 0, 0.3), 0.0);
        assert_eq!(binomial_sf_ge(11, 10, 0.3), 0.0);
        assert_eq!(binomial_sf_ge(1, 10, 0.0), 0.0);
        assert_eq!(binomial_sf_ge(10, 10, 1.0), 1.0);
        assert!(binomial_sf_ge(3, 10, f64::NAN).is_nan());
        assert!(binomial_sf_ge(3, 10, 1.5).is_nan());
    }

    #[test]
    fn cdf_le_matches_scipy() {
        // scipy.stats.binom.cdf(7, 20, 0.1)
        assert_relative_eq!(binomial_cdf_le(7, 20, 0.1), 0.9995843649811545, max_relative = REL);
        // scipy.stats.binom.cdf(0, 20, 0.1)
        assert_relative_eq!(binomial_cdf_le(0, 20, 0.1), 0.12157665459056925, max_relative = REL);
        // scipy.stats.binom.cdf(450, 1000, 0.5)
        assert_relative_eq!(binomial_cdf_le(450, 1000, 0.5), 0.0008652680424881513, max_relative = REL);
        // scipy.stats.binom.cdf(499000, 1000000, 0.5)
        assert_relative_eq!(binomial_cdf_le(499_000, 1_000_000, 0.5), 0.0228041499326948, max_relative = REL);
        // scipy.stats.binom.cdf(494000, 1000000, 0.5)
        assert_relative_eq!(binomial_cdf_le(494_000, 1_000_000, 0.5), 1.7949721465529135e-33, max_relative = REL);
        // scipy.stats.binom.cdf(20, 20, 0.1)
        assert_eq!(binomial_cdf_le(20, 20, 0.1), 1.0);
    }

    #[test]
    fn test_greater_matches_scipy_binomtest() {
        // scipy.stats.binomtest(7, 20, 0.1, alternative='greater').pvalue
        assert_relative_eq!(binomial_test_greater(7, 20, 0.1), 0.002386089408966118, max_relative = REL);
        // scipy.stats.binomtest(60, 100, 0.5, alternative='greater').pvalue
        assert_relative_eq!(binomial_test_greater(60, 100, 0.5), 0.028443966820490444, max_relative = REL);
        // scipy.stats.binomtest(120, 1000, 0.05, alternative='greater').pvalue
        assert_relative_eq!(binomial_test_greater(120, 1000, 0.05), 2.6514781041942333e-18, max_relative = REL);
        // scipy.stats.binomtest(5, 5, 0.2, alternative='greater').pvalue  (k == n)
        assert_relative_eq!(binomial_test_greater(5, 5, 0.2), 0.0003200000000000001, max_relative = REL);
        // scipy.stats.binomtest(0, 5, 0.2, alternative='greater').pvalue  (k == 0)
        assert_eq!(binomial_test_greater(0, 5, 0.2), 1.0);
        // scipy.stats.binomtest(3, 10, 0.0, alternative='greater').pvalue
        assert_eq!(binomial_test_greater(3, 10, 0.0), 0.0);
        // scipy.stats.binomtest(3, 10, 1.0, alternative='greater').pvalue
        assert_eq!(binomial_test_greater(3, 10, 1.0), 1.0);
    }

    #[test]
    fn test_greater_is_neutral_on_inputs_that_cannot_be_evidence() {
        assert_eq!(binomial_test_greater(0, 0, 0.1), 1.0);
        assert_eq!(binomial_test_greater(11, 10, 0.1), 1.0);
        assert_eq!(binomial_test_greater(3, 10, f64::NAN), 1.0);
        assert_eq!(binomial_test_greater(3, 10, -0.1), 1.0);
    }

    #[test]
    fn sf_and_cdf_are_complementary() {
        for &(k, n, p) in &[(7, 20, 0.1), (500, 1000, 0.5), (0, 5, 0.5), (3, 1_000_000, 1e-5)] {
            let total = binomial_sf_ge(k + 1, n, p) + binomial_cdf_le(k, n, p);
            assert_relative_eq!(total, 1.0, max_relative = 1e-13);
        }
    }
}
