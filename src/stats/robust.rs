//! Robust location, scale and outlier scores: median, median absolute
//! deviation (MAD) and the Neural Cleanse anomaly index.
//!
//! Neural Cleanse reverse-engineers a minimal trigger for every label and
//! flags a label whose trigger is abnormally small. "Abnormally" is measured
//! with the anomaly index `|x - median| / (1.4826 * MAD)`, a robust z-score:
//! the median and MAD are barely moved by the one outlier being looked for.
//! The paper flags an index above 2.
//!
//! 1.4826 is the consistency constant 1/Φ⁻¹(3/4) ≈ 1.482602 (rounded as in
//! the Neural Cleanse code): for normally distributed data, 1.4826 × MAD
//! estimates the standard deviation, so the index reads like a z-score.
//!
//! When more than half the values coincide the MAD is 0 and the index is
//! undefined. Following the modified z-score convention (Iglewicz and
//! Hoaglin; IBM SPSS), the scale then falls back to 1.2533 × the mean
//! absolute deviation from the median; 1.2533 = sqrt(π/2) makes that, too, a
//! standard-deviation estimate for normal data. If all values coincide every
//! index is 0.
//!
//! NaN values are ignored when computing the median and scale; their own
//! index is NaN.
//!
//! References: B. Wang et al. (2019), "Neural Cleanse: Identifying and
//! Mitigating Backdoor Attacks in Neural Networks", IEEE S&P, section IV-C;
//! F. R. Hampel (1974), "The influence curve and its role in robust
//! estimation", JASA 69(346); B. Iglewicz and D. C. Hoaglin (1993), *How to
//! Detect and Handle Outliers*.

/// Converts the MAD into a standard-deviation estimate for normal data:
/// 1/Φ⁻¹(3/4) ≈ 1.482602, rounded to 1.4826 as in Neural Cleanse.
const MAD_TO_SIGMA: f64 = 1.4826;

/// Converts the mean absolute deviation into a standard-deviation estimate
/// for normal data: sqrt(π/2).
const MEAN_AD_TO_SIGMA: f64 = 1.253_314_137_315_500_3;

/// Median of the non-NaN values; the mean of the two middle values when their
/// count is even. `None` when there are no non-NaN values.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    median_of_sorted(&v)
}

/// Raw (unscaled) median absolute deviation from the median of the non-NaN
/// values, as `scipy.stats.median_abs_deviation(x)` with its default
/// `scale=1.0`. `None` when there are no non-NaN values.
pub fn mad(values: &[f64]) -> Option<f64> {
    let center = median(values)?;
    let deviations: Vec<f64> = values.iter().map(|x| (x - center).abs()).collect();
    median(&deviations)
}

/// Neural Cleanse anomaly index of every value, in input order:
/// `|x - median| / (1.4826 * MAD)`, with the mean-absolute-deviation fallback
/// described in the module docs when the MAD is 0. Empty input gives empty
/// output; NaN inputs get NaN.
pub fn anomaly_indices(values: &[f64]) -> Vec<f64> {
    let (Some(center), Some(spread)) = (median(values), mad(values)) else {
        return vec![f64::NAN; values.len()];
    };
    let scale = if spread > 0.0 {
        MAD_TO_SIGMA * spread
    } else {
        let finite: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
        let mean_ad = finite.iter().map(|x| (x - center).abs()).sum::<f64>() / finite.len() as f64;
        MEAN_AD_TO_SIGMA * mean_ad
    };
    values
        .iter()
        .map(|x| {
            let deviation = (x - center).abs();
            if scale > 0.0 {
                deviation / scale
            } else if x.is_nan() {
                f64::NAN
            } else {
                0.0
            }
        })
        .collect()
}

