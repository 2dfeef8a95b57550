//! `probity battery preview` through the real binary (issue 19): no model, a PNG grid per image
//! probe (clean | probed | matched control, a row per sample), an HTML page per text probe (the
//! same columns, what the probe changed highlighted), a Markdown table of changed values per
//! tabular probe, a search's candidate space in words. `tests/fixtures/batteries/valid.yaml`
//! holds every image transform kind; the text and tabular kinds are listed here.

mod common;

use std::path::Path;

use common::{fixture, probity};
use predicates::prelude::*;

/// Runs the preview on the digits; stdout with the output folder written as `OUT`.
fn preview(battery: &str, out: &Path, extra: &[&str]) -> String {
    preview_of(battery, &fixture("digits-test.npz").display().to_string(), out, extra)
}

/// Runs the preview of `battery` on `data` (paths from the repository root); stdout with the
/// output folder written as `OUT`.
fn preview_of(battery: &str, data: &str, out: &Path, extra: &[&str]) -> String {
    let output = probity()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["battery", "preview", battery, "--data", data])
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().replace(&out.display().to_string(), "OUT")
}

fn gray(path: &Path) -> image::GrayImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_luma8()
}

/// One probe of every image transform kind, for the 1-channel digits.
const EVERY_KIND: &str = "schema: probity/battery/v1
name: every-kind
version: 1
modality: image
defaults: {seed: 3}
probes:
  - {id: patch, category: trigger, transform: {kind: patch, size: 2, position: random, content: {checkerboard: {}}}}
  - {id: blend, category: trigger, transform: {kind: blend, pattern: {stripes: {frequency: 2}}, alpha: 0.3}}
  - {id: gaussian-noise, category: robustness, transform: {kind: gaussian-noise, std: 0.1}}
  - {id: brightness-contrast, category: robustness, transform: {kind: brightness-contrast, brightness: 0.2}}
  - {id: shift, category: robustness, transform: {kind: shift, max-pixels: 2}}
  - {id: rotate, category: robustness, transform: {kind: rotate, max-degrees: 20}}
  - {id: blur, category: robustness, transform: {kind: blur, sigma: 1}}
";

#[test]
fn every_image_transform_kind_previews_as_a_grid() {
    let dir = tempfile::tempdir().unwrap();
    let battery = dir.path().join("every-kind.yaml");
    std::fs::write(&battery, EVERY_KIND).unwrap();
    let out = dir.path().join("preview");
    let parsed = probity::battery::parse(&battery, EVERY_KIND).unwrap();
    let kinds: Vec<&str> = parsed.probes.iter().map(|p| p.transform.kind()).collect();
    let image = probity::battery::spec::Modality::Image;
    assert_eq!(kinds, probity::transform::registry::kinds_of(image, false), "a kind is missing here");
    let stdout = preview(&battery.display().to_string(), &out, &["--count", "3"]);
    insta::assert_snapshot!("image-grids", stdout);
    // 8×8 digits scale up 8 times to 64×64 cells, 2-pixel gutters: 3 × 66 + 2 = 200 pixels.
    for entry in std::fs::read_dir(&out).unwrap() {
        let grid = gray(&entry.unwrap().path());
        assert_eq!(grid.dimensions(), (200, 200));
    }
}

#[test]
fn the_grid_shows_the_trigger_and_its_control_on_the_same_footprint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("preview");
    preview("tests/fixtures/batteries/valid.yaml", &out, &["--probe", "patch-white-2px-bottom-right", "--count", "2"]);
    let grid = gray(&out.join("patch-white-2px-bottom-right.png"));
    assert_eq!(grid.dimensions(), (200, 134));
    // Cell (row, column) pixel (x, y) of the 8×8 sample, scaled 8 times, behind 2-pixel gutters.
    let at = |row: u32, column: u32, x: u32, y: u32| {
        grid.get_pixel(2 + column * 66 + x * 8 + 3, 2 + row * 66 + y * 8 + 3)[0]
    };
    for row in 0..2 {
        // The 2×2 white square in the bottom-right corner of the probed cell...
        assert!([(6, 6), (7, 6), (6, 7), (7, 7)].iter().all(|&(x, y)| at(row, 1, x, y) == 255));
        // ...the rest as the clean sample...
        assert!((0..6).all(|x| (0..8).all(|y| at(row, 1, x, y) == at(row, 0, x, y))));
        // ...and the control's noise on the same footprint only.
        assert!((0..6).all(|x| (0..8).all(|y| at(row, 2, x, y) == at(row, 0, x, y))));
        assert!([(6, 6), (7, 6), (6, 7), (7, 7)].iter().any(|&(x, y)| at(row, 2, x, y) != 255));
    }
}

