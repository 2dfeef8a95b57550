//! The battery file format as a JSON Schema (draft 2020-12), for editors: the YAML language
//! server checks and completes a battery that starts with
//! `# yaml-language-server: $schema=./schema.json` while it is being written.
//!
//! The schema is generated here, and only here, from the types below with `schemars`;
//! `probity battery schema` prints [`json`], and `batteries/schema.json` is its committed copy
//! (a test fails when the two differ; regenerate with
//! `cargo run --release -- battery schema > batteries/schema.json`).
//!
//! Why types of their own rather than [`super::spec`]'s: the validated types are what probity
//! consumes after validation (a path and digest, thresholds already merged with the defaults,
//! every extent in one form), while a file spells the same things several ways (`size: 3`,
//! `size: 0.25`, `size: 25%`; `position: {x: 1, y: 2}`; `transform:`, `search:` or `attack:`).
//! These types mirror the file; where a spelling is the same in both (modality, category,
//! layout, token filters, norms, ...) the schema uses the spec type itself. Defaults come from
//! [`super::builtin_defaults`], number ranges from the validator's own [`Range`] constants
//! where it names one, and a unit test checks that every map here accepts exactly the keys the
//! validator accepts (every transform kind of [`crate::transform::registry`], every search and
//! attack method), so a kind added to the validator and not here fails that test.
//!
//! The validator stays the authority. A schema cannot say what needs more than the file (an
//! image file that must exist, a token the tokenizer must know), nor everything that spans keys
//! (a transform of the battery's modality, unique probe ids); it says which keys go where, their
//! types, names and ranges, and which keys exclude or need each other.
//!
//! Adding a transform kind or a search or attack method: its variant in [`Transform`],
//! [`Search`] or [`Attack`] below, then regenerate `batteries/schema.json`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value};

use super::diagnostics::{POSITIVE, PROBABILITY, Range, UNIT, UNIT_NONZERO};
use super::spec::{
    Category, InvisibleSet, Layout, Modality, Orientation, SCHEMA_V1, SearchContent, SweepInputs, TextPosition,
    TokenFilter,
};
use super::validate::builtin_defaults;
use crate::attack::Norm;

/// The JSON Schema of battery files, pretty-printed, ending in a newline.
pub fn json() -> String {
    let mut settings = schemars::generate::SchemaSettings::draft2020_12();
    settings.transforms.push(Box::new(no_null));
    let schema = settings.into_generator().into_root_schema_for::<BatteryFile>();
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// (`Option` fields whose schema is given with `schema_with` say `serde(default,
/// skip_serializing_if)` too: schemars cannot see through `schema_with` that they are optional.)
///
/// An optional key is one that may be left out, not one that may be written as null (the
/// validator says "must be a number, found null"): `Option<T>` fields lose the null that schemars
/// gives them. The few maps the validator does read from a bare `key:` ([`OrNull`]) say so with
/// `{"const": null}`, which this leaves alone.
fn no_null(schema: &mut Schema) {
    if let Some(Value::Array(types)) = schema.get_mut("type") {
        types.retain(|t| t != "null");
        if let [only] = types.as_slice() {
            let only = only.clone();
            schema.insert("type".into(), only);
        }
    }
    if let Some(Value::Array(any)) = schema.get_mut("anyOf") {
        any.retain(|s| s != &serde_json::json!({"type": "null"}));
    }
    schemars::transform::transform_subschemas(&mut no_null, schema);
}

/// A map the validator also accepts written as a bare `key:` (null), reading it as empty.
struct OrNull<T>(std::marker::PhantomData<T>);

impl<T: JsonSchema> JsonSchema for OrNull<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("{}OrNull", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({"anyOf": [generator.subschema_for::<T>(), {"const": null}]})
    }
}

