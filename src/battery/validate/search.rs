//! `search:` of a probe: one [`SearchMethod`] descriptor per method, registered once in
//! [`METHODS`]. The search algorithms themselves live in `crate::search`; this is their battery
//! side (keys, defaults, ranges, and the modality each searches).

use super::super::diagnostics::{Code, Range};
use super::super::spec::{
    Category, Extent, Modality, SearchContent, SearchSpec, SweepInputs, TextPosition, TokenFilter,
};
use super::super::yaml::{Node, Spanned, position};
use super::{Checker, Fields, or_list, probe::with_article};

/// One search method: its `method:` name, the modality it searches, the keys it accepts, its
/// default query budget, and how the rest of its map is validated (given the checked budget).
pub(crate) struct SearchMethod {
    pub(crate) name: &'static str,
    pub(crate) modality: Modality,
    pub(crate) keys: &'static [&'static str],
    default_budget: u64,
    validate: fn(&mut Checker, &Fields<'_>, Option<u64>) -> Option<SearchSpec>,
}

/// Every search method, in the order messages list them.
pub(crate) const METHODS: &[SearchMethod] = &[
    SearchMethod {
        name: "patch",
        modality: Modality::Image,
        keys: &["method", "sizes", "stride", "contents", "budget"],
        // The default sweep fits in 200k queries.
        default_budget: 200_000,
        validate: patch,
    },
    SearchMethod {
        name: "reverse-engineer",
        modality: Modality::Image,
        keys: &["method", "budget", "directions", "sigma", "learning-rate"],
        // NES needs more queries per class.
        default_budget: 400_000,
        validate: reverse_engineer,
    },
    SearchMethod {
        name: "vocabulary",
        modality: Modality::Text,
        keys: &["method", "tokens", "pairs", "budget", "words", "positions", "inputs"],
        // A sweep of a 30k-token WordPiece vocabulary with successive halving and 8 pairs.
        default_budget: 400_000,
        validate: vocabulary,
    },
    SearchMethod {
        name: "feature-sweep",
        modality: Modality::Tabular,
        keys: &["method", "pairs", "budget"],
        // Single features of a few dozen columns over a few hundred rows, with 8 features paired.
        default_budget: 200_000,
        validate: feature_sweep,
    },
    SearchMethod {
        name: "adversarial-peak",
        modality: Modality::Image,
        keys: &["method", "inputs", "budget"],
        // 10 classes x 8 inputs x 1,250 queries: a minute or two for a small CNN on 2 cores.
        default_budget: 100_000,
        validate: adversarial_peak,
    },
];

/// The method named `name` in battery files.
pub(crate) fn named(name: &str) -> Option<&'static SearchMethod> {
    METHODS.iter().find(|method| method.name == name)
}

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
/// Places the vocabulary sweep inserts tokens at: `random` (the word boundary drawn per input,
/// always searched) and, when listed, `start` and `end` (each costs a token-by-token screen).
const SEARCH_POSITIONS: &[(&str, TextPosition)] =
    &[("random", TextPosition::Random), ("start", TextPosition::Start), ("end", TextPosition::End)];
/// The half of a probe's samples the vocabulary sweep searches and confirms on.
const SWEEP_INPUTS: &[(&str, SweepInputs)] =
    &[("confident", SweepInputs::Confident), ("uncertain", SweepInputs::Uncertain)];
/// The vocabulary sweep's default and largest number of best tokens tried two at a time
/// (`pairs` tokens make `pairs * (pairs - 1) / 2` pairs: 28 by default, 2016 at most).
const VOCABULARY_PAIRS: u64 = 8;
const MAX_VOCABULARY_PAIRS: u64 = 64;

