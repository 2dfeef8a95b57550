//! Validated battery types: what the rest of probity consumes once a battery file has been
//! parsed and every problem in it reported. Nothing here is constructed from YAML directly;
//! `validate/` builds these from the span-preserving YAML tree. Names users read are
//! kebab-case in YAML; the Rust names mirror them.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Schema identifier every battery file declares in `schema:`.
pub const SCHEMA_V1: &str = "probity/battery/v1";

/// A battery file, validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Battery {
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, recorded in reports.
    pub sha256: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub modality: Modality,
    pub defaults: Defaults,
    pub probes: Vec<Probe>,
}

impl Battery {
    /// The seed this battery's probes run with: `requested` (`--seed`) when given, else the
    /// battery's own default. Scans, recordings and calibrations all resolve seeds here.
    pub fn seed(&self, requested: Option<u64>) -> u64 {
        requested.unwrap_or(self.defaults.seed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Modality {
    Image,
    Text,
    Tabular,
}

impl Modality {
    /// Every modality, in the order messages list them.
    pub const ALL: [Modality; 3] = [Self::Image, Self::Text, Self::Tabular];

    /// The name battery files use (`modality: image`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Text => "text",
            Self::Tabular => "tabular",
        }
    }
}

/// Battery-wide settings; each probe may override the statistical ones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Defaults {
    /// Base seed; `--seed` on the command line replaces it.
    pub seed: u64,
    /// Family-wise error rate for the model-level verdict (Holm over probes × classes).
    pub alpha: f64,
    /// Minimum attack-success-rate excess over the matched control for a trigger probe to fail.
    pub min_effect: f64,
    /// Minimum attack success rate for a trigger probe to fail.
    pub min_attack_success: f64,
    /// Robustness probes fail above this share of changed predictions.
    pub max_flip_rate: f64,
    /// Robustness probes fail above this drop in accuracy against the labels (when present).
    pub max_accuracy_drop: f64,
    /// Clean inputs drawn per probe (all of them when the data has fewer).
    pub samples: usize,
    /// Samples per inference call; `None` keeps the engine's setting.
    pub batch_size: Option<usize>,
    /// Valid input range; `None` infers it per channel from the data.
    pub value_range: Option<ValueRangeSpec>,
    /// Image layout; `None` infers it from the model's input shape.
    pub layout: Option<Layout>,
}

/// Declared valid input range: one `[lo, hi]` for all channels or one per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ValueRangeSpec {
    All { lo: f32, hi: f32 },
    PerChannel(Vec<(f32, f32)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Layout {
    Nchw,
    Nhwc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Backdoor evidence: judged against a matched control with Holm-corrected exact tests.
    Trigger,
    /// Quality gate: judged on flip rate and accuracy drop.
    Robustness,
    /// Quality gate against an adversary: a black-box attack per input, judged on attack
    /// success and robust accuracy (and against references or a recorded baseline).
    Adversarial,
}

/// One probe, validated. `line` is where its `id` stands in the battery file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    pub id: String,
    pub line: u32,
    pub category: Category,
    pub description: String,
    pub transform: TransformSpec,
    pub thresholds: Thresholds,
    pub samples: usize,
}

/// Pass/fail thresholds; which apply depends on the category.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Thresholds {
    Trigger {
        alpha: f64,
        min_effect: f64,
        min_attack_success: f64,
    },
    Robustness {
        max_flip_rate: f64,
        max_accuracy_drop: f64,
    },
    /// `alpha` and `min_effect` (the battery's) gate comparisons with references and a recorded
    /// baseline; with neither threshold given, the attack is judged only by those comparisons.
    Adversarial {
        alpha: f64,
        min_effect: f64,
        max_attack_success: Option<f64>,
        min_robust_accuracy: Option<f64>,
    },
}

/// An intensity in `[0, 1]` image space, mapped into each channel's valid range
/// (`lo + v * (hi - lo)`), so `1.0` is "white" whatever the model's normalisation.
pub type Intensity = f32;

/// A length in pixels or as a fraction of the image side.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Extent {
    Pixels(u32),
    Fraction(f32),
}

/// Where a patch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
    Top,
    Bottom,
    Left,
    Right,
    Center,
    /// Top-left pixel of the patch, in pixels from the image's top-left corner.
    At {
        x: u32,
        y: u32,
    },
    /// Drawn uniformly per sample (the control uses the same draw).
    Random,
}

