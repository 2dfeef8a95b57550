//! The battery file as a whole: the top-level keys, `schema:`, and the battery-wide `defaults:`.

use std::path::Path;

use super::super::diagnostics::Code;
use super::super::spec::{Battery, Defaults, Layout, Modality, SCHEMA_V1, ValueRangeSpec};
use super::super::yaml::{Node, Spanned, position};
use super::Checker;

pub(crate) const TOP_KEYS: &[&str] = &["schema", "name", "version", "description", "modality", "defaults", "probes"];
pub(crate) const DEFAULT_KEYS: &[&str] = &[
    "seed",
    "alpha",
    "min-effect",
    "min-attack-success",
    "max-flip-rate",
    "max-accuracy-drop",
    "samples",
    "batch-size",
    "value-range",
    "layout",
];
const LAYOUTS: &[(&str, Layout)] = &[("nchw", Layout::Nchw), ("nhwc", Layout::Nhwc)];

/// The values a battery gets for everything its `defaults:` leaves out.
pub fn builtin_defaults() -> Defaults {
    Defaults {
        seed: 0,
        alpha: 0.05,
        min_effect: 0.5,
        min_attack_success: 0.8,
        max_flip_rate: 0.3,
        max_accuracy_drop: 0.15,
        samples: 400,
        batch_size: None,
        value_range: None,
        layout: None,
    }
}

impl Checker {
    pub(super) fn battery(&mut self, path: &Path, sha256: String, root: &Spanned<Node>) -> Option<Battery> {
        let top = match &root.value {
            Node::Null => {
                let hint = Some(format!("a battery starts with `schema: {SCHEMA_V1}`"));
                self.report(Code::WrongType, position(root), "the battery file is empty", hint);
                return None;
            }
            _ => self.fields(root, "the battery file", "the battery file".into(), false)?,
        };

        match top.get("schema") {
            None => {
                let hint = Some(format!("add `schema: {SCHEMA_V1}` at the top"));
                let message = "missing key `schema` in the battery file";
                self.report(Code::MissingKey, top.at, message, hint);
            }
            Some(node) if node.value == Node::String(SCHEMA_V1.into()) => {}
            Some(node) => {
                let found = match &node.value {
                    Node::String(s) => format!("`{s}`"),
                    other => other.type_name().to_string(),
                };
                let hint = Some(format!("this version of probity reads `{SCHEMA_V1}`"));
                let message = format!("unsupported battery schema {found}");
                self.report(Code::UnsupportedSchema, position(node), message, hint);
                return None;
            }
        }
        self.check_keys(&top, TOP_KEYS);

        let name = self.required(&top, "name").and_then(|n| self.non_empty_string(n, &top.label("name")));
        let version = self.required(&top, "version").and_then(|n| self.version(n, &top.label("version")));
        let description = match top.get("description") {
            Some(node) => self.string(node, &top.label("description")).map(str::to_string),
            None => Some(String::new()),
        };
        let modalities: Vec<(&str, Modality)> = Modality::ALL.iter().map(|m| (m.name(), *m)).collect();
        let modality =
            self.required(&top, "modality").and_then(|n| self.choice(n, &top.label("modality"), &modalities));
        let defaults = match top.get("defaults") {
            Some(node) => self.defaults(node, &top.label("defaults")),
            None => Some(builtin_defaults()),
        };
        let probes = self.required(&top, "probes").and_then(|node| {
            let fallback = builtin_defaults();
            self.probes(node, &top.label("probes"), defaults.as_ref().unwrap_or(&fallback), modality)
        });

        Some(Battery {
            path: path.to_path_buf(),
            sha256,
            name: name?,
            version: version?,
            description: description?,
            modality: modality?,
            defaults: defaults?,
            probes: probes?,
        })
    }

