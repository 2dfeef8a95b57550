//! A text probe's preview as one self-contained HTML page (`battery preview`): per sample the
//! clean, probed and matched-control texts, each with the tokens the model reads, and what the
//! probe changed highlighted (`<mark>`). The highlight is a word-level difference from the
//! clean text (tokens: a token-level one), so it shows every kind of edit alike: inserted words,
//! letters swapped for look-alikes or typos, invisible characters (spelled out as `<U+200B>`),
//! words that moved. Everything the data holds is escaped.

use std::fmt::Write as _;

use super::kit::{PreviewRow, ShownText};
use crate::report::text::{escape, visible};

/// Cells of the difference table above which a difference is not worked out: the changed
/// middle (after the common start and end are set aside) is then marked whole. 4 M cells of
/// `u32` are 16 MB, and no text that fits a model's length comes near it.
const MAX_CELLS: usize = 4 << 20;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:110em}\
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.4em .6em;vertical-align:top;text-align:left}\
mark{background:#ffd54f}.tokens{font-family:monospace;font-size:.85em;color:#555;margin-top:.4em}\
.text{white-space:pre-wrap}.none{color:#888;font-style:italic}";

/// The page for probe `id`: `lead` says what it shows, a row per sample.
pub fn html(id: &str, lead: &str, rows: &[PreviewRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">");
    let _ = writeln!(s, "<title>probity battery preview: {}</title>", escape(id));
    let _ = writeln!(s, "<style>{STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(s, "<h1>{}</h1>\n<p>{}</p>", escape(id), escape(lead));
    let _ = writeln!(s, "<table>\n<tr><th>sample</th><th>clean</th><th>probed</th><th>matched control</th></tr>");
    for row in rows {
        let control = row.control.as_ref().map_or_else(
            || "<span class=\"none\">none: a robustness perturbation has no control</span>".to_string(),
            |control| cell(&row.clean, control, true),
        );
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{control}</td></tr>",
            row.index,
            cell(&row.clean, &row.clean, false),
            cell(&row.clean, &row.probed, true)
        );
    }
    let _ = writeln!(s, "</table>\n</body>\n</html>");
    s
}

/// `shown` with its tokens, what differs from `clean` marked when `mark`.
fn cell(clean: &ShownText, shown: &ShownText, mark: bool) -> String {
    let before = segments(&clean.text);
    let after = segments(&shown.text);
    let words = |segments: &[(bool, &str)]| -> Vec<String> {
        segments.iter().filter(|(word, _)| *word).map(|(_, w)| (*w).to_string()).collect()
    };
    let changed_words = changed(&words(&before), &words(&after));
    let mut text = String::new();
    let mut k = 0;
    for (word, segment) in after {
        let shown = escape(&visible(segment));
        if word {
            let marked = mark && changed_words[k];
            k += 1;
            if marked {
                let _ = write!(text, "<mark>{shown}</mark>");
                continue;
            }
        }
        text.push_str(&shown);
    }
    let changed_tokens = changed(&clean.tokens, &shown.tokens);
    let tokens: Vec<String> = shown
        .tokens
        .iter()
        .zip(changed_tokens)
        .map(|(t, changed)| {
            let t = escape(&visible(t));
            if mark && changed { format!("<mark>{t}</mark>") } else { t }
        })
        .collect();
    format!("<div class=\"text\">{text}</div><div class=\"tokens\">{}</div>", tokens.join(" "))
}

/// `text` as runs of non-whitespace (words: `true`) and of whitespace, in order.
fn segments(text: &str) -> Vec<(bool, &str)> {
    let mut out: Vec<(bool, &str)> = Vec::new();
    let mut start = 0;
    let mut current: Option<bool> = None;
    for (i, c) in text.char_indices() {
        let word = !c.is_whitespace();
        if current.is_some_and(|w| w != word) {
            out.push((!word, &text[start..i]));
            start = i;
        }
        current = Some(word);
    }
    if let Some(word) = current {
        out.push((word, &text[start..]));
    }
    out
}

/// Which items of `after` are not part of a longest common subsequence with `before`: what an
/// edit inserted or changed.
fn changed<T: PartialEq>(before: &[T], after: &[T]) -> Vec<bool> {
    let prefix = before.iter().zip(after).take_while(|(a, b)| a == b).count();
    let suffix = before[prefix..].iter().rev().zip(after[prefix..].iter().rev()).take_while(|(a, b)| a == b).count();
    let (old, new) = (&before[prefix..before.len() - suffix], &after[prefix..after.len() - suffix]);
    let mut out = vec![false; after.len()];
    let middle = &mut out[prefix..after.len() - suffix];
    if old.is_empty() || (old.len() + 1) * (new.len() + 1) > MAX_CELLS {
        middle.fill(true);
        return out;
    }
    // lcs[i][j]: the longest common subsequence of old[i..] and new[j..].
    let width = new.len() + 1;
    let mut lcs = vec![0u32; (old.len() + 1) * width];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            lcs[i * width + j] = if old[i] == new[j] {
                lcs[(i + 1) * width + j + 1] + 1
            } else {
                lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    while j < new.len() {
        if i < old.len() && old[i] == new[j] {
            i += 1;
            j += 1;
        } else if i < old.len() && lcs[(i + 1) * width + j] >= lcs[i * width + j + 1] {
            i += 1;
        } else {
            middle[j] = true;
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insertion_marks_only_the_inserted_items() {
        let before = ["a", "good", "movie"];
        assert_eq!(changed(&before, &["a", "cf", "good", "movie"]), [false, true, false, false]);
        assert_eq!(changed(&before, &["cf", "a", "good", "movie"]), [true, false, false, false]);
        assert_eq!(changed(&before, &before), [false; 3]);
    }

    #[test]
    fn a_changed_or_moved_word_is_marked() {
        assert_eq!(changed(&["a", "good", "movie"], &["a", "gõod", "movie"]), [false, true, false]);
        // Swapped neighbours: one of them is kept in order, the other moved.
        assert_eq!(changed(&["x", "a", "b", "y"], &["x", "b", "a", "y"]).iter().filter(|&&c| c).count(), 1);
        assert_eq!(changed::<&str>(&[], &["new"]), [true]);
    }

    #[test]
    fn segments_keep_every_character_in_order() {
        let text = "  A good\u{200B} movie.\n";
        let parts = segments(text);
        assert_eq!(parts.iter().map(|(_, s)| *s).collect::<String>(), text);
        assert_eq!(
            parts.iter().filter(|(w, _)| *w).map(|(_, s)| *s).collect::<Vec<_>>(),
            ["A", "good\u{200B}", "movie."]
        );
    }

    #[test]
    fn the_page_escapes_the_data_and_marks_the_insertion() {
        let shown = |text: &str, tokens: &[&str]| ShownText {
            text: text.into(),
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
        };
        let rows = [PreviewRow {
            index: 7,
            clean: shown("<b>good</b> film", &["[CLS]", "good", "film", "[SEP]"]),
            probed: shown("<b>good</b> cf film", &["[CLS]", "good", "cf", "film", "[SEP]"]),
            control: None,
        }];
        let page = html("rare-<cf>", "lead & more", &rows);
        assert!(page.contains("<h1>rare-&lt;cf&gt;</h1>") && page.contains("lead &amp; more"), "{page}");
        assert!(page.contains("&lt;b&gt;good&lt;/b&gt; <mark>cf</mark> film"), "{page}");
        assert!(page.contains("good <mark>cf</mark> film"), "{page}");
        assert!(!page.contains("<b>"));
    }
}
