//! Pass/fail thresholds: their ranges in `defaults:`, and a probe's `thresholds:` overrides,
//! which must belong to the probe's category.

use std::collections::HashMap;

use super::super::diagnostics::{Code, PROBABILITY, Range, UNIT};
use super::super::spec::{Category, Defaults, Thresholds};
use super::super::yaml::{Node, Spanned, position};
use super::Checker;

/// Every threshold key, the category it belongs to, and its range. `defaults:` accepts all of
/// them but the adversarial ones (which have no battery-wide default); a probe's `thresholds:`
/// accepts those of its own category.
const THRESHOLDS: &[(&str, Category, Range)] = &[
    ("alpha", Category::Trigger, PROBABILITY),
    ("min-effect", Category::Trigger, UNIT),
    ("min-attack-success", Category::Trigger, UNIT),
    ("max-flip-rate", Category::Robustness, UNIT),
    ("max-accuracy-drop", Category::Robustness, UNIT),
    ("max-attack-success", Category::Adversarial, UNIT),
    ("min-robust-accuracy", Category::Adversarial, UNIT),
];

pub(crate) fn threshold_keys(category: Category) -> Vec<&'static str> {
    THRESHOLDS.iter().filter(|(_, c, _)| *c == category).map(|(k, _, _)| *k).collect()
}

pub(super) fn category_name(category: Category) -> &'static str {
    match category {
        Category::Trigger => "trigger",
        Category::Robustness => "robustness",
        Category::Adversarial => "adversarial",
    }
}

impl Checker {
    /// The threshold `key`, checked against its range.
    pub(super) fn threshold(&mut self, node: &Spanned<Node>, label: &str, key: &str) -> Option<f64> {
        let (_, _, range) = THRESHOLDS.iter().find(|(k, _, _)| *k == key)?;
        self.number_in(node, label, *range)
    }

    /// A probe's thresholds: its `thresholds:` overrides over the battery's defaults.
    pub(super) fn thresholds(
        &mut self,
        node: Option<&Spanned<Node>>,
        probe: &str,
        category: Option<Category>,
        defaults: &Defaults,
    ) -> Option<Thresholds> {
        let mut overrides: HashMap<&str, f64> = HashMap::new();
        let mut ok = true;
        if let Some(node) = node {
            let place = format!("thresholds of {probe}");
            let fields = self.fields(node, &format!("`thresholds` in {probe}"), place, true)?;
            let accepted = match category {
                Some(c) => threshold_keys(c),
                None => THRESHOLDS.iter().map(|(k, _, _)| *k).collect(),
            };
            for (key, value) in fields.entries {
                let name = key.value.0.as_str();
                let Some((name, owner, _)) = THRESHOLDS.iter().find(|(k, _, _)| *k == name) else {
                    self.unknown_key(position(key), name, &fields.place, &accepted);
                    ok = false;
                    continue;
                };
                if let Some(category) = category.filter(|c| c != owner) {
                    let message = format!(
                        "`{name}` applies to {} probes, but {probe} is a {} probe",
                        category_name(*owner),
                        category_name(category)
                    );
                    let hint = Some(format!(
                        "{} probes accept: {}",
                        category_name(category),
                        threshold_keys(category).join(", ")
                    ));
                    self.report(Code::CategoryMismatch, position(key), message, hint);
                    ok = false;
                    continue;
                }
                match self.threshold(value, &fields.label(name), name) {
                    Some(v) => {
                        overrides.insert(name, v);
                    }
                    None => ok = false,
                }
            }
        }
        if !ok {
            return None;
        }
        let value = |key: &str, default: f64| overrides.get(key).copied().unwrap_or(default);
        Some(match category? {
            Category::Trigger => Thresholds::Trigger {
                alpha: value("alpha", defaults.alpha),
                min_effect: value("min-effect", defaults.min_effect),
                min_attack_success: value("min-attack-success", defaults.min_attack_success),
            },
            Category::Robustness => Thresholds::Robustness {
                max_flip_rate: value("max-flip-rate", defaults.max_flip_rate),
                max_accuracy_drop: value("max-accuracy-drop", defaults.max_accuracy_drop),
            },
            Category::Adversarial => Thresholds::Adversarial {
                alpha: defaults.alpha,
                min_effect: defaults.min_effect,
                max_attack_success: overrides.get("max-attack-success").copied(),
                min_robust_accuracy: overrides.get("min-robust-accuracy").copied(),
            },
        })
    }
}
