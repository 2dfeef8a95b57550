//! ONNX Runtime allows one environment per process: threads that load it at the same moment
//! must share one, not race to build two ("only one environment is allowed per process", seen
//! as a flaky `tests/it/engine.rs` failure before `onnxruntime::load` serialised first loads).
//! Its own test binary, so that nothing has loaded the runtime before the threads start.

use std::sync::{Arc, Barrier};

#[test]
fn threads_loading_the_runtime_at_once_all_get_the_same_one() {
    let threads = 8;
    let start = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                probity::onnxruntime::load(None).map(|r| r as *const _ as usize).map_err(|e| e.to_string())
            })
        })
        .collect();
    let loaded: Vec<Result<usize, String>> = handles.into_iter().map(|h| h.join().expect("no panic")).collect();
    let first = loaded[0].clone().expect("the runtime loads");
    for result in &loaded {
        assert_eq!(result.as_ref(), Ok(&first), "every thread gets the one runtime: {loaded:?}");
    }
}
