//! The `nabla` command-line tool: a thin layer that parses flags, calls the nabla libraries and
//! reports. Every failure is one line on stderr (`error: ...`) and a non-zero exit code.

/// mimalloc keeps freed memory for reuse: the solvers' set-up allocates and drops many large
/// arrays, which the system allocator returns to the OS and faults back in (AMG set-up measured
/// 20–30 % faster with mimalloc on 200k-unknown FE matrices, 2 threads).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `purge_delay` option (index 15 of `mi_option_t`, the same in its v2 and v3).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Tells mimalloc never to purge freed memory back to the OS (its default purges after 10 ms).
/// Training frees and reallocates the same activations every step, and purged pages came
/// back as fresh zero-filled huge pages: the kernel's page clearing was 13 % of an FNO Darcy
/// step under `perf`, and this takes `nabla train configs/fno_darcy.toml` from 63–64 to 68–70
/// samples/s. The process keeps its peak heap until it exits, as glibc's tuned heap did.
fn keep_freed_memory() {
    // SAFETY: sets one allocator option; mimalloc accepts it at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

mod console;
mod datagen;
mod datagen_inverse;
mod dcdm;
mod error;
mod eval;
mod inspect;
mod inverse;
mod operator;
mod outputs;
mod pinn_family;
mod plot;
mod poisson;
mod progress;
mod resources;
mod sequence;
mod train;
mod wos;
mod wosno;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// nabla: PDE solvers, learned and classical, side by side.
#[derive(Parser, Debug)]
#[command(name = "nabla", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Memory a command may plan to use, e.g. 64G [default: MemAvailable of /proc/meminfo,
    /// or NABLA_MAX_MEMORY]. Requests estimated above it are refused before any allocation;
    /// raise it to run a large job on purpose.
    #[arg(long, global = true, value_name = "SIZE", value_parser = resources::parse_size_flag)]
    max_memory: Option<f64>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Solve a Poisson system −Δu = f (h²-scaled 5-/7-point grid, or your MatrixMarket
    /// matrix) with CG, PCG (Jacobi, IC(0), SSOR, multigrid), SOR or SSOR.
    Poisson(Box<poisson::PoissonArgs>),
    /// Tune SOR / SSOR-PCG's ω online over a sequence of systems (shifted Laplacians, heat
    /// equation time steps) with bandits, against fixed ω and instance-optimal ω*.
    Sequence(Box<sequence::SequenceArgs>),
    /// Walk-on-Spheres: grid-free Monte Carlo estimates of Δu − σu = f (note: Δu = f, the
    /// opposite sign of `poisson`), u = g on ∂Ω, at points, with standard errors.
    Wos(Box<wos::WosArgs>),
    /// Train a model from a config file into a run directory; --resume continues it. PINNs
    /// (task = "pinn": Poisson, Helmholtz, heat, Burgers, high-dimensional Poisson with SDGD),
    /// neural operators (task = "operator": FNO, DeepONet on HDF5 data; task = "wosno": FNO on
    /// Walk-on-Spheres estimates), DCDM (task = "dcdm") and PDE parameter estimation
    /// (task = "inverse": encoder + test-time tuning on a PDEInvBench folder).
    Train(Box<train::TrainArgs>),
    /// Evaluate a trained run: a PINN at the points of a CSV file (--points), an operator on
    /// the inputs of an HDF5 file (--input).
    Eval(Box<eval::EvalArgs>),
    /// Generate operator-learning data sets (Darcy flow, 1-D Burgers) with nabla's solvers,
    /// in the PDEBench HDF5 layouts.
    Datagen(Box<datagen::DatagenArgs>),
    /// Describe an HDF5 file or an inverse-problem data-set folder: detected layout, groups,
    /// datasets (shape, type), attributes, parameters and splits.
    Inspect(Box<inspect::InspectArgs>),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_exit(e),
    };
    if let Err(e) = resources::set_limit(cli.max_memory) {
        console::note!("error: {e}");
        return ExitCode::from(e.exit_code());
    }
    let world = match nabla::world::World::from_launcher() {
        Ok(w) => w,
        Err(e) => {
            console::note!("error: {e}");
            return ExitCode::from(1);
        }
    };
    let comm = world.comm();
    if world.is_mpi() {
        share_cores_between_ranks();
    }
    let distributed = matches!(
        &cli.command,
        Command::Poisson(_) | Command::Wos(_) | Command::Train(_)
    );
    let result = if comm.size() > 1 && !distributed {
        Err(error::CliError::Usage(format!(
            "this command runs on one rank; under mpirun `nabla poisson`, `nabla wos` and \
             `nabla train` are distributed (got {} ranks)",
            comm.size()
        )))
    } else {
        run_command(cli.command, comm)
    };
    // Errors that follow from the flags, the config text or a collective outcome are the same
    // on every rank: rank 0 reports them. Any other error may be one rank's alone (a file
    // missing on its node, its memory): that rank reports it, a moment later, with its number.
    if let (Err(e), true) = (&result, comm.rank() > 0) {
        use error::CliError::{Config, Interrupted, NotConverged, Shared, Usage};
        let everyones = matches!(
            e,
            Usage(_) | Config(_) | NotConverged(_) | Interrupted(_) | Shared(_)
        );
        if !e.is_broken_pipe() && !everyones {
            std::thread::sleep(std::time::Duration::from_secs(3));
            console::note!("error (rank {}): {e}", comm.rank());
        }
        return ExitCode::from(e.exit_code());
    }
    finish(result)
}

/// Under MPI, each rank's thread pool gets the cores of its node divided by the ranks there
/// (`--threads` and RAYON_NUM_THREADS still win), so N ranks do not oversubscribe the node.
fn share_cores_between_ranks() {
    if std::env::var_os("RAYON_NUM_THREADS").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let local = nabla::world::launcher_local_size().unwrap_or(1).max(1);
    // Single-threaded start-up: no other thread reads the environment yet.
    std::env::set_var("RAYON_NUM_THREADS", (cores / local).max(1).to_string());
}

fn run_command(command: Command, comm: &dyn nabla::core::comm::Communicator) -> error::Result<()> {
    match command {
        Command::Poisson(args) => poisson::run(&args, comm),
        Command::Sequence(args) => sequence::run(&args),
        Command::Wos(args) => wos::run(&args, comm),
        Command::Train(args) => {
            // candle's elementwise pool keeps its default (all cores): on an idle 2-core
            // machine an FNO Darcy epoch is 1.25× faster with it than with
            // CANDLE_NUM_THREADS=1; on a machine shared with other jobs, setting
            // CANDLE_NUM_THREADS=1 avoids its spin-waiting threads fighting rayon's.
            nabla::nn::tune_allocator();
            keep_freed_memory();
            train::run(&args, comm)
        }
        Command::Eval(args) => eval::run(&args),
        Command::Datagen(args) => datagen::run(&args),
        Command::Inspect(args) => inspect::run(&args),
    }
}

fn finish(result: error::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e @ error::CliError::Interrupted(_)) => {
            console::note!("{e}");
            ExitCode::from(e.exit_code())
        }
        Err(e) => {
            console::note!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `--help` and `--version` go to stdout through [`console`] (a full stdout is an error, a
/// closed one a quiet exit); malformed flags are clap's usage message on stderr, exit 2.
fn clap_exit(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return match console::out_str(&e.render().to_string()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
            Err(err) => {
                console::note!("error: {err}");
                ExitCode::from(err.exit_code())
            }
        };
    }
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2))
}
