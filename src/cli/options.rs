//! What the user typed turned into the library's options ([`crate::app`]): defaults filled in,
//! clap's enums mapped onto the library's types. Nothing here runs anything.

use super::baseline::RecordArgs;
use super::calibrate::CalibrateArgs;
use super::scan::{DataArgs, LayoutArg, ModalityArg, ProbeArgs, ScanArgs};
use super::{Cli, EngineArgs};
use crate::app::baseline::RecordOptions;
use crate::app::calibrate::CalibrateOptions;
use crate::app::scan::ScanOptions;
use crate::app::setup::{DataOptions, ProbeOptions, Setup};
use crate::battery::spec::{Layout, Modality};
use crate::modality::image::{ChannelOrder, ImageFolderOptions};

impl DataArgs {
    pub fn options(&self) -> DataOptions {
        let image_folder = self.image_size.map(|(width, height)| {
            let channels = ChannelOrder::from(self.channel_order).channels();
            ImageFolderOptions {
                width,
                height,
                channels: self.channel_order.into(),
                mean: if self.mean.is_empty() { vec![0.0; channels] } else { self.mean.clone() },
                std: if self.std.is_empty() { vec![1.0; channels] } else { self.std.clone() },
                layout: match self.layout {
                    LayoutArg::Nchw => Layout::Nchw,
                    LayoutArg::Nhwc => Layout::Nhwc,
                },
            }
        });
        DataOptions {
            path: self.data.clone(),
            tokenizer: self.tokenizer.clone(),
            image_folder,
            modality: self.modality.map(|m| match m {
                ModalityArg::Image => Modality::Image,
                ModalityArg::Text => Modality::Text,
                ModalityArg::Tabular => Modality::Tabular,
            }),
            label_column: self.label_column.clone(),
        }
    }
}

impl ProbeArgs {
    pub fn options(&self) -> ProbeOptions {
        ProbeOptions {
            batteries: self.batteries.clone(),
            seed: self.seed,
            scores: self.scores.map(Into::into),
            search_budget: self.search_budget,
            time_budget: self.time_budget,
        }
    }
}

/// The setup every scanning command shares.
fn setup(cli: &Cli, data: &DataArgs, probes: &ProbeArgs, engine: &EngineArgs) -> Setup {
    Setup { ort_lib: cli.ort_lib.clone(), data: data.options(), probes: probes.options(), engine: engine.options() }
}

pub fn scan(cli: &Cli, args: &ScanArgs) -> ScanOptions {
    ScanOptions {
        model: args.model.clone(),
        setup: setup(cli, &args.data, &args.probes, &args.engine),
        references: args.references.clone(),
        baseline: args.baseline.clone(),
        allow_baseline_mismatch: args.allow_baseline_mismatch,
        baseline_tolerance: args.baseline_tolerance,
        thresholds: args.thresholds.clone(),
        correction: args.correction.into(),
        min_clean_accuracy: args.min_clean_accuracy,
        inconclusive: args.inconclusive.into(),
        out: args.out.clone(),
        force: args.force,
        formats: super::values::formats(&args.format),
        progress: super::progress::handle(cli.quiet),
    }
}

pub fn record(cli: &Cli, args: &RecordArgs) -> RecordOptions {
    RecordOptions {
        model: args.model.clone(),
        setup: setup(cli, &args.data, &args.probes, &args.engine),
        out: args.out.clone(),
        force: args.force,
        min_clean_accuracy: args.min_clean_accuracy,
        progress: super::progress::handle(cli.quiet),
    }
}

pub fn calibrate(cli: &Cli, args: &CalibrateArgs) -> CalibrateOptions {
    CalibrateOptions {
        models: args.models.clone(),
        setup: setup(cli, &args.data, &args.probes, &args.engine),
        seeds: args.seeds,
        false_alarm_rate: args.false_alarm_rate,
        floor: args.floor,
        out: args.out.clone(),
        force: args.force,
    }
}
