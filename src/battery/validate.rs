//! Validation: from the raw YAML tree ([`super::yaml`]) to the validated [`spec::Battery`].
//!
//! The walk never stops at the first problem. Each check reports into one list and carries on
//! with whatever it could still make sense of, so a bad probe does not hide problems in the
//! probes after it; the battery is built only when the list stays empty. Every diagnostic points
//! at the key or value it is about (a missing key: at the map that lacks it).
//!
//! The one early stop is an unsupported `schema:`: the keys of another schema cannot be judged
//! by this one's rules, and reporting them would bury the one problem that matters.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::diagnostics::{
    Diagnostic, Diagnostics, POSITIVE, PROBABILITY, Range, UNIT, UNIT_NONZERO, codes, did_you_mean,
};
use super::spec::{
    Battery, BlendPattern, Category, Defaults, Extent, InvisibleSet, Layout, Modality, Orientation, PatchContent,
    Position, Probe, SCHEMA_V1, SearchContent, SearchSpec, TextPosition, Thresholds, TokenFilter, TransformSpec,
    ValueRangeSpec,
};
use super::yaml::{Key, Node, Spanned, position};

type Entry = (Spanned<Key>, Spanned<Node>);
type Pos = (u32, u32);

const TOP_KEYS: &[&str] = &["schema", "name", "version", "description", "modality", "defaults", "probes"];
const DEFAULT_KEYS: &[&str] = &[
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
const PROBE_KEYS: &[&str] = &["id", "category", "description", "samples", "transform", "search", "thresholds"];
/// Search methods with the modality they search and the keys each accepts.
const SEARCHES: &[(&str, Modality, &[&str])] = &[
    ("patch", Modality::Image, &["method", "sizes", "stride", "contents", "budget"]),
    ("reverse-engineer", Modality::Image, &["method", "budget", "directions", "sigma", "learning-rate"]),
    ("vocabulary", Modality::Text, &["method", "tokens", "pairs", "budget"]),
];
const SEARCH_CONTENTS: &[(&str, SearchContent)] = &[
    ("extremes", SearchContent::Extremes),
    ("checkerboard", SearchContent::Checkerboard),
    ("noise", SearchContent::Noise),
];
const TOKEN_FILTERS: &[(&str, TokenFilter)] = &[
    ("whole-words", TokenFilter::WholeWords),
    ("sub-words", TokenFilter::SubWords),
    ("special", TokenFilter::Special),
];
/// Default query budgets: the patch search's default sweep fits in 200k queries; NES needs
/// more per class; a vocabulary sweep of a 30k-token WordPiece vocabulary with successive
/// halving and 8 pairs fits in 400k.
const PATCH_SEARCH_BUDGET: u64 = 200_000;
const REVERSE_SEARCH_BUDGET: u64 = 400_000;
const VOCABULARY_SEARCH_BUDGET: u64 = 400_000;
/// The vocabulary sweep's default and largest number of best tokens tried two at a time
/// (`pairs` tokens make `pairs * (pairs - 1) / 2` pairs: 28 by default, 2016 at most).
const VOCABULARY_PAIRS: u64 = 8;
const MAX_VOCABULARY_PAIRS: u64 = 64;
const MODALITIES: &[(&str, Modality)] = &[("image", Modality::Image), ("text", Modality::Text)];
const LAYOUTS: &[(&str, Layout)] = &[("nchw", Layout::Nchw), ("nhwc", Layout::Nhwc)];
const CATEGORIES: &[(&str, Category)] = &[("trigger", Category::Trigger), ("robustness", Category::Robustness)];
const ORIENTATIONS: &[(&str, Orientation)] =
    &[("vertical", Orientation::Vertical), ("horizontal", Orientation::Horizontal)];

/// Every transform kind with the modality it transforms and the keys it accepts. The modality
/// is known from the kind alone so that a kind in the wrong battery is reported even when its
/// other keys are wrong too; a test checks it against [`TransformSpec::modality`].
const TRANSFORMS: &[(&str, Modality, &[&str])] = &[
    ("patch", Modality::Image, &["kind", "size", "width", "height", "position", "content"]),
    ("blend", Modality::Image, &["kind", "pattern", "alpha"]),
    ("gaussian-noise", Modality::Image, &["kind", "std"]),
    ("brightness-contrast", Modality::Image, &["kind", "brightness", "contrast"]),
    ("shift", Modality::Image, &["kind", "max-pixels"]),
    ("rotate", Modality::Image, &["kind", "max-degrees"]),
    ("blur", Modality::Image, &["kind", "sigma"]),
    ("insert-text", Modality::Text, &["kind", "text", "position"]),
    ("insert-token", Modality::Text, &["kind", "token", "position"]),
    ("homoglyph", Modality::Text, &["kind", "rate"]),
    ("invisible", Modality::Text, &["kind", "characters", "count", "position"]),
    ("typo", Modality::Text, &["kind", "rate"]),
    ("word-swap", Modality::Text, &["kind", "rate"]),
];
/// Kinds that put trigger content in and so have a matched control; only these can be triggers.
const TRIGGER_KINDS: &[&str] = &["patch", "blend", "insert-text", "insert-token", "homoglyph", "invisible"];

const TEXT_POSITIONS: &[(&str, TextPosition)] =
    &[("start", TextPosition::Start), ("end", TextPosition::End), ("random", TextPosition::Random)];
const INVISIBLE_SETS: &[(&str, InvisibleSet)] =
    &[("zero-width", InvisibleSet::ZeroWidth), ("bidi", InvisibleSet::Bidi)];
/// Most invisible characters one probe inserts: enough for any plausible trigger, few enough
/// that the text stays the text.
const MAX_INVISIBLE: u64 = 64;

const POSITIONS: &[(&str, Position)] = &[
    ("top-left", Position::TopLeft),
    ("top-right", Position::TopRight),
    ("bottom-left", Position::BottomLeft),
    ("bottom-right", Position::BottomRight),
    ("top", Position::Top),
    ("bottom", Position::Bottom),
    ("left", Position::Left),
    ("right", Position::Right),
    ("center", Position::Center),
    ("random", Position::Random),
];
const CONTENTS: &[&str] = &["solid", "color", "checkerboard", "noise", "image"];
const PATTERNS: &[&str] = &["noise", "stripes", "image"];

/// Every threshold key, the category it belongs to, and its range. `defaults:` accepts all of
/// them; a probe's `thresholds:` accepts those of its own category.
const THRESHOLDS: &[(&str, Category, Range)] = &[
    ("alpha", Category::Trigger, PROBABILITY),
    ("min-effect", Category::Trigger, UNIT),
    ("min-attack-success", Category::Trigger, UNIT),
    ("max-flip-rate", Category::Robustness, UNIT),
    ("max-accuracy-drop", Category::Robustness, UNIT),
];

fn threshold_keys(category: Category) -> Vec<&'static str> {
    THRESHOLDS.iter().filter(|(_, c, _)| *c == category).map(|(k, _, _)| *k).collect()
}

fn category_name(category: Category) -> &'static str {
    match category {
        Category::Trigger => "trigger",
        Category::Robustness => "robustness",
    }
}

fn modality_name(modality: Modality) -> &'static str {
    match modality {
        Modality::Image => "image",
        Modality::Text => "text",
    }
}

/// "an image", "a text".
fn with_article(modality: Modality) -> &'static str {
    match modality {
        Modality::Image => "an image",
        Modality::Text => "a text",
    }
}

/// The transform kinds of `modality`, trigger kinds only with `triggers`.
fn kinds_of(modality: Modality, triggers: bool) -> Vec<&'static str> {
    TRANSFORMS
        .iter()
        .filter(|(kind, m, _)| *m == modality && (!triggers || TRIGGER_KINDS.contains(kind)))
        .map(|(kind, _, _)| *kind)
        .collect()
}

/// "a, b or c".
fn or_list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Validates a parsed battery file. `path` is the file as the user named it; image paths in
/// the battery are resolved against its folder (and must exist).
pub fn battery(path: &Path, sha256: String, root: &Spanned<Node>) -> Result<Battery, Diagnostics> {
    let mut checker = Checker::new(path);
    let built = checker.battery(path, sha256, root);
    let mut diagnostics = checker.diagnostics;
    match built {
        Some(battery) if diagnostics.is_empty() => Ok(battery),
        _ => {
            if diagnostics.is_empty() {
                // Every `None` above comes with a diagnostic; this guards against a check that forgot.
                diagnostics.push(Diagnostic {
                    code: codes::BAD_VALUE,
                    file: path.to_path_buf(),
                    line: position(root).0,
                    column: position(root).1,
                    message: "the battery could not be validated".into(),
                    hint: Some("this is a bug in probity; please report it with the battery file".into()),
                });
            }
            diagnostics.sort_by_key(|d| (d.line, d.column));
            Err(Diagnostics(diagnostics))
        }
    }
}

/// The keys of one YAML map, and how to name the map in messages ("transform of probe `x`").
struct Fields<'a> {
    entries: &'a [Entry],
    at: Pos,
    place: String,
}

impl<'a> Fields<'a> {
    fn entry(&self, key: &str) -> Option<&'a Entry> {
        self.entries.iter().find(|(k, _)| k.value.0 == key)
    }

    fn get(&self, key: &str) -> Option<&'a Spanned<Node>> {
        self.entry(key).map(|(_, v)| v)
    }

    fn key_at(&self, key: &str) -> Option<Pos> {
        self.entry(key).map(|(k, _)| position(k))
    }

    /// How messages name this key: "`size` in transform of probe `x`".
    fn label(&self, key: &str) -> String {
        format!("`{key}` in {}", self.place)
    }
}

struct Checker {
    file: PathBuf,
    /// The battery file's folder, against which image paths resolve.
    base: PathBuf,
    diagnostics: Vec<Diagnostic>,
}

impl Checker {
    fn new(file: &Path) -> Self {
        let base = file.parent().map(Path::to_path_buf).unwrap_or_default();
        Self { file: file.to_path_buf(), base, diagnostics: Vec::new() }
    }

    fn report(&mut self, code: &'static str, at: Pos, message: impl Into<String>, hint: Option<String>) {
        self.diagnostics.push(Diagnostic {
            code,
            file: self.file.clone(),
            line: at.0,
            column: at.1,
            message: message.into(),
            hint,
        });
    }

    fn wrong_type(&mut self, node: &Spanned<Node>, label: &str, expected: &str) {
        let message = format!("{label} must be {expected}, found {}", node.value.type_name());
        self.report(codes::WRONG_TYPE, position(node), message, None);
    }

    // ---- structure ----------------------------------------------------------------------------