/// `{"minimum": lo, "maximum": hi}` (exclusive where the range is open) for a number in `range`.
fn bounded(range: Range) -> Schema {
    let (lo, lo_open, hi, hi_open) = range.bounds();
    let mut map = Map::new();
    map.insert("type".into(), "number".into());
    if lo.is_finite() {
        map.insert((if lo_open { "exclusiveMinimum" } else { "minimum" }).into(), lo.into());
    }
    if hi.is_finite() {
        map.insert((if hi_open { "exclusiveMaximum" } else { "maximum" }).into(), hi.into());
    }
    Schema::from(map)
}

fn unit(_: &mut SchemaGenerator) -> Schema {
    bounded(UNIT)
}

fn unit_nonzero(_: &mut SchemaGenerator) -> Schema {
    bounded(UNIT_NONZERO)
}

fn probability(_: &mut SchemaGenerator) -> Schema {
    bounded(PROBABILITY)
}

fn positive(_: &mut SchemaGenerator) -> Schema {
    bounded(POSITIVE)
}

fn non_empty_string(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "pattern": "\\S"})
}

// ---- the document --------------------------------------------------------------------------

/// A probity battery file: YAML of probes that test a model for backdoors
/// (docs/batteries.md).
#[derive(JsonSchema)]
#[schemars(title = "probity battery (probity/battery/v1)")]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
struct BatteryFile {
    /// The battery schema this file follows.
    schema: SchemaId,
    #[schemars(schema_with = "non_empty_string")]
    name: String,
    /// A string, or a number kept as it reads (quote `"1.10"` to keep its digits).
    version: Version,
    #[serde(default)]
    description: String,
    /// Which transforms and searches the probes may use.
    modality: Modality,
    /// Battery-wide settings; every key is optional.
    defaults: Option<OrNull<DefaultsFile>>,
    #[schemars(length(min = 1))]
    probes: Vec<ProbeFile>,
}

/// Exactly `probity/battery/v1`.
struct SchemaId;

impl JsonSchema for SchemaId {
    fn schema_name() -> Cow<'static, str> {
        "SchemaId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"description": "The battery schema this file follows.", "const": SCHEMA_V1})
    }
}

struct Version;

impl JsonSchema for Version {
    fn schema_name() -> Cow<'static, str> {
        "Version".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"anyOf": [{"type": "string", "pattern": "\\S"}, {"type": "number"}]})
    }
}

fn default_seed() -> u64 {
    builtin_defaults().seed
}
fn default_alpha() -> f64 {
    builtin_defaults().alpha
}
fn default_min_effect() -> f64 {
    builtin_defaults().min_effect
}
fn default_min_attack_success() -> f64 {
    builtin_defaults().min_attack_success
}
fn default_max_flip_rate() -> f64 {
    builtin_defaults().max_flip_rate
}
fn default_max_accuracy_drop() -> f64 {
    builtin_defaults().max_accuracy_drop
}
fn default_samples() -> u64 {
    builtin_defaults().samples as u64
}

/// Battery-wide settings; each probe may override the statistical ones.
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
struct DefaultsFile {
    /// Base seed of every random draw; `--seed` on the command line replaces it.
    #[serde(default = "default_seed")]
    seed: u64,
    /// Family-wise error rate of the model-level verdict (Holm over probes × classes).
    #[serde(default = "default_alpha")]
    #[schemars(schema_with = "probability")]
    alpha: f64,
    /// How far a trigger's attack success rate must exceed its matched control's to fail.
    #[serde(default = "default_min_effect")]
    #[schemars(schema_with = "unit")]
    min_effect: f64,
    /// The attack success rate a trigger probe must reach to fail.
    #[serde(default = "default_min_attack_success")]
    #[schemars(schema_with = "unit")]
    min_attack_success: f64,
    /// A robustness probe fails above this share of changed predictions.
    #[serde(default = "default_max_flip_rate")]
    #[schemars(schema_with = "unit")]
    max_flip_rate: f64,
    /// A robustness probe fails above this drop in accuracy (when labels are given).
    #[serde(default = "default_max_accuracy_drop")]
    #[schemars(schema_with = "unit")]
    max_accuracy_drop: f64,
    /// Clean inputs drawn per probe (all of them when the data has fewer).
    #[serde(default = "default_samples")]
    #[schemars(range(min = 1))]
    samples: u64,
    /// Samples per inference call (default: chosen by the engine from the input size).
    #[schemars(range(min = 1))]
    batch_size: Option<u64>,
    /// The model's valid input range: `[lo, hi]` for every channel, or one pair per channel
    /// (default: inferred per channel from the data). Images only.
    value_range: Option<ValueRange>,
    /// Image layout (default: inferred from the model's input shape). Images only.
    layout: Option<Layout>,
}

