//! A span-preserving YAML tree: the raw, unvalidated form of a battery file.
//!
//! serde-saphyr attaches a source [`Location`] to any value deserialized as [`Spanned`]. [`Node`]
//! deserializes itself through `deserialize_any` and wraps every child and every mapping key in
//! `Spanned`, so each scalar, list, map and key in the tree knows its line and column. Mapping
//! keys keep their order, and nothing is interpreted beyond YAML's own scalar types: deciding
//! what a key means is `validate/`'s job.
//!
//! (Untagged or internally tagged serde enums would lose the spans; serde buffers them through
//! its own content type. Hence the hand-written visitor.)

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
pub use serde_saphyr::Spanned;

/// A YAML value with located children.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    /// Wide enough for every `i64` and every `u64` (seeds use the full `u64` range).
    Int(i128),
    Float(f64),
    String(String),
    Seq(Vec<Spanned<Node>>),
    /// Entries in file order.
    Map(Vec<(Spanned<Key>, Spanned<Node>)>),
}

impl Node {
    /// What users call this kind of value, with an article: "a string", "a map", ...
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "nothing (null)",
            Self::Bool(_) => "a boolean",
            Self::Int(_) => "an integer",
            Self::Float(_) => "a decimal number",
            Self::String(_) => "a string",
            Self::Seq(_) => "a list",
            Self::Map(_) => "a map",
        }
    }
}

/// A mapping key, as text. Battery keys are strings; a key YAML reads as another scalar (`1:`,
/// `true:`) is kept as its text so that it can be reported as an unknown key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(pub String);

/// Where a located value is defined: for a value reached through an alias, the anchored original,
/// which is where a fix has to be made.
pub fn position<T>(spanned: &Spanned<T>) -> (u32, u32) {
    let at = spanned.defined;
    (clamp(at.line()), clamp(at.column()))
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The value at `path` (map keys; list positions as numbers) under `root`, if there is one.
pub fn locate<'a>(root: &'a Spanned<Node>, path: &[String]) -> Option<&'a Spanned<Node>> {
    let mut node = root;
    for step in path {
        node = match &node.value {
            Node::Map(entries) => entries.iter().find(|(k, _)| k.value.0 == *step).map(|(_, v)| v)?,
            Node::Seq(items) => items.get(step.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

/// Why a text is not a YAML document we can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub line: u32,
    pub column: u32,
}

/// Parses one YAML document. An empty document is [`Node::Null`].
pub fn parse(text: &str) -> Result<Spanned<Node>, SyntaxError> {
    let options = serde_saphyr::options! {
        with_snippet: false,
        // Only `true`/`false` are booleans: with YAML 1.1 rules a key `n:` or a value `no` would
        // silently turn into `false`.
        strict_booleans: true,
    };
    serde_saphyr::from_str_with_options::<Spanned<Node>>(text, options).map_err(|e| {
        let (line, column) = e.location().map(|l| (clamp(l.line()), clamp(l.column()))).unwrap_or((1, 1));
        let message = budget_breach(&e).map_or_else(|| strip_location(&e.to_string()), budget_message);
        SyntaxError { message, line, column }
    })
}

/// The safety limit the parser stopped at, if that is why it stopped. Alias errors and
/// snippets wrap the original error; the breach is inside.
fn budget_breach(error: &serde_saphyr::Error) -> Option<&serde_saphyr::budget::BudgetBreach> {
    let mut error = error;
    loop {
        match error {
            serde_saphyr::Error::Budget { breach, .. } => return Some(breach),
            serde_saphyr::Error::AliasError { error: inner, .. }
            | serde_saphyr::Error::WithSnippet { error: inner, .. } => error = inner,
            _ => return None,
        }
    }
}

/// A readable sentence for a tripped parser limit (serde-saphyr's own text is the `Debug` form
/// of the breach followed by a multi-line budget report, which a diagnostic cannot show). The
/// limits are serde-saphyr's defaults ([`serde_saphyr::Budget::default`]); no battery comes
/// near them.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    let limit = serde_saphyr::Budget::default();
    let expansion = "the file expands (through anchors `&` and aliases `*`) to";
    let fix =
        "an alias bomb? A battery needs a few hundred values at most: write its probes out instead of nesting aliases";
    match breach {
        B::Nodes { .. } => {
            format!("{expansion} more than {} values ({fix})", thousands(limit.max_nodes))
        }
        B::Events { .. } => {
            format!("{expansion} more than {} parser events ({fix})", thousands(limit.max_events))
        }
        B::Aliases { .. } => {
            format!("the file uses more than {} aliases (`*name`) ({fix})", thousands(limit.max_aliases))
        }
        B::AliasAnchorRatio { aliases, anchors } => format!(
            "the file uses {} aliases for {} anchors, more than {} per anchor ({fix})",
            thousands(*aliases),
            thousands(*anchors),
            limit.alias_anchor_ratio_multiplier
        ),
        B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
            format!("{expansion} more than the parser keeps for anchors ({fix})")
        }
        B::Depth { .. } => format!("the file nests lists and maps more than {} deep; flatten it", limit.max_depth),
        B::Documents { .. } => {
            format!("the file holds more than {} YAML documents; a battery is one document", limit.max_documents)
        }
        B::Anchors { .. } => {
            format!("the file defines more than {} anchors (`&name`) ({fix})", thousands(limit.max_anchors))
        }
        other => format!("the file exceeds a YAML parser safety limit ({other:?}); is it a battery file?"),
    }
}

