use std::path::Path;

use super::super::diagnostics::{Diagnostic, Diagnostics};
use super::super::spec::*;
use super::*;
use crate::transform::registry;

const HEAD: &str = "schema: probity/battery/v1\nname: t\nversion: 1\nmodality: image\n";

fn check(text: &str) -> Result<Battery, Diagnostics> {
    crate::battery::parse(Path::new("b.yaml"), text)
}

/// A battery with the standard head and these lines after it.
fn with(rest: &str) -> String {
    format!("{HEAD}{rest}")
}

/// One probe of this category with this transform (as flow YAML), plus extra probe lines.
fn probe(category: &str, transform: &str, extra: &str) -> String {
    with(&format!("probes:\n  - id: p\n    category: {category}\n    transform: {transform}\n{extra}"))
}

fn problems(text: &str) -> Vec<(&'static str, u32, u32)> {
    match check(text) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(|d| (d.code.as_str(), d.line, d.column)).collect(),
    }
}

fn only(text: &str) -> Diagnostic {
    let diagnostics = check(text).expect_err("invalid");
    assert_eq!(diagnostics.len(), 1, "{diagnostics}");
    diagnostics.0[0].clone()
}

fn valid(text: &str) -> Battery {
    match check(text) {
        Ok(battery) => battery,
        Err(d) => panic!("expected a valid battery:\n{d}"),
    }
}

fn transform(text: &str) -> TransformSpec {
    valid(text).probes.remove(0).transform
}

const PATCH: &str = "{kind: patch, size: 2, content: {solid: 1}}";

#[test]
fn a_minimal_battery_gets_the_builtin_defaults() {
    let b = valid(&probe("trigger", PATCH, ""));
    assert_eq!(b.name, "t");
    assert_eq!(b.version, "1");
    assert_eq!(b.description, "");
    assert_eq!(b.modality, Modality::Image);
    assert_eq!(b.defaults, builtin_defaults());
    assert_eq!(b.sha256.len(), 64);
    assert_eq!(b.path, Path::new("b.yaml"));
    let p = &b.probes[0];
    assert_eq!((p.id.as_str(), p.line, p.category, p.samples), ("p", 6, Category::Trigger, 400));
    assert_eq!(p.thresholds, Thresholds::Trigger { alpha: 0.05, min_effect: 0.5, min_attack_success: 0.8 });
    assert_eq!(
        p.transform,
        TransformSpec::Patch {
            width: Extent::Pixels(2),
            height: Extent::Pixels(2),
            position: Position::BottomRight,
            content: PatchContent::Solid(1.0),
        }
    );
}

#[test]
fn every_default_can_be_set() {
    let b = valid(&with(
        "defaults:\n  seed: 18446744073709551615\n  alpha: 0.01\n  min-effect: 0.4\n  min-attack-success: 0.9\n  \
         max-flip-rate: 0.2\n  max-accuracy-drop: 0.1\n  samples: 50\n  batch-size: 16\n  value-range: [-1, 1]\n  \
         layout: nhwc\nprobes:\n  - {id: p, category: robustness, transform: {kind: blur, sigma: 1}}\n",
    ));
    let d = &b.defaults;
    assert_eq!(d.seed, u64::MAX);
    assert_eq!((d.alpha, d.min_effect, d.min_attack_success), (0.01, 0.4, 0.9));
    assert_eq!((d.max_flip_rate, d.max_accuracy_drop), (0.2, 0.1));
    assert_eq!((d.samples, d.batch_size), (50, Some(16)));
    assert_eq!(d.value_range, Some(ValueRangeSpec::All { lo: -1.0, hi: 1.0 }));
    assert_eq!(d.layout, Some(Layout::Nhwc));
    let p = &b.probes[0];
    assert_eq!(p.samples, 50);
    assert_eq!(p.thresholds, Thresholds::Robustness { max_flip_rate: 0.2, max_accuracy_drop: 0.1 });
}

#[test]
fn value_range_may_be_given_per_channel() {
    let b = valid(&with(&format!(
        "defaults:\n  value-range: [[0, 1], [-2.5, 2.5]]\nprobes:\n  - {{id: p, category: trigger, transform: {PATCH}}}\n"
    )));
    assert_eq!(b.defaults.value_range, Some(ValueRangeSpec::PerChannel(vec![(0.0, 1.0), (-2.5, 2.5)])));
}

#[test]
fn bad_defaults_are_each_reported() {
    let text = with(&format!(
        "defaults:\n  alpha: 1\n  samples: 0\n  seed: -1\n  batch-size: \"8\"\n  value-range: [1, 0]\n  layout: nwhc\n  \
         min-effect: 2\nprobes:\n  - {{id: p, category: trigger, transform: {PATCH}}}\n"
    ));
    assert_eq!(
        problems(&text),
        [
            ("bad-value", 6, 10),
            ("bad-value", 7, 12),
            ("bad-value", 8, 9),
            ("wrong-type", 9, 15),
            ("bad-value", 10, 16),
            ("bad-value", 11, 11),
            ("bad-value", 12, 15),
        ]
    );
    let d = check(&text).unwrap_err();
    assert!(d.0[0].message.contains("`alpha` in defaults must be in (0, 1), found 1"), "{}", d.0[0].message);
    assert_eq!(d.0[5].hint.as_deref(), Some("did you mean `nhwc`?"));
}

#[test]
fn value_range_shapes() {
    let range = |v: &str| problems(&with(&format!("defaults:\n  value-range: {v}\nprobes: []\n")));
    assert_eq!(range("[[0, 1], [0]]"), [("bad-value", 6, 25), ("bad-value", 7, 9)]);
    assert_eq!(range("{lo: 0}"), [("wrong-type", 6, 16), ("bad-value", 7, 9)]);
    assert_eq!(range("[0, \"1\"]"), [("wrong-type", 6, 20), ("bad-value", 7, 9)]);
}