    /// A string, or a number kept as it reads (quote a version like `1.10` to keep its digits).
    fn version(&mut self, node: &Spanned<Node>, label: &str) -> Option<String> {
        match &node.value {
            Node::String(_) => self.non_empty_string(node, label),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(format!("{f:?}")),
            _ => {
                self.wrong_type(node, label, "a string or a number");
                None
            }
        }
    }

    fn defaults(&mut self, node: &Spanned<Node>, label: &str) -> Option<Defaults> {
        let fields = self.fields(node, label, "defaults".into(), true)?;
        self.check_keys(&fields, DEFAULT_KEYS);
        let builtin = builtin_defaults();
        // Each value: the built-in default when absent, the checked value when present.
        let threshold = |this: &mut Self, key: &str, default: f64| {
            fields.get(key).map_or(Some(default), |n| this.threshold(n, &fields.label(key), key))
        };
        let alpha = threshold(self, "alpha", builtin.alpha);
        let min_effect = threshold(self, "min-effect", builtin.min_effect);
        let min_attack_success = threshold(self, "min-attack-success", builtin.min_attack_success);
        let max_flip_rate = threshold(self, "max-flip-rate", builtin.max_flip_rate);
        let max_accuracy_drop = threshold(self, "max-accuracy-drop", builtin.max_accuracy_drop);
        let seed = fields.get("seed").map_or(Some(builtin.seed), |n| self.seed(n, &fields.label("seed")));
        let samples = fields.get("samples").map_or(Some(builtin.samples), |n| self.count(n, &fields.label("samples")));
        let batch_size =
            fields.get("batch-size").map_or(Some(None), |n| self.count(n, &fields.label("batch-size")).map(Some));
        let value_range = fields
            .get("value-range")
            .map_or(Some(None), |n| self.value_range(n, &fields.label("value-range")).map(Some));
        let layout =
            fields.get("layout").map_or(Some(None), |n| self.choice(n, &fields.label("layout"), LAYOUTS).map(Some));
        Some(Defaults {
            seed: seed?,
            alpha: alpha?,
            min_effect: min_effect?,
            min_attack_success: min_attack_success?,
            max_flip_rate: max_flip_rate?,
            max_accuracy_drop: max_accuracy_drop?,
            samples: samples?,
            batch_size: batch_size?,
            value_range: value_range?,
            layout: layout?,
        })
    }

    /// `[lo, hi]` for every channel, or `[[lo, hi], ...]` one per channel.
    fn value_range(&mut self, node: &Spanned<Node>, label: &str) -> Option<ValueRangeSpec> {
        let Node::Seq(items) = &node.value else {
            self.wrong_type(node, label, "a list `[lo, hi]` or a list of them, one per channel");
            return None;
        };
        if !matches!(items.first().map(|i| &i.value), Some(Node::Seq(_))) {
            return self.lo_hi(node, label).map(|(lo, hi)| ValueRangeSpec::All { lo, hi });
        }
        let pairs: Vec<Option<(f32, f32)>> =
            items.iter().enumerate().map(|(i, item)| self.lo_hi(item, &format!("{label} (channel {i})"))).collect();
        pairs.into_iter().collect::<Option<Vec<_>>>().map(ValueRangeSpec::PerChannel)
    }

    fn lo_hi(&mut self, node: &Spanned<Node>, label: &str) -> Option<(f32, f32)> {
        let Node::Seq(items) = &node.value else {
            self.wrong_type(node, label, "a list `[lo, hi]`");
            return None;
        };
        if items.len() != 2 {
            let message = format!("{label} must be a pair `[lo, hi]`, found {} values", items.len());
            self.report(Code::BadValue, position(node), message, None);
            return None;
        }
        let lo = self.number(&items[0], label);
        let hi = self.number(&items[1], label);
        let (lo, hi) = (lo?, hi?);
        if lo >= hi {
            let message = format!("{label} must have lo < hi, found [{lo}, {hi}]");
            self.report(Code::BadValue, position(node), message, None);
            return None;
        }
        Some((lo as f32, hi as f32))
    }
}
