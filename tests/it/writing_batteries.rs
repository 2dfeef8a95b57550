//! `docs/writing-batteries.md` runs as written (issue 19): every fenced block marked `sh test` is
//! a list of `probity ...` commands (a trailing `> FILE` redirects stdout), run in order in a
//! fresh folder that sees the repository's `tests/` and `batteries/` as the tutorial does from the
//! repository root. Each must exit 0; the files the tutorial promises must be there.

use crate::common;

use std::path::{Path, PathBuf};

/// The tutorial's tested commands, in order: the words after `probity`, and the redirect target.
fn commands(markdown: &str) -> Vec<(Vec<String>, Option<String>)> {
    let mut commands = Vec::new();
    let mut in_block = false;
    for line in markdown.lines() {
        let fence = line.trim_start().strip_prefix("```");
        match (in_block, fence) {
            (false, Some(info)) => in_block = info.split_whitespace().collect::<Vec<_>>() == ["sh", "test"],
            (true, Some(_)) => in_block = false,
            (true, None) if !line.trim().is_empty() => {
                let (command, redirect) = match line.split_once(" > ") {
                    Some((command, file)) => (command, Some(file.trim().to_string())),
                    None => (line, None),
                };
                let words: Vec<String> = command.split_whitespace().map(String::from).collect();
                assert_eq!(words.first().map(String::as_str), Some("probity"), "not a probity command: {line}");
                commands.push((words[1..].to_vec(), redirect));
            }
            _ => {}
        }
    }
    commands
}

#[cfg(unix)]
#[test]
fn the_tutorial_commands_run_as_written() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tutorial = std::fs::read_to_string(root.join("docs/writing-batteries.md")).unwrap();
    let commands = commands(&tutorial);
    let subcommands: Vec<&str> = commands.iter().map(|(words, _)| words[1].as_str()).collect();
    assert_eq!(
        subcommands,
        ["new", "schema", "preview", "preview", "preview", "validate", "check"],
        "the tutorial's steps"
    );

    let dir = tempfile::tempdir().unwrap();
    for shared in ["tests", "batteries"] {
        std::os::unix::fs::symlink(root.join(shared), dir.path().join(shared)).unwrap();
    }
    let mut outputs = Vec::new();
    for (words, redirect) in &commands {
        let output = common::probity().current_dir(dir.path()).args(words).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "`probity {}` exited {:?}\n{stdout}\n{}",
            words.join(" "),
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        if let Some(file) = redirect {
            std::fs::write(dir.path().join(file), &output.stdout).unwrap();
        }
        outputs.push(stdout);
    }

    let exists = |name: &str| assert!(Path::new(&dir.path().join(name)).is_file(), "{name} missing");
    for name in [
        "my-battery.yaml",
        "schema.json",
        "my-preview/white-square-bottom-right.png",
        "my-preview/stripes-blend.png",
        "my-preview/gaussian-noise-5pct.png",
        "text-preview/rare-token-cf.html",
        "text-preview/homoglyph-10pct.html",
        "text-preview/vocabulary-sweep.txt",
        "tabular-preview/feature-noise-10pct.md",
        "tabular-preview/missing-5pct.md",
        "my-check/check.md",
        "my-check/check.json",
    ] {
        exists(name);
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("schema.json")).unwrap(), probity::battery::schema::json());
    assert!(outputs[5].starts_with("ok: my-battery.yaml"), "{}", outputs[5]);
    // The starter's BadNets-style square catches the BadNets fixture under both seeds.
    let check = &outputs[6];
    assert!(check.contains("| white-square-bottom-right | trigger | 2/2 = 100.0% "), "{check}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("my-check/check.json")).unwrap()).unwrap();
    assert_eq!(json["probes"].as_array().unwrap().len(), 3);
    assert_eq!(json["seeds"].as_array().unwrap().len(), 2);
}