#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum ValueRange {
    All(#[schemars(length(equal = 2))] Vec<f64>),
    PerChannel(#[schemars(length(min = 1))] Vec<LoHi>),
}

/// `[lo, hi]` with `lo < hi`.
#[derive(JsonSchema)]
#[schemars(transparent)]
#[allow(dead_code)]
struct LoHi(#[schemars(length(equal = 2))] Vec<f64>);

// ---- probes --------------------------------------------------------------------------------

/// One probe: a transform (or a search for an unknown trigger, or an attack) applied to clean
/// inputs, and how its evidence is judged.
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[schemars(extend("oneOf" = [
    {"required": ["transform"]},
    {"required": ["search"]},
    {"required": ["attack"]},
]))]
#[schemars(extend("allOf" = [
    {"if": {"properties": {"category": {"const": "trigger"}}},
     "then": {"properties": {"attack": false, "thresholds": {"propertyNames": {"enum": ["alpha", "min-effect", "min-attack-success"]}}}}},
    {"if": {"properties": {"category": {"const": "robustness"}}},
     "then": {"properties": {"search": false, "attack": false, "thresholds": {"propertyNames": {"enum": ["max-flip-rate", "max-accuracy-drop"]}}}}},
    {"if": {"properties": {"category": {"const": "adversarial"}}},
     "then": {"properties": {"transform": false, "search": false, "thresholds": {"propertyNames": {"enum": ["max-attack-success", "min-robust-accuracy"]}}}}},
]))]
#[allow(dead_code)]
struct ProbeFile {
    /// Kebab-case, unique within the battery; reports name the probe by it.
    #[schemars(regex(pattern = r"^[a-z0-9]+(-[a-z0-9]+)*$"))]
    id: String,
    category: Category,
    #[serde(default)]
    description: String,
    /// Clean inputs drawn for this probe (default: `defaults.samples`).
    #[schemars(range(min = 1))]
    samples: Option<u64>,
    /// What to do to each input.
    transform: Option<Transform>,
    /// Search for an unknown trigger instead (trigger probes only).
    search: Option<Search>,
    /// Attack each input instead (adversarial probes only).
    attack: Option<Attack>,
    /// Overrides of the defaults, those of the probe's category only.
    thresholds: Option<OrNull<Thresholds>>,
}

/// Per-probe threshold overrides: `alpha`, `min-effect`, `min-attack-success` for a trigger
/// probe; `max-flip-rate`, `max-accuracy-drop` for a robustness probe; `max-attack-success`,
/// `min-robust-accuracy` for an adversarial one.
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
struct Thresholds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "probability")]
    alpha: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "unit")]
    min_effect: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "unit")]
    min_attack_success: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "unit")]
    max_flip_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "unit")]
    max_accuracy_drop: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "unit")]
    max_attack_success: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "unit")]
    min_robust_accuracy: Option<f64>,
}

// ---- transforms ----------------------------------------------------------------------------

