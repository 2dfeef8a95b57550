//! Model paths in a suite file may be globs (`models/*.onnx`): `*` matches any run of
//! characters within one path component, `?` one character. Names starting with `.` match only
//! a pattern component that starts with `.` too, as in a shell. Matches are sorted, so a suite
//! lists its models in the same order on every machine.

use std::path::{Path, PathBuf};

/// Whether `pattern` holds a wildcard.
pub fn is_pattern(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

/// The files `pattern` matches, relative to `base` unless absolute: each as written in the
/// suite's terms (`models/a.onnx` for `models/*.onnx`) and as a path on this machine, sorted by
/// the written form.
pub fn expand(base: &Path, pattern: &str) -> Vec<(String, PathBuf)> {
    let absolute = pattern.starts_with('/');
    let start = if absolute { (String::from("/"), PathBuf::from("/")) } else { (String::new(), base.to_path_buf()) };
    let mut found = vec![start];
    for component in pattern.split('/').filter(|c| !c.is_empty()) {
        let mut next = Vec::new();
        for (written, path) in &found {
            let join = |name: &str| {
                let sep = if written.is_empty() || written.ends_with('/') { "" } else { "/" };
                (format!("{written}{sep}{name}"), path.join(name))
            };
            if !is_pattern(component) {
                next.push(join(component));
                continue;
            }
            let Ok(entries) = std::fs::read_dir(path) else { continue };
            let mut names: Vec<String> = entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| !name.starts_with('.') || component.starts_with('.'))
                .filter(|name| matches(component, name))
                .collect();
            names.sort();
            next.extend(names.iter().map(|name| join(name)));
        }
        found = next;
    }
    found.retain(|(_, path)| path.is_file());
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// Whether `name` matches the one-component `pattern` (`*` any run, `?` one character).
fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matching with one backtrack point: the last `*` and where its run ends.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks_match_within_a_component() {
        assert!(matches("*.onnx", "a.onnx"));
        assert!(matches("*.onnx", ".onnx"));
        assert!(matches("clean-*-s?.onnx", "clean-mlp64-s1.onnx"));
        assert!(!matches("clean-*-s?.onnx", "clean-mlp64-s12.onnx"));
        assert!(matches("*a*b*", "xxaxxbxx"));
        assert!(!matches("*a*b", "xxaxxbxx"));
        assert!(matches("abc", "abc"));
        assert!(!matches("abc", "abcd"));
    }

    #[test]
    fn expands_to_sorted_files_written_in_the_suites_terms() {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("models");
        std::fs::create_dir_all(models.join("sub.onnx")).unwrap();
        for name in ["b.onnx", "a.onnx", ".hidden.onnx", "c.txt"] {
            std::fs::write(models.join(name), b"").unwrap();
        }
        let found = expand(dir.path(), "models/*.onnx");
        let written: Vec<&str> = found.iter().map(|(w, _)| w.as_str()).collect();
        assert_eq!(written, ["models/a.onnx", "models/b.onnx"], "sorted, no folders, no hidden files");
        assert_eq!(found[0].1, models.join("a.onnx"));
        assert_eq!(expand(dir.path(), "models/a.onnx").len(), 1, "a plain path is itself");
        assert!(expand(dir.path(), "models/*.pt").is_empty());
        let absolute = format!("{}/*.onnx", models.display());
        assert_eq!(expand(Path::new("elsewhere"), &absolute)[0].0, format!("{}/a.onnx", models.display()));
    }
}
