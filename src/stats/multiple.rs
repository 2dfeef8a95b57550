//! Multiple-testing corrections: adjusted p-values for a family of tests.
//!
//! A battery runs many probes against one model; reporting each probe's raw
//! p-value against a fixed threshold would flag false positives at the
//! family level. Two adjustments are offered:
//! - Holm (family-wise error rate, valid under any dependence);
//! - Benjamini–Hochberg (false discovery rate, valid under independence or
//!   positive dependence).
//!
//! Both return adjusted p-values in the input's order, so a probe is
//! significant at level q exactly when its adjusted value is <= q.
//!
//! Conventions: NaN p-values (a test that could not be computed) are treated
//! as 1.0, values are clamped to [0, 1], and tied p-values always receive
//! identical adjusted values whatever their input order.
//!
//! References: S. Holm (1979), "A simple sequentially rejective multiple test
//! procedure", Scand. J. Statist. 6(2); Y. Benjamini and Y. Hochberg (1995),
//! "Controlling the false discovery rate", JRSS B 57(1). Output matches
//! `statsmodels.stats.multitest.multipletests(p, method='holm' | 'fdr_bh')[1]`.

/// Holm step-down adjusted p-values, in the same order as `p_values`.
///
/// With the p-values sorted ascending as p(1) <= ... <= p(m), the adjusted
/// value of p(i) is `min(1, max_{j <= i} (m - j + 1) p(j))`.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let (sorted, order) = sorted_with_order(p_values);
    let m = sorted.len();
    let mut adjusted_sorted = Vec::with_capacity(m);
    let mut running_max = 0.0_f64;
    for (i, &p) in sorted.iter().enumerate() {
        running_max = running_max.max(p * (m - i) as f64);
        adjusted_sorted.push(running_max.min(1.0));
    }
    unsort(&adjusted_sorted, &order)
}

/// Benjamini–Hochberg step-up adjusted p-values ("q-values"), in the same
/// order as `p_values`.
///
/// With the p-values sorted ascending, the adjusted value of p(i) is
/// `min(1, min_{j >= i} p(j) m / j)`.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let (sorted, order) = sorted_with_order(p_values);
    let m = sorted.len();
    let mut adjusted_sorted = vec![0.0; m];
    let mut running_min = f64::INFINITY;
    for (i, &p) in sorted.iter().enumerate().rev() {
        // Divide by the empirical CDF rank/m, as statsmodels does, so results
        // agree to the last bit.
        let ecdf = (i + 1) as f64 / m as f64;
        running_min = running_min.min(p / ecdf);
        adjusted_sorted[i] = running_min.min(1.0);
    }
    unsort(&adjusted_sorted, &order)
}

/// The sanitised p-values in ascending order, and for each sorted position the
/// index it came from.
fn sorted_with_order(p_values: &[f64]) -> (Vec<f64>, Vec<usize>) {
    let clean: Vec<f64> = p_values.iter().map(|&p| if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) }).collect();
    let mut order: Vec<usize> = (0..clean.len()).collect();
    order.sort_by(|&i, &j| clean[i].total_cmp(&clean[j]));
    let sorted = order.iter().map(|&i| clean[i]).collect();
    (sorted, order)
}

