//! The realistic-size fixtures (3x224x224 and 3x48x192, `tests/fixtures/large/`) through the real
//! ONNX Runtime and probity's own image-folder loader: their outputs must be the ones the
//! generator computed with a float64 NumPy forward pass on the same PNG pixels. Their scans take
//! minutes, so scan time and memory are measured by `benches/realsize.sh`, not here.

use std::path::{Path, PathBuf};

use ndarray::Axis;
use probity::battery::spec::Layout;
use probity::engine::{Engine, EngineOptions, InputData};
use probity::modality::image::{ChannelOrder, ImageFolderOptions};

fn large(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/large").join(name)
}

/// Every PNG under `dir`, sorted as the folder loader orders them.
fn pngs(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(pngs(&path));
        } else if path.extension().is_some_and(|e| e == "png") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn realistic_size_fixtures_give_the_generators_outputs_through_the_folder_loader() {
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(large("expected-outputs.json")).unwrap()).unwrap();
    let runtime = probity::onnxruntime::load(None).expect("pinned ONNX Runtime loads");
    let models = expected["models"].as_object().unwrap();
    assert!(models.len() >= 4, "the r224 and ocr pairs");
    for (model, entry) in models {
        let inputs: Vec<&str> = entry["inputs"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        let folder = large(inputs[0].split('/').next().unwrap());
        let engine_options = EngineOptions { batch_size: Some(2), ..EngineOptions::default() };
        let mut engine = Engine::load(runtime, &large(model), &engine_options).expect("fixture loads");
        let shape = &engine.signature.inputs[0].shape;
        let dim = |i: usize| match &shape[i] {
            probity::engine::Dim::Fixed(n) => *n as u32,
            other => panic!("{model}: symbolic image dimension {other}"),
        };
        let options = ImageFolderOptions {
            width: dim(3),
            height: dim(2),
            channels: ChannelOrder::Rgb,
            mean: vec![0.0; 3],
            std: vec![1.0; 3],
            layout: Layout::Nchw,
        };
        let data = probity::modality::image::load(&folder, Some(&options)).expect("folder loads");
        assert!(data.len() >= 64, "{model}: at least 64 images, got {}", data.len());
        let all = pngs(&folder);
        let indices: Vec<usize> = inputs
            .iter()
            .map(|rel| all.iter().position(|p| p.ends_with(rel)).unwrap_or_else(|| panic!("{rel} in {folder:?}")))
            .collect();
        let x = data.read(&indices).unwrap();
        // An odd count at batch 2 also exercises the padded last batch.
        let scores = engine.classify(&[("input".into(), InputData::F32(x.clone()))]).unwrap();
        let tolerance = entry["tolerance"].as_f64().unwrap();
        for (i, row) in entry["outputs"].as_array().unwrap().iter().enumerate() {
            for (j, value) in row.as_array().unwrap().iter().enumerate() {
                let (a, e) = (f64::from(scores[[i, j]]), value.as_f64().unwrap());
                assert!((a - e).abs() <= tolerance, "{model}[{i},{j}]: onnxruntime {a} vs numpy {e}");
            }
        }
        let one = engine
            .classify(&[("input".into(), InputData::F32(x.index_axis(Axis(0), 0).insert_axis(Axis(0)).to_owned()))]);
        assert_eq!(one.unwrap().row(0), scores.row(0), "{model}: a padded batch of one gives the same row");
        assert_eq!(engine.input_shapes().len(), 1, "{model}: one input shape: {:?}", engine.input_shapes());
    }
}
