mod common;
use common::fixture;
use probity::battery::spec::*;
use probity::engine::{Engine, EngineOptions};
use probity::runner::{self, Inputs, Models, ScanSettings};

#[test]
fn scratch() {
    let runtime = probity::onnxruntime::load(None).unwrap();
    let data = probity::data::load_text(&fixture("../text/text-test.jsonl")).unwrap();
    for model in [
        "text/text-backdoor-cf.onnx",
        "text/text-clean-h32-s1.onnx",
        "text/text-clean-h32-s2.onnx",
        "text/text-clean-h64-s3.onnx",
        "text/text-clean-h32-s4-tti.onnx",
    ] {
        let mut engine = Engine::load(runtime, &fixture(&format!("../{model}")), &EngineOptions::default()).unwrap();
        let encoder = probity::text::TextEncoder::new(&fixture("../text/tokenizer.json"), &engine).unwrap();
        let probe = Probe {
            id: "vocab".into(),
            line: 1,
            category: Category::Trigger,
            description: String::new(),
            transform: TransformSpec::Search(SearchSpec::Vocabulary {
                tokens: vec![TokenFilter::WholeWords, TokenFilter::SubWords],
                pairs: 8,
                budget: 1_000_000,
            }),
            thresholds: Thresholds::Trigger { alpha: 0.05, min_effect: 0.5, min_attack_success: 0.9 },
            samples: 400,
        };
        let battery = Battery {
            path: "x.yaml".into(),
            sha256: String::new(),
            name: "t".into(),
            version: "1".into(),
            description: String::new(),
            modality: Modality::Text,
            defaults: probity::battery::builtin_defaults(),
            probes: vec![probe],
        };
        let mut models =
            Models { candidate: &mut engine, references: &mut [], baseline: None, baseline_tolerance: 0.0 };
        let out = runner::scan(
            &mut models,
            Inputs::Text { data: &data, encoder: &encoder },
            &[battery],
            &ScanSettings::default(),
        )
        .unwrap();
        let p = &out.probes[0];
        let s = p.search.as_ref().unwrap().vocabulary.as_ref().unwrap();
        println!(
            "{model}: verdict {:?} asr {:?} ctrl {:?} | swept {} n0 {} rungs {} q {} {:.2}s {:.0} q/s",
            p.judgement.verdict,
            p.judgement.attack_success_rate,
            p.judgement.control_attack_success_rate,
            s.swept,
            s.first_rung_samples,
            s.rungs,
            s.queries,
            s.seconds,
            s.queries_per_second
        );
        for c in s.ranked.iter().take(6) {
            println!(
                "   {:?} class {} rate {:.3} z {:.1} p {:.2e} ctrl {:.3}",
                c.tokens, c.class, c.flip_into_rate, c.robust_z, c.p_value, c.control_rate
            );
        }
    }
}
