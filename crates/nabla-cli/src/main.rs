//! The `nabla` command-line tool: a thin layer that parses flags, calls the nabla libraries and
//! reports. Every failure is one line on stderr (`error: ...`) and a non-zero exit code.

mod error;
mod plot;
mod poisson;
mod progress;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// nabla: PDE solvers, learned and classical, side by side.
#[derive(Parser, Debug)]
#[command(name = "nabla", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Solve a Poisson system −Δu = f (h²-scaled 5-/7-point grid, or your MatrixMarket
    /// matrix) with CG, PCG (Jacobi, IC(0), SSOR, multigrid), SOR or SSOR.
    Poisson(Box<poisson::PoissonArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Poisson(args) => poisson::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
