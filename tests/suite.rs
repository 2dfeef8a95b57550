//! `probity suite run|merge|report` (issue #17: the nightly job): resumable runs keyed by
//! content digests, shards that merge into the unsharded result, trends over nights, and the
//! scale-out examples in `examples/suite/` exercised on the bundled fixtures.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::probity;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `probity ARGS...` run from the repository root.
fn run(args: &[&str]) -> Output {
    probity().current_dir(root()).args(args).output().unwrap()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `suite.json` without its timing fields (`started`, `elapsed_seconds`, the only ones two runs
/// of the same inputs may differ in).
fn untimed(dir: &Path) -> Value {
    let mut v = read_json(&dir.join("suite.json"));
    let top = v.as_object_mut().unwrap();
    top.remove("started");
    top.remove("elapsed_seconds");
    for m in top["models"].as_array_mut().unwrap() {
        m.as_object_mut().unwrap().remove("elapsed_seconds");
    }
    v
}

/// A registry in a temporary folder, laid out as the pinned minimal suite expects:
/// `models/*.onnx` and `data/digits.npz`.
fn registry(models: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("models")).unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    for name in models {
        std::fs::copy(common::fixture(name), dir.path().join("models").join(name)).unwrap();
    }
    std::fs::copy(common::fixture("digits-test.npz"), dir.path().join("data/digits.npz")).unwrap();
    let suite = "schema: probity/suite/v1\nmodels:\n  - model: models/*.onnx\n    data: data/digits.npz\n";
    std::fs::write(dir.path().join("suite.yaml"), suite).unwrap();
    dir
}

fn suite_run(registry: &Path, results: &Path, extra: &[&str]) -> Output {
    let suite = registry.join("suite.yaml");
    let mut args = vec!["suite", "run", suite.to_str().unwrap(), "--results", results.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(&args)
}

/// The models a run printed as `ran` (scanned) and as `kept` (reused).
fn ran_and_kept(output: &Output) -> (Vec<String>, Vec<String>) {
    let (mut ran, mut kept) = (Vec::new(), Vec::new());
    for line in stdout(output).lines() {
        let mut words = line.split_whitespace();
        let (how, _verdict, model) = (words.next(), words.next(), words.next());
        let model = model.unwrap_or_default().trim_end_matches(':').to_string();
        match how {
            Some("ran") => ran.push(model),
            Some("kept") => kept.push(model),
            _ => {}
        }
    }
    (ran, kept)
}

#[test]
fn the_pinned_minimal_suite_scans_every_model_with_the_datas_default_batteries() {
    let reg = registry(&["badnets-mlp64.onnx", "clean-logreg-s5.onnx"]);
    let results = reg.path().join("results");
    let out = suite_run(reg.path(), &results, &[]);
    assert_eq!(code(&out), 1, "a failing model fails the suite: {}", stderr(&out));
    let suite = read_json(&results.join("suite.json"));
    let models = suite["models"].as_array().unwrap();
    let listed: Vec<(&str, &str)> =
        models.iter().map(|m| (m["model"].as_str().unwrap(), m["verdict"].as_str().unwrap())).collect();
    assert_eq!(listed, [("models/badnets-mlp64.onnx", "fail"), ("models/clean-logreg-s5.onnx", "pass")]);
    for m in models {
        let report = read_json(&results.join(m["report"].as_str().unwrap()));
        assert_eq!(report["verdict"], m["verdict"]);
        let batteries: Vec<&str> =
            report["batteries"].as_array().unwrap().iter().map(|b| b["path"].as_str().unwrap()).collect();
        assert_eq!(
            batteries,
            ["batteries/image-triggers.yaml", "batteries/image-search.yaml", "batteries/image-robustness.yaml"]
        );
        assert!(results.join(m["report"].as_str().unwrap()).with_file_name("report.md").is_file());
    }
    assert_eq!(suite["models"][0]["strongest"]["probe"], "search-patch");
    assert_eq!((suite["totals"]["pass"].as_u64(), suite["totals"]["fail"].as_u64()), (Some(1), Some(1)));
}

#[test]
fn a_rerun_keeps_complete_items_and_a_changed_model_reruns_only_its_own() {
    let reg = registry(&["clean-mlp64-s1.onnx", "clean-logreg-s5.onnx"]);
    let results = reg.path().join("results");
    let first = suite_run(reg.path(), &results, &[]);
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let before = untimed(&results);

    let again = suite_run(reg.path(), &results, &[]);
    assert_eq!(code(&again), 0);
    assert_eq!(
        ran_and_kept(&again),
        (vec![], vec!["models/clean-logreg-s5.onnx".into(), "models/clean-mlp64-s1.onnx".into()])
    );
    assert_eq!(untimed(&results), before, "the same suite.json");

    // Another model under the same name: only its item runs, under a new key.
    std::fs::copy(common::fixture("clean-mlp64-s2.onnx"), reg.path().join("models/clean-mlp64-s1.onnx")).unwrap();
    let changed = suite_run(reg.path(), &results, &[]);
    assert_eq!(code(&changed), 0, "{}", stderr(&changed));
    assert_eq!(
        ran_and_kept(&changed),
        (vec!["models/clean-mlp64-s1.onnx".into()], vec!["models/clean-logreg-s5.onnx".into()])
    );
    let after = untimed(&results);
    assert_eq!(after["models"][0], before["models"][0], "the unchanged model's entry is the same");
    assert_ne!(after["models"][1]["key"], before["models"][1]["key"]);
    assert_ne!(after["models"][1]["digests"]["model"], before["models"][1]["digests"]["model"]);
    assert_eq!(after["models"][1]["digests"]["data"], before["models"][1]["digests"]["data"]);

    let forced = suite_run(reg.path(), &results, &["--force"]);
    assert_eq!(ran_and_kept(&forced).0.len(), 2, "--force redoes every item");
    assert_eq!(untimed(&results), after);
}

#[test]
fn a_suite_killed_mid_run_resumes_without_redoing_finished_items() {
    let models = [
        "badnets-mlp64.onnx",
        "clean-logreg-s5.onnx",
        "clean-mlp128-s4.onnx",
        "clean-mlp64-s1.onnx",
        "clean-mlp64-s2.onnx",
    ];
    let reg = registry(&models);
    let whole = reg.path().join("whole");
    assert_eq!(code(&suite_run(reg.path(), &whole, &[])), 1);

    let results = reg.path().join("results");
    let suite = reg.path().join("suite.yaml");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_probity"))
        .args(["suite", "run", suite.to_str().unwrap(), "--results", results.to_str().unwrap()])
        .env_remove("ORT_DYLIB_PATH")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Item folders in place (a staging folder, `.KEY.XXXXXX.tmp`, holds a report.json just
    // before it is renamed into place: not yet an item).
    let complete = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir.join("items"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                    .map(|e| e.path())
                    .filter(|p| p.join("report.json").is_file())
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while complete(&results).is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no handler runs, nothing is cleaned up.
    child.wait().unwrap();
    let finished = complete(&results);
    assert!(!finished.is_empty(), "an item finished before the kill");
    // What the kill left: complete item folders, and at most staging folders beside them.
    for entry in std::fs::read_dir(results.join("items")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        assert!(
            entry.path().join("report.json").is_file() || (name.starts_with('.') && name.ends_with(".tmp")),
            "half-written item {name}"
        );
    }
    // As a kill during the next scan would leave it, whatever the timing above was.
    std::fs::create_dir_all(results.join("items/.0123.abcdef.tmp")).unwrap();
    std::fs::write(results.join("items/.0123.abcdef.tmp/report.md"), "half").unwrap();
    let stamps: Vec<_> =
        finished.iter().map(|p| std::fs::metadata(p.join("report.json")).unwrap().modified().unwrap()).collect();

    let resumed = suite_run(reg.path(), &results, &[]);
    assert_eq!(code(&resumed), 1, "{}", stderr(&resumed));
    let (ran, kept) = ran_and_kept(&resumed);
    assert_eq!(kept.len(), finished.len().min(models.len()), "finished items are kept: {}", stdout(&resumed));
    assert_eq!(ran.len() + kept.len(), models.len());
    for (path, stamp) in finished.iter().zip(stamps) {
        assert_eq!(std::fs::metadata(path.join("report.json")).unwrap().modified().unwrap(), stamp, "not rewritten");
    }
    assert!(!results.join("items/.0123.abcdef.tmp").exists(), "staging leftovers removed");
    assert_eq!(untimed(&results), untimed(&whole), "the same suite.json as an uninterrupted run");
}

#[test]
fn a_malformed_suite_file_gives_every_error_with_its_position() {
    let reg = registry(&["clean-logreg-s5.onnx"]);
    let text = "schema: probity/suite/v1\nmodel:\n  - x\nmodels:\n  - model: models/*.pt\n    data: data/digits.npz\n  - model: models/clean-logreg-s5.onnx\n    data: data/missing.npz\n    batteries: 3\n";
    std::fs::write(reg.path().join("suite.yaml"), text).unwrap();
    let out = suite_run(reg.path(), &reg.path().join("results"), &[]);
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    let file = reg.path().join("suite.yaml").display().to_string();
    for (code, at) in
        [("unknown-key", "2:1"), ("file-not-found", "5:12"), ("file-not-found", "8:11"), ("wrong-type", "9:16")]
    {
        assert!(
            err.contains(&format!("error[{code}]")) && err.contains(&format!("{file}:{at}")),
            "{code} at {at}: {err}"
        );
    }
    assert!(err.contains("did you mean `models`?"), "{err}");
    assert!(!reg.path().join("results").exists(), "nothing written for a bad suite");
}

/// The scale-out examples' command lines: each parsed from its file, with the shard index
/// variable and the results folder, as the scheduler would set them.
fn example_commands() -> Vec<(&'static str, String, &'static str)> {
    let dir = root().join("examples/suite");
    let yaml =
        |name: &str| -> Value { serde_saphyr::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap() };

    let job = yaml("k8s-indexed-job.yaml");
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    assert_eq!(job["spec"]["completions"], 3);
    let k8s = job["spec"]["template"]["spec"]["containers"][0]["args"][0].as_str().unwrap().to_string();

    let workflow = yaml("github-actions.yml");
    assert_eq!(workflow["jobs"]["shard"]["strategy"]["matrix"]["shard"], serde_json::json!([0, 1, 2]));
    let steps = workflow["jobs"]["shard"]["steps"].as_array().unwrap();
    let gha = steps.iter().filter_map(|s| s["run"].as_str()).find(|r| r.contains("suite run")).unwrap().to_string();

    let script = std::fs::read_to_string(dir.join("slurm-array.sh")).unwrap();
    assert!(script.lines().any(|l| l == "#SBATCH --array=0-2"), "three array tasks");
    let slurm = script.lines().find(|l| l.starts_with("probity suite run")).unwrap().to_string();

    vec![
        ("k8s", k8s, "$JOB_COMPLETION_INDEX"),
        ("gha", gha, "${{ matrix.shard }}"),
        ("slurm", slurm, "$SLURM_ARRAY_TASK_ID"),
    ]
}

/// `command` as shard `index` would run it, with its results in `results`.
fn shard_args(command: &str, variable: &str, index: usize, results: &Path) -> Vec<String> {
    let line = command.replace(variable, &index.to_string());
    let mut args: Vec<String> = line.split_whitespace().map(String::from).collect();
    assert_eq!(args.remove(0), "probity", "{line}");
    let at = args.iter().position(|a| a == "--results").unwrap() + 1;
    args[at] = results.display().to_string();
    args
}

#[test]
fn three_shards_from_the_scale_out_examples_merge_into_the_unsharded_run() {
    let commands = example_commands();
    let tmp = tempfile::tempdir().unwrap();
    // Every example runs the same command line for a given shard.
    for index in 0..3 {
        let lines: Vec<Vec<String>> =
            commands.iter().map(|(_, command, var)| shard_args(command, var, index, Path::new("R"))).collect();
        assert!(lines.windows(2).all(|w| w[0] == w[1]), "{lines:?}");
        assert!(lines[0].join(" ").ends_with(&format!("--shard {index}/3")));
    }
    let (_, command, variable) = &commands[0];
    let mut shards = Vec::new();
    for index in 0..3 {
        let results = tmp.path().join(format!("shard-{index}"));
        let args = shard_args(command, variable, index, &results);
        let out = run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(matches!(code(&out), 0 | 1), "shard {index}: {}", stderr(&out));
        shards.push(results);
    }
    let whole = tmp.path().join("whole");
    let out = run(&["suite", "run", "examples/suite/nightly.yaml", "--results", whole.to_str().unwrap()]);
    assert_eq!(code(&out), 1, "the suite holds backdoored models: {}", stderr(&out));

    let mut seen: Vec<String> = Vec::new();
    for shard in &shards {
        let part = read_json(&shard.join("suite.json"));
        seen.extend(part["models"].as_array().unwrap().iter().map(|m| m["model"].as_str().unwrap().to_string()));
    }
    seen.sort();
    let mut all: Vec<String> = untimed(&whole)["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all.len(), 6, "every fixture modality: {all:?}");
    all.sort();
    assert_eq!(seen, all, "each model in exactly one shard");

    let merged = tmp.path().join("merged");
    let mut args = vec!["suite", "merge"];
    args.extend(shards.iter().map(|s| s.to_str().unwrap()));
    args.extend(["--out", merged.to_str().unwrap()]);
    let out = run(&args);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(untimed(&merged), untimed(&whole), "merged shards == one unsharded run");
    for m in untimed(&merged)["models"].as_array().unwrap() {
        assert_eq!(
            read_json(&merged.join(m["report"].as_str().unwrap()))["verdict"],
            m["verdict"],
            "the merged folder holds every item's reports"
        );
    }

    let missing =
        run(&["suite", "merge", shards[0].to_str().unwrap(), "--out", tmp.path().join("partial").to_str().unwrap()]);
    assert_eq!(code(&missing), 2, "a missing shard is an error, not a smaller suite");
    assert!(stderr(&missing).contains("have no result"), "{}", stderr(&missing));
}

#[test]
fn the_dashboard_shows_a_model_regressing_on_night_three() {
    let reg = registry(&["clean-logreg-s5.onnx", "clean-mlp64-s1.onnx"]);
    let nights: Vec<PathBuf> = (1..=3).map(|n| reg.path().join(format!("night-{n}"))).collect();
    for (n, night) in nights.iter().enumerate() {
        if n == 2 {
            // Night 3: a poisoned model is pushed under the clean one's name.
            std::fs::copy(common::fixture("badnets-mlp64.onnx"), reg.path().join("models/clean-mlp64-s1.onnx"))
                .unwrap();
        }
        suite_run(reg.path(), night, &[]);
    }
    let history = [nights[0].to_str().unwrap(), nights[1].to_str().unwrap()];
    let report = run(&["suite", "report", nights[2].to_str().unwrap(), "--history", history[0], history[1]]);
    assert_eq!(code(&report), 0, "{}", stderr(&report));
    assert!(stdout(&report).contains("new failure: models/clean-mlp64-s1.onnx"), "{}", stdout(&report));
    let md = std::fs::read_to_string(nights[2].join("suite-report.md")).unwrap();
    assert!(md.contains("- New failures: `models/clean-mlp64-s1.onnx`"), "{md}");
    assert!(md.contains("`models/clean-mlp64-s1.onnx` probes changed significantly"), "report diff: {md}");
    let row = md.lines().find(|l| l.starts_with("| `models/clean-mlp64-s1.onnx`")).unwrap();
    assert!(row.contains("| FAIL (100.0%) | `image-search/search-patch` |"), "{row}");
    let html = std::fs::read_to_string(nights[2].join("suite-report.html")).unwrap();
    assert!(html.contains("<svg") && !html.contains("<script"), "self-contained, chart inline");
    if let Ok(keep) = std::env::var("PROBITY_KEEP_DASHBOARD") {
        std::fs::copy(nights[2].join("suite-report.html"), keep).unwrap();
    }

    let gate = run(&[
        "suite",
        "report",
        nights[2].to_str().unwrap(),
        "--history",
        history[0],
        history[1],
        "--fail-on-regression",
    ]);
    assert_eq!(code(&gate), 1, "a regression fails the gate when asked");
    let steady = run(&[
        "suite",
        "report",
        nights[1].to_str().unwrap(),
        "--history",
        history[0],
        "--fail-on-regression",
        "--out",
        reg.path().join("dash").to_str().unwrap(),
    ]);
    assert_eq!(code(&steady), 0, "no regression between nights 1 and 2: {}", stderr(&steady));
}

#[test]
fn the_diagnostics_of_a_malformed_suite_file_render_like_rustc() {
    let out = run(&["suite", "run", "tests/fixtures/suites/malformed.yaml", "--results", "unused"]);
    assert_eq!(code(&out), 2);
    assert!(!root().join("unused").exists());
    insta::assert_snapshot!("malformed-suite", stderr(&out));
}
