//! `probes:`: each probe's id, category, samples and description, and which transform or search
//! it declares. A transform's own keys are checked by its kind's descriptor
//! ([`crate::transform::registry`]); this file checks that the kind fits the probe's category and
//! the battery's modality.

use std::collections::HashMap;

use super::super::diagnostics::{Code, did_you_mean};
use super::super::spec::{Category, Defaults, Modality, Probe, TransformSpec};
use super::super::yaml::{Node, Spanned, position};
use super::{Checker, or_list};
use crate::transform::registry::{self, TransformKind};

pub(crate) const PROBE_KEYS: &[&str] =
    &["id", "category", "description", "samples", "transform", "search", "attack", "thresholds"];
const CATEGORIES: &[(&str, Category)] =
    &[("trigger", Category::Trigger), ("robustness", Category::Robustness), ("adversarial", Category::Adversarial)];

/// "an image", "a text".
pub(super) fn with_article(modality: Modality) -> &'static str {
    match modality {
        Modality::Image => "an image",
        Modality::Text => "a text",
        Modality::Tabular => "a tabular",
    }
}

/// What a trigger of this modality does with its content: "a trigger stamps trigger content".
fn trigger_verb(modality: Modality) -> &'static str {
    match modality {
        Modality::Image => "stamps",
        Modality::Text => "inserts",
        Modality::Tabular => "sets",
    }
}

/// The example transform offered when a probe has none.
fn example_transform(modality: Option<Modality>) -> &'static str {
    match modality {
        Some(Modality::Text) => "e.g. `transform: {kind: insert-text, text: cf}`",
        Some(Modality::Tabular) => "e.g. `transform: {kind: set-feature, feature: f11, value: 999}`",
        Some(Modality::Image) | None => "e.g. `transform: {kind: patch, size: 2, content: {solid: 1.0}}`",
    }
}

impl Checker {
    pub(super) fn probes(
        &mut self,
        node: &Spanned<Node>,
        label: &str,
        defaults: &Defaults,
        modality: Option<Modality>,
    ) -> Option<Vec<Probe>> {
        let Node::Seq(items) = &node.value else {
            self.wrong_type(node, label, "a list of probes");
            return None;
        };
        if items.is_empty() {
            self.report(Code::BadValue, position(node), format!("{label} must list at least one probe"), None);
            return None;
        }
        let mut first_use: HashMap<String, u32> = HashMap::new();
        let probes: Vec<Option<Probe>> = items
            .iter()
            .enumerate()
            .map(|(i, item)| self.probe(i + 1, item, defaults, modality, &mut first_use))
            .collect();
        probes.into_iter().collect()
    }

    fn probe(
        &mut self,
        number: usize,
        node: &Spanned<Node>,
        defaults: &Defaults,
        modality: Option<Modality>,
        first_use: &mut HashMap<String, u32>,
    ) -> Option<Probe> {
        // Name the probe by its id when it has a readable one, by its position otherwise.
        let id_node = match &node.value {
            Node::Map(entries) => entries.iter().find(|(k, _)| k.value.0 == "id").map(|(_, v)| v),
            _ => None,
        };
        let place = match id_node.map(|n| &n.value) {
            Some(Node::String(id)) => format!("probe `{id}`"),
            _ => format!("probe #{number}"),
        };
        let fields = self.fields(node, &place, place.clone(), false)?;
        self.check_keys(&fields, PROBE_KEYS);

        let id = self.required(&fields, "id").and_then(|n| self.probe_id(n, &fields.label("id"), first_use));
        let category = self.required(&fields, "category").and_then(|n| self.category(n, &fields.label("category")));
        let description = match fields.get("description") {
            Some(n) => self.string(n, &fields.label("description")).map(str::to_string),
            None => Some(String::new()),
        };
        let samples = match fields.get("samples") {
            Some(n) => self.count(n, &fields.label("samples")),
            None => Some(defaults.samples),
        };
        let declared: Vec<&str> =
            ["transform", "search", "attack"].into_iter().filter(|key| fields.get(key).is_some()).collect();
        let transform = match declared.as_slice() {
            ["transform"] => fields.get("transform").and_then(|n| self.transform(n, &place, category, modality)),
            ["search"] => {
                fields.get("search").and_then(|n| self.search(n, &place, category, modality)).map(TransformSpec::Search)
            }
            ["attack"] => {
                fields.get("attack").and_then(|n| self.attack(n, &place, category, modality)).map(TransformSpec::Attack)
            }
            [] => {
                let (key, hint) = if category == Some(Category::Adversarial) {
                    ("`attack`", "e.g. `attack: {method: square, norm: linf, epsilon-fraction: 0.05}`")
                } else {
                    ("`transform` (or `search`)", example_transform(modality))
                };
                let message = format!("missing key {key} in {place}");
                self.report(Code::MissingKey, fields.at, message, Some(hint.into()));
                None
            }
            // `declared` holds only the three keys above.
            [_] => None,
            [_, second, ..] => {
                let at = fields.key_at(second).unwrap_or(fields.at);
                let message = format!("{place} has both `{}` and `{second}`", declared[0]);
                let hint = Some(
                    "a probe applies a known transform, searches for an unknown trigger, or attacks each input".into(),
                );
                self.report(Code::BadValue, at, message, hint);
                None
            }
        };
        if category == Some(Category::Adversarial) && declared.len() == 1 && declared[0] != "attack" {
            let at = fields.key_at(declared[0]).unwrap_or(fields.at);
            let message = format!("adversarial {place} must declare an `attack`, not a `{}`", declared[0]);
            let hint = Some("e.g. `attack: {method: square, norm: linf, epsilon-fraction: 0.05}`".into());
            self.report(Code::CategoryMismatch, at, message, hint);
        }
        let thresholds = self.thresholds(fields.get("thresholds"), &place, category, defaults);

        Some(Probe {
            line: position(id_node?).0,
            id: id?,
            category: category?,
            description: description?,
            transform: transform?,
            thresholds: thresholds?,
            samples: samples?,
        })
    }

