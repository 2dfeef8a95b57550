//! The `probity` binary: parse arguments, run the command, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = probity::cli::Cli::parse();
    // Before any output is staged: an interrupted run deletes its temporary outputs.
    if let Err(e) = probity::output::remove_pending_on_signals() {
        probity::cli::print_stderr(&format!(
            "warning: cannot watch for interrupts ({e}); an interrupted run may leave temporary files\n"
        ));
    }
    match probity::cli::run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(failure) => {
            // A closed stderr is not worth a panic: the exit code still says what happened.
            probity::cli::print_stderr(&format!("error: {:#}\n", failure.error()));
            failure.exit_code()
        }
    }
}