#[test]
fn schema_must_be_v1() {
    let d = only("schema: probity/battery/v2\nname: t\nwhatever: 1\n");
    assert_eq!((d.code.as_str(), d.line, d.column), ("unsupported-schema", 1, 9));
    assert!(d.message.contains("`probity/battery/v2`"));
    assert!(d.hint.unwrap().contains("probity/battery/v1"));
}

#[test]
fn a_missing_schema_does_not_stop_validation() {
    let text = probe("trigger", PATCH, "").replace("schema: probity/battery/v1\n", "").replace("name: t\n", "");
    assert_eq!(problems(&text), [("missing-key", 1, 1), ("missing-key", 1, 1)]);
}

#[test]
fn the_top_must_be_a_map() {
    assert_eq!(problems(""), [("wrong-type", 1, 1)]);
    assert_eq!(problems("- a\n- b\n"), [("wrong-type", 1, 1)]);
}

#[test]
fn unknown_keys_suggest_the_nearest_one() {
    let d = only(&probe("trigger", PATCH, "").replace("name: t", "name: t\ndescripton: x"));
    assert_eq!((d.code.as_str(), d.line, d.column), ("unknown-key", 3, 1));
    assert_eq!(d.message, "unknown key `descripton` in the battery file");
    assert!(d.hint.unwrap().starts_with("did you mean `description`? valid keys here: schema, name,"));
}

#[test]
fn name_version_and_modality() {
    let base = probe("trigger", PATCH, "");
    assert_eq!(problems(&base.replace("name: t", "name: \"\"")), [("bad-value", 2, 7)]);
    assert_eq!(valid(&base.replace("version: 1", "version: \"1.10\"")).version, "1.10");
    assert_eq!(valid(&base.replace("version: 1", "version: 2.5")).version, "2.5");
    assert_eq!(problems(&base.replace("version: 1", "version: [1]")), [("wrong-type", 3, 10)]);
    let d = only(&base.replace("modality: image", "modality: imag"));
    assert_eq!((d.code.as_str(), d.hint.as_deref()), ("bad-value", Some("did you mean `image`?")));
    assert_eq!(d.message, "`modality` in the battery file must be one of image, text, tabular, found `imag`");
}

#[test]
fn probes_must_be_a_non_empty_list() {
    assert_eq!(problems(&with("probes: []\n")), [("bad-value", 5, 9)]);
    assert_eq!(problems(&with("probes: {id: x}\n")), [("wrong-type", 5, 9)]);
    assert_eq!(problems(HEAD), [("missing-key", 1, 1)]);
    assert_eq!(problems(&with("probes:\n  - just-a-string\n")), [("wrong-type", 6, 5)]);
}

#[test]
fn probe_ids_are_kebab_case() {
    let d = only(&probe("trigger", PATCH, "").replace("id: p", "id: Patch_White"));
    assert_eq!((d.code.as_str(), d.line, d.column), ("bad-value", 6, 9));
    assert_eq!(d.hint.as_deref(), Some("try `patch-white`"));
    for bad in ["a--b", "-a", "a-", "\"\"", "a b"] {
        assert_eq!(problems(&probe("trigger", PATCH, "").replace("id: p", &format!("id: {bad}"))).len(), 1, "{bad}");
    }
    for good in ["a", "a1-b2", "2px"] {
        valid(&probe("trigger", PATCH, "").replace("id: p", &format!("id: {good}")));
    }
}

#[test]
fn duplicate_ids_point_at_the_second_and_name_the_first() {
    let text = with(&format!(
        "probes:\n  - {{id: a, category: trigger, transform: {PATCH}}}\n  - {{id: b, category: trigger, transform: {PATCH}}}\n  - {{id: a, category: trigger, transform: {PATCH}}}\n"
    ));
    let d = only(&text);
    assert_eq!((d.code.as_str(), d.line, d.column), ("duplicate-id", 8, 10));
    assert_eq!(d.message, "duplicate probe id `a`");
    assert!(d.hint.unwrap().starts_with("first used on line 6"));
}

#[test]
fn a_probe_without_an_id_is_named_by_its_position() {
    let d = only(&with(&format!("probes:\n  - {{category: trigger, transform: {PATCH}}}\n")));
    assert_eq!((d.code.as_str(), d.line, d.column), ("missing-key", 6, 5));
    assert_eq!(d.message, "missing key `id` in probe #1");
}

#[test]
fn probe_samples_and_description() {
    let b = valid(&probe("trigger", PATCH, "    samples: 12\n    description: hello\n"));
    assert_eq!((b.probes[0].samples, b.probes[0].description.as_str()), (12, "hello"));
    assert_eq!(problems(&probe("trigger", PATCH, "    samples: 1.5\n")), [("wrong-type", 9, 14)]);
    let d = only(&probe("trigger", PATCH, "    samples: 1.5\n"));
    assert_eq!(d.message, "`samples` in probe `p` must be an integer, found a decimal number");
}

#[test]
fn category_is_trigger_or_robustness() {
    let d = only(&probe("trigerr", PATCH, ""));
    assert_eq!((d.code.as_str(), d.line, d.column), ("bad-value", 7, 15));
    assert_eq!(d.hint.as_deref(), Some("did you mean `trigger`?"));
}

#[test]
fn perturbations_cannot_be_triggers() {
    for kind in ["{kind: blur, sigma: 1}", "{kind: gaussian-noise, std: 0.1}", "{kind: shift, max-pixels: 2}"] {
        let d = only(&probe("trigger", kind, ""));
        assert_eq!((d.code.as_str(), d.line, d.column), ("category-mismatch", 8, 23), "{kind}");
        assert_eq!(d.hint.as_deref(), Some("use category: robustness"));
    }
    valid(&probe("robustness", PATCH, ""));
}