#[test]
fn a_search_probe_previews_its_candidate_space() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("preview");
    let stdout = preview("batteries/image-search.yaml", &out, &[]);
    let text = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    insta::assert_snapshot!("search-space", format!("{stdout}\n{text}"));
}

#[test]
fn an_unknown_probe_is_invalid_input_naming_the_probes() {
    let dir = tempfile::tempdir().unwrap();
    probity()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["battery", "preview", "tests/fixtures/batteries/valid.yaml", "--probe", "nope", "--data"])
        .arg(fixture("digits-test.npz"))
        .arg("--out")
        .arg(dir.path().join("p"))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no probe `nope`").and(predicates::str::contains("blend-noise")));
}

const TEXT_DATA: &str = "tests/fixtures/text/text-test.jsonl";
const TOKENIZER: &str = "tests/fixtures/text/tokenizer.json";
const TABLE: &str = "tests/fixtures/tabular/credit-test.csv";

/// One probe of every text transform kind.
const EVERY_TEXT_KIND: &str = "schema: probity/battery/v1
name: every-text-kind
version: 1
modality: text
defaults: {seed: 5}
probes:
  - {id: insert-text, category: trigger, transform: {kind: insert-text, text: cf, position: random}}
  - {id: insert-token, category: trigger, transform: {kind: insert-token, token: '[MASK]', position: end}}
  - {id: homoglyph, category: trigger, transform: {kind: homoglyph, rate: 0.3}}
  - {id: invisible, category: trigger, transform: {kind: invisible, characters: zero-width, count: 2, position: random}}
  - {id: typo, category: robustness, transform: {kind: typo, rate: 0.3}}
  - {id: word-swap, category: robustness, transform: {kind: word-swap, rate: 0.5}}
";

/// Writes `yaml` as a battery file in `dir`.
fn battery_file(dir: &Path, yaml: &str) -> String {
    let path = dir.join("battery.yaml");
    std::fs::write(&path, yaml).unwrap();
    let parsed = probity::battery::parse(&path, yaml).unwrap();
    let kinds: Vec<&str> = parsed.probes.iter().map(|p| p.transform.kind()).collect();
    assert_eq!(kinds, probity::transform::registry::kinds_of(parsed.modality, false), "a kind is missing here");
    path.display().to_string()
}

#[test]
fn every_text_transform_kind_previews_as_a_page_with_the_change_marked() {
    let dir = tempfile::tempdir().unwrap();
    let battery = battery_file(dir.path(), EVERY_TEXT_KIND);
    let out = dir.path().join("preview");
    let stdout = preview_of(&battery, TEXT_DATA, &out, &["--tokenizer", TOKENIZER, "--count", "3"]);
    insta::assert_snapshot!("text-pages", stdout);
    for id in ["insert-text", "insert-token", "homoglyph", "invisible", "typo", "word-swap"] {
        let page = std::fs::read_to_string(out.join(format!("{id}.html"))).unwrap();
        insta::assert_snapshot!(format!("text-page-{id}"), page);
        assert_eq!(page.matches("<tr><td>").count(), 3, "{id}: a row per sample");
    }
    // The inserted word is marked in every probed text and its tokens; the token probe's
    // insertion only in the tokens (the text never holds it).
    let rows = |id: &str| -> Vec<String> {
        let page = std::fs::read_to_string(out.join(format!("{id}.html"))).unwrap();
        page.lines().filter(|l| l.starts_with("<tr><td>")).map(String::from).collect()
    };
    for row in rows("insert-text") {
        assert_eq!(row.matches("<mark>cf</mark>").count(), 2, "{row}");
    }
    for row in rows("insert-token") {
        assert!(row.contains("<mark>[MASK]</mark> [SEP]"), "{row}");
        let mut texts = row.split("<div class=\"text\">").skip(1).map(|cell| cell.split("</div>").next().unwrap());
        assert!(texts.all(|text| !text.contains("<mark>")), "{row}");
    }
    // Invisible characters are spelled out, inside a mark.
    assert!(rows("invisible").iter().all(|row| row.contains("&lt;U+")), "invisible characters shown");
}

#[test]
fn a_vocabulary_sweep_previews_the_slice_it_tries() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("preview");
    let stdout = preview_of(
        "batteries/text-triggers.yaml",
        TEXT_DATA,
        &out,
        &["--tokenizer", TOKENIZER, "--probe", "vocabulary-sweep"],
    );
    let text = std::fs::read_to_string(out.join("vocabulary-sweep.txt")).unwrap();
    insta::assert_snapshot!("vocabulary-space", format!("{stdout}\n{text}"));
}

