//! Clopper–Pearson exact confidence interval for a binomial proportion.
//!
//! Reports how precisely a flip rate has been measured: the interval contains
//! every rate p that a one-sided exact binomial test at level alpha/2 would
//! not reject in either direction. Its bounds are the Beta quantiles
//! `lower = B⁻¹(alpha/2; k, n - k + 1)` and `upper = B⁻¹(1 - alpha/2; k + 1, n - k)`.
//!
//! The quantiles are found by inverting the binomial tails of `binomial.rs`
//! (via `I_p(k, n - k + 1) = P(X >= k | p)`) with bisection down to the last
//! representable bit, so the interval is exactly consistent with the binomial
//! test. `statrs`' inverse incomplete beta (AS 109) was not used: it is off
//! by ~1e-7 relative for n = 10^6 (e.g. k = 1: 2.5317805e-8 instead of
//! 2.5317808e-8).
//!
//! Reference: C. J. Clopper and E. S. Pearson (1934), "The use of confidence
//! or fiducial limits illustrated in the case of the binomial", Biometrika
//! 26(4); matches `statsmodels.stats.proportion.proportion_confint(k, n,
//! alpha, method='beta')`.

use serde::{Deserialize, Serialize};

use super::binomial::{binomial_cdf_le, binomial_sf_ge};

/// Enough halvings of [0, 1] to reach adjacent floats anywhere down to the
/// smallest subnormal (2^-1074): 1074 for the exponent plus 53 for the mantissa.
const MAX_BISECTIONS: u32 = 1074 + 53;

/// A closed interval of proportions, `0 <= lower <= upper <= 1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

impl Interval {
    /// [0, 1]: the interval that says nothing about the proportion.
    pub const UNINFORMATIVE: Interval = Interval { lower: 0.0, upper: 1.0 };
}

/// Two-sided Clopper–Pearson interval at confidence `1 - alpha` for `k`
/// successes out of `n` trials.
///
/// Returns [`Interval::UNINFORMATIVE`] when there is nothing to estimate from
/// or the request is meaningless: `n == 0`, `k > n`, or `alpha` NaN or outside
/// the open interval (0, 1). `lower` is exactly 0 when `k == 0` and `upper`
/// exactly 1 when `k == n`.
pub fn clopper_pearson(k: u64, n: u64, alpha: f64) -> Interval {
    if n == 0 || k > n || alpha.is_nan() || alpha <= 0.0 || alpha >= 1.0 {
        return Interval::UNINFORMATIVE;
    }
    let tail = alpha / 2.0;
    let lower = if k == 0 {
        0.0
    } else {
        // P(X >= k | p) increases with p; the bound is where it reaches alpha/2.
        bisect_unit(|p| binomial_sf_ge(k, n, p) < tail)
    };
    let upper = if k == n {
        1.0
    } else {
        // P(X <= k | p) decreases with p; the bound is where it falls to alpha/2.
        bisect_unit(|p| binomial_cdf_le(k, n, p) > tail)
    };
    Interval { lower, upper }
}

/// Finds the point in [0, 1] where `root_is_above` switches from true to false.
fn bisect_unit(root_is_above: impl Fn(f64) -> bool) -> f64 {
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..MAX_BISECTIONS {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if root_is_above(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    // Relative tolerance against statsmodels (scipy.stats.beta.ppf, i.e. Boost's
    // ibeta_inv, accurate to ~1e-15).
    const REL: f64 = 1e-10;

    fn assert_interval(actual: Interval, lower: f64, upper: f64) {
        assert_relative_eq!(actual.lower, lower, max_relative = REL);
        assert_relative_eq!(actual.upper, upper, max_relative = REL);
    }

    #[test]
    fn matches_statsmodels_in_the_interior() {
        // statsmodels.stats.proportion.proportion_confint(7, 20, 0.05, method='beta')
        assert_interval(clopper_pearson(7, 20, 0.05), 0.15390920478454118, 0.5921885345328282);
        // statsmodels.stats.proportion.proportion_confint(3, 8, 0.01, method='beta')
        assert_interval(clopper_pearson(3, 8, 0.01), 0.04746403364646041, 0.8302995128771389);
        // statsmodels.stats.proportion.proportion_confint(1, 2, 0.5, method='beta')
        assert_interval(clopper_pearson(1, 2, 0.5), 0.13397459621556135, 0.8660254037844387);
    }

    #[test]
    fn matches_statsmodels_for_a_million_trials() {
        // statsmodels.stats.proportion.proportion_confint(1, 1000000, 0.05, method='beta')
        assert_interval(clopper_pearson(1, 1_000_000, 0.05), 2.5317807663794178e-08, 5.571630655166941e-06);
        // statsmodels.stats.proportion.proportion_confint(500000, 1000000, 0.05, method='beta')
        assert_interval(clopper_pearson(500_000, 1_000_000, 0.05), 0.49901951919531184, 0.5009804808046882);
        // statsmodels.stats.proportion.proportion_confint(999999, 1000000, 0.05, method='beta')
        assert_interval(clopper_pearson(999_999, 1_000_000, 0.05), 0.9999944283693448, 0.9999999746821924);
    }

    #[test]
    fn bounds_are_exact_at_the_extremes() {
        // statsmodels.stats.proportion.proportion_confint(0, 20, 0.05, method='beta')
        let none = clopper_pearson(0, 20, 0.05);
        assert_eq!(none.lower, 0.0);
        assert_relative_eq!(none.upper, 0.16843347098308534, max_relative = REL);
        // statsmodels.stats.proportion.proportion_confint(20, 20, 0.05, method='beta')
        let all = clopper_pearson(20, 20, 0.05);
        assert_relative_eq!(all.lower, 0.8315665290169146, max_relative = REL);
        assert_eq!(all.upper, 1.0);
    }

    #[test]
    fn meaningless_requests_are_uninformative() {
        assert_eq!(clopper_pearson(0, 0, 0.05), Interval::UNINFORMATIVE);
        assert_eq!(clopper_pearson(5, 4, 0.05), Interval::UNINFORMATIVE);
        assert_eq!(clopper_pearson(2, 4, 0.0), Interval::UNINFORMATIVE);
        assert_eq!(clopper_pearson(2, 4, 1.0), Interval::UNINFORMATIVE);
        assert_eq!(clopper_pearson(2, 4, f64::NAN), Interval::UNINFORMATIVE);
    }

    #[test]
    fn serialises_as_lower_and_upper() {
        let json = serde_json::to_string(&Interval { lower: 0.25, upper: 0.5 }).unwrap();
        assert_eq!(json, r#"{"lower":0.25,"upper":0.5}"#);
        let back: Interval = serde_json::from_str(&json).unwrap();
        assert_eq!(back, Interval { lower: 0.25, upper: 0.5 });
    }
}