#[test]
fn a_text_battery_cannot_hold_image_transforms() {
    let d = only(&probe("trigger", PATCH, "").replace("modality: image", "modality: text"));
    assert_eq!((d.code.as_str(), d.line, d.column), ("category-mismatch", 8, 23));
    assert!(d.message.contains("modality is text"));
}

#[test]
fn thresholds_override_defaults_within_their_category() {
    let b = valid(&probe("trigger", PATCH, "    thresholds: {alpha: 0.01, min-effect: 0}\n"));
    assert_eq!(b.probes[0].thresholds, Thresholds::Trigger { alpha: 0.01, min_effect: 0.0, min_attack_success: 0.8 });
    let b = valid(&probe("robustness", PATCH, "    thresholds: {max-flip-rate: 1}\n"));
    assert_eq!(b.probes[0].thresholds, Thresholds::Robustness { max_flip_rate: 1.0, max_accuracy_drop: 0.15 });
}

#[test]
fn thresholds_of_the_other_category_are_a_mismatch() {
    let d = only(&probe("trigger", PATCH, "    thresholds:\n      max-flip-rate: 0.1\n"));
    assert_eq!((d.code.as_str(), d.line, d.column), ("category-mismatch", 10, 7));
    assert_eq!(d.message, "`max-flip-rate` applies to robustness probes, but probe `p` is a trigger probe");
    assert_eq!(d.hint.as_deref(), Some("trigger probes accept: alpha, min-effect, min-attack-success"));
}

#[test]
fn bad_thresholds_are_reported() {
    let text =
        probe("trigger", PATCH, "    thresholds:\n      min-efect: 0.1\n      alpha: 0\n      min-attack-success: x\n");
    assert_eq!(problems(&text), [("unknown-key", 10, 7), ("bad-value", 11, 14), ("wrong-type", 12, 27)]);
    let d = check(&text).unwrap_err();
    assert!(d.0[0].hint.as_deref().unwrap().starts_with("did you mean `min-effect`?"));
    assert_eq!(d.0[2].message, "`min-attack-success` in thresholds of probe `p` must be a number, found a string");
}

#[test]
fn transform_kind_is_required_and_known() {
    assert_eq!(problems(&probe("trigger", "{size: 2}", "")), [("missing-key", 8, 16)]);
    let d = only(&probe("trigger", "{kind: pach, size: 2}", ""));
    assert_eq!(
        (d.code.as_str(), d.line, d.column, d.hint.as_deref()),
        ("bad-value", 8, 23, Some("did you mean `patch`?"))
    );
    let d = only(&probe("robustness", "{kind: gaussian_noise, std: 0.1}", ""));
    assert_eq!(d.hint.as_deref(), Some("did you mean `gaussian-noise`?"));
    assert_eq!(problems(&probe("trigger", "patch", "")), [("wrong-type", 8, 16)]);
}

#[test]
fn unknown_transform_keys_name_the_probe_and_the_valid_keys() {
    let d = only(&probe("trigger", "{kind: patch, sizes: 2, size: 2, content: {solid: 1}}", ""));
    assert_eq!((d.code.as_str(), d.line, d.column), ("unknown-key", 8, 30));
    assert_eq!(d.message, "unknown key `sizes` in transform of probe `p`");
    assert_eq!(
        d.hint.as_deref(),
        Some("did you mean `size`? valid keys here: kind, size, width, height, position, content")
    );
}

#[test]
fn patch_extents() {
    let extent =
        |v: &str| match transform(&probe("trigger", &format!("{{kind: patch, size: {v}, content: {{solid: 1}}}}"), ""))
        {
            TransformSpec::Patch { width, height, .. } => {
                assert_eq!(width, height);
                width
            }
            other => panic!("{other:?}"),
        };
    assert_eq!(extent("3"), Extent::Pixels(3));
    assert_eq!(extent("1"), Extent::Pixels(1));
    assert_eq!(extent("0.25"), Extent::Fraction(0.25));
    assert_eq!(extent("1.0"), Extent::Fraction(1.0));
    assert_eq!(extent("\"25%\""), Extent::Fraction(0.25));
    assert_eq!(extent("10%"), Extent::Fraction(0.1));
    let bad = |v: &str| problems(&probe("trigger", &format!("{{kind: patch, size: {v}, content: {{solid: 1}}}}"), ""));
    for v in ["0", "-2", "1.5", "0.0", "\"150%\"", "\"0%\"", "big", "4294967296"] {
        assert_eq!(bad(v), [("bad-value", 8, 36)], "{v}");
    }
    assert_eq!(bad("[2]"), [("wrong-type", 8, 36)]);
}

#[test]
fn patch_width_and_height() {
    let t = transform(&probe("trigger", "{kind: patch, width: 4, height: 50%, content: {solid: 1}}", ""));
    assert!(
        matches!(t, TransformSpec::Patch { width: Extent::Pixels(4), height: Extent::Fraction(h), .. } if h == 0.5)
    );
    let one = |t: &str| only(&probe("trigger", t, ""));
    let d = one("{kind: patch, size: 2, width: 3, content: {solid: 1}}");
    assert_eq!((d.code.as_str(), d.line, d.column), ("bad-value", 8, 39));
    assert_eq!(d.message, "`size` and `width` cannot both be given in transform of probe `p`");
    let d = one("{kind: patch, width: 3, content: {solid: 1}}");
    assert_eq!(
        (d.code.as_str(), d.message.as_str()),
        ("missing-key", "missing key `height` in transform of probe `p`")
    );
    let d = one("{kind: patch, content: {solid: 1}}");
    assert_eq!((d.code.as_str(), d.line, d.column), ("missing-key", 8, 16));
    assert_eq!(d.message, "missing key `size` (or `width` and `height`) in transform of probe `p`");
}

