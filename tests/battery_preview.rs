//! `probity battery preview` through the real binary (issue 19): no model, a PNG grid per image
//! probe (clean | probed | matched control, a row per sample), a search's candidate space in
//! words. `tests/fixtures/batteries/valid.yaml` holds every image transform kind.

mod common;

use std::path::Path;

use common::{fixture, probity};
use predicates::prelude::*;

/// Runs the preview; stdout with the output folder written as `OUT`.
fn preview(battery: &str, out: &Path, extra: &[&str]) -> String {
    let output = probity()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["battery", "preview", battery, "--data"])
        .arg(fixture("digits-test.npz"))
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
