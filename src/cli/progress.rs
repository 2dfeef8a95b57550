//! A progress bar on stderr for long scans (probes done, queries, rate, ETA) and for suites
//! (models done, the last one's verdict). Hidden when stderr is not a terminal (CI logs stay
//! clean) or with `--quiet`.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::runner::{Progress, ProgressHandle};
use crate::suite::ItemVerdict;
use crate::suite::run::SuiteProgress;

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
    let bar = bar(quiet, "{bar:30} {pos}/{len} probes · {elapsed} · ETA {eta} · {msg}")?;
    Some(ProgressHandle(Arc::new(Bar { bar, started: std::time::Instant::now() })))
}

/// The suite's one bar, over its models (the scans inside it show none).
pub fn suite(quiet: bool) -> Option<Arc<dyn SuiteProgress>> {
    let bar = bar(quiet, "{bar:30} {pos}/{len} models · {elapsed} · ETA {eta} · {msg}")?;
    Some(Arc::new(SuiteBar(bar)))
}

/// A bar with `template` on an interactive stderr, unless `quiet`.
fn bar(quiet: bool, template: &str) -> Option<ProgressBar> {
    if quiet {
        return None;
    }
    let target = ProgressDrawTarget::stderr();
    if target.is_hidden() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(0), target);
    bar.set_style(ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    Some(bar)
}

struct SuiteBar(ProgressBar);

impl SuiteProgress for SuiteBar {
    fn start(&self, items: usize) {
        self.0.set_length(items as u64);
    }

    fn item_done(&self, model: &str, verdict: ItemVerdict, kept: bool) {
        let how = if kept { " (kept)" } else { "" };
        self.0.set_message(format!("{model}: {}{how}", verdict.name()));
        self.0.inc(1);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
