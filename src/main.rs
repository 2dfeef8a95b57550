//! The `probity` binary: parse arguments, run the command, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = probity::cli::Cli::parse();
    match probity::cli::run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(failure) => {
            // A closed stderr is not worth a panic: the exit code still says what happened.
            probity::cli::print_stderr(&format!("error: {:#}\n", failure.error()));
            failure.exit_code()
        }
    }
}