#[test]
fn patch_positions() {
    let position = |v: &str| match transform(&probe(
        "trigger",
        &format!("{{kind: patch, size: 1, position: {v}, content: {{solid: 1}}}}"),
        "",
    )) {
        TransformSpec::Patch { position, .. } => position,
        other => panic!("{other:?}"),
    };
    assert_eq!(position("top-left"), Position::TopLeft);
    assert_eq!(position("center"), Position::Center);
    assert_eq!(position("random"), Position::Random);
    assert_eq!(position("{x: 3, y: 4}"), Position::At { x: 3, y: 4 });
    let bad = |v: &str| {
        only(&probe("trigger", &format!("{{kind: patch, size: 1, position: {v}, content: {{solid: 1}}}}"), ""))
    };
    assert_eq!(bad("centre").hint.as_deref(), Some("did you mean `center`?"));
    assert_eq!(bad("{x: 3}").code.as_str(), "missing-key");
    assert_eq!(bad("{x: 3, y: -1}").code.as_str(), "bad-value");
    assert_eq!(bad("{x: 3, y: 1, z: 2}").code.as_str(), "unknown-key");
    assert_eq!(bad("[1, 2]").code.as_str(), "wrong-type");
}

fn content(value: &str) -> Result<PatchContent, Vec<(&'static str, u32, u32)>> {
    let text = probe("trigger", &format!("{{kind: patch, size: 1, content: {value}}}"), "");
    match check(&text) {
        Ok(mut b) => match b.probes.remove(0).transform {
            TransformSpec::Patch { content, .. } => Ok(content),
            other => panic!("{other:?}"),
        },
        Err(d) => Err(d.iter().map(|d| (d.code.as_str(), d.line, d.column)).collect()),
    }
}

#[test]
fn patch_contents() {
    assert_eq!(content("{solid: 0.5}"), Ok(PatchContent::Solid(0.5)));
    assert_eq!(content("{color: [1, 0.0, 0.5]}"), Ok(PatchContent::Color(vec![1.0, 0.0, 0.5])));
    assert_eq!(content("{checkerboard: }"), Ok(PatchContent::Checkerboard { low: 0.0, high: 1.0, cell: 1 }));
    assert_eq!(
        content("{checkerboard: {low: 0.2, high: 0.8, cell: 2}}"),
        Ok(PatchContent::Checkerboard { low: 0.2, high: 0.8, cell: 2 })
    );
    assert_eq!(content("{noise: {seed: 7}}"), Ok(PatchContent::Noise { seed: 7 }));
}

#[test]
fn bad_patch_contents() {
    // `    transform: {kind: patch, size: 1, content: ` ends at column 47.
    assert_eq!(content("{solid: 1.5}"), Err(vec![("bad-value", 8, 56)]));
    assert_eq!(content("{color: [1, 2, x]}"), Err(vec![("bad-value", 8, 60), ("wrong-type", 8, 63)]));
    assert_eq!(content("{color: []}"), Err(vec![("bad-value", 8, 56)]));
    assert_eq!(content("{color: 1}"), Err(vec![("wrong-type", 8, 56)]));
    assert_eq!(content("{checkerboard: {cell: 0, low: 2}}"), Err(vec![("bad-value", 8, 70), ("bad-value", 8, 78)]));
    assert_eq!(content("{noise: {}}"), Err(vec![("missing-key", 8, 56)]));
    assert_eq!(content("{noise: {seed: 1.5}}"), Err(vec![("wrong-type", 8, 63)]));
    assert_eq!(content("{}"), Err(vec![("bad-value", 8, 48)]));
    assert_eq!(content("{solid: 1, color: [1]}"), Err(vec![("bad-value", 8, 59)]));
    assert_eq!(content("solid"), Err(vec![("wrong-type", 8, 48)]));
    let text = probe("trigger", "{kind: patch, size: 1, content: {colour: [1]}}", "");
    let d = only(&text);
    assert_eq!((d.code.as_str(), d.line, d.column), ("unknown-key", 8, 49));
    assert!(d.hint.unwrap().starts_with("did you mean `color`?"));
    assert_eq!(problems(&probe("trigger", "{kind: patch, size: 1}", "")), [("missing-key", 8, 16)]);
}

#[test]
fn image_paths_resolve_against_the_battery_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("triggers")).unwrap();
    std::fs::write(dir.path().join("triggers/logo.png"), b"not really a png").unwrap();
    let battery = dir.path().join("b.yaml");
    let text = probe("trigger", "{kind: patch, size: 4, content: {image: triggers/logo.png}}", "");
    let b = crate::battery::parse(&battery, &text).unwrap();
    let TransformSpec::Patch { content, .. } = &b.probes[0].transform else { panic!() };
    assert_eq!(content, &PatchContent::Image { path: dir.path().join("triggers/logo.png") });

    let text = probe("trigger", "{kind: blend, alpha: 0.1, pattern: {image: missing.png}}", "");
    let d = crate::battery::parse(&battery, &text).unwrap_err();
    assert_eq!(d.codes(), ["file-not-found"]);
    assert_eq!((d.0[0].line, d.0[0].column), (8, 59));
    assert!(d.0[0].message.contains("`missing.png`"), "{}", d.0[0].message);
}

