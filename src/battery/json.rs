//! Where a value stands in a JSON text, for diagnostics about files that serde_json parsed
//! (which keeps no positions): a light scan that follows a path of keys and list positions and
//! returns the 1-based line and column (in characters) of the value at its end. It assumes the
//! text is valid JSON (it was parsed first) and returns `None` rather than guess otherwise.

/// The position of the value at `path` (object keys; list positions as numbers) in `text`.
pub fn position(text: &str, path: &[String]) -> Option<(u32, u32)> {
    let bytes = text.as_bytes();
    let mut at = skip_whitespace(bytes, 0);
    for step in path {
        at = match bytes.get(at)? {
            b'{' => member(text, at, step)?,
            b'[' => element(bytes, at, step.parse().ok()?)?,
            _ => return None,
        };
    }
    Some(line_column(text, at))
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(|b| b.is_ascii_whitespace()) {
        at += 1;
    }
    at
}

/// From the opening quote to just after the closing one.
fn skip_string(bytes: &[u8], mut at: usize) -> Option<usize> {
    at += 1;
    loop {
        match bytes.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' => at += 2,
            _ => at += 1,
        }
    }
}

/// From a value's first byte to just after it.
fn skip_value(bytes: &[u8], mut at: usize) -> Option<usize> {
    match bytes.get(at)? {
        b'"' => skip_string(bytes, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match bytes.get(at)? {
                    b'"' => {
                        at = skip_string(bytes, at)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(at + 1);
                        }
                    }
                    _ => {}
                }
                at += 1;
            }
        }
        _ => {
            while bytes.get(at).is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace()) {
                at += 1;
            }
            Some(at)
        }
    }
}

/// The start of the value of `key` in the object opening at `at`.
fn member(text: &str, mut at: usize, key: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    at += 1;
    loop {
        at = skip_whitespace(bytes, at);
        if bytes.get(at)? != &b'"' {
            return None;
        }
        let end = skip_string(bytes, at)?;
        let name: String = serde_json::from_str(text.get(at..end)?).ok()?;
        at = skip_whitespace(bytes, end);
        if bytes.get(at)? != &b':' {
            return None;
        }
        at = skip_whitespace(bytes, at + 1);
        if name == key {
            return Some(at);
        }
        at = skip_whitespace(bytes, skip_value(bytes, at)?);
        match bytes.get(at)? {
            b',' => at += 1,
            _ => return None,
        }
    }
}

/// The start of element `index` of the list opening at `at`.
fn element(bytes: &[u8], mut at: usize, index: usize) -> Option<usize> {
    at = skip_whitespace(bytes, at + 1);
    for _ in 0..index {
        if bytes.get(at)? == &b']' {
            return None;
        }
        at = skip_whitespace(bytes, skip_value(bytes, at)?);
        match bytes.get(at)? {
            b',' => at = skip_whitespace(bytes, at + 1),
            _ => return None,
        }
    }
    (bytes.get(at)? != &b']').then_some(at)
}

fn line_column(text: &str, at: usize) -> (u32, u32) {
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(column).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str, path: &[&str]) -> Option<(u32, u32)> {
        position(text, &path.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn finds_values_through_keys_and_list_positions() {
        let text = "{\n  \"a\": {\"x\": [1, {\"b\": \"}]\"}, 3.5]},\n  \"c\\u0021\": [ [], null ]\n}";
        assert_eq!(at(text, &[]), Some((1, 1)));
        assert_eq!(at(text, &["a"]), Some((2, 8)));
        assert_eq!(at(text, &["a", "x", "0"]), Some((2, 15)));
        assert_eq!(at(text, &["a", "x", "2"]), Some((2, 31)));
        assert_eq!(at(text, &["c!", "1"]), Some((3, 20)));
        assert_eq!(at(text, &["a", "x", "3"]), None);
        assert_eq!(at(text, &["missing"]), None);
        assert_eq!(at(text, &["a", "x", "1", "b", "deeper"]), None);
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        assert_eq!(at("{\"é\": 1, \"k\": 2}", &["k"]), Some((1, 15)));
    }
}