/// A transform, by its `kind`.
#[derive(JsonSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", rename_all_fields = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
enum Transform {
    /// Image: stamp a patch (`size`, or `width` and `height`).
    #[schemars(extend("oneOf" = [
        {"required": ["size"], "not": {"anyOf": [{"required": ["width"]}, {"required": ["height"]}]}},
        {"required": ["width", "height"], "not": {"required": ["size"]}},
    ]))]
    Patch {
        /// The side of a square patch.
        size: Option<Extent>,
        width: Option<Extent>,
        height: Option<Extent>,
        /// Default `bottom-right`.
        position: Option<PatchPosition>,
        content: PatchContent,
    },
    /// Image: `(1 - alpha) * x + alpha * pattern` over the whole image.
    Blend {
        pattern: BlendPattern,
        #[schemars(schema_with = "unit_nonzero")]
        alpha: f64,
    },
    /// Image: additive Gaussian noise, `std` a fraction of each channel's range.
    GaussianNoise {
        #[schemars(schema_with = "unit_nonzero")]
        std: f64,
    },
    /// Image: `mid + contrast * (x - mid) + brightness * (hi - lo)`; at least one of the two.
    #[schemars(extend("anyOf" = [{"required": ["brightness"]}, {"required": ["contrast"]}]))]
    BrightnessContrast {
        /// Default 0.
        #[schemars(range(min = -1.0, max = 1.0))]
        brightness: Option<f64>,
        /// In (0, 10]; default 1.
        #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 10.0))]
        contrast: Option<f64>,
    },
    /// Image: translate by up to `max-pixels` in each direction, drawn per sample.
    Shift {
        #[schemars(range(min = 1))]
        max_pixels: u32,
    },
    /// Image: rotate by up to `max-degrees` (in (0, 180]) either way, drawn per sample.
    Rotate {
        #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 180.0))]
        max_degrees: f64,
    },
    /// Image: Gaussian blur, `sigma` (in (0, 10]) in pixels.
    Blur {
        #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 10.0))]
        sigma: f64,
    },
    /// Text: insert a word, phrase or sentence into the raw text.
    InsertText {
        #[schemars(schema_with = "non_empty_string")]
        text: String,
        /// Default `random`.
        position: Option<TextPosition>,
    },
    /// Text: insert one vocabulary token (as the tokenizer spells it) after tokenization.
    InsertToken {
        #[schemars(length(min = 1))]
        token: String,
        /// Default `random`.
        position: Option<TextPosition>,
    },
    /// Text: replace this share of Latin letters with look-alikes of other scripts.
    Homoglyph {
        #[schemars(schema_with = "unit_nonzero")]
        rate: f64,
    },
    /// Text: insert `count` invisible characters.
    Invisible {
        /// Default `zero-width`.
        characters: Option<InvisibleSet>,
        /// Default 1.
        #[schemars(range(min = 1, max = 64))]
        count: Option<u32>,
        /// Default `random`.
        position: Option<TextPosition>,
    },
    /// Text: a one-character typo in this share of words.
    Typo {
        #[schemars(schema_with = "unit_nonzero")]
        rate: f64,
    },
    /// Text: swap this share of words with their right-hand neighbour.
    WordSwap {
        #[schemars(schema_with = "unit_nonzero")]
        rate: f64,
    },
    /// Tabular: set one feature to a value.
    SetFeature { feature: Feature, value: f64 },
    /// Tabular: set two or more features jointly (`{f03: -150, f07: 20000}`).
    SetFeatures {
        #[schemars(extend("minProperties" = 2))]
        features: std::collections::BTreeMap<String, f64>,
    },
    /// Tabular: Gaussian noise of `scale` (in (0, 100]) times each feature's standard deviation.
    FeatureNoise {
        #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 100.0))]
        scale: f64,
    },
    /// Tabular: mark the listed features missing, or each value with probability `rate`.
    #[schemars(extend("oneOf" = [{"required": ["features"]}, {"required": ["rate"]}]))]
    Missing {
        #[schemars(length(min = 1))]
        features: Option<Vec<Feature>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schemars(schema_with = "unit_nonzero")]
        rate: Option<f64>,
    },
}

/// Pixels (an integer >= 1), a fraction of the image side in (0, 1], or a percentage ("25%").
struct Extent;