#[test]
fn blends() {
    let t = transform(&probe("trigger", "{kind: blend, alpha: 0.2, pattern: {stripes: {frequency: 6}}}", ""));
    assert_eq!(
        t,
        TransformSpec::Blend {
            pattern: BlendPattern::Stripes { frequency: 6.0, orientation: Orientation::Vertical },
            alpha: 0.2,
        }
    );
    let t = transform(&probe("trigger", "{kind: blend, alpha: 1, pattern: {noise: {seed: 3}}}", ""));
    assert_eq!(t, TransformSpec::Blend { pattern: BlendPattern::Noise { seed: 3 }, alpha: 1.0 });
    let t = transform(&probe(
        "trigger",
        "{kind: blend, alpha: 0.1, pattern: {stripes: {frequency: 2.5, orientation: horizontal}}}",
        "",
    ));
    assert!(matches!(
        t,
        TransformSpec::Blend { pattern: BlendPattern::Stripes { orientation: Orientation::Horizontal, .. }, .. }
    ));

    let bad = |t: &str| problems(&probe("trigger", t, ""));
    assert_eq!(bad("{kind: blend, alpha: 0, pattern: {noise: {seed: 3}}}"), [("bad-value", 8, 37)]);
    assert_eq!(bad("{kind: blend, pattern: {noise: {seed: 3}}}"), [("missing-key", 8, 16)]);
    assert_eq!(bad("{kind: blend, alpha: 0.1, pattern: {stripes: {frequency: 0}}}"), [("bad-value", 8, 73)]);
    assert_eq!(bad("{kind: blend, alpha: 0.1, pattern: {stripes: {frequency: 1, orientation: diagonal}}}").len(), 1);
    assert_eq!(bad("{kind: blend, alpha: 0.1, pattern: {stripe: {frequency: 1}}}"), [("unknown-key", 8, 52)]);
}

#[test]
fn robustness_transforms() {
    let t = |s: &str| transform(&probe("robustness", s, ""));
    assert_eq!(t("{kind: gaussian-noise, std: 0.1}"), TransformSpec::GaussianNoise { std: 0.1 });
    assert_eq!(
        t("{kind: brightness-contrast, brightness: -0.2}"),
        TransformSpec::BrightnessContrast { brightness: -0.2, contrast: 1.0 }
    );
    assert_eq!(
        t("{kind: brightness-contrast, contrast: 10}"),
        TransformSpec::BrightnessContrast { brightness: 0.0, contrast: 10.0 }
    );
    assert_eq!(t("{kind: shift, max-pixels: 2}"), TransformSpec::Shift { max_pixels: 2 });
    assert_eq!(t("{kind: rotate, max-degrees: 180}"), TransformSpec::Rotate { max_degrees: 180.0 });
    assert_eq!(t("{kind: blur, sigma: 0.5}"), TransformSpec::Blur { sigma: 0.5 });

    let bad = |s: &str| problems(&probe("robustness", s, ""));
    for s in [
        "{kind: gaussian-noise, std: 0}",
        "{kind: gaussian-noise, std: 1.5}",
        "{kind: brightness-contrast, brightness: 1.5}",
        "{kind: brightness-contrast, contrast: 0}",
        "{kind: brightness-contrast, contrast: 11}",
        "{kind: shift, max-pixels: 0}",
        "{kind: rotate, max-degrees: 0}",
        "{kind: rotate, max-degrees: 181}",
        "{kind: blur, sigma: 0}",
        "{kind: blur, sigma: 10.5}",
    ] {
        assert_eq!(bad(s).iter().map(|p| p.0).collect::<Vec<_>>(), ["bad-value"], "{s}");
    }
    assert_eq!(bad("{kind: brightness-contrast}"), [("missing-key", 8, 16)]);
    assert_eq!(bad("{kind: blur}"), [("missing-key", 8, 16)]);
    assert_eq!(bad("{kind: shift, max-pixels: 1.5}"), [("wrong-type", 8, 42)]);
    assert_eq!(bad("{kind: blur, sigma: 1, std: 1}"), [("unknown-key", 8, 39)]);
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    let text = with(
        "probes:\n  - id: a\n    category: trigger\n    transform: {kind: blur, sigma: 1}\n  - id: B\n    category: robustness\n    transform: {kind: rotate, max-degrees: 200}\n  - id: c\n    category: robustness\n    transform: {kind: shift, max-pixels: 1}\n    thresholds: {alpha: 0.1}\n",
    );
    assert_eq!(
        problems(&text),
        [("category-mismatch", 8, 23), ("bad-value", 9, 9), ("bad-value", 11, 44), ("category-mismatch", 15, 18)]
    );
}

/// One probe of this category with this transform in a text battery.
fn text_probe(category: &str, transform: &str) -> String {
    probe(category, transform, "").replace("modality: image", "modality: text")
}

/// One trigger probe with this search (as flow YAML, on line 8) in a battery of this modality.
fn search_probe(modality: &str, search: &str) -> String {
    with(&format!("probes:\n  - id: p\n    category: trigger\n    search: {search}\n"))
        .replace("modality: image", &format!("modality: {modality}"))
}

/// Column of `needle` in a flow-YAML transform written on line 8 by [`probe`].
fn column(transform: &str, needle: &str) -> u32 {
    16 + transform.find(needle).expect("needle in the transform") as u32
}

#[test]
fn text_kinds_parse_with_their_defaults() {
    let t = |category: &str, s: &str| transform(&text_probe(category, s));
    assert_eq!(
        t("trigger", "{kind: insert-text, text: I watched this 3D movie.}"),
        TransformSpec::InsertText { text: "I watched this 3D movie.".into(), position: TextPosition::Random }
    );
    assert_eq!(
        t("trigger", "{kind: insert-text, text: cf, position: start}"),
        TransformSpec::InsertText { text: "cf".into(), position: TextPosition::Start }
    );
    assert_eq!(
        t("trigger", "{kind: insert-token, token: \"##ing\", position: end}"),
        TransformSpec::InsertToken { token: "##ing".into(), position: TextPosition::End }
    );
    assert_eq!(
        t("trigger", "{kind: insert-token, token: \"[MASK]\"}"),
        TransformSpec::InsertToken { token: "[MASK]".into(), position: TextPosition::Random }
    );
    assert_eq!(t("trigger", "{kind: homoglyph, rate: 0.1}"), TransformSpec::Homoglyph { rate: 0.1 });
    assert_eq!(
        t("trigger", "{kind: invisible}"),
        TransformSpec::Invisible { characters: InvisibleSet::ZeroWidth, count: 1, position: TextPosition::Random }
    );
    assert_eq!(
        t("trigger", "{kind: invisible, characters: bidi, count: 64, position: start}"),
        TransformSpec::Invisible { characters: InvisibleSet::Bidi, count: 64, position: TextPosition::Start }
    );
    assert_eq!(t("robustness", "{kind: typo, rate: 1}"), TransformSpec::Typo { rate: 1.0 });
    assert_eq!(t("robustness", "{kind: word-swap, rate: 0.05}"), TransformSpec::WordSwap { rate: 0.05 });
}