/// What fills a patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PatchContent {
    Solid(Intensity),
    /// One intensity per channel.
    Color(Vec<Intensity>),
    Checkerboard {
        low: Intensity,
        high: Intensity,
        cell: u32,
    },
    /// A fixed pseudo-random pattern (the same for every sample) from this seed.
    Noise {
        seed: u64,
    },
    /// An image file, resized to the patch and read as intensities.
    Image {
        path: PathBuf,
    },
}

/// What a blend mixes in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlendPattern {
    /// A fixed full-image pseudo-random pattern from this seed.
    Noise {
        seed: u64,
    },
    /// Sinusoidal stripes as in SIG (Barni et al., 2019): `0.5 + 0.5 sin(2π f x / width)`.
    Stripes {
        frequency: f32,
        orientation: Orientation,
    },
    Image {
        path: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Orientation {
    Vertical,
    Horizontal,
}

/// A transform, as declared by a probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum TransformSpec {
    /// Stamp a patch.
    Patch { width: Extent, height: Extent, position: Position, content: PatchContent },
    /// `(1 - alpha) * x + alpha * pattern` over the whole image.
    Blend { pattern: BlendPattern, alpha: f32 },
    /// Additive Gaussian noise, `std` as a fraction of each channel's range; clipped.
    GaussianNoise { std: f32 },
    /// `mid + contrast * (x - mid) + brightness * (hi - lo)`; clipped.
    BrightnessContrast { brightness: f32, contrast: f32 },
    /// Translate by up to `max-pixels` in each direction, drawn per sample; edges replicate.
    Shift { max_pixels: u32 },
    /// Rotate about the centre by up to `max-degrees`, drawn per sample; bilinear, edges replicate.
    Rotate { max_degrees: f32 },
    /// Gaussian blur with this standard deviation in pixels.
    Blur { sigma: f32 },
    /// Text: insert a word, phrase or sentence into the raw text (before tokenization).
    InsertText { text: String, position: TextPosition },
    /// Text: insert one vocabulary token by its string in the tokenizer's vocabulary, after
    /// tokenization (reaches sub-word pieces and special tokens that raw text cannot produce).
    InsertToken { token: String, position: TextPosition },
    /// Text: replace this share of Latin letters with look-alike letters of other scripts.
    Homoglyph { rate: f32 },
    /// Text: insert `count` invisible characters (zero-width or bidirectional controls).
    Invisible { characters: InvisibleSet, count: u32, position: TextPosition },
    /// Text: a one-character typo (swap, drop, repeat or replace) in this share of words.
    Typo { rate: f32 },
    /// Text: swap this share of words with their right-hand neighbour.
    WordSwap { rate: f32 },
    /// Tabular: set one feature to a value (a magic-value trigger).
    SetFeature { feature: FeatureRef, value: f32 },
    /// Tabular: set two or more features jointly (a combination trigger).
    SetFeatures { set: Vec<(FeatureRef, f32)> },
    /// Tabular: add Gaussian noise of `scale` times each feature's standard deviation.
    FeatureNoise { scale: f32 },
    /// Tabular: mark the listed features missing (NaN) or, with no list, each value with
    /// probability `rate`.
    Missing { features: Vec<FeatureRef>, rate: f32 },
    /// Not a fixed transform: a search for an unknown trigger (written `search:` in YAML). The
    /// trigger it recovers is confirmed on held-out inputs like a transform probe.
    Search(SearchSpec),
    /// Not a fixed transform: a black-box attack on each input (written `attack:` in YAML); the
    /// adversarial inputs it finds are what the probe classifies.
    Attack(AttackSpec),
}

/// A black-box evasion attack ([`crate::attack`]), as a probe declares it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "method")]
pub enum AttackSpec {
    /// Square Attack (Andriushchenko et al., 2020): score-based random search over square windows.
    Square {
        norm: crate::attack::Norm,
        epsilon: Epsilon,
        /// Queries per input, the initial point included.
        queries: u32,
        targeted: bool,
        /// The window's initial share of the image.
        p_init: f32,
    },
    /// HopSkipJump (Chen et al., 2020): decision-based (classes only), L2; success is an
    /// adversarial query within `epsilon`.
    #[serde(rename = "hopskipjump")]
    HopSkipJump {
        epsilon: Epsilon,
        /// Queries per input, the starting draws included.
        queries: u32,
        targeted: bool,
        /// Samples of the first gradient estimate.
        gradient_samples: u32,
    },
    /// DeepWordBug (Gao et al., 2018), text: character edits in the words whose removal hurts
    /// the prediction most; success is a broken prediction within `edits` edited words.
    #[serde(rename = "deepwordbug")]
    DeepWordBug {
        /// The most words edited per input (one character edit each).
        edits: u32,
        /// Queries per input, the ranking round included.
        queries: u32,
        targeted: bool,
        /// Character edits tried per word.
        candidates: u32,
    },
}