impl JsonSchema for Extent {
    fn schema_name() -> Cow<'static, str> {
        "Extent".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Pixels (an integer >= 1), a fraction of the image side in (0, 1], or a percentage (\"25%\").",
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                {"type": "string", "pattern": "^\\s*[0-9]*\\.?[0-9]+\\s*%\\s*$"}
            ]
        })
    }
}

/// A named place, or the patch's top-left pixel `{x, y}`.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum PatchPosition {
    Named(NamedPosition),
    At(PixelPosition),
}

/// `random` is drawn per sample (the control uses the same draw).
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
enum NamedPosition {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
    Top,
    Bottom,
    Left,
    Right,
    Center,
    Random,
}

/// The patch's top-left pixel, counted from the image's top-left corner.
#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct PixelPosition {
    x: u32,
    y: u32,
}

/// Exactly one of `solid`, `color`, `checkerboard`, `noise`, `image`.
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
enum PatchContent {
    /// One intensity in [0, 1] for every channel.
    Solid(#[schemars(schema_with = "unit")] f64),
    /// One intensity per channel.
    Color(#[schemars(length(min = 1))] Vec<Intensity>),
    /// Alternating `low` and `high` (defaults 0 and 1) in squares of `cell` pixels (default 1).
    Checkerboard(OrNull<Checkerboard>),
    /// A fixed pseudo-random pattern from `seed`, the same for every sample.
    Noise(Seeded),
    /// An image file, relative to the battery's folder, resized to the patch.
    Image(#[schemars(schema_with = "non_empty_string")] String),
}

/// An intensity in [0, 1] image space (0 black, 1 white, whatever the model's normalisation).
#[derive(JsonSchema)]
#[schemars(transparent)]
#[allow(dead_code)]
struct Intensity(#[schemars(schema_with = "unit")] f64);

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Checkerboard {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "unit")]
    low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "unit")]
    high: Option<f64>,
    #[schemars(range(min = 1))]
    cell: Option<u32>,
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Seeded {
    seed: u64,
}

/// Exactly one of `noise`, `stripes`, `image`.
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
enum BlendPattern {
    /// A fixed full-image pseudo-random pattern from `seed`.
    Noise(Seeded),
    /// Sinusoidal stripes as in SIG (Barni et al., 2019).
    Stripes(Stripes),
    /// An image file, relative to the battery's folder, resized to the input.
    Image(#[schemars(schema_with = "non_empty_string")] String),
}

#[derive(JsonSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Stripes {
    #[schemars(schema_with = "positive")]
    frequency: f64,
    /// Default `vertical`.
    orientation: Option<Orientation>,
}

/// A column name or a 0-based index.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum Feature {
    Name(#[schemars(schema_with = "non_empty_string")] String),
    Index(u64),
}

// ---- searches and attacks ------------------------------------------------------------------

/// A black-box search for an unknown trigger, by its `method`; trigger probes only.
#[derive(JsonSchema)]
#[serde(tag = "method", rename_all = "kebab-case", rename_all_fields = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
enum Search {
    /// Image: coarse-to-fine patch search over sizes × positions × contents.
    Patch {
        #[schemars(length(min = 1))]
        sizes: Option<Vec<Extent>>,
        #[schemars(range(min = 1))]
        stride: Option<u32>,
        #[schemars(length(min = 1))]
        contents: Option<Vec<SearchContent>>,
        #[schemars(range(min = 1000))]
        budget: Option<u64>,
    },
    /// Image: Neural Cleanse's objective optimised with NES gradient estimates.
    ReverseEngineer {
        #[schemars(range(min = 1000))]
        budget: Option<u64>,
        #[schemars(range(min = 1, max = 1000))]
        directions: Option<u32>,
        #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 10.0))]
        sigma: Option<f64>,
        #[schemars(extend("exclusiveMinimum" = 0.0), range(max = 10.0))]
        learning_rate: Option<f64>,
    },
    /// Text: insert every token of the filtered vocabulary, then the best `pairs` two at a time.
    Vocabulary {
        #[schemars(length(min = 1), extend("uniqueItems" = true))]
        tokens: Option<Vec<TokenFilter>>,
        #[schemars(range(min = 0, max = 64))]
        pairs: Option<u32>,
        #[schemars(range(min = 1000))]
        budget: Option<u64>,
        /// A word list, relative to the battery's folder (one word or phrase per line, `#`
        /// comments): its words of several pieces are swept as units.
        words: Option<String>,
        /// Places tokens are inserted at: `random` (always searched), `start`, `end`.
        #[schemars(length(min = 1), extend("uniqueItems" = true))]
        positions: Option<Vec<TextPosition>>,
        /// The half of the samples, by clean confidence, swept and confirmed on: `confident`
        /// (default) or `uncertain`.
        inputs: Option<SweepInputs>,
    },
    /// Tabular: set each feature to candidate values, then the best `pairs` two at a time.
    FeatureSweep {
        #[schemars(range(min = 0, max = 64))]
        pairs: Option<u32>,
        #[schemars(range(min = 1000))]
        budget: Option<u64>,
    },
    /// Image: targeted HopSkipJump toward each class from `inputs` inputs of the other classes;
    /// the class whose perturbations peak most stands out (AEVA).
    AdversarialPeak {
        /// Inputs attacked toward each class (default 8).
        #[schemars(range(min = 1, max = 1000))]
        inputs: Option<u32>,
        #[schemars(range(min = 1000))]
        budget: Option<u64>,
    },
}

/// A black-box attack on each input, by its `method`; adversarial probes only.
#[derive(JsonSchema)]
#[serde(tag = "method", rename_all = "kebab-case", rename_all_fields = "kebab-case", deny_unknown_fields)]
#[allow(dead_code)]
enum Attack {
    /// Square Attack (Andriushchenko et al., 2020): the radius as `epsilon` (value units) or
    /// `epsilon-fraction` (a share of the value range), not both.
    #[schemars(extend("oneOf" = [{"required": ["epsilon"]}, {"required": ["epsilon-fraction"]}]))]
    Square {
        /// Default `linf`.
        norm: Option<Norm>,
        #[schemars(range(min = 0.0))]
        epsilon: Option<f64>,
        #[schemars(range(min = 0.0))]
        epsilon_fraction: Option<f64>,
        /// Queries per input (default 1000).
        #[schemars(range(min = 1, max = 100_000))]
        queries: Option<u32>,
        targeted: Option<bool>,
        /// The window's initial share of the image, in (0, 1).
        #[schemars(extend("exclusiveMinimum" = 0.0, "exclusiveMaximum" = 1.0))]
        p_init: Option<f64>,
    },
    /// HopSkipJump (Chen et al., 2020), decision-based, L2 only: the radius as `epsilon` (value
    /// units) or `epsilon-fraction` (a share of the value range), not both.
    #[serde(rename = "hopskipjump")]
    #[schemars(extend("oneOf" = [{"required": ["epsilon"]}, {"required": ["epsilon-fraction"]}]))]
    HopSkipJump {
        /// `l2`, the only norm implemented (the default).
        norm: Option<HopSkipJumpNorm>,
        #[schemars(range(min = 0.0))]
        epsilon: Option<f64>,
        #[schemars(range(min = 0.0))]
        epsilon_fraction: Option<f64>,
        /// Queries per input (default 1000).
        #[schemars(range(min = 1, max = 100_000))]
        queries: Option<u32>,
        targeted: Option<bool>,
        /// Samples of the first gradient estimate (default 100).
        #[schemars(range(min = 1, max = 10_000))]
        gradient_samples: Option<u32>,
    },
    /// DeepWordBug (Gao et al., 2018), text only: character edits in the words whose removal
    /// hurts the prediction most.
    #[serde(rename = "deepwordbug")]
    DeepWordBug {
        /// The most words given a character edit per input (the edit budget; 0 edits nothing).
        #[schemars(range(min = 0, max = 1000))]
        edits: u32,
        /// Queries per input, the ranking round included (default 1000).
        #[schemars(range(min = 1, max = 100_000))]
        queries: Option<u32>,
        targeted: Option<bool>,
        /// Character edits tried per word (default 4).
        #[schemars(range(min = 1, max = 64))]
        candidates: Option<u32>,
    },
}

/// HopSkipJump's one norm.
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[allow(dead_code)]
enum HopSkipJumpNorm {
    L2,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        serde_json::from_str(&json()).unwrap()
    }

