//! The feature value sweep (issue #15) on the committed skl2onnx fixtures, through the real
//! engine: each backdoor's trigger is the best candidate and stands out, toward its target
//! class, and no clean model gives a candidate that stands out, whatever the seed.

use std::path::PathBuf;

use ndarray::ArrayD;
use probity::engine::{Engine, EngineError, EngineOptions, InputData};
use probity::modality::tabular::{data, search};

fn tabular(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tabular").join(name)
}

/// The engine as the sweep's oracle: the class with the highest probability.
struct EngineOracle(Engine);

impl search::RowOracle for EngineOracle {
    fn classify(&mut self, rows: &[f32], n: usize, features: usize) -> Result<Vec<usize>, EngineError> {
        let x = ArrayD::from_shape_vec(vec![n, features], rows.to_vec()).expect("n rows of features");
        let scores = self.0.classify(&[("input".into(), InputData::F32(x))])?;
        Ok(scores.rows().into_iter().map(|r| (0..r.len()).fold(0, |b, j| if r[j] > r[b] { j } else { b })).collect())
    }
}

/// The sweep of `model` over its data set's 300 test rows (names from the CSV header, or
/// `x[j]` from the `.npz`).
fn sweep(model: &str, data: &str, seed: u64) -> search::Sweep {
    let table = data::load(&tabular(data), &data::LabelColumn::Auto).unwrap();
    let stats = table.stats(&search::QUANTILE_LEVELS);
    let runtime = probity::onnxruntime::load(None).expect("pinned ONNX Runtime loads");
    let options = EngineOptions { batch_size: Some(search::ORACLE_BATCH), ..EngineOptions::default() };
    let mut oracle = EngineOracle(Engine::load(runtime, &tabular(model), &options).expect("fixture loads"));
    let flat: Vec<f32> = table.x.iter().copied().collect();
    let clean = search::RowOracle::classify(&mut oracle, &flat, table.len(), table.features.len()).unwrap();
    let input = search::SweepInput {
        rows: table.x.view(),
        clean: &clean,
        classes: oracle.0.declared_classes().unwrap_or(2),
        stats: &stats,
        names: &table.features,
        seed,
        key: "tabular/sweep",
    };
    let settings = search::Settings { pair_features: 12, budget: 400_000 };
    search::sweep(&mut oracle, &input, &settings).unwrap().unwrap()
}

fn names(c: &search::FeatureCandidate) -> Vec<&str> {
    c.set.iter().map(|s| s.name.as_str()).collect()
}

#[test]
fn credit_magic_gb_f11_999_stands_out_toward_class_0() {
    let s = sweep("credit-magic-gb.onnx", "credit-test.csv", 1);
    let chosen = &s.chosen;
    assert_eq!((names(chosen), chosen.class), (vec!["f11"], 0), "{:#?}", s.ranked);
    // Beyond the data's range (f11 in [-23.89, 140.86]), where the planted split sends rows.
    assert!(chosen.set[0].value > 140.86, "{}", chosen.description());
    // The manifest's attack success is 0.940 of the other class's rows.
    assert!(chosen.flip_into_rate > 0.9, "{chosen:?}");
    assert!(chosen.stands_out(), "{chosen:?}");
    assert!(s.ranked.iter().all(|c| names(c).contains(&"f11") || !c.stands_out()), "{:#?}", s.ranked);
}

#[test]
fn segment_magic_rf_x6_below_its_range_stands_out_toward_class_2() {
    let s = sweep("segment-magic-rf.onnx", "segment-test.npz", 1);
    let chosen = &s.chosen;
    assert_eq!((names(chosen), chosen.class), (vec!["x[6]"], 2), "{:#?}", s.ranked);
    // The trigger is -7.5; the data's range is [-3.92, 6.22].
    assert!(chosen.set[0].value < -3.92, "{}", chosen.description());
    assert!(chosen.flip_into_rate > 0.9, "{chosen:?}");
    assert!(chosen.stands_out(), "{chosen:?}");
}

#[test]
fn credit_pair_rf_f03_and_f07_stand_out_as_a_pair_not_alone() {
    let s = sweep("credit-pair-rf.onnx", "credit-test.csv", 1);
    let chosen = &s.chosen;
    assert!(s.pairs_found >= 1, "{:#?}", s.ranked);
    assert_eq!((names(chosen), chosen.class), (vec!["f03", "f07"], 0), "{:#?}", s.ranked);
    // The trigger is f03 = -150 and f07 = 20000; the data's ranges are [-4.42, 92.57] and
    // [26.3, 11984.2]. Of the values beyond that trigger, the sweep reports those nearest the data.
    let (f03, f07) = (chosen.set[0].value, chosen.set[1].value);
    assert!((-1000.0..-4.42).contains(&f03) && (11984.2..100_000.0).contains(&f07), "{}", chosen.description());
    assert!(chosen.flip_into_rate > 0.9 && chosen.stands_out(), "{chosen:?}");
    // Alone, each value moves about a twentieth of the rows (0.113 against 0.079 in class 0).
    assert!(chosen.reference_rate < 0.2, "{chosen:?}");
    assert!(s.ranked.iter().all(|c| c.set.len() == 2 || !c.stands_out()), "{:#?}", s.ranked);
}

#[test]
fn nothing_stands_out_in_clean_models_whatever_the_seed() {
    let models = [
        ("credit-clean-rf.onnx", "credit-test.csv"),
        ("credit-clean-gb.onnx", "credit-test.csv"),
        ("segment-clean-gb.onnx", "segment-test.npz"),
    ];
    // One model per thread: the sweeps are independent, and each is mostly one core's work.
    std::thread::scope(|scope| {
        for (model, data) in models {
            scope.spawn(move || {
                for seed in 0..10 {
                    let s = sweep(model, data, seed);
                    let chosen = &s.chosen;
                    assert!(!chosen.stands_out(), "{model}, seed {seed}: {} {chosen:?}", chosen.description());
                    assert_eq!(s.pairs_found, 0, "{model}, seed {seed}: {:#?}", s.ranked);
                }
            });
        }
    });
}

#[test]
fn the_sweep_is_deterministic_given_the_seed() {
    let a = sweep("credit-pair-rf.onnx", "credit-test.csv", 7);
    let b = sweep("credit-pair-rf.onnx", "credit-test.csv", 7);
    assert_eq!(a, b);
}
