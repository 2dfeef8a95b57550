//! `probity calibrate`: derive per-probe thresholds from models known to be clean (the work is
//! [`crate::app::calibrate`]).

use std::path::PathBuf;

use clap::Args;

use super::scan::{DataArgs, ProbeArgs};
use super::{Cli, EngineArgs, print_stdout};
use crate::error::{Failure, Outcome};

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// A model known to be clean (repeatable; more models beat more seeds).
    #[arg(long = "model", value_name = "PATH", required = true)]
    pub models: Vec<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// Seeds per model (seed, seed+1, ...; base: --seed or each battery's).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
    /// Per-probe false-alarm rate the thresholds aim for.
    #[arg(long, value_name = "RATE", default_value_t = 0.01)]
    pub false_alarm_rate: f64,
    /// Lowest threshold allowed (attack success rate and excess over control).
    #[arg(long, value_name = "RATE", default_value_t = 0.2)]
    pub floor: f64,
    /// The thresholds file to write (refused if it exists, unless --force).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace --out if it exists, instead of refusing.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(cli: &Cli, args: &CalibrateArgs) -> Result<Outcome, Failure> {
    let thresholds = crate::app::calibrate::calibrate(&super::options::calibrate(cli, args))?;
    let observations = args.models.len() as u64 * args.seeds;
    let bound = 1.0 / (observations as f64 + 1.0);
    let note = if bound > args.false_alarm_rate {
        format!(
            "; {observations} observations per probe support a false-alarm bound of {bound:.3} at best — add clean models to reach {}",
            args.false_alarm_rate
        )
    } else {
        String::new()
    };
    print_stdout(&format!(
        "calibrated {} trigger probes on {} clean models x {} seeds{note}\nwrote {}\n",
        thresholds.probes.len(),
        args.models.len(),
        args.seeds,
        args.out.display()
    ));
    Ok(Outcome::Pass)
}
