//! Exact McNemar test on paired binary outcomes.
//!
//! Each input is run twice — once with the probe's transform, once with a
//! control transform — and each run either "flips" (e.g. lands on the target
//! label) or not. Only discordant pairs carry information:
//! - `b`: the probe run flipped but the control run did not;
//! - `c`: the control run flipped but the probe run did not.
//!
//! Under H0 (both transforms flip at the same rate) each discordant pair is
//! equally likely to fall either way, so b ~ Bin(b + c, 1/2).
//!
//! Reference: Q. McNemar (1947), "Note on the sampling error of the difference
//! between correlated proportions or percentages", Psychometrika 12(2);
//! exact (binomial) form as in Agresti, *Categorical Data Analysis*
//! (3rd ed., 2013), section 11.1, and `statsmodels.stats.contingency_tables.mcnemar(exact=True)`.

use super::binomial::binomial_sf_ge;

/// Under H0 a discordant pair is equally likely to favour either transform.
const HALF: f64 = 0.5;

/// One-sided exact McNemar p-value for H1: "the probe flips more often than
/// the control", i.e. P(X >= b) with X ~ Bin(b + c, 1/2).
///
/// With no discordant pairs (`b + c == 0`) there is no evidence: 1.0.
pub fn mcnemar_exact_greater(b: u64, c: u64) -> f64 {
    binomial_sf_ge(b, b.saturating_add(c), HALF)
}

/// Two-sided exact McNemar p-value, `min(1, 2 * P(X <= min(b, c)))` with
/// X ~ Bin(b + c, 1/2), as `statsmodels.stats.contingency_tables.mcnemar(table,
/// exact=True)` computes it. By symmetry of Bin(n, 1/2) this equals twice the
/// smaller of the two one-sided p-values, capped at 1.
///
/// With no discordant pairs (`b + c == 0`) there is no evidence: 1.0.
pub fn mcnemar_exact_two_sided(b: u64, c: u64) -> f64 {
    let one_sided = mcnemar_exact_greater(b, c).min(mcnemar_exact_greater(c, b));
    (2.0 * one_sided).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    // Relative tolerance for p-values against scipy/statsmodels.
    const REL: f64 = 1e-9;

    #[test]
    fn greater_matches_scipy_binomtest() {
        // scipy.stats.binomtest(8, 10, 0.5, alternative='greater').pvalue
        assert_relative_eq!(mcnemar_exact_greater(8, 2), 0.0546875, max_relative = REL);
        // scipy.stats.binomtest(2, 10, 0.5, alternative='greater').pvalue
        assert_relative_eq!(mcnemar_exact_greater(2, 8), 0.9892578125, max_relative = REL);
        // scipy.stats.binomtest(5, 10, 0.5, alternative='greater').pvalue
        assert_relative_eq!(mcnemar_exact_greater(5, 5), 0.623046875, max_relative = REL);
        // scipy.stats.binomtest(7, 7, 0.5, alternative='greater').pvalue
        assert_relative_eq!(mcnemar_exact_greater(7, 0), 0.0078125, max_relative = REL);
        // scipy.stats.binomtest(0, 7, 0.5, alternative='greater').pvalue
        assert_eq!(mcnemar_exact_greater(0, 7), 1.0);
        // scipy.stats.binomtest(300, 500, 0.5, alternative='greater').pvalue
        assert_relative_eq!(mcnemar_exact_greater(300, 200), 4.470033271126644e-06, max_relative = REL);
        // scipy.stats.binomtest(1000, 1000, 0.5, alternative='greater').pvalue  (2^-1000)
        assert_relative_eq!(mcnemar_exact_greater(1000, 0), 9.332636185032189e-302, max_relative = REL);
    }

    #[test]
    fn two_sided_matches_statsmodels() {
        // statsmodels.stats.contingency_tables.mcnemar([[0, 8], [2, 0]], exact=True).pvalue
        assert_relative_eq!(mcnemar_exact_two_sided(8, 2), 0.109375, max_relative = REL);
        // statsmodels.stats.contingency_tables.mcnemar([[0, 2], [8, 0]], exact=True).pvalue
        assert_relative_eq!(mcnemar_exact_two_sided(2, 8), 0.109375, max_relative = REL);
        // statsmodels.stats.contingency_tables.mcnemar([[0, 5], [5, 0]], exact=True).pvalue
        assert_eq!(mcnemar_exact_two_sided(5, 5), 1.0);
        // statsmodels.stats.contingency_tables.mcnemar([[0, 0], [7, 0]], exact=True).pvalue
        assert_relative_eq!(mcnemar_exact_two_sided(0, 7), 0.015625, max_relative = REL);
        // statsmodels.stats.contingency_tables.mcnemar([[0, 300], [200, 0]], exact=True).pvalue
        assert_relative_eq!(mcnemar_exact_two_sided(300, 200), 8.940066542253288e-06, max_relative = REL);
        // statsmodels.stats.contingency_tables.mcnemar([[0, 1000], [0, 0]], exact=True).pvalue
        assert_relative_eq!(mcnemar_exact_two_sided(1000, 0), 1.8665272370064378e-301, max_relative = REL);
        // statsmodels.stats.contingency_tables.mcnemar([[0, 1], [0, 0]], exact=True).pvalue
        assert_eq!(mcnemar_exact_two_sided(1, 0), 1.0);
    }

    #[test]
    fn no_discordant_pairs_is_no_evidence() {
        assert_eq!(mcnemar_exact_greater(0, 0), 1.0);
        assert_eq!(mcnemar_exact_two_sided(0, 0), 1.0);
    }
}