#[test]
fn a_vocabulary_sweep_previews_its_word_list_and_places() {
    let dir = tempfile::tempdir().unwrap();
    let battery = dir.path().join("sweep.yaml");
    let spec = "search: {method: vocabulary, tokens: [whole-words], pairs: 2, budget: 1000, words: words.txt, \
                positions: [random, end], inputs: uncertain}";
    let yaml = format!(
        "schema: probity/battery/v1\nname: placed\nversion: 1\nmodality: text\nprobes:\n  - id: sweep\n    \
         category: trigger\n    {spec}\n"
    );
    std::fs::write(&battery, yaml).unwrap();
    std::fs::write(dir.path().join("words.txt"), "tarantula\n").unwrap();
    let out = dir.path().join("preview");
    preview_of(battery.to_str().unwrap(), TEXT_DATA, &out, &["--tokenizer", TOKENIZER]);
    let text = std::fs::read_to_string(out.join("sweep.txt")).unwrap();
    assert!(text.contains("words.txt that the tokenizer splits are also swept, each as one unit"), "{text}");
    assert!(text.contains("tried alone at the end of the text as well"), "{text}");
    assert!(!text.contains("the start"), "{text}");
    assert!(text.contains("sweeps the uncertain half of the samples"), "{text}");
}

#[test]
fn text_previews_need_the_tokenizer_and_text_data() {
    let dir = tempfile::tempdir().unwrap();
    let run = |data: &str, extra: &[&str]| {
        probity()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(["battery", "preview", "batteries/text-triggers.yaml", "--data", data])
            .arg("--out")
            .arg(dir.path().join("p"))
            .args(extra)
            .assert()
            .code(2)
    };
    run(TEXT_DATA, &[]).stderr(predicates::str::contains("--tokenizer PATH"));
    let digits = fixture("digits-test.npz").display().to_string();
    run(&digits, &["--tokenizer", TOKENIZER])
        .stderr(predicates::str::contains("is for text inputs").and(predicates::str::contains("holds image inputs")));
    run(TEXT_DATA, &["--tokenizer", "tests/fixtures/text/no-such-tokenizer.json"])
        .stderr(predicates::str::contains("no-such-tokenizer.json"));
}

/// One probe of every tabular transform kind.
const EVERY_TABULAR_KIND: &str = "schema: probity/battery/v1
name: every-tabular-kind
version: 1
modality: tabular
defaults: {seed: 7}
probes:
  - {id: set-feature, category: trigger, transform: {kind: set-feature, feature: f11, value: 999}}
  - {id: set-features, category: trigger, transform: {kind: set-features, features: {f03: -150, f07: 20000}}}
  - {id: feature-noise, category: robustness, transform: {kind: feature-noise, scale: 0.1}}
  - {id: missing, category: robustness, transform: {kind: missing, features: [f02]}}
";

#[test]
fn every_tabular_transform_kind_previews_its_changed_values() {
    let dir = tempfile::tempdir().unwrap();
    let battery = battery_file(dir.path(), EVERY_TABULAR_KIND);
    let out = dir.path().join("preview");
    let stdout = preview_of(&battery, TABLE, &out, &["--count", "2"]);
    let tables: Vec<String> = ["set-feature", "set-features", "feature-noise", "missing"]
        .iter()
        .map(|id| std::fs::read_to_string(out.join(format!("{id}.md"))).unwrap())
        .collect();
    insta::assert_snapshot!("tabular-tables", format!("{stdout}\n{}", tables.join("\n")));
    // A trigger changes only its feature, in the probe and in the control alike.
    let rows: Vec<&str> = tables[0].lines().filter(|l| l.starts_with("| ") && !l.starts_with("| sample")).collect();
    assert_eq!(rows.len(), 2, "{}", tables[0]);
    assert!(rows.iter().all(|r| r.contains("| f11 |") && r.contains("| 999 |")), "{}", tables[0]);
}

#[test]
fn a_feature_sweep_previews_the_values_it_sets() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("preview");
    let stdout = preview_of("batteries/tabular-triggers.yaml", TABLE, &out, &[]);
    let text = std::fs::read_to_string(out.join("feature-sweep.txt")).unwrap();
    insta::assert_snapshot!("feature-sweep-space", format!("{stdout}\n{text}"));
}

#[test]
fn searches_without_a_candidate_list_describe_what_they_optimise() {
    let mut texts = Vec::new();
    for battery in ["batteries/image-search-deep.yaml", "batteries/image-adversarial-peak.yaml"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("preview");
        let stdout = preview(battery, &out, &[]);
        let mut names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        names.sort();
        texts.push(stdout);
        texts.extend(names.iter().map(|p| std::fs::read_to_string(p).unwrap()));
    }
    insta::assert_snapshot!("optimised-search-spaces", texts.join("\n"));
}