    /// `category:`, one of [`CATEGORIES`], with a near miss suggested.
    fn category(&mut self, node: &Spanned<Node>, label: &str) -> Option<Category> {
        if let Node::String(s) = &node.value
            && let Some((_, category)) = CATEGORIES.iter().find(|(name, _)| *name == s.as_str())
        {
            return Some(*category);
        }
        let names: Vec<&str> = CATEGORIES.iter().map(|(name, _)| *name).collect();
        let listed = names.join(", ");
        let Node::String(s) = &node.value else {
            self.wrong_type(node, label, &format!("one of {listed}"));
            return None;
        };
        let hint = did_you_mean(s, &names).map(|near| format!("did you mean `{near}`?"));
        let message = format!("{label} must be one of {listed}, found `{s}`");
        self.report(Code::BadValue, position(node), message, hint);
        None
    }

    fn probe_id(&mut self, node: &Spanned<Node>, label: &str, first_use: &mut HashMap<String, u32>) -> Option<String> {
        let id = self.string(node, label)?;
        if !is_kebab_case(id) {
            let suggestion = to_kebab_case(id);
            let hint = (!suggestion.is_empty()).then(|| format!("try `{suggestion}`"));
            let message = format!(
                "probe id `{id}` must be kebab-case: lowercase letters and digits in words joined by single hyphens"
            );
            self.report(Code::BadValue, position(node), message, hint);
            return None;
        }
        let line = position(node).0;
        if let Some(first) = first_use.get(id) {
            let hint = Some(format!("first used on line {first}; probe ids must be unique within a battery"));
            self.report(Code::DuplicateId, position(node), format!("duplicate probe id `{id}`"), hint);
            return None;
        }
        first_use.insert(id.to_string(), line);
        Some(id.to_string())
    }

    /// `transform:` of a probe: the kind is looked up in the registry, checked against the
    /// probe's category and the battery's modality, and the kind validates the rest.
    fn transform(
        &mut self,
        node: &Spanned<Node>,
        probe: &str,
        category: Option<Category>,
        modality: Option<Modality>,
    ) -> Option<TransformSpec> {
        let place = format!("transform of {probe}");
        let fields = self.fields(node, &format!("`transform` in {probe}"), place, false)?;
        let kinds: Vec<(&str, Modality, &TransformKind)> =
            registry::KINDS.iter().map(|kind| (kind.name, kind.modality(), *kind)).collect();
        // Without a known kind there is no telling which other keys belong here.
        let kind_node = self.required(&fields, "kind")?;
        let kind = self.modal_choice(kind_node, &fields.label("kind"), &kinds, modality)?;
        self.check_keys(&fields, kind.keys);

        let (name, kind_modality) = (kind.name, kind.modality());
        let mut fits = true;
        if let Some(battery) = modality.filter(|m| *m != kind_modality) {
            let (theirs, ours) = (kind_modality.name(), battery.name());
            let message = format!(
                "`{name}` in {probe} is {} transform, but the battery's modality is {ours}",
                with_article(kind_modality)
            );
            let hint = Some(format!(
                "{theirs} transforms need `modality: {theirs}`; {} battery's kinds are {}",
                with_article(battery),
                registry::kinds_of(battery, false).join(", ")
            ));
            self.report(Code::CategoryMismatch, position(kind_node), message, hint);
            fits = false;
        }
        if category == Some(Category::Trigger) && !kind.has_control {
            let message = format!(
                "`{name}` cannot be a trigger in {probe}: a trigger {} trigger content ({}) that has a matched \
                 control",
                trigger_verb(kind_modality),
                or_list(&registry::kinds_of(kind_modality, true))
            );
            let hint = Some("use category: robustness".to_string());
            self.report(Code::CategoryMismatch, position(kind_node), message, hint);
            fits = false;
        }

        (kind.validate)(self, &fields, probe).filter(|_| fits)
    }
}

/// `[a-z0-9]+(-[a-z0-9]+)*`.
fn is_kebab_case(s: &str) -> bool {
    s.split('-').all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

fn to_kebab_case(s: &str) -> String {
    let lower = s.to_lowercase();
    lower.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join("-")
}