    /// The property names of the `#/$defs/NAME` map, or of its variant whose `tag` is `value`.
    fn keys(schema: &Value, name: &str, tag: Option<(&str, &str)>) -> Vec<String> {
        let def = &schema["$defs"][name];
        let map = match tag {
            None => def,
            Some((tag, value)) => def["oneOf"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["properties"][tag]["const"] == value)
                .unwrap_or_else(|| panic!("no `{tag}: {value}` variant of {name} in the schema")),
        };
        let mut keys: Vec<String> = map["properties"].as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn sorted(keys: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn every_map_accepts_exactly_the_keys_the_validator_accepts() {
        let schema = schema();
        let top: Vec<String> = {
            let mut k: Vec<String> = schema["properties"].as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(top, sorted(super::super::validate::TOP_KEYS));
        assert_eq!(keys(&schema, "DefaultsFile", None), sorted(super::super::validate::DEFAULT_KEYS));
        assert_eq!(keys(&schema, "ProbeFile", None), sorted(super::super::validate::PROBE_KEYS));
        for kind in crate::transform::registry::KINDS {
            assert_eq!(keys(&schema, "Transform", Some(("kind", kind.name))), sorted(kind.keys), "{}", kind.name);
        }
        for method in super::super::validate::search::METHODS {
            assert_eq!(keys(&schema, "Search", Some(("method", method.name))), sorted(method.keys), "{}", method.name);
        }
        for (name, method_keys) in super::super::validate::ATTACK_METHODS {
            assert_eq!(keys(&schema, "Attack", Some(("method", name))), sorted(method_keys), "{name}");
        }
    }

    #[test]
    fn each_category_accepts_the_thresholds_the_validator_accepts() {
        let schema = schema();
        let rules = schema["$defs"]["ProbeFile"]["allOf"].as_array().unwrap();
        for category in [Category::Trigger, Category::Robustness, Category::Adversarial] {
            let name = serde_json::to_value(category).unwrap();
            let rule = rules.iter().find(|r| r["if"]["properties"]["category"]["const"] == name).unwrap();
            let keys = rule["then"]["properties"]["thresholds"]["propertyNames"]["enum"].as_array().unwrap();
            let keys: Vec<&str> = keys.iter().map(|k| k.as_str().unwrap()).collect();
            assert_eq!(keys, super::super::validate::threshold_keys(category), "{name}");
        }
    }

    #[test]
    fn no_kind_or_method_is_in_the_schema_without_the_validator_knowing_it() {
        let schema = schema();
        let count = |name: &str| schema["$defs"][name]["oneOf"].as_array().unwrap().len();
        assert_eq!(count("Transform"), crate::transform::registry::KINDS.len());
        assert_eq!(count("Search"), super::super::validate::search::METHODS.len());
        assert_eq!(count("Attack"), super::super::validate::ATTACK_METHODS.len());
    }

    #[test]
    fn defaults_show_the_built_in_values() {
        let schema = schema();
        let defaults = &schema["$defs"]["DefaultsFile"]["properties"];
        assert_eq!(defaults["alpha"]["default"], 0.05);
        assert_eq!(defaults["samples"]["default"], 400);
        assert_eq!(defaults["alpha"]["exclusiveMinimum"], 0.0);
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    }
}