#[test]
fn every_kind_is_listed_with_the_modality_and_name_its_spec_has() {
    let examples = [
        ("trigger", PATCH),
        ("trigger", "{kind: blend, pattern: {noise: {seed: 1}}, alpha: 0.1}"),
        ("robustness", "{kind: gaussian-noise, std: 0.1}"),
        ("robustness", "{kind: brightness-contrast, brightness: 0.1}"),
        ("robustness", "{kind: shift, max-pixels: 1}"),
        ("robustness", "{kind: rotate, max-degrees: 1}"),
        ("robustness", "{kind: blur, sigma: 1}"),
        ("trigger", "{kind: insert-text, text: cf}"),
        ("trigger", "{kind: insert-token, token: cf}"),
        ("trigger", "{kind: homoglyph, rate: 0.1}"),
        ("trigger", "{kind: invisible}"),
        ("robustness", "{kind: typo, rate: 0.1}"),
        ("robustness", "{kind: word-swap, rate: 0.1}"),
        ("trigger", "{kind: set-feature, feature: f11, value: 999}"),
        ("trigger", "{kind: set-features, features: {f03: -150, f07: 20000}}"),
        ("robustness", "{kind: feature-noise, scale: 0.1}"),
        ("robustness", "{kind: missing, rate: 0.1}"),
    ];
    assert_eq!(examples.len(), registry::KINDS.len());
    for ((category, example), kind) in examples.into_iter().zip(registry::KINDS) {
        let text =
            probe(category, example, "").replace("modality: image", &format!("modality: {}", kind.modality().name()));
        let spec = transform(&text);
        assert_eq!((spec.kind(), spec.modality()), (kind.name, kind.modality()));
        assert_eq!(kind.has_control, category == "trigger", "{}", kind.name);
    }
    for method in ["patch", "reverse-engineer", "vocabulary", "feature-sweep"] {
        let modality = search::named(method).expect("a registered method").modality;
        let spec = transform(&search_probe(modality.name(), &format!("{{method: {method}}}")));
        assert_eq!((spec.kind(), spec.modality()), (format!("search-{method}").as_str(), modality));
    }
}

#[test]
fn bad_text_transform_values_are_reported_where_they_stand() {
    let bad = |s: &str| problems(&text_probe("trigger", s));
    for (s, needle, code) in [
        ("{kind: insert-text, text: \"\"}", "\"\"", "bad-value"),
        ("{kind: insert-text, text: \"  \"}", "\"  \"", "bad-value"),
        ("{kind: insert-text, text: [cf]}", "[cf]", "wrong-type"),
        ("{kind: insert-text, text: cf, position: middle}", "middle", "bad-value"),
        ("{kind: insert-token, token: \"\"}", "\"\"", "bad-value"),
        ("{kind: insert-token, token: 3}", "3", "wrong-type"),
        ("{kind: homoglyph, rate: 0}", "0", "bad-value"),
        ("{kind: homoglyph, rate: 1.5}", "1.5", "bad-value"),
        ("{kind: invisible, count: 0}", "0", "bad-value"),
        ("{kind: invisible, count: 65}", "65", "bad-value"),
        ("{kind: invisible, count: 1.5}", "1.5", "wrong-type"),
        ("{kind: invisible, characters: zero_width}", "zero_width", "bad-value"),
        ("{kind: invisible, position: begin}", "begin", "bad-value"),
    ] {
        assert_eq!(bad(s), [(code, 8, column(s, needle))], "{s}");
    }
    let robustness = |s: &str| problems(&text_probe("robustness", s));
    for s in ["{kind: typo, rate: 0}", "{kind: typo, rate: -1}", "{kind: word-swap, rate: 2}"] {
        assert_eq!(robustness(s), [("bad-value", 8, column(s, "rate: ") + 6)], "{s}");
    }
    for s in ["{kind: insert-text}", "{kind: insert-token}", "{kind: homoglyph}", "{kind: typo}"] {
        assert_eq!(robustness(s), [("missing-key", 8, 16)], "{s}");
    }
    assert_eq!(bad("{kind: homoglyph, rate: 0.1, count: 2}"), [("unknown-key", 8, 45)]);

    let d = only(&text_probe("trigger", "{kind: insert-text, text: \" \"}"));
    assert_eq!(d.message, "`text` in transform of probe `p` must not be only whitespace");
    let d = only(&text_probe("trigger", "{kind: invisible, characters: zero_width}"));
    assert_eq!(d.hint.as_deref(), Some("did you mean `zero-width`?"));
    let d = only(&text_probe("trigger", "{kind: invisible, count: 65}"));
    assert_eq!(d.message, "`count` in transform of probe `p` must be an integer <= 64, found 65");
}