impl Checker {
    pub(super) fn search(
        &mut self,
        node: &Spanned<Node>,
        probe: &str,
        category: Option<Category>,
        modality: Option<Modality>,
    ) -> Option<SearchSpec> {
        let place = format!("search of {probe}");
        let fields = self.fields(node, &format!("`search` in {probe}"), place, false)?;
        let methods: Vec<(&str, Modality, &SearchMethod)> = METHODS.iter().map(|m| (m.name, m.modality, m)).collect();
        let method_node = self.required(&fields, "method")?;
        let method = self.modal_choice(method_node, &fields.label("method"), &methods, modality)?;
        self.check_keys(&fields, method.keys);
        let mut fits = true;
        if category == Some(Category::Robustness) {
            let message = format!("a search in {probe} looks for triggers, so it must be `category: trigger`");
            self.report(Code::CategoryMismatch, position(method_node), message, Some("use category: trigger".into()));
            fits = false;
        }
        if let Some(battery) = modality.filter(|m| *m != method.modality) {
            let (theirs, ours) = (method.modality.name(), battery.name());
            let message = format!(
                "the `{}` search in {probe} searches {theirs} inputs, but the battery's modality is {ours}",
                method.name
            );
            let fitting: Vec<&str> = METHODS.iter().filter(|m| m.modality == battery).map(|m| m.name).collect();
            let hint = Some(format!(
                "`{}` needs `modality: {theirs}`; {} battery searches with method {}",
                method.name,
                with_article(battery),
                or_list(&fitting)
            ));
            self.report(Code::CategoryMismatch, position(method_node), message, hint);
            fits = false;
        }
        let budget = match fields.get("budget") {
            Some(n) => self.integer(n, &fields.label("budget"), 1_000, u64::MAX),
            None => Some(method.default_budget),
        };
        (method.validate)(self, &fields, budget).filter(|_| fits)
    }

    /// A non-empty list of token filters, each named once.
    fn token_filters(&mut self, node: &Spanned<Node>, label: &str) -> Option<Vec<TokenFilter>> {
        self.choice_list(node, label, TOKEN_FILTERS, "token filters")
    }

    /// A non-empty list of `options` (called `noun` in messages), each named once.
    fn choice_list<T: Copy + PartialEq>(
        &mut self,
        node: &Spanned<Node>,
        label: &str,
        options: &[(&str, T)],
        noun: &str,
    ) -> Option<Vec<T>> {
        let names = options.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        let Node::Seq(items) = &node.value else {
            self.wrong_type(node, label, &format!("a non-empty list of {noun} ({names})"));
            return None;
        };
        if items.is_empty() {
            let message = format!("{label} must list at least one of {names}");
            self.report(Code::BadValue, position(node), message, None);
            return None;
        }
        let mut chosen = Vec::with_capacity(items.len());
        let mut ok = true;
        for item in items {
            match self.choice(item, label, options) {
                Some(value) if chosen.contains(&value) => {
                    let name = options.iter().find(|(_, v)| *v == value).map_or("", |(n, _)| *n);
                    self.report(Code::BadValue, position(item), format!("{label} lists `{name}` twice"), None);
                    ok = false;
                }
                Some(value) => chosen.push(value),
                None => ok = false,
            }
        }
        ok.then_some(chosen)
    }
}

fn vocabulary(c: &mut Checker, fields: &Fields<'_>, budget: Option<u64>) -> Option<SearchSpec> {
    let tokens = match fields.get("tokens") {
        Some(n) => c.token_filters(n, &fields.label("tokens")),
        None => Some(vec![TokenFilter::WholeWords, TokenFilter::SubWords]),
    };
    let pairs = match fields.get("pairs") {
        Some(n) => c.integer(n, &fields.label("pairs"), 0, MAX_VOCABULARY_PAIRS).map(|p| p as usize),
        None => Some(VOCABULARY_PAIRS as usize),
    };
    let words = match fields.get("words") {
        Some(n) => c.battery_file(n, &fields.label("words"), "the vocabulary sweep", "word list").map(Some),
        None => Some(None),
    };
    let positions = match fields.get("positions") {
        Some(n) => c.choice_list(n, &fields.label("positions"), SEARCH_POSITIONS, "positions"),
        None => Some(vec![TextPosition::Random]),
    };
    let inputs = match fields.get("inputs") {
        Some(n) => c.choice(n, &fields.label("inputs"), SWEEP_INPUTS),
        None => Some(SweepInputs::Confident),
    };
    Some(SearchSpec::Vocabulary {
        tokens: tokens?,
        pairs: pairs?,
        budget: budget?,
        words: words?,
        positions: positions?,
        inputs: inputs?,
    })
}

