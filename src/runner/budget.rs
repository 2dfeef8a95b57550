//! How many queries a search probe may spend: its own budget, `--search-budget` in its place,
//! and under `--time-budget` the share of the time left that the clean pass's measured speed
//! says it can afford.

use crate::battery::spec::{Battery, Category, SearchSpec, TransformSpec};
use crate::search::BudgetReport;

/// The budget a search probe runs with: its own (or `--search-budget`), cut to the time
/// budget's `allowance`.
pub(super) fn granted(spec: &SearchSpec, search_budget: Option<u64>, allowance: Option<u64>) -> BudgetReport {
    let requested = search_budget.unwrap_or_else(|| budget_of(spec));
    match allowance {
        Some(allowed) if allowed < requested => {
            BudgetReport { requested, granted: allowed, limited_by: Some("time budget (--time-budget)".into()) }
        }
        _ => BudgetReport { requested, granted: requested, limited_by: None },
    }
}

/// A search's own query budget.
fn budget_of(spec: &SearchSpec) -> u64 {
    spec.budget()
}

/// Fewest queries a search probe is granted however tight the time budget: below this a
/// search cannot rank even a few hundred candidates.
const MIN_SEARCH_QUERIES: u64 = 2_000;

/// Queries each search probe may spend so that the scan fits in `seconds_left`, at
/// `seconds_per_query` (measured on the clean pass): the fixed probes' queries come first,
/// the searches share the rest equally. Rounded down to 1, 2 or 5 × 10^k so that small
/// differences in measured speed give the same budget (and the same results).
pub(super) fn search_allowance(
    batteries: &[Battery],
    n: usize,
    references: usize,
    seconds_left: f64,
    seconds_per_query: f64,
) -> u64 {
    let mut fixed = 0u64;
    let mut searches = 0u64;
    for probe in batteries.iter().flat_map(|b| &b.probes) {
        match (&probe.transform, probe.category) {
            (TransformSpec::Search(_), _) => searches += 1,
            (_, Category::Trigger) => fixed += (probe.samples.min(n) * (2 + references)) as u64,
            (_, Category::Robustness) => fixed += (probe.samples.min(n) * (1 + references)) as u64,
            // Every model is attacked, and the candidate classifies the adversarial inputs once.
            (TransformSpec::Attack(attack), _) => {
                fixed += (probe.samples.min(n) as u64) * (u64::from(attack.queries()) * (1 + references as u64) + 1)
            }
            (_, Category::Adversarial) => fixed += probe.samples.min(n) as u64,
        }
    }
    let left = (seconds_left - fixed as f64 * seconds_per_query).max(0.0);
    let each = left / searches.max(1) as f64 / seconds_per_query.max(1e-9);
    round_down_125(each.min(u64::MAX as f64 / 2.0) as u64).max(MIN_SEARCH_QUERIES)
}

/// The largest 1, 2 or 5 × 10^k not above `n` (0 for 0).
fn round_down_125(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let decade = 10u64.pow(n.ilog10());
    [5, 2, 1].into_iter().map(|m| m * decade).find(|&v| v <= n).unwrap_or(decade)
}

/// The search with the `--search-budget` override applied.
pub(crate) fn with_budget(spec: &SearchSpec, budget: Option<u64>) -> SearchSpec {
    let mut spec = spec.clone();
    if let Some(b) = budget {
        match &mut spec {
            SearchSpec::Patch { budget, .. }
            | SearchSpec::ReverseEngineer { budget, .. }
            | SearchSpec::Vocabulary { budget, .. }
            | SearchSpec::FeatureSweep { budget, .. }
            | SearchSpec::AdversarialPeak { budget, .. } => *budget = b,
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_budget_pays_for_the_fixed_probes_first_and_splits_the_rest_among_searches() {
        let battery = crate::battery::parse(
            std::path::Path::new("t.yaml"),
            "schema: probity/battery/v1\nname: b\nversion: \"1\"\nmodality: image\ndefaults: {samples: 100}\nprobes:\n\
             - {id: t, category: trigger, transform: {kind: patch, size: 2, position: top-left, content: {solid: 1.0}}}\n\
             - {id: r, category: robustness, transform: {kind: gaussian-noise, std: 0.1}}\n\
             - {id: s1, category: trigger, search: {method: patch, sizes: [1], stride: 1, contents: [extremes], budget: 1000000}}\n\
             - {id: s2, category: trigger, search: {method: patch, sizes: [1], stride: 1, contents: [extremes], budget: 1000000}}\n",
        )
        .expect("a valid battery");
        // Fixed probes: trigger 50 x 2 (probe and control) + robustness 50 = 150 queries of the
        // 50 inputs; at 1 ms a query, 10 s leaves 9.85 s, 4,925 queries per search -> 2,000.
        assert_eq!(search_allowance(std::slice::from_ref(&battery), 50, 0, 10.0, 1e-3), 2_000);
        // 100 s: 49,925 each -> 20,000; one reference makes every fixed query cost more.
        assert_eq!(search_allowance(std::slice::from_ref(&battery), 50, 0, 100.0, 1e-3), 20_000);
        assert_eq!(search_allowance(std::slice::from_ref(&battery), 50, 1, 100.0, 1e-3), 20_000);
        // No time left: the floor.
        assert_eq!(search_allowance(std::slice::from_ref(&battery), 50, 0, 0.0, 1e-3), MIN_SEARCH_QUERIES);
    }

    #[test]
    fn budgets_round_down_to_one_two_five() {
        let rounded: Vec<u64> = [0, 1, 7, 19, 20, 49, 50, 99, 123_456, 999_999].map(round_down_125).to_vec();
        assert_eq!(rounded, vec![0, 1, 5, 10, 20, 20, 50, 50, 100_000, 500_000]);
    }
}