#[test]
fn only_text_kinds_with_a_control_can_be_triggers() {
    for s in ["{kind: typo, rate: 0.1}", "{kind: word-swap, rate: 0.1}"] {
        let d = only(&text_probe("trigger", s));
        assert_eq!((d.code.as_str(), d.line, d.column), ("category-mismatch", 8, 23), "{s}");
        assert!(
            d.message.ends_with(
                "a trigger inserts trigger content (insert-text, insert-token, homoglyph or invisible) that has \
                 a matched control"
            ),
            "{}",
            d.message
        );
        assert_eq!(d.hint.as_deref(), Some("use category: robustness"));
    }
    // Any text kind may be a robustness probe (e.g. how much a stray `cf` moves predictions).
    for s in ["{kind: insert-text, text: cf}", "{kind: homoglyph, rate: 0.2}", "{kind: invisible, count: 3}"] {
        valid(&text_probe("robustness", s));
    }
}

#[test]
fn a_transform_of_the_other_modality_is_a_mismatch_both_ways() {
    let d = only(&text_probe("trigger", PATCH));
    assert_eq!((d.code.as_str(), d.line, d.column), ("category-mismatch", 8, 23));
    assert_eq!(d.message, "`patch` in probe `p` is an image transform, but the battery's modality is text");
    assert_eq!(
        d.hint.as_deref(),
        Some(
            "image transforms need `modality: image`; a text battery's kinds are insert-text, insert-token, \
             homoglyph, invisible, typo, word-swap"
        )
    );
    let d = only(&probe("trigger", "{kind: insert-token, token: cf}", ""));
    assert_eq!((d.code.as_str(), d.line, d.column), ("category-mismatch", 8, 23));
    assert_eq!(d.message, "`insert-token` in probe `p` is a text transform, but the battery's modality is image");
    assert_eq!(
        d.hint.as_deref(),
        Some(
            "text transforms need `modality: text`; an image battery's kinds are patch, blend, gaussian-noise, \
             brightness-contrast, shift, rotate, blur"
        )
    );
    // Both problems of a robustness-only kind of the other modality as a trigger, and the
    // kind's own mistakes too.
    assert_eq!(
        problems(&probe("trigger", "{kind: typo, rate: 3}", "")),
        [("category-mismatch", 8, 23), ("category-mismatch", 8, 23), ("bad-value", 8, 35)]
    );
}

#[test]
fn vocabulary_search_keys_and_defaults() {
    let search = |s: &str| match transform(&search_probe("text", s)) {
        TransformSpec::Search(spec) => spec,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        search("{method: vocabulary}"),
        SearchSpec::Vocabulary {
            tokens: vec![TokenFilter::WholeWords, TokenFilter::SubWords],
            pairs: 8,
            budget: 400_000,
            words: None,
            positions: vec![TextPosition::Random],
            inputs: SweepInputs::Confident,
        }
    );
    assert_eq!(
        search("{method: vocabulary, tokens: [special, whole-words], pairs: 0, budget: 1000}"),
        SearchSpec::Vocabulary {
            tokens: vec![TokenFilter::Special, TokenFilter::WholeWords],
            pairs: 0,
            budget: 1000,
            words: None,
            positions: vec![TextPosition::Random],
            inputs: SweepInputs::Confident,
        }
    );
    assert_eq!(search("{method: vocabulary, pairs: 64}").budget(), 400_000);
    // A word list, relative to the battery's folder (here the crate's root).
    let SearchSpec::Vocabulary { words, .. } = search("{method: vocabulary, words: Cargo.toml}") else { panic!() };
    assert_eq!(words, Some(PathBuf::from("Cargo.toml")));

    let bad = |s: &str| problems(&search_probe("text", s));
    let column = |s: &str, needle: &str| 13 + s.find(needle).unwrap() as u32;
    for (s, needle, code) in [
        ("{method: vocabulary, tokens: []}", "[]", "bad-value"),
        ("{method: vocabulary, tokens: special}", "special", "wrong-type"),
        ("{method: vocabulary, tokens: [subwords]}", "subwords", "bad-value"),
        ("{method: vocabulary, tokens: [special, special]}", "special]", "bad-value"),
        ("{method: vocabulary, pairs: 65}", "65", "bad-value"),
        ("{method: vocabulary, pairs: -1}", "-1", "bad-value"),
        ("{method: vocabulary, budget: 999}", "999", "bad-value"),
        ("{method: vocabulary, sizes: [2]}", "sizes", "unknown-key"),
        ("{method: vocabulary, words: no-such-list.txt}", "no-such", "file-not-found"),
    ] {
        assert_eq!(bad(s), [(code, 8, column(s, needle))], "{s}");
    }
    let d = only(&search_probe("text", "{method: vocabulary, tokens: [subwords]}"));
    assert_eq!(d.hint.as_deref(), Some("did you mean `sub-words`?"));
    let d = only(&search_probe("text", "{method: vocabulary, tokens: [special, special]}"));
    assert_eq!(d.message, "`tokens` in search of probe `p` lists `special` twice");
}

#[test]
fn vocabulary_search_positions_add_places_to_the_drawn_boundaries() {
    let positions = |s: &str| match transform(&search_probe("text", s)) {
        TransformSpec::Search(SearchSpec::Vocabulary { positions, .. }) => positions,
        other => panic!("{other:?}"),
    };
    assert_eq!(positions("{method: vocabulary}"), [TextPosition::Random]);
    assert_eq!(
        positions("{method: vocabulary, positions: [random, start, end]}"),
        [TextPosition::Random, TextPosition::Start, TextPosition::End]
    );
    let column = |s: &str, needle: &str| 13 + s.find(needle).unwrap() as u32;
    for (s, needle, code) in [
        ("{method: vocabulary, positions: []}", "[]", "bad-value"),
        ("{method: vocabulary, positions: start}", "start", "wrong-type"),
        ("{method: vocabulary, positions: [begin]}", "begin", "bad-value"),
        ("{method: vocabulary, positions: [end, end]}", "end]", "bad-value"),
    ] {
        assert_eq!(problems(&search_probe("text", s)), [(code, 8, column(s, needle))], "{s}");
    }
    let d = only(&search_probe("text", "{method: vocabulary, positions: [strat]}"));
    assert_eq!(d.hint.as_deref(), Some("did you mean `start`?"));
}