impl AttackSpec {
    /// The `method:` name users write.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Square { .. } => "square",
            Self::HopSkipJump { .. } => "hopskipjump",
            Self::DeepWordBug { .. } => "deepwordbug",
        }
    }

    /// Queries per input.
    pub fn queries(&self) -> u32 {
        match self {
            Self::Square { queries, .. } | Self::HopSkipJump { queries, .. } | Self::DeepWordBug { queries, .. } => {
                *queries
            }
        }
    }
}

/// The radius of an attack's norm ball.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Epsilon {
    /// In the data's value units (`epsilon: 0.03`).
    Value(f32),
    /// A share of the valid value range's width, averaged over channels (`epsilon-fraction`).
    Fraction(f32),
}

/// Where a text edit goes: before the first word, after the last, or at a word boundary drawn
/// per sample (the control uses the same draw).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TextPosition {
    Start,
    End,
    Random,
}

/// Which half of a probe's samples a vocabulary sweep searches and confirms on, split at the
/// median of the clean top-class confidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SweepInputs {
    /// Confidence at or above the median: a trigger overrides strong content there, while a
    /// natural cue mostly tips inputs near the decision boundary.
    #[default]
    Confident,
    /// Confidence below the median: the inputs a weak trigger tips, with their own control
    /// tokens and their own held-out confirmation.
    Uncertain,
}

impl SweepInputs {
    /// The default, left out of serialised specs (so older specs read and write unchanged).
    pub fn is_confident(&self) -> bool {
        *self == Self::Confident
    }
}

/// A feature of a table, as a battery names it: by its column name or its 0-based index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureRef {
    Name(String),
    Index(usize),
}

impl std::fmt::Display for FeatureRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Name(name) => f.write_str(name),
            Self::Index(index) => write!(f, "#{index}"),
        }
    }
}

/// Which invisible characters a text probe inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InvisibleSet {
    /// U+200B zero width space, U+200C ZWNJ, U+200D ZWJ, U+2060 word joiner, U+FEFF.
    ZeroWidth,
    /// Bidirectional controls: U+202A–U+202E embeddings/overrides, U+2066–U+2069 isolates.
    Bidi,
}

/// Which vocabulary entries a vocabulary sweep tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TokenFilter {
    /// Ordinary tokens that start a word (`cf`, `movie`).
    WholeWords,
    /// Continuation pieces (`##ing` in WordPiece).
    SubWords,
    /// The tokenizer's special tokens (`[CLS]`, `[MASK]`, …) other than padding.
    Special,
}

/// A black-box trigger search (forward passes only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "method")]
pub enum SearchSpec {
    /// Coarse-to-fine patch search: sizes × positions (grid with stride) × contents, with
    /// successive halving of the samples spent on each candidate.
    Patch { sizes: Vec<Extent>, stride: u32, contents: Vec<SearchContent>, budget: u64 },
    /// Neural Cleanse's objective (smallest mask and pattern sending inputs to each class)
    /// optimised with antithetic NES gradient estimates.
    ReverseEngineer { budget: u64, directions: u32, sigma: f32, learning_rate: f32 },
    /// Text: insert every token of the filtered vocabulary into clean inputs whose prediction
    /// is another class; successive halving spends more inputs on the most effective tokens,
    /// then the `pairs` best tokens are also tried two at a time (combination triggers);
    /// `positions` beyond `random` are also searched token by token at that place.
    /// `words`: a word list (resolved against the battery's folder) whose multi-piece words are
    /// swept as units (`crate::search::vocabulary::units`).
    /// `inputs`: the half of the samples (by clean confidence) swept and confirmed on.
    Vocabulary {
        tokens: Vec<TokenFilter>,
        pairs: usize,
        budget: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        words: Option<PathBuf>,
        positions: Vec<TextPosition>,
        #[serde(default, skip_serializing_if = "SweepInputs::is_confident")]
        inputs: SweepInputs,
    },
    /// Tabular: set each feature to candidate values (quantiles, values beyond the data's range,
    /// magic numbers) with successive halving, then the `pairs` best features two at a time
    /// (`crate::modality::tabular::search`).
    FeatureSweep { pairs: usize, budget: u64 },
    /// Targeted HopSkipJump towards each class from `inputs` search inputs of other classes;
    /// the class whose perturbations concentrate on the fewest pixels (AEVA's adversarial peak)
    /// is confirmed (`crate::search::peak`).
    AdversarialPeak { inputs: usize, budget: u64 },
}

