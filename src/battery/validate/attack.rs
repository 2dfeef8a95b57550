//! `attack:` of an adversarial probe: the attack method and its parameters. The attacks
//! themselves live in [`crate::attack`]; this is their battery side (keys, defaults, ranges).

use super::super::diagnostics::{Code, Range};
use super::super::spec::{AttackSpec, Category, Epsilon, Modality};
use super::super::yaml::{Node, Spanned, position};
use super::{Checker, Fields};
use crate::attack::Norm;

/// The attack methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Square,
    HopSkipJump,
    DeepWordBug,
}

impl Method {
    /// The modality whose inputs the method perturbs.
    fn modality(self) -> Modality {
        match self {
            Self::Square | Self::HopSkipJump => Modality::Image,
            Self::DeepWordBug => Modality::Text,
        }
    }
}

const METHODS: &[(&str, Method)] =
    &[("square", Method::Square), ("hopskipjump", Method::HopSkipJump), ("deepwordbug", Method::DeepWordBug)];
/// Every attack method and the keys it accepts (the battery schema is checked against it).
pub(crate) const METHOD_KEYS: &[(&str, &[&str])] =
    &[("square", SQUARE_KEYS), ("hopskipjump", HOPSKIPJUMP_KEYS), ("deepwordbug", DEEPWORDBUG_KEYS)];
const SQUARE_KEYS: &[&str] = &["method", "norm", "epsilon", "epsilon-fraction", "queries", "targeted", "p-init"];
const HOPSKIPJUMP_KEYS: &[&str] =
    &["method", "norm", "epsilon", "epsilon-fraction", "queries", "targeted", "gradient-samples"];
const DEEPWORDBUG_KEYS: &[&str] = &["method", "edits", "queries", "targeted", "candidates"];
/// Character edits DeepWordBug tries per word unless a battery says otherwise: each is one of
/// the typo transform's four slips, so four covers them without spending many queries.
const DEFAULT_CANDIDATES: u64 = 4;
/// The most words a text attack may edit per input, and the most edits it may try per word.
const MAX_EDITS: u64 = 1_000;
const MAX_CANDIDATES: u64 = 64;
/// HopSkipJump's first gradient estimate, in samples (the paper's and ART's 100).
const DEFAULT_GRADIENT_SAMPLES: u64 = 100;
const NORMS: &[(&str, Norm)] = &[("linf", Norm::Linf), ("l2", Norm::L2)];
/// Queries per input unless a battery says otherwise (the paper reports median queries far
/// below this on undefended models).
const DEFAULT_QUERIES: u64 = 1_000;
/// The most queries per input a battery may ask for: beyond this an attack on a few hundred
/// inputs runs for hours on a CPU.
const MAX_QUERIES: u64 = 100_000;

impl Checker {
    pub(super) fn attack(
        &mut self,
        node: &Spanned<Node>,
        probe: &str,
        category: Option<Category>,
        modality: Option<Modality>,
    ) -> Option<AttackSpec> {
        let place = format!("attack of {probe}");
        let fields = self.fields(node, &format!("`attack` in {probe}"), place, false)?;
        let method_node = self.required(&fields, "method")?;
        let method = self.choice(method_node, &fields.label("method"), METHODS)?;
        let (name, keys) = METHOD_KEYS[METHODS.iter().position(|(_, m)| *m == method).expect("a listed method")];
        self.check_keys(&fields, keys);
        let mut fits = true;
        if category.is_some_and(|c| c != Category::Adversarial) {
            let message =
                format!("an attack in {probe} measures adversarial robustness, so it must be `category: adversarial`");
            self.report(
                Code::CategoryMismatch,
                position(method_node),
                message,
                Some("use category: adversarial".into()),
            );
            fits = false;
        }
        let wanted = method.modality();
        if let Some(battery) = modality.filter(|m| *m != wanted) {
            let message = format!(
                "the `{name}` attack in {probe} perturbs {} inputs, but the battery's modality is {}",
                wanted.name(),
                battery.name()
            );
            self.report(
                Code::CategoryMismatch,
                position(method_node),
                message,
                Some(format!("`{name}` needs `modality: {}`", wanted.name())),
            );
            fits = false;
        }
        let spec = match method {
            Method::DeepWordBug => self.deepwordbug(&fields),
            Method::Square | Method::HopSkipJump => self.image_attack(&fields, method),
        }?;
        fits.then_some(spec)
    }