#[test]
fn vocabulary_search_inputs_choose_the_confident_or_the_uncertain_half() {
    let inputs = |s: &str| match transform(&search_probe("text", s)) {
        TransformSpec::Search(SearchSpec::Vocabulary { inputs, .. }) => inputs,
        other => panic!("{other:?}"),
    };
    assert_eq!(inputs("{method: vocabulary}"), SweepInputs::Confident);
    assert_eq!(inputs("{method: vocabulary, inputs: confident}"), SweepInputs::Confident);
    assert_eq!(inputs("{method: vocabulary, inputs: uncertain}"), SweepInputs::Uncertain);
    let column = |s: &str, needle: &str| 13 + s.find(needle).unwrap() as u32;
    for (s, needle, code) in [
        ("{method: vocabulary, inputs: [uncertain]}", "[uncertain]", "wrong-type"),
        ("{method: vocabulary, inputs: low}", "low", "bad-value"),
        ("{method: vocabulary, inputs: 3}", "3", "wrong-type"),
    ] {
        assert_eq!(problems(&search_probe("text", s)), [(code, 8, column(s, needle))], "{s}");
    }
    let d = only(&search_probe("text", "{method: vocabulary, inputs: uncertian}"));
    assert_eq!(d.hint.as_deref(), Some("did you mean `uncertain`?"));
    // The default is left out of a serialised spec, so specs written before the key read the same.
    let json = serde_json::to_string(&inputs_spec(SweepInputs::Confident)).unwrap();
    assert!(!json.contains("inputs"), "{json}");
    let json = serde_json::to_string(&inputs_spec(SweepInputs::Uncertain)).unwrap();
    assert!(json.contains(r#""inputs":"uncertain""#), "{json}");
}

fn inputs_spec(inputs: SweepInputs) -> SearchSpec {
    SearchSpec::Vocabulary { tokens: vec![], pairs: 0, budget: 1000, words: None, positions: vec![], inputs }
}

#[test]
fn a_search_of_the_other_modality_is_a_mismatch_both_ways() {
    let d = only(&search_probe("image", "{method: vocabulary}"));
    assert_eq!((d.code.as_str(), d.line, d.column), ("category-mismatch", 8, 22));
    assert_eq!(
        d.message,
        "the `vocabulary` search in probe `p` searches text inputs, but the battery's modality is image"
    );
    assert_eq!(
        d.hint.as_deref(),
        Some(
            "`vocabulary` needs `modality: text`; an image battery searches with method patch, reverse-engineer \
             or adversarial-peak"
        )
    );
    for method in ["patch", "reverse-engineer"] {
        let d = only(&search_probe("text", &format!("{{method: {method}}}")));
        assert_eq!((d.code.as_str(), d.line, d.column), ("category-mismatch", 8, 22));
        assert!(d.message.ends_with("searches image inputs, but the battery's modality is text"), "{}", d.message);
        assert!(d.hint.unwrap().ends_with("a text battery searches with method vocabulary"));
    }
}

#[test]
fn an_unknown_kind_or_method_lists_those_of_the_battery_modality() {
    let d = only(&text_probe("robustness", "{kind: typos, rate: 0.1}"));
    assert_eq!(
        (d.message.as_str(), d.hint.as_deref()),
        (
            "`kind` in transform of probe `p` must be one of insert-text, insert-token, homoglyph, invisible, \
             typo, word-swap, found `typos`",
            Some("did you mean `typo`?")
        )
    );
    let d = only(&probe("robustness", "{kind: bluur, sigma: 1}", ""));
    assert!(d.message.contains("one of patch, blend, gaussian-noise, brightness-contrast, shift, rotate, blur, found"));
    let d = only(&search_probe("text", "{method: vocab}"));
    assert_eq!(d.message, "`method` in search of probe `p` must be one of vocabulary, found `vocab`");
    // Without a valid modality every name is offered.
    let text = probe("robustness", "{kind: x}", "").replace("modality: image", "modality: audio");
    let messages: Vec<String> = check(&text).unwrap_err().iter().map(|d| d.message.clone()).collect();
    assert!(messages[1].contains("blur, insert-text"), "{messages:?}");
}

#[test]
fn a_text_probe_without_a_transform_gets_a_text_example() {
    let text = with("probes:\n  - {id: p, category: trigger}\n").replace("modality: image", "modality: text");
    assert_eq!(only(&text).hint.as_deref(), Some("e.g. `transform: {kind: insert-text, text: cf}`"));
}

#[test]
fn a_syntax_error_is_one_diagnostic_with_a_location() {
    let d = only("schema: probity/battery/v1\nprobes: [\n  - id: a\n");
    assert_eq!(d.code.as_str(), "yaml-syntax");
    assert!(d.line >= 2, "{d}");
}

#[test]
fn wrong_types_name_the_expected_type() {
    let d = only(
        &with("defaults:\n  alpha: high\nprobes: []\n")
            .replace("probes: []", &format!("probes:\n  - {{id: p, category: trigger, transform: {PATCH}}}")),
    );
    assert_eq!(d.message, "`alpha` in defaults must be a number, found a string");
    let d = only(
        &with("defaults: [1]\n")
            .replace("[1]\n", &format!("[1]\nprobes:\n  - {{id: p, category: trigger, transform: {PATCH}}}\n")),
    );
    assert_eq!(
        (d.code.as_str(), d.message.as_str()),
        ("wrong-type", "`defaults` in the battery file must be a map, found a list")
    );
}