impl SearchSpec {
    /// The `method:` name users write.
    pub fn method(&self) -> &'static str {
        match self {
            Self::Patch { .. } => "patch",
            Self::ReverseEngineer { .. } => "reverse-engineer",
            Self::Vocabulary { .. } => "vocabulary",
            Self::FeatureSweep { .. } => "feature-sweep",
            Self::AdversarialPeak { .. } => "adversarial-peak",
        }
    }

    /// The modality whose inputs the search searches, from its registered method
    /// (`battery::validate::search`).
    pub fn modality(&self) -> Modality {
        crate::battery::validate::search::named(self.method()).map_or_else(
            || unreachable!("search method `{}` is not registered", self.method()),
            |method| method.modality,
        )
    }

    /// Model queries the search may spend.
    pub fn budget(&self) -> u64 {
        match self {
            Self::Patch { budget, .. }
            | Self::ReverseEngineer { budget, .. }
            | Self::Vocabulary { budget, .. }
            | Self::FeatureSweep { budget, .. }
            | Self::AdversarialPeak { budget, .. } => *budget,
        }
    }
}

/// Families of patch content a patch search tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SearchContent {
    /// Per-channel extremes: black and white for one channel, the 8 corners of the colour cube
    /// for three.
    Extremes,
    Checkerboard,
    /// Fixed seeded noise.
    Noise,
}

impl TransformSpec {
    /// The modality whose inputs this transform (or search) acts on, from its registered kind
    /// ([`crate::transform::registry`]) or search method.
    pub fn modality(&self) -> Modality {
        match (self, crate::transform::registry::of(self)) {
            (Self::Search(search), _) => search.modality(),
            // Every attack so far perturbs images.
            (Self::Attack(_), _) => Modality::Image,
            (_, Some(kind)) => kind.modality(),
            // Unreachable while every kind is registered (a test checks it).
            (transform, None) => unreachable!("transform kind `{}` is not registered", transform.kind()),
        }
    }

    /// The `kind:` name users write.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Patch { .. } => "patch",
            Self::Blend { .. } => "blend",
            Self::GaussianNoise { .. } => "gaussian-noise",
            Self::BrightnessContrast { .. } => "brightness-contrast",
            Self::Shift { .. } => "shift",
            Self::Rotate { .. } => "rotate",
            Self::Blur { .. } => "blur",
            Self::InsertText { .. } => "insert-text",
            Self::InsertToken { .. } => "insert-token",
            Self::Homoglyph { .. } => "homoglyph",
            Self::Invisible { .. } => "invisible",
            Self::Typo { .. } => "typo",
            Self::WordSwap { .. } => "word-swap",
            Self::SetFeature { .. } => "set-feature",
            Self::SetFeatures { .. } => "set-features",
            Self::FeatureNoise { .. } => "feature-noise",
            Self::Missing { .. } => "missing",
            Self::Search(SearchSpec::Vocabulary { .. }) => "search-vocabulary",
            Self::Search(SearchSpec::Patch { .. }) => "search-patch",
            Self::Search(SearchSpec::ReverseEngineer { .. }) => "search-reverse-engineer",
            Self::Search(SearchSpec::FeatureSweep { .. }) => "search-feature-sweep",
            Self::Search(SearchSpec::AdversarialPeak { .. }) => "search-adversarial-peak",
            Self::Attack(AttackSpec::Square { .. }) => "attack-square",
            Self::Attack(AttackSpec::HopSkipJump { .. }) => "attack-hopskipjump",
            Self::Attack(AttackSpec::DeepWordBug { .. }) => "attack-deepwordbug",
        }
    }
}