    /// A text attack's keys: the edit budget (always written out, as `epsilon` is for an image
    /// attack), queries, aim and the edits tried per word.
    fn deepwordbug(&mut self, fields: &Fields<'_>) -> Option<AttackSpec> {
        let edits = match fields.get("edits") {
            Some(n) => self.integer(n, &fields.label("edits"), 0, MAX_EDITS).map(|v| v as u32),
            None => {
                let message = format!("missing key `edits` in {}", fields.place());
                let hint = Some("e.g. `edits: 3` (the most words given a character edit per input)".into());
                self.report(Code::MissingKey, fields.at(), message, hint);
                None
            }
        };
        let (queries, targeted) = self.budget_and_aim(fields);
        let candidates = match fields.get("candidates") {
            Some(n) => self.integer(n, &fields.label("candidates"), 1, MAX_CANDIDATES).map(|v| v as u32),
            None => Some(DEFAULT_CANDIDATES as u32),
        };
        Some(AttackSpec::DeepWordBug { edits: edits?, queries: queries?, targeted: targeted?, candidates: candidates? })
    }

    /// An image attack's keys (`method` is Square or HopSkipJump): norm, radius, queries, aim
    /// and the method's own tuning key.
    fn image_attack(&mut self, fields: &Fields<'_>, method: Method) -> Option<AttackSpec> {
        let square = method == Method::Square;
        let norm = match (fields.get("norm"), square) {
            (Some(n), true) => self.choice(n, &fields.label("norm"), NORMS),
            (None, true) => Some(Norm::Linf),
            // HopSkipJump's L∞ variant is not implemented: only `l2` is accepted.
            (Some(n), false) => match self.choice(n, &fields.label("norm"), NORMS)? {
                Norm::L2 => Some(Norm::L2),
                Norm::Linf => {
                    let message = format!("{} of `hopskipjump` must be l2, found `linf`", fields.label("norm"));
                    let hint = Some("use `norm: l2`, or `method: square` for an L∞ attack".into());
                    self.report(Code::BadValue, position(n), message, hint);
                    None
                }
            },
            (None, false) => Some(Norm::L2),
        };
        let non_negative = Range::new(0.0, false, f64::INFINITY, true);
        let epsilon = match (fields.get("epsilon"), fields.get("epsilon-fraction")) {
            (Some(n), None) => {
                self.number_in(n, &fields.label("epsilon"), non_negative).map(|v| Epsilon::Value(v as f32))
            }
            // An L∞ radius beyond the whole range changes nothing more; an L2 one spreads over
            // every value, so it may well exceed one range's width.
            (None, Some(n)) => {
                let range = match norm {
                    Some(Norm::Linf) => Range::new(0.0, false, 1.0, false),
                    _ => non_negative,
                };
                self.number_in(n, &fields.label("epsilon-fraction"), range).map(|v| Epsilon::Fraction(v as f32))
            }
            (Some(_), Some(_)) => {
                let at = fields.key_at("epsilon-fraction").unwrap_or(fields.at());
                let message = format!("{} has both `epsilon` and `epsilon-fraction`", fields.place());
                let hint = Some("give the radius once: in value units (`epsilon`) or as a share of the range".into());
                self.report(Code::BadValue, at, message, hint);
                None
            }
            (None, None) => {
                let message = format!("missing key `epsilon` (or `epsilon-fraction`) in {}", fields.place());
                let hint = Some("e.g. `epsilon: 0.03` (value units) or `epsilon-fraction: 0.05`".into());
                self.report(Code::MissingKey, fields.at(), message, hint);
                None
            }
        };
        let (queries, targeted) = self.budget_and_aim(fields);
        if square {
            // The paper's defaults: 0.05 of the image for L∞, 0.1 for L2.
            let p_init = match fields.get("p-init") {
                Some(n) => {
                    self.number_in(n, &fields.label("p-init"), Range::new(0.0, true, 1.0, true)).map(|v| v as f32)
                }
                None => norm.map(|n| if n == Norm::L2 { 0.1 } else { 0.05 }),
            };
            Some(AttackSpec::Square {
                norm: norm?,
                epsilon: epsilon?,
                queries: queries?,
                targeted: targeted?,
                p_init: p_init?,
            })
        } else {
            let gradient_samples = match fields.get("gradient-samples") {
                Some(n) => self.integer(n, &fields.label("gradient-samples"), 1, 10_000).map(|v| v as u32),
                None => Some(DEFAULT_GRADIENT_SAMPLES as u32),
            };
            norm?;
            Some(AttackSpec::HopSkipJump {
                epsilon: epsilon?,
                queries: queries?,
                targeted: targeted?,
                gradient_samples: gradient_samples?,
            })
        }
    }

    /// `queries` (default 1000) and `targeted` (default false), which every method takes.
    fn budget_and_aim(&mut self, fields: &Fields<'_>) -> (Option<u32>, Option<bool>) {
        let queries = match fields.get("queries") {
            Some(n) => self.integer(n, &fields.label("queries"), 1, MAX_QUERIES).map(|q| q as u32),
            None => Some(DEFAULT_QUERIES as u32),
        };
        let targeted = match fields.get("targeted") {
            Some(n) => match n.value {
                Node::Bool(b) => Some(b),
                _ => {
                    self.wrong_type(n, &fields.label("targeted"), "true or false");
                    None
                }
            },
            None => Some(false),
        };
        (queries, targeted)
    }
}