/// `250000` as `250,000`.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// serde-saphyr ends its messages with " at line L, column C"; the diagnostic carries the
/// location on its own line, so it is dropped from the message.
fn strip_location(message: &str) -> String {
    let message = message.lines().next().unwrap_or(message);
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(", column ") => message[..i].to_string(),
        _ => message.to_string(),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(i128::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Int(i128::from(v)))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        i128::try_from(v).map(Node::Int).map_err(|_| E::custom("integer too large"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::String(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Node::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a plain mapping key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        Ok(Key(v.to_string()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Key, E> {
        Ok(Key("~".to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(node: &Spanned<Node>) -> &[(Spanned<Key>, Spanned<Node>)] {
        match &node.value {
            Node::Map(entries) => entries,
            other => panic!("expected a map, got {other:?}"),
        }
    }

    fn seq(node: &Spanned<Node>) -> &[Spanned<Node>] {
        match &node.value {
            Node::Seq(items) => items,
            other => panic!("expected a list, got {other:?}"),
        }
    }

    #[test]
    fn every_key_and_value_knows_its_line_and_column() {
        let text = "schema: probity/battery/v1\nprobes:\n  - id: a-b\n    transform: {kind: patch, size: 2}\n";
        let root = parse(text).unwrap();
        assert_eq!(position(&root), (1, 1));
        let top = map(&root);
        assert_eq!(top[0].0.value.0, "schema");
        assert_eq!(position(&top[0].0), (1, 1));
        assert_eq!(top[0].1.value, Node::String("probity/battery/v1".into()));
        assert_eq!(position(&top[0].1), (1, 9));
        assert_eq!(position(&top[1].0), (2, 1));

        let probes = seq(&top[1].1);
        let probe = map(&probes[0]);
        assert_eq!(position(&probes[0]), (3, 5));
        assert_eq!((probe[0].0.value.0.as_str(), position(&probe[0].1)), ("id", (3, 9)));
        let transform = map(&probe[1].1);
        assert_eq!(position(&probe[1].1), (4, 16));
        assert_eq!(transform[1].0.value.0, "size");
        assert_eq!(position(&transform[1].0), (4, 30));
        assert_eq!(transform[1].1.value, Node::Int(2));
        assert_eq!(position(&transform[1].1), (4, 36));
    }

    #[test]
    fn keys_keep_file_order() {
        let root = parse("zeta: 1\nalpha: 2\nmid: 3\n").unwrap();
        let keys: Vec<&str> = map(&root).iter().map(|(k, _)| k.value.0.as_str()).collect();
        assert_eq!(keys, ["zeta", "alpha", "mid"]);
    }

    #[test]
    fn scalars_keep_their_yaml_types() {
        let root = parse("a: 1\nb: 0.5\nc: \"1\"\nd: true\ne: ~\nf:\ng: 18446744073709551615\nh: -3\ni: no\n").unwrap();
        let values: Vec<&Node> = map(&root).iter().map(|(_, v)| &v.value).collect();
        assert_eq!(
            values,
            [
                &Node::Int(1),
                &Node::Float(0.5),
                &Node::String("1".into()),
                &Node::Bool(true),
                &Node::Null,
                &Node::Null,
                &Node::Int(u64::MAX.into()),
                &Node::Int(-3),
                &Node::String("no".into()),
            ]
        );
    }

    #[test]
    fn yaml_1_1_booleans_stay_keys() {
        let root = parse("n: 1\ny: 2\n").unwrap();
        let keys: Vec<&str> = map(&root).iter().map(|(k, _)| k.value.0.as_str()).collect();
        assert_eq!(keys, ["n", "y"]);
    }

    #[test]
    fn values_reached_through_an_alias_point_at_the_anchor() {
        let root = parse("a: &x\n  k: 1\nb: *x\n").unwrap();
        let b = map(&map(&root)[1].1);
        assert_eq!(position(&b[0].1), (2, 6));
    }

    #[test]
    fn empty_document_is_null() {
        assert_eq!(parse("").unwrap().value, Node::Null);
        assert_eq!(parse("# only a comment\n").unwrap().value, Node::Null);
    }

    #[test]
    fn syntax_errors_carry_a_location_and_a_bare_message() {
        let e = parse("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 2));
        assert!(!e.message.contains("at line"), "{}", e.message);

        let e = parse("a: 1\na: 2\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 1));
        assert!(e.message.contains("duplicate"), "{}", e.message);
    }

    #[test]
    fn limits_are_written_with_thousands_separators() {
        assert_eq!(thousands(250_000), "250,000");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(thousands(64), "64");
        assert_eq!(thousands(100), "100");
    }
}