fn median_of_sorted(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let upper = sorted[n / 2];
    if n % 2 == 1 {
        Some(upper)
    } else {
        // Halve before adding so that huge values cannot overflow.
        Some(sorted[n / 2 - 1] / 2.0 + upper / 2.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    // Relative tolerance against numpy/scipy; same arithmetic, so agreement is
    // to the last bit or two.
    const REL: f64 = 1e-12;

    fn assert_all_close(actual: &[f64], expected: &[f64]) {
        assert_eq!(actual.len(), expected.len());
        for (a, e) in actual.iter().zip(expected) {
            assert_relative_eq!(*a, *e, max_relative = REL);
        }
    }

    #[test]
    fn median_matches_numpy() {
        // numpy.median([3, 1, 2])
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        // numpy.median([4, 1, 3, 2])
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        // numpy.median([1.0, 1.1, 0.9, 1.05, 0.2])
        assert_eq!(median(&[1.0, 1.1, 0.9, 1.05, 0.2]), Some(1.0));
        // numpy.median([10, 12, 11.5, 9, 30, 10.5])
        assert_eq!(median(&[10.0, 12.0, 11.5, 9.0, 30.0, 10.5]), Some(11.0));
        // numpy.nanmedian([3, nan, 1, 2])
        assert_eq!(median(&[3.0, f64::NAN, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN]), None);
        assert_eq!(median(&[f64::MAX, f64::MAX]), Some(f64::MAX));
    }

    #[test]
    fn mad_matches_scipy() {
        // scipy.stats.median_abs_deviation([3, 1, 2])
        assert_eq!(mad(&[3.0, 1.0, 2.0]), Some(1.0));
        // scipy.stats.median_abs_deviation([4, 1, 3, 2])
        assert_eq!(mad(&[4.0, 1.0, 3.0, 2.0]), Some(1.0));
        // scipy.stats.median_abs_deviation([1.0, 1.1, 0.9, 1.05, 0.2])
        assert_relative_eq!(mad(&[1.0, 1.1, 0.9, 1.05, 0.2]).unwrap(), 0.09999999999999998, max_relative = REL);
        // scipy.stats.median_abs_deviation([5, 5, 5, 9])
        assert_eq!(mad(&[5.0, 5.0, 5.0, 9.0]), Some(0.0));
        assert_eq!(mad(&[]), None);
    }

    #[test]
    fn anomaly_indices_match_the_neural_cleanse_formula() {
        // x = numpy.array(values)
        // numpy.abs(x - numpy.median(x)) / (1.4826 * scipy.stats.median_abs_deviation(x))
        assert_all_close(&anomaly_indices(&[3.0, 1.0, 2.0]), &[0.6744907594765952, 0.6744907594765952, 0.0]);
        assert_all_close(
            &anomaly_indices(&[4.0, 1.0, 3.0, 2.0]),
            &[1.011736139214893, 1.011736139214893, 0.3372453797382976, 0.3372453797382976],
        );
        assert_all_close(
            &anomaly_indices(&[1.0, 1.1, 0.9, 1.05, 0.2]),
            &[0.0, 0.674490759476596, 0.6744907594765953, 0.337245379738298, 5.395926075812763],
        );
        assert_all_close(
            &anomaly_indices(&[10.0, 12.0, 11.5, 9.0, 30.0, 10.5]),
            &[
                0.6744907594765952,
                0.6744907594765952,
                0.3372453797382976,
                1.3489815189531904,
                12.815324430055309,
                0.3372453797382976,
            ],
        );
    }

    #[test]
    fn zero_mad_falls_back_to_mean_absolute_deviation() {
        // x = numpy.array([5, 5, 5, 9]); d = numpy.abs(x - numpy.median(x))
        // d / (1.2533141373155003 * numpy.mean(d))
        assert_all_close(&anomaly_indices(&[5.0, 5.0, 5.0, 9.0]), &[0.0, 0.0, 0.0, 3.191538243211461]);
        // All values equal: nothing is anomalous.
        assert_eq!(anomaly_indices(&[2.5, 2.5, 2.5]), vec![0.0, 0.0, 0.0]);
    }

    #[test]
    fn anomaly_indices_edge_inputs() {
        assert!(anomaly_indices(&[]).is_empty());
        let all_nan = anomaly_indices(&[f64::NAN, f64::NAN]);
        assert!(all_nan.iter().all(|x| x.is_nan()));
        let with_nan = anomaly_indices(&[3.0, f64::NAN, 1.0, 2.0]);
        assert!(with_nan[1].is_nan());
        assert_all_close(&[with_nan[0], with_nan[2], with_nan[3]], &[0.6744907594765952, 0.6744907594765952, 0.0]);
        let constant_with_nan = anomaly_indices(&[1.0, f64::NAN, 1.0]);
        assert_eq!(constant_with_nan[0], 0.0);
        assert!(constant_with_nan[1].is_nan());
    }
}
