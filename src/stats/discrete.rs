//! Probability mass functions and tail sums for the binomial and hypergeometric
//! distributions, accurate to a few ulps for counts up to (at least) 10^6.
//!
//! This is the numerical core shared by the binomial, McNemar, Fisher and
//! Clopper–Pearson code; nothing here is a test in its own right.
//!
//! The pmfs use Loader's saddle-point expansion, which never forms
//! `ln n! - ln k! - ln (n-k)!` as a difference of large numbers (that
//! difference loses about `log10(n ln n)` digits: ~1e-9 relative error at
//! n = 10^6, which is what `statrs`' incomplete beta function shows).
//!
//! Tails are summed term by term from the observed count outwards, away from
//! the mode, using the exact ratio of successive pmf terms. Because both
//! distributions are log-concave, the terms shrink monotonically in that
//! direction and the sum can stop once the terms no longer matter; the other
//! tail is obtained as a complement only when it is the large one, so small
//! p-values never suffer cancellation.
//!
//! References:
//! - C. Loader (2000), "Fast and Accurate Computation of Binomial
//!   Probabilities" (the `stirlerr`/`bd0` decomposition used below).
//! - R Core Team, `src/nmath/dbinom.c`, `stirlerr.c`, `bd0.c`, `dhyper.c`
//!   (the reference implementation of Loader's algorithm).

/// ln(2π).
const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// A tail sum stops once the next term is below this fraction of the running
/// sum. The remaining terms of a log-concave tail are bounded by a geometric
/// series, so even ~10^4 further terms cannot reach one ulp of the sum.
const TAIL_CUTOFF: f64 = 1e-20;

/// `stirlerr(n) = ln(n!) - ln(sqrt(2πn) (n/e)^n)` for n = 0..=15, computed with
/// 40-digit arithmetic (mpmath); `stirlerr(0)` is defined as 0 (Loader 2000).
const STIRLERR_SMALL: [f64; 16] = [
    0.0,
    0.081_061_466_795_327_26,
    0.041_340_695_955_409_3,
    0.027_677_925_684_998_34,
    0.020_790_672_103_765_093,
    0.016_644_691_189_821_193,
    0.013_876_128_823_070_748,
    0.011_896_709_945_891_77,
    0.010_411_265_261_972_096,
    0.009_255_462_182_712_733,
    0.008_330_563_433_362_87,
    0.007_573_675_487_951_841,
    0.006_942_840_107_209_53,
    0.006_408_994_188_004_207,
    0.005_951_370_112_758_847_5,
    0.005_554_733_551_962_801,
];

/// The error of Stirling's approximation to ln(n!), i.e.
/// `ln(n!) - ln(sqrt(2πn) (n/e)^n)`.
fn stirlerr(n: u64) -> f64 {
    if let Some(&v) = STIRLERR_SMALL.get(n as usize) {
        return v;
    }
    // Asymptotic series 1/(12n) - 1/(360n^3) + 1/(1260n^5) - 1/(1680n^7)
    // + 1/(1188n^9) (the Bernoulli-number expansion of ln Γ). For n > 15 the
    // first omitted term is below 1e-16 relative; fewer terms suffice as n
    // grows (cut-offs from R's stirlerr.c).
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    let n = n as f64;
    let nn = n * n;
    if n > 500.0 {
        (S0 - S1 / nn) / n
    } else if n > 80.0 {
        (S0 - (S1 - S2 / nn) / nn) / n
    } else if n > 35.0 {
        (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n
    }
}

/// The deviance term `x ln(x/np) + np - x`, evaluated without cancellation
/// when `x` is close to `np` (Loader 2000, section 2).
fn bd0(x: f64, np: f64) -> f64 {
    if (x - np).abs() < 0.1 * (x + np) {
        // Series in v = (x - np)/(x + np): 2x Σ v^(2j+1)/(2j+1) - (x - np) ...
        // rearranged so every term is positive and small.
        let mut v = (x - np) / (x + np);
        let mut s = (x - np) * v;
        let mut ej = 2.0 * x * v;
        v *= v;
        // |v| < 0.1, so each term shrinks by 100x: ~8 terms reach 1e-16.
        for j in 1..1000 {
            ej *= v;
            let s1 = s + ej / f64::from(2 * j + 1);
            if s1 == s {
                return s1;
            }
            s = s1;
        }
        s
    } else {
        x * (x / np).ln() + np - x
    }
}

/// P(X = x) for X ~ Bin(n, p), with `q = 1 - p` passed separately so callers
/// holding an exact complement lose nothing. Returns 0 outside the support.
pub(crate) fn binomial_pmf(x: u64, n: u64, p: f64, q: f64) -> f64 {
    if x > n {
        return 0.0;
    }
    if p == 0.0 {
        return if x == 0 { 1.0 } else { 0.0 };
    }
    if q == 0.0 {
        return if x == n { 1.0 } else { 0.0 };
    }
    let nf = n as f64;
    if x == 0 {
        if n == 0 {
            return 1.0;
        }
        let lc = if p < 0.1 { -bd0(nf, nf * q) - nf * p } else { nf * q.ln() };
        return lc.exp();
    }
    if x == n {
        let lc = if q < 0.1 { -bd0(nf, nf * p) - nf * q } else { nf * p.ln() };
        return lc.exp();
    }
    let xf = x as f64;
    let lc = stirlerr(n) - stirlerr(x) - stirlerr(n - x) - bd0(xf, nf * p) - bd0(nf - xf, nf * q);
    // ln(2π x (n - x) / n), written to stay accurate when x << n.
    let lf = LN_2PI + xf.ln() + (-xf / nf).ln_1p();
    (lc - 0.5 * lf).exp()
}

/// P(X = x) for X ~ Hypergeometric: `x` successes when drawing `draws` items
/// without replacement from `successes` successes and `failures` failures.
/// Returns 0 outside the support.
///
/// Uses the identity (R's dhyper.c)
/// `h(x) = b(x; K, p) b(n - x; N - K, p) / b(n; N, p)` with p = n/N,
/// which inherits the accuracy of [`binomial_pmf`].
pub(crate) fn hypergeometric_pmf(x: u64, successes: u64, failures: u64, draws: u64) -> f64 {
    let total = successes + failures;
    if x > successes || x > draws || draws > total || draws - x > failures {
        return 0.0;
    }
    if draws == 0 {
        return 1.0;
    }
    let p = draws as f64 / total as f64;
    let q = (total - draws) as f64 / total as f64;
    let p1 = binomial_pmf(x, successes, p, q);
    let p2 = binomial_pmf(draws - x, failures, p, q);
    let p3 = binomial_pmf(draws, total, p, q);
    p1 * p2 / p3
}

/// Direction in which a tail is summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From `start` towards larger counts.
    Up,
    /// From `start` towards smaller counts.
    Down,
}

