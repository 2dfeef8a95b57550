//! The engine against the real ONNX Runtime: committed fixtures must produce the outputs the
//! generator computed independently with a NumPy forward pass (absolute tolerance 1e-4, the
//! generator's `tolerance`; float32 ONNX Runtime vs float64 NumPy differ by < 1e-5 here).

use crate::common;

use common::fixture;
use ndarray::{Array, ArrayD, Axis, IxDyn};
use ndarray_npy::NpzReader;
use probity::engine::{Engine, EngineOptions, InputData};

fn expected() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("expected-outputs.json")).unwrap()).unwrap()
}

fn test_inputs(indices: &[usize]) -> ArrayD<f32> {
    let mut npz = NpzReader::new(std::fs::File::open(fixture("digits-test.npz")).unwrap()).unwrap();
    let x: ArrayD<f32> = npz.by_name("x").unwrap();
    x.select(Axis(0), indices)
}

fn engine(model: &str, batch_size: usize) -> Engine {
    let runtime = probity::onnxruntime::load(None).expect("pinned ONNX Runtime loads");
    let options = EngineOptions { batch_size: Some(batch_size), ..EngineOptions::default() };
    Engine::load(runtime, &fixture(model), &options).expect("fixture loads")
}

fn assert_close(actual: &ndarray::Array2<f32>, expected: &serde_json::Value, tolerance: f64, what: &str) {
    let rows = expected.as_array().unwrap();
    assert_eq!(actual.nrows(), rows.len(), "{what}: row count");
    for (i, row) in rows.iter().enumerate() {
        let row = row.as_array().unwrap();
        assert_eq!(actual.ncols(), row.len(), "{what}: class count");
        for (j, value) in row.iter().enumerate() {
            let e = value.as_f64().unwrap();
            let a = f64::from(actual[[i, j]]);
            assert!((a - e).abs() <= tolerance, "{what}[{i},{j}]: onnxruntime {a} vs numpy {e}");
        }
    }
}

#[test]
fn every_digits_fixture_matches_the_generator_outputs() {
    let expected = expected();
    let tolerance = expected["tolerance"].as_f64().unwrap();
    let indices: Vec<usize> =
        expected["indices"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let x = test_inputs(&indices);
    let mut checked = 0;
    for (model, outputs) in expected["models"].as_object().unwrap() {
        if model == "tiny-text.onnx" {
            continue;
        }
        // Batch size 3 does not divide 8: the last batch is short.
        let mut engine = engine(model, 3);
        let scores = engine.classify(&[("input".into(), InputData::F32(x.clone()))]).unwrap();
        assert_close(&scores, outputs, tolerance, model);
        checked += 1;
    }
    assert!(checked >= 8, "expected outputs for at least 8 digits models, checked {checked}");
}

#[test]
fn fixed_batch_model_runs_one_sample_at_a_time() {
    let engine = engine("clean-mlp64-s1-batch1.onnx", 64);
    assert_eq!(engine.batch_size, 1);
}

#[test]
fn batch_size_does_not_change_outputs() {
    let x = test_inputs(&(0..50).collect::<Vec<_>>());
    let inputs = [("input".to_string(), InputData::F32(x))];
    let one = engine("clean-mlp64-s2.onnx", 1).classify(&inputs).unwrap();
    let many = engine("clean-mlp64-s2.onnx", 64).classify(&inputs).unwrap();
    assert_eq!(one, many);
}

#[test]
fn int64_multi_input_model_is_fed_by_name() {
    let expected = expected();
    let case = &expected["models"]["tiny-text.onnx"];
    let to_array = |key: &str| -> ArrayD<i64> {
        let rows = case[key].as_array().unwrap();
        let flat: Vec<i64> =
            rows.iter().flat_map(|r| r.as_array().unwrap().iter().map(|v| v.as_i64().unwrap())).collect();
        Array::from_shape_vec(IxDyn(&[rows.len(), flat.len() / rows.len()]), flat).unwrap()
    };
    let mut engine = engine("tiny-text.onnx", 2);
    // Deliberately given in the opposite order to the model's declaration.
    let inputs = [
        ("attention_mask".to_string(), InputData::I64(to_array("attention_mask"))),
        ("input_ids".to_string(), InputData::I64(to_array("input_ids"))),
    ];
    let scores = engine.classify(&inputs).unwrap();
    assert_close(&scores, &case["outputs"], expected["tolerance"].as_f64().unwrap(), "tiny-text");
}

#[test]
fn data_of_the_wrong_shape_names_both_shapes() {
    let engine = engine("clean-mlp64-s1.onnx", 8);
    let x = ArrayD::<f32>::zeros(IxDyn(&[4, 1, 7, 7]));
    let err = engine.check_inputs(&[("input".into(), InputData::F32(x))]).unwrap_err().to_string();
    assert!(err.contains("[N, 1, 8, 8]") && err.contains("[N, 1, 7, 7]"), "{err}");
}

#[test]
fn missing_input_is_named() {
    let engine = engine("tiny-text.onnx", 8);
    let ids = ArrayD::<i64>::zeros(IxDyn(&[2, 6]));
    let err = engine.check_inputs(&[("input_ids".into(), InputData::I64(ids))]).unwrap_err().to_string();
    assert!(err.contains("attention_mask"), "{err}");
}

#[test]
fn the_batch_size_is_chosen_from_the_input_size_unless_configured() {
    let runtime = probity::onnxruntime::load(None).expect("pinned ONNX Runtime loads");
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let auto = |path: &str| Engine::load(runtime, &root.join(path), &EngineOptions::default()).unwrap().batch_size;
    // 1x8x8 float32 = 256 bytes per sample: 256 KiB per run is 1,024 samples (the cap).
    assert_eq!(auto("digits/clean-mlp64-s1.onnx"), 1024);
    // 3x32x32 float32 = 12 KiB: 21 samples fit, below the floor of 64.
    assert_eq!(auto("zoo/rgb-cnn.onnx"), 64);
    // Two int64 [N, L] inputs, L symbolic (counted as 64): 1 KiB per sample.
    assert_eq!(auto("text/text-clean-h32-s1.onnx"), 256);
    // A fixed batch dimension of 1 wins over everything; a configured size is kept.
    assert_eq!(engine("clean-mlp64-s1-batch1.onnx", 64).batch_size, 1);
    assert_eq!(engine("clean-mlp64-s1.onnx", 7).batch_size, 7);
}