/// Puts values computed in sorted order back into input order.
fn unsort(adjusted_sorted: &[f64], order: &[usize]) -> Vec<f64> {
    let mut adjusted = vec![0.0; adjusted_sorted.len()];
    for (&original, &value) in order.iter().zip(adjusted_sorted) {
        adjusted[original] = value;
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    // Relative tolerance against statsmodels; the arithmetic is the same, so
    // agreement is to the last bit or two.
    const REL: f64 = 1e-12;

    fn assert_all_close(actual: &[f64], expected: &[f64]) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            assert_relative_eq!(*a, *e, max_relative = REL);
        }
    }

    /// 20 p-values mixing small and large ones, generated in Python as
    /// `[round(((i*7919) % 1000) / 1000 * 0.2 + 1e-4*i, 6) for i in range(20)]`.
    const TWENTY: [f64; 20] = [
        0.0, 0.1839, 0.1678, 0.1517, 0.1356, 0.1195, 0.1034, 0.0873, 0.0712, 0.0551, 0.039, 0.0229, 0.0068, 0.1907,
        0.1746, 0.1585, 0.1424, 0.1263, 0.1102, 0.0941,
    ];

    #[test]
    fn holm_matches_statsmodels() {
        // statsmodels.stats.multitest.multipletests([0.01, 0.04, 0.03, 0.005], method='holm')[1]
        assert_all_close(&holm(&[0.01, 0.04, 0.03, 0.005]), &[0.03, 0.06, 0.06, 0.02]);
        // statsmodels.stats.multitest.multipletests([0.3], method='holm')[1]
        assert_all_close(&holm(&[0.3]), &[0.3]);
        // statsmodels.stats.multitest.multipletests([0.9, 0.95, 0.6], method='holm')[1]
        assert_all_close(&holm(&[0.9, 0.95, 0.6]), &[1.0, 1.0, 1.0]);
        // statsmodels.stats.multitest.multipletests(TWENTY, method='holm')[1]
        assert_all_close(
            &holm(&TWENTY),
            &[
                0.0,
                1.0,
                1.0,
                1.0,
                1.0,
                1.0,
                1.0,
                1.0,
                1.0,
                0.8816,
                0.663,
                0.4122,
                0.12919999999999998,
                1.0,
                1.0,
                1.0,
                1.0,
                1.0,
                1.0,
                1.0,
            ],
        );
    }

    #[test]
    fn holm_gives_ties_equal_values() {
        // statsmodels.stats.multitest.multipletests([0.01, 0.01, 0.03, 0.04, 0.04], method='holm')[1]
        let expected = [0.05, 0.05, 0.09, 0.09, 0.09];
        assert_all_close(&holm(&[0.01, 0.01, 0.03, 0.04, 0.04]), &expected);
        // Same family in another order: same value per p-value.
        assert_all_close(&holm(&[0.04, 0.01, 0.04, 0.03, 0.01]), &[0.09, 0.05, 0.09, 0.09, 0.05]);
    }

    #[test]
    fn benjamini_hochberg_matches_statsmodels() {
        // statsmodels.stats.multitest.multipletests([0.01, 0.04, 0.03, 0.005], method='fdr_bh')[1]
        assert_all_close(&benjamini_hochberg(&[0.01, 0.04, 0.03, 0.005]), &[0.02, 0.04, 0.04, 0.02]);
        // statsmodels.stats.multitest.multipletests([0.01, 0.01, 0.03, 0.04, 0.04], method='fdr_bh')[1]
        assert_all_close(
            &benjamini_hochberg(&[0.01, 0.01, 0.03, 0.04, 0.04]),
            &[0.024999999999999998, 0.024999999999999998, 0.04, 0.04, 0.04],
        );
        // statsmodels.stats.multitest.multipletests([0.3], method='fdr_bh')[1]
        assert_all_close(&benjamini_hochberg(&[0.3]), &[0.3]);
        // statsmodels.stats.multitest.multipletests([0.9, 0.95, 0.6], method='fdr_bh')[1]
        assert_all_close(&benjamini_hochberg(&[0.9, 0.95, 0.6]), &[0.95, 0.95, 0.95]);
        // statsmodels.stats.multitest.multipletests(TWENTY, method='fdr_bh')[1]
        let mut expected = [0.1907; 20];
        expected[0] = 0.0;
        expected[11] = 0.15266666666666667;
        expected[12] = 0.06799999999999999;
        assert_all_close(&benjamini_hochberg(&TWENTY), &expected);
    }

    #[test]
    fn nan_counts_as_one() {
        // statsmodels.stats.multitest.multipletests([0.02, 1.0, 0.001, 0.5], method='holm')[1]
        assert_all_close(&holm(&[0.02, f64::NAN, 0.001, 0.5]), &[0.06, 1.0, 0.004, 1.0]);
        // statsmodels.stats.multitest.multipletests([0.02, 1.0, 0.001, 0.5], method='fdr_bh')[1]
        assert_all_close(&benjamini_hochberg(&[0.02, f64::NAN, 0.001, 0.5]), &[0.04, 1.0, 0.004, 0.6666666666666666]);
    }

    #[test]
    fn empty_family_gives_empty_output() {
        assert!(holm(&[]).is_empty());
        assert!(benjamini_hochberg(&[]).is_empty());
    }
}