/// The feature sweep's default and largest number of best features tried two at a time.
const SWEEP_PAIRS: u64 = 8;
const MAX_SWEEP_PAIRS: u64 = 64;

fn feature_sweep(c: &mut Checker, fields: &Fields<'_>, budget: Option<u64>) -> Option<SearchSpec> {
    let pairs = match fields.get("pairs") {
        Some(n) => c.integer(n, &fields.label("pairs"), 0, MAX_SWEEP_PAIRS).map(|p| p as usize),
        None => Some(SWEEP_PAIRS as usize),
    };
    Some(SearchSpec::FeatureSweep { pairs: pairs?, budget: budget? })
}

/// Inputs the adversarial-peak search attacks towards each class by default (about one per
/// other class of a 10-class model) and at most.
const PEAK_INPUTS: u64 = 8;
const MAX_PEAK_INPUTS: u64 = 1_000;

fn adversarial_peak(c: &mut Checker, fields: &Fields<'_>, budget: Option<u64>) -> Option<SearchSpec> {
    let inputs = match fields.get("inputs") {
        Some(n) => c.integer(n, &fields.label("inputs"), 1, MAX_PEAK_INPUTS).map(|v| v as usize),
        None => Some(PEAK_INPUTS as usize),
    };
    Some(SearchSpec::AdversarialPeak { inputs: inputs?, budget: budget? })
}

fn patch(c: &mut Checker, fields: &Fields<'_>, budget: Option<u64>) -> Option<SearchSpec> {
    let sizes = match fields.get("sizes") {
        Some(n) => match &n.value {
            Node::Seq(items) if !items.is_empty() => {
                let label = fields.label("sizes");
                let sizes: Vec<Option<Extent>> = items.iter().map(|i| c.extent(i, &label)).collect();
                sizes.into_iter().collect()
            }
            _ => {
                c.wrong_type(n, &fields.label("sizes"), "a non-empty list of sizes");
                None
            }
        },
        None => Some(vec![Extent::Fraction(0.125), Extent::Fraction(0.25)]),
    };
    let stride = match fields.get("stride") {
        Some(n) => c.u32_at_least(n, &fields.label("stride"), 1),
        None => Some(1),
    };
    let contents = match fields.get("contents") {
        Some(n) => match &n.value {
            Node::Seq(items) if !items.is_empty() => {
                let label = fields.label("contents");
                let contents: Vec<Option<SearchContent>> =
                    items.iter().map(|i| c.choice(i, &label, SEARCH_CONTENTS)).collect();
                contents.into_iter().collect()
            }
            _ => {
                c.wrong_type(n, &fields.label("contents"), "a non-empty list of contents");
                None
            }
        },
        None => Some(vec![SearchContent::Extremes, SearchContent::Checkerboard, SearchContent::Noise]),
    };
    Some(SearchSpec::Patch { sizes: sizes?, stride: stride?, contents: contents?, budget: budget? })
}

fn reverse_engineer(c: &mut Checker, fields: &Fields<'_>, budget: Option<u64>) -> Option<SearchSpec> {
    let directions = match fields.get("directions") {
        Some(n) => c.integer(n, &fields.label("directions"), 1, 1_000).map(|d| d as u32),
        None => Some(10),
    };
    let positive = Range::new(0.0, true, 10.0, false);
    let sigma = match fields.get("sigma") {
        Some(n) => c.number_in(n, &fields.label("sigma"), positive).map(|v| v as f32),
        None => Some(0.5),
    };
    let learning_rate = match fields.get("learning-rate") {
        Some(n) => c.number_in(n, &fields.label("learning-rate"), positive).map(|v| v as f32),
        None => Some(0.1),
    };
    Some(SearchSpec::ReverseEngineer {
        budget: budget?,
        directions: directions?,
        sigma: sigma?,
        learning_rate: learning_rate?,
    })
}