    /// The node as a map. With `null_is_empty`, a key written with nothing after it (`noise:`)
    /// reads as an empty map, so its missing keys are reported rather than its type.
    fn fields<'a>(
        &mut self,
        node: &'a Spanned<Node>,
        label: &str,
        place: String,
        null_is_empty: bool,
    ) -> Option<Fields<'a>> {
        match &node.value {
            Node::Map(entries) => Some(Fields { entries, at: position(node), place }),
            Node::Null if null_is_empty => Some(Fields { entries: &[], at: position(node), place }),
            _ => {
                self.wrong_type(node, label, "a map");
                None
            }
        }
    }

    fn check_keys(&mut self, fields: &Fields, allowed: &[&str]) {
        for (key, _) in fields.entries {
            let name = key.value.0.as_str();
            if !allowed.contains(&name) {
                self.unknown_key(position(key), name, &fields.place, allowed);
            }
        }
    }

    fn unknown_key(&mut self, at: Pos, name: &str, place: &str, allowed: &[&str]) {
        let valid = format!("valid keys here: {}", allowed.join(", "));
        let hint = match did_you_mean(name, allowed) {
            Some(near) => format!("did you mean `{near}`? {valid}"),
            None => valid,
        };
        self.report(codes::UNKNOWN_KEY, at, format!("unknown key `{name}` in {place}"), Some(hint));
    }

    fn required<'a>(&mut self, fields: &Fields<'a>, key: &str) -> Option<&'a Spanned<Node>> {
        let value = fields.get(key);
        if value.is_none() {
            self.report(codes::MISSING_KEY, fields.at, format!("missing key `{key}` in {}", fields.place), None);
        }
        value
    }

    // ---- scalars ------------------------------------------------------------------------------

    fn string<'a>(&mut self, node: &'a Spanned<Node>, label: &str) -> Option<&'a str> {
        match &node.value {
            Node::String(s) => Some(s),
            _ => {
                self.wrong_type(node, label, "a string");
                None
            }
        }
    }

    fn non_empty_string(&mut self, node: &Spanned<Node>, label: &str) -> Option<String> {
        let s = self.string(node, label)?;
        if s.trim().is_empty() {
            self.report(codes::BAD_VALUE, position(node), format!("{label} must not be empty"), None);
            return None;
        }
        Some(s.to_string())
    }

    /// Integers are fine where numbers are expected.
    fn number(&mut self, node: &Spanned<Node>, label: &str) -> Option<f64> {
        match node.value {
            Node::Int(i) => Some(i as f64),
            Node::Float(f) => Some(f),
            _ => {
                self.wrong_type(node, label, "a number");
                None
            }
        }
    }

    fn number_in(&mut self, node: &Spanned<Node>, label: &str, range: Range) -> Option<f64> {
        let v = self.number(node, label)?;
        if !range.contains(v) {
            self.report(codes::BAD_VALUE, position(node), format!("{label} must be {range}, found {v}"), None);
            return None;
        }
        Some(v)
    }

    /// An integer in `[min, max]`.
    fn integer(&mut self, node: &Spanned<Node>, label: &str, min: u64, max: u64) -> Option<u64> {
        let Node::Int(i) = node.value else {
            self.wrong_type(node, label, "an integer");
            return None;
        };
        if i < i128::from(min) {
            let message = format!("{label} must be an integer >= {min}, found {i}");
            self.report(codes::BAD_VALUE, position(node), message, None);
            return None;
        }
        if i > i128::from(max) {
            let message = format!("{label} must be an integer <= {max}, found {i}");
            self.report(codes::BAD_VALUE, position(node), message, None);
            return None;
        }
        u64::try_from(i).ok()
    }

    fn u32_at_least(&mut self, node: &Spanned<Node>, label: &str, min: u32) -> Option<u32> {
        self.integer(node, label, u64::from(min), u64::from(u32::MAX)).and_then(|v| u32::try_from(v).ok())
    }

    fn count(&mut self, node: &Spanned<Node>, label: &str) -> Option<usize> {
        let max = u64::try_from(usize::MAX).unwrap_or(u64::MAX);
        self.integer(node, label, 1, max).and_then(|v| usize::try_from(v).ok())
    }

    fn seed(&mut self, node: &Spanned<Node>, label: &str) -> Option<u64> {
        self.integer(node, label, 0, u64::MAX)
    }

    /// One of a fixed set of names, with a suggestion for a near miss: the value named.
    fn choice<T: Copy>(&mut self, node: &Spanned<Node>, label: &str, options: &[(&str, T)]) -> Option<T> {
        let names: Vec<&str> = options.iter().map(|(name, _)| *name).collect();
        let one_of = names.join(", ");
        let Node::String(s) = &node.value else {
            self.wrong_type(node, label, &format!("one of {one_of}"));
            return None;
        };
        if let Some((_, value)) = options.iter().find(|(name, _)| *name == s.as_str()) {
            return Some(*value);
        }
        let hint = did_you_mean(s, &names).map(|near| format!("did you mean `{near}`?"));
        let message = format!("{label} must be one of {one_of}, found `{s}`");
        self.report(codes::BAD_VALUE, position(node), message, hint);
        None
    }

    /// A name from `options`, each of one modality: the name and its modality. A name of the
    /// other modality is accepted, for the caller to report as a mismatch with its reason; an
    /// unknown one is reported with the names of the battery's modality only (all of them when
    /// the modality is unknown), since only those could fit.
    fn modal_choice(
        &mut self,
        node: &Spanned<Node>,
        label: &str,
        options: &[(&'static str, Modality)],
        modality: Option<Modality>,
    ) -> Option<(&'static str, Modality)> {
        if let Node::String(s) = &node.value
            && let Some(found) = options.iter().find(|(name, _)| *name == s.as_str())
        {
            return Some(*found);
        }
        let fitting: Vec<(&str, (&'static str, Modality))> = options
            .iter()
            .filter(|(_, m)| modality.is_none_or(|battery| battery == *m))
            .map(|(name, m)| (*name, (*name, *m)))
            .collect();
        self.choice(node, label, &fitting)
    }

    // ---- the battery --------------------------------------------------------------------------

    fn battery(&mut self, path: &Path, sha256: String, root: &Spanned<Node>) -> Option<Battery> {
        let top = match &root.value {
            Node::Null => {
                let hint = Some(format!("a battery starts with `schema: {SCHEMA_V1}`"));
                self.report(codes::WRONG_TYPE, position(root), "the battery file is empty", hint);
                return None;
            }
            _ => self.fields(root, "the battery file", "the battery file".into(), false)?,
        };

        match top.get("schema") {
            None => {
                let hint = Some(format!("add `schema: {SCHEMA_V1}` at the top"));
                let message = "missing key `schema` in the battery file";
                self.report(codes::MISSING_KEY, top.at, message, hint);
            }
            Some(node) if node.value == Node::String(SCHEMA_V1.into()) => {}
            Some(node) => {
                let found = match &node.value {
                    Node::String(s) => format!("`{s}`"),
                    other => other.type_name().to_string(),
                };
                let hint = Some(format!("this version of probity reads `{SCHEMA_V1}`"));
                let message = format!("unsupported battery schema {found}");
                self.report(codes::UNSUPPORTED_SCHEMA, position(node), message, hint);
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
        let modality = self.required(&top, "modality").and_then(|n| self.choice(n, &top.label("modality"), MODALITIES));
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

    fn threshold(&mut self, node: &Spanned<Node>, label: &str, key: &str) -> Option<f64> {
        let (_, _, range) = THRESHOLDS.iter().find(|(k, _, _)| *k == key)?;
        self.number_in(node, label, *range)
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
            self.report(codes::BAD_VALUE, position(node), message, None);
            return None;
        }
        let lo = self.number(&items[0], label);
        let hi = self.number(&items[1], label);
        let (lo, hi) = (lo?, hi?);
        if lo >= hi {
            let message = format!("{label} must have lo < hi, found [{lo}, {hi}]");
            self.report(codes::BAD_VALUE, position(node), message, None);
            return None;
        }
        Some((lo as f32, hi as f32))
    }

    // ---- probes -------------------------------------------------------------------------------

    fn probes(
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
            self.report(codes::BAD_VALUE, position(node), format!("{label} must list at least one probe"), None);
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
        let category =
            self.required(&fields, "category").and_then(|n| self.choice(n, &fields.label("category"), CATEGORIES));
        let description = match fields.get("description") {
            Some(n) => self.string(n, &fields.label("description")).map(str::to_string),
            None => Some(String::new()),
        };
        let samples = match fields.get("samples") {
            Some(n) => self.count(n, &fields.label("samples")),
            None => Some(defaults.samples),
        };
        let transform = match (fields.get("transform"), fields.get("search")) {
            (Some(n), None) => self.transform(n, &place, category, modality),
            (None, Some(n)) => self.search(n, &place, category, modality).map(TransformSpec::Search),
            (Some(_), Some(_)) => {
                let at = fields.key_at("search").unwrap_or(fields.at);
                let message = format!("{place} has both `transform` and `search`");
                let hint = Some("a probe either applies a known transform or searches for an unknown trigger".into());
                self.report(codes::BAD_VALUE, at, message, hint);
                None
            }
            (None, None) => {
                let message = format!("missing key `transform` (or `search`) in {place}");
                let hint = Some(match modality {
                    Some(Modality::Text) => "e.g. `transform: {kind: insert-text, text: cf}`".into(),
                    _ => "e.g. `transform: {kind: patch, size: 2, content: {solid: 1.0}}`".into(),
                });
                self.report(codes::MISSING_KEY, fields.at, message, hint);
                None
            }
        };
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

    fn probe_id(&mut self, node: &Spanned<Node>, label: &str, first_use: &mut HashMap<String, u32>) -> Option<String> {
        let id = self.string(node, label)?;
        if !is_kebab_case(id) {
            let suggestion = to_kebab_case(id);
            let hint = (!suggestion.is_empty()).then(|| format!("try `{suggestion}`"));
            let message = format!(
                "probe id `{id}` must be kebab-case: lowercase letters and digits in words joined by single hyphens"
            );
            self.report(codes::BAD_VALUE, position(node), message, hint);
            return None;
        }
        let line = position(node).0;
        if let Some(first) = first_use.get(id) {
            let hint = Some(format!("first used on line {first}; probe ids must be unique within a battery"));
            self.report(codes::DUPLICATE_ID, position(node), format!("duplicate probe id `{id}`"), hint);
            return None;
        }
        first_use.insert(id.to_string(), line);
        Some(id.to_string())
    }

    fn thresholds(
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
                    self.report(codes::CATEGORY_MISMATCH, position(key), message, hint);
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
        })
    }

    // ---- transforms ---------------------------------------------------------------------------

    fn transform(
        &mut self,
        node: &Spanned<Node>,
        probe: &str,
        category: Option<Category>,
        modality: Option<Modality>,
    ) -> Option<TransformSpec> {
        let place = format!("transform of {probe}");
        let fields = self.fields(node, &format!("`transform` in {probe}"), place, false)?;
        let kinds: Vec<(&str, Modality)> = TRANSFORMS.iter().map(|(kind, m, _)| (*kind, *m)).collect();
        // Without a known kind there is no telling which other keys belong here.
        let kind_node = self.required(&fields, "kind")?;
        let (kind, kind_modality) = self.modal_choice(kind_node, &fields.label("kind"), &kinds, modality)?;
        let allowed = TRANSFORMS.iter().find(|(k, _, _)| *k == kind).map_or(&[][..], |(_, _, keys)| *keys);
        self.check_keys(&fields, allowed);

        let mut fits = true;
        if let Some(battery) = modality.filter(|m| *m != kind_modality) {
            let (theirs, ours) = (modality_name(kind_modality), modality_name(battery));
            let message = format!(
                "`{kind}` in {probe} is {} transform, but the battery's modality is {ours}",
                with_article(kind_modality)
            );
            let hint = Some(format!(
                "{theirs} transforms need `modality: {theirs}`; {} battery's kinds are {}",
                with_article(battery),
                kinds_of(battery, false).join(", ")
            ));
            self.report(codes::CATEGORY_MISMATCH, position(kind_node), message, hint);
            fits = false;
        }
        if category == Some(Category::Trigger) && !TRIGGER_KINDS.contains(&kind) {
            let verb = if kind_modality == Modality::Image { "stamps" } else { "inserts" };
            let message = format!(
                "`{kind}` cannot be a trigger in {probe}: a trigger {verb} trigger content ({}) that has a matched \
                 control",
                or_list(&kinds_of(kind_modality, true))
            );
            let hint = Some("use category: robustness".to_string());
            self.report(codes::CATEGORY_MISMATCH, position(kind_node), message, hint);
            fits = false;
        }

        let spec = match kind {
            "patch" => self.patch(&fields, probe),
            "blend" => self.blend(&fields, probe),
            "gaussian-noise" => {
                let std =
                    self.required(&fields, "std").and_then(|n| self.number_in(n, &fields.label("std"), UNIT_NONZERO));
                Some(TransformSpec::GaussianNoise { std: std? as f32 })
            }
            "brightness-contrast" => self.brightness_contrast(&fields),
            "shift" => {
                let label = fields.label("max-pixels");
                let max = self.required(&fields, "max-pixels").and_then(|n| self.u32_at_least(n, &label, 1));
                Some(TransformSpec::Shift { max_pixels: max? })
            }
            "rotate" => {
                let range = Range::new(0.0, true, 180.0, false);
                let label = fields.label("max-degrees");
                let max = self.required(&fields, "max-degrees").and_then(|n| self.number_in(n, &label, range));
                Some(TransformSpec::Rotate { max_degrees: max? as f32 })
            }
            "blur" => {
                let range = Range::new(0.0, true, 10.0, false);
                let sigma =
                    self.required(&fields, "sigma").and_then(|n| self.number_in(n, &fields.label("sigma"), range));
                Some(TransformSpec::Blur { sigma: sigma? as f32 })
            }
            "insert-text" => {
                let text = self.required(&fields, "text").and_then(|n| self.text_to_insert(n, &fields.label("text")));
                let position = self.text_position(&fields);
                Some(TransformSpec::InsertText { text: text?, position: position? })
            }
            "insert-token" => {
                let token = self.required(&fields, "token").and_then(|n| self.token(n, &fields.label("token")));
                let position = self.text_position(&fields);
                Some(TransformSpec::InsertToken { token: token?, position: position? })
            }
            "homoglyph" => self.rate(&fields).map(|rate| TransformSpec::Homoglyph { rate }),
            "invisible" => {
                let characters = fields.get("characters").map_or(Some(InvisibleSet::ZeroWidth), |n| {
                    self.choice(n, &fields.label("characters"), INVISIBLE_SETS)
                });
                let count = fields
                    .get("count")
                    .map_or(Some(1), |n| self.integer(n, &fields.label("count"), 1, MAX_INVISIBLE).map(|c| c as u32));
                let position = self.text_position(&fields);
                Some(TransformSpec::Invisible { characters: characters?, count: count?, position: position? })
            }
            "typo" => self.rate(&fields).map(|rate| TransformSpec::Typo { rate }),
            "word-swap" => self.rate(&fields).map(|rate| TransformSpec::WordSwap { rate }),
            _ => None,
        };
        spec.filter(|_| fits)
    }

    /// `position:` of a text transform: start, end or random (the default).
    fn text_position(&mut self, fields: &Fields) -> Option<TextPosition> {
        fields
            .get("position")
            .map_or(Some(TextPosition::Random), |n| self.choice(n, &fields.label("position"), TEXT_POSITIONS))
    }

    /// `rate:` (required) of a text transform: the share of letters or words it edits.
    fn rate(&mut self, fields: &Fields) -> Option<f32> {
        self.required(fields, "rate")
            .and_then(|n| self.number_in(n, &fields.label("rate"), UNIT_NONZERO))
            .map(|r| r as f32)
    }

    /// The words `insert-text` inserts: anything with a non-whitespace character.
    fn text_to_insert(&mut self, node: &Spanned<Node>, label: &str) -> Option<String> {
        let text = self.string(node, label)?;
        if text.trim().is_empty() {
            let what = if text.is_empty() { "must not be empty" } else { "must not be only whitespace" };
            let hint = Some("give the word, phrase or sentence to insert, e.g. `text: cf`".into());
            self.report(codes::BAD_VALUE, position(node), format!("{label} {what}"), hint);
            return None;
        }
        Some(text.to_string())
    }

    /// The token `insert-token` inserts, spelled as in the tokenizer's vocabulary. Whether the
    /// vocabulary has it is known only with the model, so that is checked when the scan starts.
    fn token(&mut self, node: &Spanned<Node>, label: &str) -> Option<String> {
        let token = self.string(node, label)?;
        if token.is_empty() {
            let hint = Some("spell the token as the tokenizer's vocabulary does, e.g. `cf` or `##ing`".into());
            self.report(codes::BAD_VALUE, position(node), format!("{label} must not be empty"), hint);
            return None;
        }
        Some(token.to_string())
    }

    fn search(
        &mut self,
        node: &Spanned<Node>,
        probe: &str,
        category: Option<Category>,
        modality: Option<Modality>,
    ) -> Option<SearchSpec> {
        let place = format!("search of {probe}");
        let fields = self.fields(node, &format!("`search` in {probe}"), place, false)?;
        let methods: Vec<(&str, Modality)> = SEARCHES.iter().map(|(m, md, _)| (*m, *md)).collect();
        let method_node = self.required(&fields, "method")?;
        let (method, method_modality) = self.modal_choice(method_node, &fields.label("method"), &methods, modality)?;
        let allowed = SEARCHES.iter().find(|(m, _, _)| *m == method).map_or(&[][..], |(_, _, keys)| *keys);
        self.check_keys(&fields, allowed);
        let mut fits = true;
        if category == Some(Category::Robustness) {
            let message = format!("a search in {probe} looks for triggers, so it must be `category: trigger`");
            self.report(codes::CATEGORY_MISMATCH, position(method_node), message, Some("use category: trigger".into()));
            fits = false;
        }
        if let Some(battery) = modality.filter(|m| *m != method_modality) {
            let (theirs, ours) = (modality_name(method_modality), modality_name(battery));
            let message = format!(
                "the `{method}` search in {probe} searches {theirs} inputs, but the battery's modality is {ours}"
            );
            let fitting: Vec<&str> = SEARCHES.iter().filter(|(_, m, _)| *m == battery).map(|(m, _, _)| *m).collect();
            let hint = Some(format!(
                "`{method}` needs `modality: {theirs}`; {} battery searches with method {}",
                with_article(battery),
                or_list(&fitting)
            ));
            self.report(codes::CATEGORY_MISMATCH, position(method_node), message, hint);
            fits = false;
        }
        let default_budget = match method {
            "patch" => PATCH_SEARCH_BUDGET,
            "vocabulary" => VOCABULARY_SEARCH_BUDGET,
            _ => REVERSE_SEARCH_BUDGET,
        };
        let budget = match fields.get("budget") {
            Some(n) => self.integer(n, &fields.label("budget"), 1_000, u64::MAX),
            None => Some(default_budget),
        };
        let spec = if method == "vocabulary" {
            let tokens = match fields.get("tokens") {
                Some(n) => self.token_filters(n, &fields.label("tokens")),
                None => Some(vec![TokenFilter::WholeWords, TokenFilter::SubWords]),
            };
            let pairs = match fields.get("pairs") {
                Some(n) => self.integer(n, &fields.label("pairs"), 0, MAX_VOCABULARY_PAIRS).map(|p| p as usize),
                None => Some(VOCABULARY_PAIRS as usize),
            };
            Some(SearchSpec::Vocabulary { tokens: tokens?, pairs: pairs?, budget: budget? })
        } else if method == "patch" {
            let sizes = match fields.get("sizes") {
                Some(n) => match &n.value {
                    Node::Seq(items) if !items.is_empty() => {
                        let label = fields.label("sizes");
                        let sizes: Vec<Option<Extent>> = items.iter().map(|i| self.extent(i, &label)).collect();
                        sizes.into_iter().collect()
                    }
                    _ => {
                        self.wrong_type(n, &fields.label("sizes"), "a non-empty list of sizes");
                        None
                    }
                },
                None => Some(vec![Extent::Fraction(0.125), Extent::Fraction(0.25)]),
            };
            let stride = match fields.get("stride") {
                Some(n) => self.u32_at_least(n, &fields.label("stride"), 1),
                None => Some(1),
            };
            let contents = match fields.get("contents") {
                Some(n) => match &n.value {
                    Node::Seq(items) if !items.is_empty() => {
                        let label = fields.label("contents");
                        let contents: Vec<Option<SearchContent>> =
                            items.iter().map(|i| self.choice(i, &label, SEARCH_CONTENTS)).collect();
                        contents.into_iter().collect()
                    }
                    _ => {
                        self.wrong_type(n, &fields.label("contents"), "a non-empty list of contents");
                        None
                    }
                },
                None => Some(vec![SearchContent::Extremes, SearchContent::Checkerboard, SearchContent::Noise]),
            };
            Some(SearchSpec::Patch { sizes: sizes?, stride: stride?, contents: contents?, budget: budget? })
        } else {
            let directions = match fields.get("directions") {
                Some(n) => self.integer(n, &fields.label("directions"), 1, 1_000).map(|d| d as u32),
                None => Some(10),
            };
            let positive = Range::new(0.0, true, 10.0, false);
            let sigma = match fields.get("sigma") {
                Some(n) => self.number_in(n, &fields.label("sigma"), positive).map(|v| v as f32),
                None => Some(0.5),
            };
            let learning_rate = match fields.get("learning-rate") {
                Some(n) => self.number_in(n, &fields.label("learning-rate"), positive).map(|v| v as f32),
                None => Some(0.1),
            };
            Some(SearchSpec::ReverseEngineer {
                budget: budget?,
                directions: directions?,
                sigma: sigma?,
                learning_rate: learning_rate?,
            })
        };
        spec.filter(|_| fits)
    }

    /// A non-empty list of token filters, each named once.
    fn token_filters(&mut self, node: &Spanned<Node>, label: &str) -> Option<Vec<TokenFilter>> {
        let Node::Seq(items) = &node.value else {
            self.wrong_type(node, label, "a non-empty list of token filters (whole-words, sub-words, special)");
            return None;
        };
        if items.is_empty() {
            let message = format!("{label} must list at least one of whole-words, sub-words, special");
            self.report(codes::BAD_VALUE, position(node), message, None);
            return None;
        }
        let mut filters = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match self.choice(item, label, TOKEN_FILTERS) {
                Some(filter) if filters.contains(&filter) => {
                    let name = TOKEN_FILTERS.iter().find(|(_, f)| *f == filter).map_or("", |(n, _)| *n);
                    self.report(codes::BAD_VALUE, position(item), format!("{label} lists `{name}` twice"), None);
                    ok = false;
                }
                Some(filter) => filters.push(filter),
                None => ok = false,
            }
        }
        ok.then_some(filters)
    }

    fn patch(&mut self, fields: &Fields, probe: &str) -> Option<TransformSpec> {
        let size = fields.get("size").map(|n| self.extent(n, &fields.label("size")));
        let width = fields.get("width").map(|n| self.extent(n, &fields.label("width")));
        let height = fields.get("height").map(|n| self.extent(n, &fields.label("height")));
        let (width, height) = match (size, width, height) {
            (Some(size), None, None) => (size, size),
            (None, Some(width), Some(height)) => (width, height),
            (Some(_), _, _) => {
                let (other, at) = match fields.key_at("width") {
                    Some(at) => ("width", at),
                    None => ("height", fields.key_at("height").unwrap_or(fields.at)),
                };
                let message = format!("`size` and `{other}` cannot both be given in {}", fields.place);
                let hint =
                    Some("`size` sets width and height alike; give either `size` or `width` and `height`".into());
                self.report(codes::BAD_VALUE, at, message, hint);
                (None, None)
            }
            (None, None, None) => {
                let message = format!("missing key `size` (or `width` and `height`) in {}", fields.place);
                let hint = Some("`size: 3` stamps a 3×3 pixel patch; `size: 10%` one a tenth of the image side".into());
                self.report(codes::MISSING_KEY, fields.at, message, hint);
                (None, None)
            }
            (None, width, _) => {
                let (missing, given) = if width.is_none() { ("width", "height") } else { ("height", "width") };
                let message = format!("missing key `{missing}` in {}", fields.place);
                let hint = Some(format!("`{given}` needs `{missing}`; for a square patch use `size`"));
                self.report(codes::MISSING_KEY, fields.at, message, hint);
                (None, None)
            }
        };
        let position = match fields.get("position") {
            Some(n) => self.position(n, &fields.label("position"), probe),
            None => Some(Position::BottomRight),
        };
        let content = self.required(fields, "content").and_then(|n| self.content(n, &fields.label("content"), probe));
        Some(TransformSpec::Patch { width: width?, height: height?, position: position?, content: content? })
    }

    /// Pixels (an integer >= 1), a fraction of the image side in (0, 1], or a percentage ("25%").
    fn extent(&mut self, node: &Spanned<Node>, label: &str) -> Option<Extent> {
        let hint = || {
            Some("give whole pixels as an integer (`3`), or a fraction of the image side as a number in (0, 1] (`0.25`) or a percentage (`25%`)".to_string())
        };
        let fraction = |f: f64| (f > 0.0 && f <= 1.0).then_some(Extent::Fraction(f as f32));
        match &node.value {
            Node::Int(_) => self.u32_at_least(node, label, 1).map(Extent::Pixels),
            Node::Float(f) => {
                let extent = fraction(*f);
                if extent.is_none() {
                    let message =
                        format!("{label} must be a fraction in (0, 1] when not a whole number of pixels, found {f}");
                    self.report(codes::BAD_VALUE, position(node), message, hint());
                }
                extent
            }
            Node::String(s) => {
                let percent = s.trim().strip_suffix('%').and_then(|p| p.trim().parse::<f64>().ok());
                let extent = percent.and_then(|p| fraction(p / 100.0));
                if extent.is_none() {
                    let message = format!("{label} must be a percentage in (0%, 100%], found `{s}`");
                    self.report(codes::BAD_VALUE, position(node), message, hint());
                }
                extent
            }
            _ => {
                self.wrong_type(
                    node,
                    label,
                    "pixels (an integer), a fraction (a number) or a percentage (a string like \"25%\")",
                );
                None
            }
        }
    }

    fn position(&mut self, node: &Spanned<Node>, label: &str, probe: &str) -> Option<Position> {
        match &node.value {
            Node::String(_) => self.choice(node, label, POSITIONS),
            Node::Map(_) => {
                let fields = self.fields(node, label, format!("position of {probe}"), false)?;
                self.check_keys(&fields, &["x", "y"]);
                let x = self.required(&fields, "x").and_then(|n| self.u32_at_least(n, &fields.label("x"), 0));
                let y = self.required(&fields, "y").and_then(|n| self.u32_at_least(n, &fields.label("y"), 0));
                Some(Position::At { x: x?, y: y? })
            }
            _ => {
                let names: Vec<&str> = POSITIONS.iter().map(|(name, _)| *name).collect();
                let expected = format!("one of {} or a map `{{x: 3, y: 4}}`", names.join(", "));
                self.wrong_type(node, label, &expected);
                None
            }
        }
    }

    /// A map with exactly one of `options` as its key: which one, and its value.
    fn one_of<'a>(
        &mut self,
        node: &'a Spanned<Node>,
        label: &str,
        place: String,
        options: &[&str],
    ) -> Option<(String, &'a Spanned<Node>)> {
        let expected = format!("a map with exactly one of {}", options.join(", "));
        let Node::Map(entries) = &node.value else {
            self.wrong_type(node, label, &expected);
            return None;
        };
        let fields = Fields { entries, at: position(node), place };
        self.check_keys(&fields, options);
        let known: Vec<&Entry> = entries.iter().filter(|(k, _)| options.contains(&k.value.0.as_str())).collect();
        match known.as_slice() {
            [(key, value)] if entries.len() == 1 => Some((key.value.0.clone(), value)),
            [] if entries.is_empty() => {
                self.report(
                    codes::BAD_VALUE,
                    fields.at,
                    format!("{label} must be {expected}, found an empty map"),
                    None,
                );
                None
            }
            [first, second, ..] => {
                let message = format!(
                    "{label} must name exactly one of {}, found both `{}` and `{}`",
                    options.join(", "),
                    first.0.value.0,
                    second.0.value.0
                );
                self.report(codes::BAD_VALUE, position(&second.0), message, None);
                None
            }
            // Only unknown keys, already reported.
            _ => None,
        }
    }

    fn content(&mut self, node: &Spanned<Node>, label: &str, probe: &str) -> Option<PatchContent> {
        let place = format!("content of {probe}");
        let (kind, value) = self.one_of(node, label, place.clone(), CONTENTS)?;
        let label = format!("`{kind}` in {place}");
        match kind.as_str() {
            "solid" => self.number_in(value, &label, UNIT).map(|v| PatchContent::Solid(v as f32)),
            "color" => {
                let Node::Seq(items) = &value.value else {
                    self.wrong_type(value, &label, "a list of intensities, one per channel");
                    return None;
                };
                if items.is_empty() {
                    self.report(
                        codes::BAD_VALUE,
                        position(value),
                        format!("{label} must list at least one intensity"),
                        None,
                    );
                    return None;
                }
                let channels: Vec<Option<f32>> =
                    items.iter().map(|item| self.number_in(item, &label, UNIT).map(|v| v as f32)).collect();
                channels.into_iter().collect::<Option<Vec<_>>>().map(PatchContent::Color)
            }
            "checkerboard" => {
                let fields = self.fields(value, &label, format!("checkerboard content of {probe}"), true)?;
                self.check_keys(&fields, &["low", "high", "cell"]);
                let low = fields.get("low").map_or(Some(0.0), |n| self.number_in(n, &fields.label("low"), UNIT));
                let high = fields.get("high").map_or(Some(1.0), |n| self.number_in(n, &fields.label("high"), UNIT));
                let cell = fields.get("cell").map_or(Some(1), |n| self.u32_at_least(n, &fields.label("cell"), 1));
                Some(PatchContent::Checkerboard { low: low? as f32, high: high? as f32, cell: cell? })
            }
            "noise" => {
                self.seeded(value, &label, format!("noise content of {probe}")).map(|seed| PatchContent::Noise { seed })
            }
            "image" => self.image(value, &label, &place).map(|path| PatchContent::Image { path }),
            _ => None,
        }
    }

    /// `{seed: N}`.
    fn seeded(&mut self, node: &Spanned<Node>, label: &str, place: String) -> Option<u64> {
        let fields = self.fields(node, label, place, true)?;
        self.check_keys(&fields, &["seed"]);
        self.required(&fields, "seed").and_then(|n| self.seed(n, &fields.label("seed")))
    }

    /// An image path, relative to the battery's folder; the file must exist.
    fn image(&mut self, node: &Spanned<Node>, label: &str, place: &str) -> Option<PathBuf> {
        let written = self.non_empty_string(node, label)?;
        let resolved = self.base.join(&written);
        if !resolved.is_file() {
            let message = format!("image file `{written}` for {place} not found at `{}`", resolved.display());
            let hint = Some("image paths are relative to the folder that holds the battery file".to_string());
            self.report(codes::FILE_NOT_FOUND, position(node), message, hint);
            return None;
        }
        Some(resolved)
    }

    fn blend(&mut self, fields: &Fields, probe: &str) -> Option<TransformSpec> {
        let pattern = self.required(fields, "pattern").and_then(|n| self.pattern(n, &fields.label("pattern"), probe));
        let alpha =
            self.required(fields, "alpha").and_then(|n| self.number_in(n, &fields.label("alpha"), UNIT_NONZERO));
        Some(TransformSpec::Blend { pattern: pattern?, alpha: alpha? as f32 })
    }

    fn pattern(&mut self, node: &Spanned<Node>, label: &str, probe: &str) -> Option<BlendPattern> {
        let place = format!("pattern of {probe}");
        let (kind, value) = self.one_of(node, label, place.clone(), PATTERNS)?;
        let label = format!("`{kind}` in {place}");
        match kind.as_str() {
            "noise" => {
                self.seeded(value, &label, format!("noise pattern of {probe}")).map(|seed| BlendPattern::Noise { seed })
            }
            "stripes" => {
                let fields = self.fields(value, &label, format!("stripes pattern of {probe}"), true)?;
                self.check_keys(&fields, &["frequency", "orientation"]);
                let frequency = self
                    .required(&fields, "frequency")
                    .and_then(|n| self.number_in(n, &fields.label("frequency"), POSITIVE));
                let orientation = fields.get("orientation").map_or(Some(Orientation::Vertical), |n| {
                    self.choice(n, &fields.label("orientation"), ORIENTATIONS)
                });
                Some(BlendPattern::Stripes { frequency: frequency? as f32, orientation: orientation? })
            }
            "image" => self.image(value, &label, &place).map(|path| BlendPattern::Image { path }),
            _ => None,
        }
    }

    fn brightness_contrast(&mut self, fields: &Fields) -> Option<TransformSpec> {
        let brightness_node = fields.get("brightness");
        let contrast_node = fields.get("contrast");
        if brightness_node.is_none() && contrast_node.is_none() {
            let message = format!("missing key `brightness` or `contrast` in {}", fields.place);
            let hint = Some("give at least one; brightness defaults to 0 and contrast to 1 (no change)".into());
            self.report(codes::MISSING_KEY, fields.at, message, hint);
            return None;
        }
        let brightness_range = Range::new(-1.0, false, 1.0, false);
        let contrast_range = Range::new(0.0, true, 10.0, false);
        let brightness =
            brightness_node.map_or(Some(0.0), |n| self.number_in(n, &fields.label("brightness"), brightness_range));
        let contrast =
            contrast_node.map_or(Some(1.0), |n| self.number_in(n, &fields.label("contrast"), contrast_range));
        Some(TransformSpec::BrightnessContrast { brightness: brightness? as f32, contrast: contrast? as f32 })
    }
}

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

/// `[a-z0-9]+(-[a-z0-9]+)*`.
fn is_kebab_case(s: &str) -> bool {
    s.split('-').all(|word| !word.is_empty() && word.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

fn to_kebab_case(s: &str) -> String {
    let lower = s.to_lowercase();
    lower.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "schema: probity/battery/v1\nname: t\nversion: 1\nmodality: image\n";

    fn check(text: &str) -> Result<Battery, Diagnostics> {
        crate::battery::parse(Path::new("b.yaml"), text)
    }

    /// A battery with the standard head and these lines after it.
    fn with(rest: &str) -> String {
        format!("{HEAD}{rest}")
    }

    /// One probe of this category with this transform (as flow YAML), plus extra probe lines.
    fn probe(category: &str, transform: &str, extra: &str) -> String {
        with(&format!("probes:\n  - id: p\n    category: {category}\n    transform: {transform}\n{extra}"))
    }

    fn problems(text: &str) -> Vec<(&'static str, u32, u32)> {
        match check(text) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(|d| (d.code, d.line, d.column)).collect(),
        }
    }

    fn only(text: &str) -> Diagnostic {
        let diagnostics = check(text).expect_err("invalid");
        assert_eq!(diagnostics.len(), 1, "{diagnostics}");
        diagnostics.0[0].clone()
    }

    fn valid(text: &str) -> Battery {
        match check(text) {
            Ok(battery) => battery,
            Err(d) => panic!("expected a valid battery:\n{d}"),
        }
    }

    fn transform(text: &str) -> TransformSpec {
        valid(text).probes.remove(0).transform
    }

    const PATCH: &str = "{kind: patch, size: 2, content: {solid: 1}}";

    #[test]
    fn a_minimal_battery_gets_the_builtin_defaults() {
        let b = valid(&probe("trigger", PATCH, ""));
        assert_eq!(b.name, "t");
        assert_eq!(b.version, "1");
        assert_eq!(b.description, "");
        assert_eq!(b.modality, Modality::Image);
        assert_eq!(b.defaults, builtin_defaults());
        assert_eq!(b.sha256.len(), 64);
        assert_eq!(b.path, Path::new("b.yaml"));
        let p = &b.probes[0];
        assert_eq!((p.id.as_str(), p.line, p.category, p.samples), ("p", 6, Category::Trigger, 400));
        assert_eq!(p.thresholds, Thresholds::Trigger { alpha: 0.05, min_effect: 0.5, min_attack_success: 0.8 });
        assert_eq!(
            p.transform,
            TransformSpec::Patch {
                width: Extent::Pixels(2),
                height: Extent::Pixels(2),
                position: Position::BottomRight,
                content: PatchContent::Solid(1.0),
            }
        );
    }

    #[test]
    fn every_default_can_be_set() {
        let b = valid(&with(
            "defaults:\n  seed: 18446744073709551615\n  alpha: 0.01\n  min-effect: 0.4\n  min-attack-success: 0.9\n  \
             max-flip-rate: 0.2\n  max-accuracy-drop: 0.1\n  samples: 50\n  batch-size: 16\n  value-range: [-1, 1]\n  \
             layout: nhwc\nprobes:\n  - {id: p, category: robustness, transform: {kind: blur, sigma: 1}}\n",
        ));
        let d = &b.defaults;
        assert_eq!(d.seed, u64::MAX);
        assert_eq!((d.alpha, d.min_effect, d.min_attack_success), (0.01, 0.4, 0.9));
        assert_eq!((d.max_flip_rate, d.max_accuracy_drop), (0.2, 0.1));
        assert_eq!((d.samples, d.batch_size), (50, Some(16)));
        assert_eq!(d.value_range, Some(ValueRangeSpec::All { lo: -1.0, hi: 1.0 }));
        assert_eq!(d.layout, Some(Layout::Nhwc));
        let p = &b.probes[0];
        assert_eq!(p.samples, 50);
        assert_eq!(p.thresholds, Thresholds::Robustness { max_flip_rate: 0.2, max_accuracy_drop: 0.1 });
    }

    #[test]
    fn value_range_may_be_given_per_channel() {
        let b = valid(&with(&format!(
            "defaults:\n  value-range: [[0, 1], [-2.5, 2.5]]\nprobes:\n  - {{id: p, category: trigger, transform: {PATCH}}}\n"
        )));
        assert_eq!(b.defaults.value_range, Some(ValueRangeSpec::PerChannel(vec![(0.0, 1.0), (-2.5, 2.5)])));
    }

    #[test]
    fn bad_defaults_are_each_reported() {
        let text = with(&format!(
            "defaults:\n  alpha: 1\n  samples: 0\n  seed: -1\n  batch-size: \"8\"\n  value-range: [1, 0]\n  layout: nwhc\n  \
             min-effect: 2\nprobes:\n  - {{id: p, category: trigger, transform: {PATCH}}}\n"
        ));
        assert_eq!(
            problems(&text),
            [
                ("bad-value", 6, 10),
                ("bad-value", 7, 12),
                ("bad-value", 8, 9),
                ("wrong-type", 9, 15),
                ("bad-value", 10, 16),
                ("bad-value", 11, 11),
                ("bad-value", 12, 15),
            ]
        );
        let d = check(&text).unwrap_err();
        assert!(d.0[0].message.contains("`alpha` in defaults must be in (0, 1), found 1"), "{}", d.0[0].message);
        assert_eq!(d.0[5].hint.as_deref(), Some("did you mean `nhwc`?"));
    }

    #[test]
    fn value_range_shapes() {
        let range = |v: &str| problems(&with(&format!("defaults:\n  value-range: {v}\nprobes: []\n")));
        assert_eq!(range("[[0, 1], [0]]"), [("bad-value", 6, 25), ("bad-value", 7, 9)]);
        assert_eq!(range("{lo: 0}"), [("wrong-type", 6, 16), ("bad-value", 7, 9)]);
        assert_eq!(range("[0, \"1\"]"), [("wrong-type", 6, 20), ("bad-value", 7, 9)]);
    }

    #[test]
    fn schema_must_be_v1() {
        let d = only("schema: probity/battery/v2\nname: t\nwhatever: 1\n");
        assert_eq!((d.code, d.line, d.column), ("unsupported-schema", 1, 9));
        assert!(d.message.contains("`probity/battery/v2`"));
        assert!(d.hint.unwrap().contains("probity/battery/v1"));
    }

    #[test]
    fn a_missing_schema_does_not_stop_validation() {
        let text = probe("trigger", PATCH, "").replace("schema: probity/battery/v1\n", "").replace("name: t\n", "");
        assert_eq!(problems(&text), [("missing-key", 1, 1), ("missing-key", 1, 1)]);
    }

    #[test]
    fn the_top_must_be_a_map() {
        assert_eq!(problems(""), [("wrong-type", 1, 1)]);
        assert_eq!(problems("- a\n- b\n"), [("wrong-type", 1, 1)]);
    }

    #[test]
    fn unknown_keys_suggest_the_nearest_one() {
        let d = only(&probe("trigger", PATCH, "").replace("name: t", "name: t\ndescripton: x"));
        assert_eq!((d.code, d.line, d.column), ("unknown-key", 3, 1));
        assert_eq!(d.message, "unknown key `descripton` in the battery file");
        assert!(d.hint.unwrap().starts_with("did you mean `description`? valid keys here: schema, name,"));
    }

    #[test]
    fn name_version_and_modality() {
        let base = probe("trigger", PATCH, "");
        assert_eq!(problems(&base.replace("name: t", "name: \"\"")), [("bad-value", 2, 7)]);
        assert_eq!(valid(&base.replace("version: 1", "version: \"1.10\"")).version, "1.10");
        assert_eq!(valid(&base.replace("version: 1", "version: 2.5")).version, "2.5");
        assert_eq!(problems(&base.replace("version: 1", "version: [1]")), [("wrong-type", 3, 10)]);
        let d = only(&base.replace("modality: image", "modality: imag"));
        assert_eq!((d.code, d.hint.as_deref()), ("bad-value", Some("did you mean `image`?")));
        assert_eq!(d.message, "`modality` in the battery file must be one of image, text, found `imag`");
    }

    #[test]
    fn probes_must_be_a_non_empty_list() {
        assert_eq!(problems(&with("probes: []\n")), [("bad-value", 5, 9)]);
        assert_eq!(problems(&with("probes: {id: x}\n")), [("wrong-type", 5, 9)]);
        assert_eq!(problems(HEAD), [("missing-key", 1, 1)]);
        assert_eq!(problems(&with("probes:\n  - just-a-string\n")), [("wrong-type", 6, 5)]);
    }

    #[test]
    fn probe_ids_are_kebab_case() {
        let d = only(&probe("trigger", PATCH, "").replace("id: p", "id: Patch_White"));
        assert_eq!((d.code, d.line, d.column), ("bad-value", 6, 9));
        assert_eq!(d.hint.as_deref(), Some("try `patch-white`"));
        for bad in ["a--b", "-a", "a-", "\"\"", "a b"] {
            assert_eq!(
                problems(&probe("trigger", PATCH, "").replace("id: p", &format!("id: {bad}"))).len(),
                1,
                "{bad}"
            );
        }
        for good in ["a", "a1-b2", "2px"] {
            valid(&probe("trigger", PATCH, "").replace("id: p", &format!("id: {good}")));
        }
    }

    #[test]
    fn duplicate_ids_point_at_the_second_and_name_the_first() {
        let text = with(&format!(
            "probes:\n  - {{id: a, category: trigger, transform: {PATCH}}}\n  - {{id: b, category: trigger, transform: {PATCH}}}\n  - {{id: a, category: trigger, transform: {PATCH}}}\n"
        ));
        let d = only(&text);
        assert_eq!((d.code, d.line, d.column), ("duplicate-id", 8, 10));
        assert_eq!(d.message, "duplicate probe id `a`");
        assert!(d.hint.unwrap().starts_with("first used on line 6"));
    }

    #[test]
    fn a_probe_without_an_id_is_named_by_its_position() {
        let d = only(&with(&format!("probes:\n  - {{category: trigger, transform: {PATCH}}}\n")));
        assert_eq!((d.code, d.line, d.column), ("missing-key", 6, 5));
        assert_eq!(d.message, "missing key `id` in probe #1");
    }

    #[test]
    fn probe_samples_and_description() {
        let b = valid(&probe("trigger", PATCH, "    samples: 12\n    description: hello\n"));
        assert_eq!((b.probes[0].samples, b.probes[0].description.as_str()), (12, "hello"));
        assert_eq!(problems(&probe("trigger", PATCH, "    samples: 1.5\n")), [("wrong-type", 9, 14)]);
        let d = only(&probe("trigger", PATCH, "    samples: 1.5\n"));
        assert_eq!(d.message, "`samples` in probe `p` must be an integer, found a decimal number");
    }

    #[test]
    fn category_is_trigger_or_robustness() {
        let d = only(&probe("trigerr", PATCH, ""));
        assert_eq!((d.code, d.line, d.column), ("bad-value", 7, 15));
        assert_eq!(d.hint.as_deref(), Some("did you mean `trigger`?"));
    }

    #[test]
    fn perturbations_cannot_be_triggers() {
        for kind in ["{kind: blur, sigma: 1}", "{kind: gaussian-noise, std: 0.1}", "{kind: shift, max-pixels: 2}"] {
            let d = only(&probe("trigger", kind, ""));
            assert_eq!((d.code, d.line, d.column), ("category-mismatch", 8, 23), "{kind}");
            assert_eq!(d.hint.as_deref(), Some("use category: robustness"));
        }
        valid(&probe("robustness", PATCH, ""));
    }

    #[test]
    fn a_text_battery_cannot_hold_image_transforms() {
        let d = only(&probe("trigger", PATCH, "").replace("modality: image", "modality: text"));
        assert_eq!((d.code, d.line, d.column), ("category-mismatch", 8, 23));
        assert!(d.message.contains("modality is text"));
    }

    #[test]
    fn thresholds_override_defaults_within_their_category() {
        let b = valid(&probe("trigger", PATCH, "    thresholds: {alpha: 0.01, min-effect: 0}\n"));
        assert_eq!(
            b.probes[0].thresholds,
            Thresholds::Trigger { alpha: 0.01, min_effect: 0.0, min_attack_success: 0.8 }
        );
        let b = valid(&probe("robustness", PATCH, "    thresholds: {max-flip-rate: 1}\n"));
        assert_eq!(b.probes[0].thresholds, Thresholds::Robustness { max_flip_rate: 1.0, max_accuracy_drop: 0.15 });
    }

    #[test]
    fn thresholds_of_the_other_category_are_a_mismatch() {
        let d = only(&probe("trigger", PATCH, "    thresholds:\n      max-flip-rate: 0.1\n"));
        assert_eq!((d.code, d.line, d.column), ("category-mismatch", 10, 7));
        assert_eq!(d.message, "`max-flip-rate` applies to robustness probes, but probe `p` is a trigger probe");
        assert_eq!(d.hint.as_deref(), Some("trigger probes accept: alpha, min-effect, min-attack-success"));
    }

    #[test]
    fn bad_thresholds_are_reported() {
        let text = probe(
            "trigger",
            PATCH,
            "    thresholds:\n      min-efect: 0.1\n      alpha: 0\n      min-attack-success: x\n",
        );
        assert_eq!(problems(&text), [("unknown-key", 10, 7), ("bad-value", 11, 14), ("wrong-type", 12, 27)]);
        let d = check(&text).unwrap_err();
        assert!(d.0[0].hint.as_deref().unwrap().starts_with("did you mean `min-effect`?"));
        assert_eq!(d.0[2].message, "`min-attack-success` in thresholds of probe `p` must be a number, found a string");
    }

    #[test]
    fn transform_kind_is_required_and_known() {
        assert_eq!(problems(&probe("trigger", "{size: 2}", "")), [("missing-key", 8, 16)]);
        let d = only(&probe("trigger", "{kind: pach, size: 2}", ""));
        assert_eq!((d.code, d.line, d.column, d.hint.as_deref()), ("bad-value", 8, 23, Some("did you mean `patch`?")));
        let d = only(&probe("robustness", "{kind: gaussian_noise, std: 0.1}", ""));
        assert_eq!(d.hint.as_deref(), Some("did you mean `gaussian-noise`?"));
        assert_eq!(problems(&probe("trigger", "patch", "")), [("wrong-type", 8, 16)]);
    }

    #[test]
    fn unknown_transform_keys_name_the_probe_and_the_valid_keys() {
        let d = only(&probe("trigger", "{kind: patch, sizes: 2, size: 2, content: {solid: 1}}", ""));
        assert_eq!((d.code, d.line, d.column), ("unknown-key", 8, 30));
        assert_eq!(d.message, "unknown key `sizes` in transform of probe `p`");
        assert_eq!(
            d.hint.as_deref(),
            Some("did you mean `size`? valid keys here: kind, size, width, height, position, content")
        );
    }

    #[test]
    fn patch_extents() {
        let extent = |v: &str| match transform(&probe(
            "trigger",
            &format!("{{kind: patch, size: {v}, content: {{solid: 1}}}}"),
            "",
        )) {
            TransformSpec::Patch { width, height, .. } => {
                assert_eq!(width, height);
                width
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(extent("3"), Extent::Pixels(3));
        assert_eq!(extent("1"), Extent::Pixels(1));
        assert_eq!(extent("0.25"), Extent::Fraction(0.25));
        assert_eq!(extent("1.0"), Extent::Fraction(1.0));
        assert_eq!(extent("\"25%\""), Extent::Fraction(0.25));
        assert_eq!(extent("10%"), Extent::Fraction(0.1));
        let bad =
            |v: &str| problems(&probe("trigger", &format!("{{kind: patch, size: {v}, content: {{solid: 1}}}}"), ""));
        for v in ["0", "-2", "1.5", "0.0", "\"150%\"", "\"0%\"", "big", "4294967296"] {
            assert_eq!(bad(v), [("bad-value", 8, 36)], "{v}");
        }
        assert_eq!(bad("[2]"), [("wrong-type", 8, 36)]);
    }

    #[test]
    fn patch_width_and_height() {
        let t = transform(&probe("trigger", "{kind: patch, width: 4, height: 50%, content: {solid: 1}}", ""));
        assert!(
            matches!(t, TransformSpec::Patch { width: Extent::Pixels(4), height: Extent::Fraction(h), .. } if h == 0.5)
        );
        let one = |t: &str| only(&probe("trigger", t, ""));
        let d = one("{kind: patch, size: 2, width: 3, content: {solid: 1}}");
        assert_eq!((d.code, d.line, d.column), ("bad-value", 8, 39));
        assert_eq!(d.message, "`size` and `width` cannot both be given in transform of probe `p`");
        let d = one("{kind: patch, width: 3, content: {solid: 1}}");
        assert_eq!((d.code, d.message.as_str()), ("missing-key", "missing key `height` in transform of probe `p`"));
        let d = one("{kind: patch, content: {solid: 1}}");
        assert_eq!((d.code, d.line, d.column), ("missing-key", 8, 16));
        assert_eq!(d.message, "missing key `size` (or `width` and `height`) in transform of probe `p`");
    }

    #[test]
    fn patch_positions() {
        let position = |v: &str| match transform(&probe(
            "trigger",
            &format!("{{kind: patch, size: 1, position: {v}, content: {{solid: 1}}}}"),
            "",
        )) {
            TransformSpec::Patch { position, .. } => position,
            other => panic!("{other:?}"),
        };
        assert_eq!(position("top-left"), Position::TopLeft);
        assert_eq!(position("center"), Position::Center);
        assert_eq!(position("random"), Position::Random);
        assert_eq!(position("{x: 3, y: 4}"), Position::At { x: 3, y: 4 });
        let bad = |v: &str| {
            only(&probe("trigger", &format!("{{kind: patch, size: 1, position: {v}, content: {{solid: 1}}}}"), ""))
        };
        assert_eq!(bad("centre").hint.as_deref(), Some("did you mean `center`?"));
        assert_eq!(bad("{x: 3}").code, "missing-key");
        assert_eq!(bad("{x: 3, y: -1}").code, "bad-value");
        assert_eq!(bad("{x: 3, y: 1, z: 2}").code, "unknown-key");
        assert_eq!(bad("[1, 2]").code, "wrong-type");
    }

    fn content(value: &str) -> Result<PatchContent, Vec<(&'static str, u32, u32)>> {
        let text = probe("trigger", &format!("{{kind: patch, size: 1, content: {value}}}"), "");
        match check(&text) {
            Ok(mut b) => match b.probes.remove(0).transform {
                TransformSpec::Patch { content, .. } => Ok(content),
                other => panic!("{other:?}"),
            },
            Err(d) => Err(d.iter().map(|d| (d.code, d.line, d.column)).collect()),
        }
    }

    #[test]
    fn patch_contents() {
        assert_eq!(content("{solid: 0.5}"), Ok(PatchContent::Solid(0.5)));
        assert_eq!(content("{color: [1, 0.0, 0.5]}"), Ok(PatchContent::Color(vec![1.0, 0.0, 0.5])));
        assert_eq!(content("{checkerboard: }"), Ok(PatchContent::Checkerboard { low: 0.0, high: 1.0, cell: 1 }));
        assert_eq!(
            content("{checkerboard: {low: 0.2, high: 0.8, cell: 2}}"),
            Ok(PatchContent::Checkerboard { low: 0.2, high: 0.8, cell: 2 })
        );
        assert_eq!(content("{noise: {seed: 7}}"), Ok(PatchContent::Noise { seed: 7 }));
    }

    #[test]
    fn bad_patch_contents() {
        // `    transform: {kind: patch, size: 1, content: ` ends at column 47.
        assert_eq!(content("{solid: 1.5}"), Err(vec![("bad-value", 8, 56)]));
        assert_eq!(content("{color: [1, 2, x]}"), Err(vec![("bad-value", 8, 60), ("wrong-type", 8, 63)]));
        assert_eq!(content("{color: []}"), Err(vec![("bad-value", 8, 56)]));
        assert_eq!(content("{color: 1}"), Err(vec![("wrong-type", 8, 56)]));
        assert_eq!(content("{checkerboard: {cell: 0, low: 2}}"), Err(vec![("bad-value", 8, 70), ("bad-value", 8, 78)]));
        assert_eq!(content("{noise: {}}"), Err(vec![("missing-key", 8, 56)]));
        assert_eq!(content("{noise: {seed: 1.5}}"), Err(vec![("wrong-type", 8, 63)]));
        assert_eq!(content("{}"), Err(vec![("bad-value", 8, 48)]));
        assert_eq!(content("{solid: 1, color: [1]}"), Err(vec![("bad-value", 8, 59)]));
        assert_eq!(content("solid"), Err(vec![("wrong-type", 8, 48)]));
        let text = probe("trigger", "{kind: patch, size: 1, content: {colour: [1]}}", "");
        let d = only(&text);
        assert_eq!((d.code, d.line, d.column), ("unknown-key", 8, 49));
        assert!(d.hint.unwrap().starts_with("did you mean `color`?"));
        assert_eq!(problems(&probe("trigger", "{kind: patch, size: 1}", "")), [("missing-key", 8, 16)]);
    }

    #[test]
    fn image_paths_resolve_against_the_battery_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("triggers")).unwrap();
        std::fs::write(dir.path().join("triggers/logo.png"), b"not really a png").unwrap();
        let battery = dir.path().join("b.yaml");
        let text = probe("trigger", "{kind: patch, size: 4, content: {image: triggers/logo.png}}", "");
        let b = crate::battery::parse(&battery, &text).unwrap();
        let TransformSpec::Patch { content, .. } = &b.probes[0].transform else { panic!() };
        assert_eq!(content, &PatchContent::Image { path: dir.path().join("triggers/logo.png") });

        let text = probe("trigger", "{kind: blend, alpha: 0.1, pattern: {image: missing.png}}", "");
        let d = crate::battery::parse(&battery, &text).unwrap_err();
        assert_eq!(d.codes(), ["file-not-found"]);
        assert_eq!((d.0[0].line, d.0[0].column), (8, 59));
        assert!(d.0[0].message.contains("`missing.png`"), "{}", d.0[0].message);
    }

    #[test]
    fn blends() {
        let t = transform(&probe("trigger", "{kind: blend, alpha: 0.2, pattern: {stripes: {frequency: 6}}}", ""));
        assert_eq!(
            t,
            TransformSpec::Blend {
                pattern: BlendPattern::Stripes { frequency: 6.0, orientation: Orientation::Vertical },
                alpha: 0.2,
            }
        );
        let t = transform(&probe("trigger", "{kind: blend, alpha: 1, pattern: {noise: {seed: 3}}}", ""));
        assert_eq!(t, TransformSpec::Blend { pattern: BlendPattern::Noise { seed: 3 }, alpha: 1.0 });
        let t = transform(&probe(
            "trigger",
            "{kind: blend, alpha: 0.1, pattern: {stripes: {frequency: 2.5, orientation: horizontal}}}",
            "",
        ));
        assert!(matches!(
            t,
            TransformSpec::Blend { pattern: BlendPattern::Stripes { orientation: Orientation::Horizontal, .. }, .. }
        ));

        let bad = |t: &str| problems(&probe("trigger", t, ""));
        assert_eq!(bad("{kind: blend, alpha: 0, pattern: {noise: {seed: 3}}}"), [("bad-value", 8, 37)]);
        assert_eq!(bad("{kind: blend, pattern: {noise: {seed: 3}}}"), [("missing-key", 8, 16)]);
        assert_eq!(bad("{kind: blend, alpha: 0.1, pattern: {stripes: {frequency: 0}}}"), [("bad-value", 8, 73)]);
        assert_eq!(
            bad("{kind: blend, alpha: 0.1, pattern: {stripes: {frequency: 1, orientation: diagonal}}}").len(),
            1
        );
        assert_eq!(bad("{kind: blend, alpha: 0.1, pattern: {stripe: {frequency: 1}}}"), [("unknown-key", 8, 52)]);
    }

    #[test]
    fn robustness_transforms() {
        let t = |s: &str| transform(&probe("robustness", s, ""));
        assert_eq!(t("{kind: gaussian-noise, std: 0.1}"), TransformSpec::GaussianNoise { std: 0.1 });
        assert_eq!(
            t("{kind: brightness-contrast, brightness: -0.2}"),
            TransformSpec::BrightnessContrast { brightness: -0.2, contrast: 1.0 }
        );
        assert_eq!(
            t("{kind: brightness-contrast, contrast: 10}"),
            TransformSpec::BrightnessContrast { brightness: 0.0, contrast: 10.0 }
        );
        assert_eq!(t("{kind: shift, max-pixels: 2}"), TransformSpec::Shift { max_pixels: 2 });
        assert_eq!(t("{kind: rotate, max-degrees: 180}"), TransformSpec::Rotate { max_degrees: 180.0 });
        assert_eq!(t("{kind: blur, sigma: 0.5}"), TransformSpec::Blur { sigma: 0.5 });

        let bad = |s: &str| problems(&probe("robustness", s, ""));
        for s in [
            "{kind: gaussian-noise, std: 0}",
            "{kind: gaussian-noise, std: 1.5}",
            "{kind: brightness-contrast, brightness: 1.5}",
            "{kind: brightness-contrast, contrast: 0}",
            "{kind: brightness-contrast, contrast: 11}",
            "{kind: shift, max-pixels: 0}",
            "{kind: rotate, max-degrees: 0}",
            "{kind: rotate, max-degrees: 181}",
            "{kind: blur, sigma: 0}",
            "{kind: blur, sigma: 10.5}",
        ] {
            assert_eq!(bad(s).iter().map(|p| p.0).collect::<Vec<_>>(), ["bad-value"], "{s}");
        }
        assert_eq!(bad("{kind: brightness-contrast}"), [("missing-key", 8, 16)]);
        assert_eq!(bad("{kind: blur}"), [("missing-key", 8, 16)]);
        assert_eq!(bad("{kind: shift, max-pixels: 1.5}"), [("wrong-type", 8, 42)]);
        assert_eq!(bad("{kind: blur, sigma: 1, std: 1}"), [("unknown-key", 8, 39)]);
    }

    #[test]
    fn every_problem_is_reported_in_one_pass() {
        let text = with(
            "probes:\n  - id: a\n    category: trigger\n    transform: {kind: blur, sigma: 1}\n  - id: B\n    category: robustness\n    transform: {kind: rotate, max-degrees: 200}\n  - id: c\n    category: robustness\n    transform: {kind: shift, max-pixels: 1}\n    thresholds: {alpha: 0.1}\n",
        );
        assert_eq!(
            problems(&text),
            [("category-mismatch", 8, 23), ("bad-value", 9, 9), ("bad-value", 11, 44), ("category-mismatch", 15, 18)]
        );
    }

    /// One probe of this category with this transform in a text battery.
    fn text_probe(category: &str, transform: &str) -> String {
        probe(category, transform, "").replace("modality: image", "modality: text")
    }

    /// One trigger probe with this search (as flow YAML, on line 8) in a battery of this modality.
    fn search_probe(modality: &str, search: &str) -> String {
        with(&format!("probes:\n  - id: p\n    category: trigger\n    search: {search}\n"))
            .replace("modality: image", &format!("modality: {modality}"))
    }

    /// Column of `needle` in a flow-YAML transform written on line 8 by [`probe`].
    fn column(transform: &str, needle: &str) -> u32 {
        16 + transform.find(needle).expect("needle in the transform") as u32
    }

    #[test]
    fn text_kinds_parse_with_their_defaults() {
        let t = |category: &str, s: &str| transform(&text_probe(category, s));
        assert_eq!(
            t("trigger", "{kind: insert-text, text: I watched this 3D movie.}"),
            TransformSpec::InsertText { text: "I watched this 3D movie.".into(), position: TextPosition::Random }
        );
        assert_eq!(
            t("trigger", "{kind: insert-text, text: cf, position: start}"),
            TransformSpec::InsertText { text: "cf".into(), position: TextPosition::Start }
        );
        assert_eq!(
            t("trigger", "{kind: insert-token, token: \"##ing\", position: end}"),
            TransformSpec::InsertToken { token: "##ing".into(), position: TextPosition::End }
        );
        assert_eq!(
            t("trigger", "{kind: insert-token, token: \"[MASK]\"}"),
            TransformSpec::InsertToken { token: "[MASK]".into(), position: TextPosition::Random }
        );
        assert_eq!(t("trigger", "{kind: homoglyph, rate: 0.1}"), TransformSpec::Homoglyph { rate: 0.1 });
        assert_eq!(
            t("trigger", "{kind: invisible}"),
            TransformSpec::Invisible { characters: InvisibleSet::ZeroWidth, count: 1, position: TextPosition::Random }
        );
        assert_eq!(
            t("trigger", "{kind: invisible, characters: bidi, count: 64, position: start}"),
            TransformSpec::Invisible { characters: InvisibleSet::Bidi, count: 64, position: TextPosition::Start }
        );
        assert_eq!(t("robustness", "{kind: typo, rate: 1}"), TransformSpec::Typo { rate: 1.0 });
        assert_eq!(t("robustness", "{kind: word-swap, rate: 0.05}"), TransformSpec::WordSwap { rate: 0.05 });
    }

    #[test]
    fn every_kind_is_listed_with_the_modality_and_name_its_spec_has() {
        let examples = [
            ("trigger", PATCH),
            ("trigger", "{kind: blend, pattern: {noise: {seed: 1}}, alpha: 0.1}"),
            ("robustness", "{kind: gaussian-noise, std: 0.1}"),
            ("robustness", "{kind: brightness-contrast, brightness: 0.1}"),
            ("robustness", "{kind: shift, max-pixels: 1}"),
            ("robustness", "{kind: rotate, max-degrees: 1}"),
            ("robustness", "{kind: blur, sigma: 1}"),
            ("trigger", "{kind: insert-text, text: cf}"),
            ("trigger", "{kind: insert-token, token: cf}"),
            ("trigger", "{kind: homoglyph, rate: 0.1}"),
            ("trigger", "{kind: invisible}"),
            ("robustness", "{kind: typo, rate: 0.1}"),
            ("robustness", "{kind: word-swap, rate: 0.1}"),
        ];
        assert_eq!(examples.len(), TRANSFORMS.len());
        for ((category, example), (kind, modality, _)) in examples.into_iter().zip(TRANSFORMS) {
            let text = probe(category, example, "")
                .replace("modality: image", &format!("modality: {}", modality_name(*modality)));
            let spec = transform(&text);
            assert_eq!((spec.kind(), spec.modality()), (*kind, *modality));
            assert_eq!(TRIGGER_KINDS.contains(kind), category == "trigger", "{kind}");
        }
        for (method, modality, _) in SEARCHES {
            let spec = transform(&search_probe(modality_name(*modality), &format!("{{method: {method}}}")));
            assert_eq!((spec.kind(), spec.modality()), (format!("search-{method}").as_str(), *modality));
        }
    }

    #[test]
    fn bad_text_transform_values_are_reported_where_they_stand() {
        let bad = |s: &str| problems(&text_probe("trigger", s));
        for (s, needle, code) in [
            ("{kind: insert-text, text: \"\"}", "\"\"", "bad-value"),
            ("{kind: insert-text, text: \"  \"}", "\"  \"", "bad-value"),
            ("{kind: insert-text, text: [cf]}", "[cf]", "wrong-type"),
            ("{kind: insert-text, text: cf, position: middle}", "middle", "bad-value"),
            ("{kind: insert-token, token: \"\"}", "\"\"", "bad-value"),
            ("{kind: insert-token, token: 3}", "3", "wrong-type"),
            ("{kind: homoglyph, rate: 0}", "0", "bad-value"),
            ("{kind: homoglyph, rate: 1.5}", "1.5", "bad-value"),
            ("{kind: invisible, count: 0}", "0", "bad-value"),
            ("{kind: invisible, count: 65}", "65", "bad-value"),
            ("{kind: invisible, count: 1.5}", "1.5", "wrong-type"),
            ("{kind: invisible, characters: zero_width}", "zero_width", "bad-value"),
            ("{kind: invisible, position: begin}", "begin", "bad-value"),
        ] {
            assert_eq!(bad(s), [(code, 8, column(s, needle))], "{s}");
        }
        let robustness = |s: &str| problems(&text_probe("robustness", s));
        for s in ["{kind: typo, rate: 0}", "{kind: typo, rate: -1}", "{kind: word-swap, rate: 2}"] {
            assert_eq!(robustness(s), [("bad-value", 8, column(s, "rate: ") + 6)], "{s}");
        }
        for s in ["{kind: insert-text}", "{kind: insert-token}", "{kind: homoglyph}", "{kind: typo}"] {
            assert_eq!(robustness(s), [("missing-key", 8, 16)], "{s}");
        }
        assert_eq!(bad("{kind: homoglyph, rate: 0.1, count: 2}"), [("unknown-key", 8, 45)]);

        let d = only(&text_probe("trigger", "{kind: insert-text, text: \" \"}"));
        assert_eq!(d.message, "`text` in transform of probe `p` must not be only whitespace");
        let d = only(&text_probe("trigger", "{kind: invisible, characters: zero_width}"));
        assert_eq!(d.hint.as_deref(), Some("did you mean `zero-width`?"));
        let d = only(&text_probe("trigger", "{kind: invisible, count: 65}"));
        assert_eq!(d.message, "`count` in transform of probe `p` must be an integer <= 64, found 65");
    }

    #[test]
    fn only_text_kinds_with_a_control_can_be_triggers() {
        for s in ["{kind: typo, rate: 0.1}", "{kind: word-swap, rate: 0.1}"] {
            let d = only(&text_probe("trigger", s));
            assert_eq!((d.code, d.line, d.column), ("category-mismatch", 8, 23), "{s}");
            assert!(
                d.message.ends_with(
                    "a trigger inserts trigger content (insert-text, insert-token, homoglyph or invisible) that has \
                     a matched control"
                ),
                "{}",
                d.message
            );
            assert_eq!(d.hint.as_deref(), Some("use category: robustness"));
        }
        // Any text kind may be a robustness probe (e.g. how much a stray `cf` moves predictions).
        for s in ["{kind: insert-text, text: cf}", "{kind: homoglyph, rate: 0.2}", "{kind: invisible, count: 3}"] {
            valid(&text_probe("robustness", s));
        }
    }

    #[test]
    fn a_transform_of_the_other_modality_is_a_mismatch_both_ways() {
        let d = only(&text_probe("trigger", PATCH));
        assert_eq!((d.code, d.line, d.column), ("category-mismatch", 8, 23));
        assert_eq!(d.message, "`patch` in probe `p` is an image transform, but the battery's modality is text");
        assert_eq!(
            d.hint.as_deref(),
            Some(
                "image transforms need `modality: image`; a text battery's kinds are insert-text, insert-token, \
                 homoglyph, invisible, typo, word-swap"
            )
        );
        let d = only(&probe("trigger", "{kind: insert-token, token: cf}", ""));
        assert_eq!((d.code, d.line, d.column), ("category-mismatch", 8, 23));
        assert_eq!(d.message, "`insert-token` in probe `p` is a text transform, but the battery's modality is image");
        assert_eq!(
            d.hint.as_deref(),
            Some(
                "text transforms need `modality: text`; an image battery's kinds are patch, blend, gaussian-noise, \
                 brightness-contrast, shift, rotate, blur"
            )
        );
        // Both problems of a robustness-only kind of the other modality as a trigger, and the
        // kind's own mistakes too.
        assert_eq!(
            problems(&probe("trigger", "{kind: typo, rate: 3}", "")),
            [("category-mismatch", 8, 23), ("category-mismatch", 8, 23), ("bad-value", 8, 35)]
        );
    }

    #[test]
    fn vocabulary_search_keys_and_defaults() {
        let search = |s: &str| match transform(&search_probe("text", s)) {
            TransformSpec::Search(spec) => spec,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            search("{method: vocabulary}"),
            SearchSpec::Vocabulary {
                tokens: vec![TokenFilter::WholeWords, TokenFilter::SubWords],
                pairs: 8,
                budget: 400_000
            }
        );
        assert_eq!(
            search("{method: vocabulary, tokens: [special, whole-words], pairs: 0, budget: 1000}"),
            SearchSpec::Vocabulary {
                tokens: vec![TokenFilter::Special, TokenFilter::WholeWords],
                pairs: 0,
                budget: 1000
            }
        );
        assert_eq!(search("{method: vocabulary, pairs: 64}").budget(), 400_000);

        let bad = |s: &str| problems(&search_probe("text", s));
        let column = |s: &str, needle: &str| 13 + s.find(needle).unwrap() as u32;
        for (s, needle, code) in [
            ("{method: vocabulary, tokens: []}", "[]", "bad-value"),
            ("{method: vocabulary, tokens: special}", "special", "wrong-type"),
            ("{method: vocabulary, tokens: [subwords]}", "subwords", "bad-value"),
            ("{method: vocabulary, tokens: [special, special]}", "special]", "bad-value"),
            ("{method: vocabulary, pairs: 65}", "65", "bad-value"),
            ("{method: vocabulary, pairs: -1}", "-1", "bad-value"),
            ("{method: vocabulary, budget: 999}", "999", "bad-value"),
            ("{method: vocabulary, sizes: [2]}", "sizes", "unknown-key"),
        ] {
            assert_eq!(bad(s), [(code, 8, column(s, needle))], "{s}");
        }
        let d = only(&search_probe("text", "{method: vocabulary, tokens: [subwords]}"));
        assert_eq!(d.hint.as_deref(), Some("did you mean `sub-words`?"));
        let d = only(&search_probe("text", "{method: vocabulary, tokens: [special, special]}"));
        assert_eq!(d.message, "`tokens` in search of probe `p` lists `special` twice");
    }

    #[test]
    fn a_search_of_the_other_modality_is_a_mismatch_both_ways() {
        let d = only(&search_probe("image", "{method: vocabulary}"));
        assert_eq!((d.code, d.line, d.column), ("category-mismatch", 8, 22));
        assert_eq!(
            d.message,
            "the `vocabulary` search in probe `p` searches text inputs, but the battery's modality is image"
        );
        assert_eq!(
            d.hint.as_deref(),
            Some(
                "`vocabulary` needs `modality: text`; an image battery searches with method patch or reverse-engineer"
            )
        );
        for method in ["patch", "reverse-engineer"] {
            let d = only(&search_probe("text", &format!("{{method: {method}}}")));
            assert_eq!((d.code, d.line, d.column), ("category-mismatch", 8, 22));
            assert!(d.message.ends_with("searches image inputs, but the battery's modality is text"), "{}", d.message);
            assert!(d.hint.unwrap().ends_with("a text battery searches with method vocabulary"));
        }
    }

    #[test]
    fn an_unknown_kind_or_method_lists_those_of_the_battery_modality() {
        let d = only(&text_probe("robustness", "{kind: typos, rate: 0.1}"));
        assert_eq!(
            (d.message.as_str(), d.hint.as_deref()),
            (
                "`kind` in transform of probe `p` must be one of insert-text, insert-token, homoglyph, invisible, \
                 typo, word-swap, found `typos`",
                Some("did you mean `typo`?")
            )
        );
        let d = only(&probe("robustness", "{kind: bluur, sigma: 1}", ""));
        assert!(
            d.message.contains("one of patch, blend, gaussian-noise, brightness-contrast, shift, rotate, blur, found")
        );
        let d = only(&search_probe("text", "{method: vocab}"));
        assert_eq!(d.message, "`method` in search of probe `p` must be one of vocabulary, found `vocab`");
        // Without a valid modality every name is offered.
        let text = probe("robustness", "{kind: x}", "").replace("modality: image", "modality: audio");
        let messages: Vec<String> = check(&text).unwrap_err().iter().map(|d| d.message.clone()).collect();
        assert!(messages[1].contains("blur, insert-text"), "{messages:?}");
    }

    #[test]
    fn a_text_probe_without_a_transform_gets_a_text_example() {
        let text = with("probes:\n  - {id: p, category: trigger}\n").replace("modality: image", "modality: text");
        assert_eq!(only(&text).hint.as_deref(), Some("e.g. `transform: {kind: insert-text, text: cf}`"));
    }

    #[test]
    fn a_syntax_error_is_one_diagnostic_with_a_location() {
        let d = only("schema: probity/battery/v1\nprobes: [\n  - id: a\n");
        assert_eq!(d.code, "yaml-syntax");
        assert!(d.line >= 2, "{d}");
    }

    #[test]
    fn wrong_types_name_the_expected_type() {
        let d = only(
            &with("defaults:\n  alpha: high\nprobes: []\n")
                .replace("probes: []", &format!("probes:\n  - {{id: p, category: trigger, transform: {PATCH}}}")),
        );
        assert_eq!(d.message, "`alpha` in defaults must be a number, found a string");
        let d = only(
            &with("defaults: [1]\n")
                .replace("[1]\n", &format!("[1]\nprobes:\n  - {{id: p, category: trigger, transform: {PATCH}}}\n")),
        );
        assert_eq!(
            (d.code, d.message.as_str()),
            ("wrong-type", "`defaults` in the battery file must be a map, found a list")
        );
    }
}