/// Sums pmf terms from `start` (whose pmf is `first`) to `end` inclusive,
/// moving in `direction`; `ratio(x)` must return pmf(next)/pmf(x) where next
/// is the neighbour of `x` in that direction.
///
/// The caller guarantees `start` lies at or beyond the mode in the direction
/// of travel, so the terms never increase and the sum may stop early.
pub(crate) fn tail_sum(first: f64, start: u64, end: u64, direction: Direction, ratio: impl Fn(u64) -> f64) -> f64 {
    let mut term = first;
    let mut sum = first;
    let mut x = start;
    while x != end {
        term *= ratio(x);
        x = match direction {
            Direction::Up => x + 1,
            Direction::Down => x - 1,
        };
        sum += term;
        if term <= sum * TAIL_CUTOFF {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_relative_eq;

    // Reference values agree to ~1e-15; 1e-13 leaves room for platform libm
    // differences in exp/ln.
    const REL: f64 = 1e-13;

    #[test]
    fn stirlerr_matches_40_digit_values() {
        // mpmath (40 digits): loggamma(n+1) - (n+1/2)*log(n) + n - log(2*pi)/2
        assert_relative_eq!(stirlerr(16), 0.005_207_655_919_609_640_4, max_relative = REL);
        assert_relative_eq!(stirlerr(36), 0.002_314_755_290_514_684, max_relative = REL);
        assert_relative_eq!(stirlerr(100), 0.000_833_330_555_634_914_7, max_relative = REL);
        assert_relative_eq!(stirlerr(1000), 8.333_333_055_555_635e-5, max_relative = REL);
    }

    #[test]
    fn binomial_pmf_matches_scipy() {
        // scipy.stats.binom.pmf(7, 20, 0.1)
        assert_relative_eq!(binomial_pmf(7, 20, 0.1, 0.9), 0.001_970_454_390_120_642, max_relative = REL);
        // scipy.stats.binom.pmf(500000, 1000000, 0.5)
        assert_relative_eq!(
            binomial_pmf(500_000, 1_000_000, 0.5, 0.5),
            0.000_797_884_361_331_749_9,
            max_relative = REL
        );
        // scipy.stats.binom.pmf(0, 1000000, 1e-5)
        assert_relative_eq!(binomial_pmf(0, 1_000_000, 1e-5, 1.0 - 1e-5), 4.539_765_980_761_296e-5, max_relative = REL);
        // scipy.stats.binom.pmf(3, 3, 0.2)
        assert_relative_eq!(binomial_pmf(3, 3, 0.2, 0.8), 0.008, max_relative = REL);
        assert_eq!(binomial_pmf(0, 0, 0.3, 0.7), 1.0);
        assert_eq!(binomial_pmf(4, 3, 0.3, 0.7), 0.0);
    }

    #[test]
    fn hypergeometric_pmf_matches_scipy() {
        // scipy.stats.hypergeom.pmf(8, 16, 9, 10)  (M=16 total, n=9 successes, N=10 drawn)
        assert_relative_eq!(hypergeometric_pmf(8, 9, 7, 10), 0.023_601_398_601_398_604, max_relative = REL);
        // scipy.stats.hypergeom.pmf(1000, 4000, 2500, 2000)
        assert_relative_eq!(
            hypergeometric_pmf(1000, 2500, 1500, 2000),
            4.958_254_094_844_172e-61,
            max_relative = 1e-12
        );
        assert_eq!(hypergeometric_pmf(0, 0, 5, 0), 1.0);
        assert_eq!(hypergeometric_pmf(6, 5, 5, 6), 0.0);
    }
}
