//! A progress bar on stderr for long scans: probes done, queries, rate, ETA. Hidden when
//! stderr is not a terminal (CI logs stay clean) or with `--quiet`.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runner::{Progress, ProgressHandle};

struct Bar {
    bar: ProgressBar,
    started: std::time::Instant,
}

impl Progress for Bar {
    fn start(&self, probes: usize) {
        self.bar.set_length(probes as u64);
    }

    fn probe_done(&self, id: &str, queries: u64) {
        let rate = queries as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar.set_message(format!("{id} · {queries} queries · {rate:.0}/s"));
        self.bar.inc(1);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The progress receiver for a command: a bar on an interactive stderr, nothing otherwise.
pub fn handle(quiet: bool) -> Option<ProgressHandle> {
    if quiet {
        return None;
    }
    let target = ProgressDrawTarget::stderr();
    if target.is_hidden() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(0), target);
    let style = ProgressStyle::with_template("{bar:30} {pos}/{len} probes · {elapsed} · ETA {eta} · {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(ProgressHandle(Arc::new(Bar { bar, started: std::time::Instant::now() })))
}
