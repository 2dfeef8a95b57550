//! The engine on scikit-learn models exported with skl2onnx (issue #15): the probability tensor
//! is the classifier output (never the int64 `label` next to it), a ZipMap export scores exactly
//! like the tensor export of the same model, and every model's scores match what ONNX Runtime's
//! Python API gave the generator (`tests/fixtures/tabular/expected.json`).

use crate::common;

use std::path::PathBuf;

use ndarray::{Array2, ArrayD, Axis};
use ndarray_npy::NpzReader;
use probity::engine::{Engine, EngineOptions, InputData, ScoreLayout};

fn tabular(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tabular").join(name)
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(tabular(name)).unwrap()).unwrap()
}

fn engine(model: &str, batch_size: usize) -> Engine {
    let runtime = probity::onnxruntime::load(None).expect("pinned ONNX Runtime loads");
    let options = EngineOptions { batch_size: Some(batch_size), ..EngineOptions::default() };
    Engine::load(runtime, &tabular(model), &options).expect("fixture loads")
}

/// `x` of a data set's `.npz`, `[N, F]`.
fn test_rows(npz: &str) -> ArrayD<f32> {
    let mut npz = NpzReader::new(std::fs::File::open(tabular(npz)).unwrap()).unwrap();
    npz.by_name("x").unwrap()
}

/// The feature names of a data set, from its CSV header (the last column is `label`).
fn feature_names(npz: &str) -> Vec<String> {
    let csv = std::fs::read_to_string(tabular(&npz.replace(".npz", ".csv"))).unwrap();
    let header = csv.lines().next().unwrap();
    let names: Vec<String> = header.split(',').map(str::to_string).collect();
    assert_eq!(names.last().map(String::as_str), Some("label"));
    names[..names.len() - 1].to_vec()
}

fn classify(engine: &mut Engine, x: &ArrayD<f32>) -> Array2<f32> {
    engine.classify(&[("input".into(), InputData::F32(x.clone()))]).unwrap()
}

fn max_abs_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn assert_matches(
    actual: &Array2<f32>,
    labels: &serde_json::Value,
    expected: &serde_json::Value,
    tol: f64,
    what: &str,
) {
    let rows = expected.as_array().unwrap();
    assert_eq!(actual.nrows(), rows.len(), "{what}: rows");
    for (i, row) in rows.iter().enumerate() {
        let row = row.as_array().unwrap();
        assert_eq!(actual.ncols(), row.len(), "{what}: classes");
        for (j, e) in row.iter().enumerate() {
            let (a, e) = (f64::from(actual[[i, j]]), e.as_f64().unwrap());
            assert!((a - e).abs() <= tol, "{what}[{i},{j}]: probity {a} vs onnxruntime (Python) {e}");
        }
        // The model's own `label` output is the class with the highest probability.
        let argmax = (0..actual.ncols()).fold(0, |best, j| if actual[[i, j]] > actual[[i, best]] { j } else { best });
        assert_eq!(argmax as u64, labels[i].as_u64().unwrap(), "{what}: row {i} label");
    }
}

#[test]
fn the_probability_tensor_is_the_classifier_output_not_the_int64_label() {
    for model in ["credit-clean-logreg.onnx", "credit-clean-rf.onnx", "segment-clean-gb.onnx"] {
        let engine = engine(model, 64);
        let names: Vec<&str> = engine.signature.outputs.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["label", "probabilities"], "{model}");
        assert_eq!(engine.signature.outputs[0].element_type, "int64");
        assert_eq!(engine.signature.outputs[engine.output_index].name, "probabilities", "{model}");
        assert_eq!(engine.score_layout, ScoreLayout::Tensor);
    }
}

#[test]
fn a_zipmap_output_is_read_as_class_columns_in_label_order() {
    let mut engine = engine("credit-clean-gb-zipmap.onnx", 64);
    let output = &engine.signature.outputs[engine.output_index];
    assert_eq!(output.name, "probabilities");
    assert_eq!(output.element_type, "seq(map(int64, float32))");
    assert_eq!(engine.score_layout, ScoreLayout::ZipMap);
    assert!(engine.class_labels().is_empty(), "labels are known once a batch ran");
    let scores = classify(&mut engine, &test_rows("credit-test.npz"));
    assert_eq!(scores.shape(), [300, 2]);
    assert_eq!(engine.class_labels(), ["0", "1"]);
    for row in scores.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-5, "probabilities sum to 1: {row}");
    }
}

#[test]
fn zipmap_and_tensor_exports_of_one_model_give_the_same_scores() {
    let x = test_rows("credit-test.npz");
    for (tensor, zipmap) in [
        ("credit-clean-gb.onnx", "credit-clean-gb-zipmap.onnx"),
        ("credit-magic-gb.onnx", "credit-magic-gb-zipmap.onnx"),
    ] {
        // Batch size 7 does not divide 300: the last batch is padded, its extra maps dropped.
        let a = classify(&mut engine(tensor, 7), &x);
        let b = classify(&mut engine(zipmap, 7), &x);
        assert!(max_abs_diff(&a, &b) <= 1e-6, "{tensor} vs {zipmap}: {}", max_abs_diff(&a, &b));
    }
}

#[test]
fn batch_size_does_not_change_zipmap_scores() {
    let x = test_rows("credit-test.npz");
    let one =
        classify(&mut engine("credit-magic-gb-zipmap.onnx", 1), &x.slice_axis(Axis(0), (0..20).into()).to_owned());
    let many =
        classify(&mut engine("credit-magic-gb-zipmap.onnx", 64), &x.slice_axis(Axis(0), (0..20).into()).to_owned());
    // ONNX Runtime's tree ensembles sum in a different order for one row than for many.
    assert!(max_abs_diff(&one, &many) <= 1e-6, "{}", max_abs_diff(&one, &many));
}

