//! The command line's spellings of library choices: one `clap::ValueEnum` per choice, each
//! converting into the library type it names. The library types stay free of the CLI parser;
//! the doc comments here are what `--help` prints for each value.

use crate::engine::{ConvAlgorithmSearch, OptimizationLevel, ScoreKind};
use crate::error::InconclusiveAs;
use crate::modality::image::ChannelOrder;
use crate::report::Format;
use crate::verdict::Correction;

/// Declares a value enum mirroring a library enum variant for variant, and its conversion.
macro_rules! value_enum {
    ($(#[$meta:meta])* $name:ident => $target:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl From<$name> for $target {
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => $target::$variant),+
                }
            }
        }
    };
}

value_enum! {
    /// `--correction`: multiple-testing correction over the gating tests.
    CorrectionArg => Correction {
        /// Holm's step-down: controls the family-wise error rate (the gating default).
        Holm,
        /// Benjamini–Hochberg: controls the false discovery rate (exploratory nightly runs).
        Bh,
    }
}

value_enum! {
    /// `--scores`: whether the classifier output holds probabilities or logits.
    ScoreKindArg => ScoreKind { Probabilities, Logits }
}

value_enum! {
    /// `--cudnn-conv-algo-search`.
    ConvAlgorithmSearchArg => ConvAlgorithmSearch {
        /// Benchmark every algorithm on the first call of each shape: fastest kernels, slow start.
        Exhaustive,
        /// cuDNN's heuristics, no benchmarking: a scan's many short runs never pay for a search.
        Heuristic,
        /// The first algorithm cuDNN lists.
        Default,
    }
}

value_enum! {
    /// `--graph-optimization`.
    OptimizationLevelArg => OptimizationLevel { Disable, Basic, Extended, All }
}

value_enum! {
    /// `--format`: an output format (documented in `docs/reports.md`).
    FormatArg => Format {
        /// `report.json`: the report model itself (`docs/report-schema.md`).
        Json,
        /// `report.md`: a summary for a CI job summary or a pull-request comment.
        Md,
        /// `report.html`: one self-contained page with charts, for a person.
        Html,
        /// `report.junit.xml`: one test case per probe, for CI test panels.
        Junit,
        /// `report.sarif`: SARIF 2.1.0, one result per failing probe, for code-scanning panels.
        Sarif,
        /// `attestation.intoto.json`: an in-toto Statement v1 about the model file, ready to sign.
        Intoto,
    }
}

value_enum! {
    /// `--inconclusive`: what an inconclusive scan exits with.
    InconclusiveArg => InconclusiveAs {
        /// Exit 4.
        Inconclusive,
        /// Exit 0, as a pass (the report still says inconclusive).
        Pass,
        /// Exit 1, as a fail (the report still says inconclusive).
        Fail,
    }
}

value_enum! {
    /// `--channel-order` of an image folder.
    ChannelOrderArg => ChannelOrder { Rgb, Bgr, Gray }
}

/// The formats as the library names them.
pub fn formats(args: &[FormatArg]) -> Vec<Format> {
    args.iter().map(|&f| f.into()).collect()
}
