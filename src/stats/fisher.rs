//! One-sided Fisher exact test on a 2x2 contingency table.
//!
//! Used for unpaired comparisons, e.g. "does the probe set flip to the target
//! label more often than an independent control set?":
//!
//! ```text
//!              flipped   not flipped
//! probe     [[    a,          b     ],
//! control    [    c,          d     ]]
//! ```
//!
//! Conditioning on all margins, `a` follows a hypergeometric distribution;
//! the p-value for H1 "odds ratio > 1" is P(A >= a). The tail is summed from
//! Loader's saddle-point pmf (see `discrete.rs`), so tables with counts in the
//! millions keep ~1e-12 relative accuracy.
//!
//! Reference: R. A. Fisher (1935), *The Design of Experiments*, section 2;
//! Agresti, *Categorical Data Analysis* (3rd ed., 2013), section 3.5.1.
//! Matches `scipy.stats.fisher_exact(table, alternative='greater')`.

use super::discrete::{Direction, hypergeometric_pmf, tail_sum};

/// One-sided Fisher exact p-value for the table `[[a, b], [c, d]]` against
/// H1 "odds ratio > 1" (row 1 has the higher rate of column 1).
///
/// A table with an empty row or column carries no evidence and returns 1.0,
/// as scipy does.
pub fn fisher_exact_greater(table: [[u64; 2]; 2]) -> f64 {
    let [[a, b], [c, d]] = table;
    let draws = a.saturating_add(b);
    let successes = a.saturating_add(c);
    let failures = b.saturating_add(d);
    if draws == 0 || c.saturating_add(d) == 0 || successes == 0 || failures == 0 {
        return 1.0;
    }
    let total = successes.saturating_add(failures);
    let lowest = draws.saturating_sub(failures);
    let highest = draws.min(successes);
    if a <= lowest {
        return 1.0;
    }
    // Mode of the hypergeometric distribution; u128 so the product cannot overflow.
    let mode = (u128::from(draws) + 1) * (u128::from(successes) + 1) / (u128::from(total) + 2);
    let (s, f, n) = (successes as f64, failures as f64, draws as f64);
    if u128::from(a) > mode {
        let first = hypergeometric_pmf(a, successes, failures, draws);
        tail_sum(first, a, highest, Direction::Up, |x| {
            let x = x as f64;
            (s - x) * (n - x) / ((x + 1.0) * (f - n + x + 1.0))
        })
        .clamp(0.0, 1.0)
    } else {
        // P(A >= a) is a large probability here, so the complement is accurate.
        let first = hypergeometric_pmf(a - 1, successes, failures, draws);
        let below = tail_sum(first, a - 1, lowest, Direction::Down, |x| {
            let x = x as f64;
            x * (f - n + x) / ((s - x + 1.0) * (n - x + 1.0))
        });
        (1.0 - below).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    // Relative tolerance for p-values against scipy (Boost's hypergeometric cdf).
    const REL: f64 = 1e-9;

    #[test]
    fn matches_scipy_on_small_tables() {
        // scipy.stats.fisher_exact([[8, 2], [1, 5]], alternative='greater').pvalue
        assert_relative_eq!(fisher_exact_greater([[8, 2], [1, 5]]), 0.024475524475524483, max_relative = REL);
        // scipy.stats.fisher_exact([[1, 9], [11, 3]], alternative='greater').pvalue
        assert_relative_eq!(fisher_exact_greater([[1, 9], [11, 3]]), 0.9999663480953022, max_relative = REL);
        // scipy.stats.fisher_exact([[3, 1], [1, 3]], alternative='greater').pvalue
        assert_relative_eq!(fisher_exact_greater([[3, 1], [1, 3]]), 0.24285714285714283, max_relative = REL);
        // scipy.stats.fisher_exact([[10, 0], [0, 10]], alternative='greater').pvalue
        assert_relative_eq!(fisher_exact_greater([[10, 0], [0, 10]]), 5.412544112234515e-06, max_relative = REL);
        // scipy.stats.fisher_exact([[0, 10], [10, 0]], alternative='greater').pvalue
        assert_eq!(fisher_exact_greater([[0, 10], [10, 0]]), 1.0);
    }

    #[test]
    fn matches_scipy_on_large_tables() {
        // scipy.stats.fisher_exact([[120, 880], [60, 940]], alternative='greater').pvalue
        assert_relative_eq!(fisher_exact_greater([[120, 880], [60, 940]]), 1.6819964003546167e-06, max_relative = REL);
        // scipy.stats.fisher_exact([[1500, 500], [1000, 1000]], alternative='greater').pvalue
        assert_relative_eq!(
            fisher_exact_greater([[1500, 500], [1000, 1000]]),
            7.422674332925846e-61,
            max_relative = REL
        );
        // scipy.stats.fisher_exact([[5000, 5000], [4900, 5100]], alternative='greater').pvalue
        assert_relative_eq!(
            fisher_exact_greater([[5000, 5000], [4900, 5100]]),
            0.08073464575422912,
            max_relative = REL
        );
    }

    #[test]
    fn empty_margins_carry_no_evidence() {
        // scipy.stats.fisher_exact([[0, 0], [5, 5]], alternative='greater').pvalue
        assert_eq!(fisher_exact_greater([[0, 0], [5, 5]]), 1.0);
        // scipy.stats.fisher_exact([[3, 0], [0, 0]], alternative='greater').pvalue
        assert_eq!(fisher_exact_greater([[3, 0], [0, 0]]), 1.0);
        assert_eq!(fisher_exact_greater([[0, 0], [0, 0]]), 1.0);
        assert_eq!(fisher_exact_greater([[4, 0], [6, 0]]), 1.0);
    }
}