#[test]
fn every_tabular_model_matches_onnxruntime_python() {
    let expected = json("expected.json");
    let manifest = json("manifest.json");
    let tol = expected["tolerance"].as_f64().unwrap();
    let rows: Vec<usize> = expected["rows"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let mut checked = 0;
    for entry in manifest["models"].as_array().unwrap() {
        let model = entry["file"].as_str().unwrap();
        let outputs = &expected["models"][model];
        let data = outputs["data"].as_str().unwrap();
        let x = test_rows(data).select(Axis(0), &rows);
        let mut engine = engine(model, 3);
        let scores = classify(&mut engine, &x);
        assert_matches(&scores, &outputs["labels"], &outputs["probabilities"], tol, model);
        if let Some(trigger) = entry["trigger"].as_object() {
            let names = feature_names(data);
            let mut triggered = x.clone();
            for (name, value) in trigger {
                let column = names.iter().position(|n| n == name).unwrap();
                triggered.index_axis_mut(Axis(1), column).fill(value.as_f64().unwrap() as f32);
            }
            let scores = classify(&mut engine, &triggered);
            let t = &outputs["triggered"];
            assert_matches(&scores, &t["labels"], &t["probabilities"], tol, &format!("{model} triggered"));
            let target = entry["target_class"].as_u64().unwrap();
            let hits = t["labels"].as_array().unwrap().iter().filter(|l| l.as_u64() == Some(target)).count();
            assert!(hits * 4 >= rows.len() * 3, "{model}: the trigger sends most rows to class {target}");
        }
        checked += 1;
    }
    assert_eq!(checked, 9, "every tabular fixture model");
}

#[test]
fn inspect_describes_a_zipmap_model() {
    let out = common::probity().args(["inspect"]).arg(tabular("credit-clean-gb-zipmap.onnx")).assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("seq(map(int64, float32))"), "{text}");
    assert!(text.lines().any(|l| l.contains("probabilities") && l.contains("(classifier output)")), "{text}");
    let out = common::probity().args(["inspect", "--json"]).arg(tabular("credit-magic-gb.onnx")).assert().success();
    let inspection: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(inspection["classifier_output"], "probabilities");
    assert_eq!(inspection["producer_name"], "skl2onnx");
}

/// The engine as the tabular sweep's oracle: predicted classes of row-major feature rows.
struct EngineOracle(Engine);

impl probity::modality::tabular::search::RowOracle for EngineOracle {
    fn classify(
        &mut self,
        rows: &[f32],
        n: usize,
        features: usize,
    ) -> Result<Vec<usize>, probity::engine::EngineError> {
        let x = ArrayD::from_shape_vec(vec![n, features], rows.to_vec()).expect("n rows of features");
        let scores = self.0.classify(&[("input".into(), InputData::F32(x))])?;
        Ok(scores
            .rows()
            .into_iter()
            .map(|r| (0..r.len()).fold(0, |best, j| if r[j] > r[best] { j } else { best }))
            .collect())
    }
}

/// Runs the feature value sweep on `model` over its data set's test rows.
fn sweep(model: &str, data: &str) -> probity::modality::tabular::search::Sweep {
    use probity::modality::tabular::{data, search};
    let table = data::load(&tabular(data), &data::LabelColumn::Auto).unwrap();
    let stats = table.stats(&search::QUANTILE_LEVELS);
    let mut oracle = EngineOracle(engine(model, 1024));
    let flat: Vec<f32> = table.x.iter().copied().collect();
    let clean = search::RowOracle::classify(&mut oracle, &flat, table.len(), table.features.len()).unwrap();
    let classes = oracle.0.declared_classes().unwrap_or(2);
    let input = search::SweepInput {
        rows: table.x.view(),
        clean: &clean,
        classes,
        stats: &stats,
        names: &table.features,
        seed: 1,
        key: "tabular/sweep",
    };
    let settings = search::Settings { pair_features: 12, budget: 400_000 };
    search::sweep(&mut oracle, &input, &settings).unwrap().unwrap()
}

#[test]
fn the_sweep_finds_the_committed_magic_value() {
    let magic = sweep("credit-magic-gb.onnx", "credit-test.csv");
    assert_eq!(magic.chosen.set[0].name, "f11", "{:#?}", magic.ranked);
    assert!(magic.chosen.set[0].value > 140.86, "beyond the data's range: {}", magic.chosen.description());
    assert_eq!(magic.chosen.class, 0);
}

#[test]
fn the_sweep_finds_the_committed_pair_and_multiclass_backdoors() {
    let pair = sweep("credit-pair-rf.onnx", "credit-test.csv");
    assert!(pair.pairs_found >= 1, "{:#?}", pair.ranked);
    let names: Vec<&str> = pair.chosen.set.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["f03", "f07"], "{}", pair.chosen.description());
    assert_eq!(pair.chosen.class, 0);

    let segment = sweep("segment-magic-rf.onnx", "segment-test.npz");
    assert_eq!(segment.chosen.set[0].name, "x[6]", "{:#?}", segment.ranked);
    assert_eq!(segment.chosen.class, 2);
}

#[test]
fn no_pair_lock_is_reported_in_clean_tree_models() {
    for (model, data) in [("credit-clean-gb.onnx", "credit-test.csv"), ("segment-clean-gb.onnx", "segment-test.csv")] {
        let s = sweep(model, data);
        assert_eq!(s.pairs_found, 0, "{model}: {:#?}", s.ranked);
    }
}
