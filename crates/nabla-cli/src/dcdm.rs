//! `nabla train` for `task = "dcdm"` configs: the DCDM network on Ritz-vector right-hand sides.

use crate::config;
use crate::error::{CliError, Result};
use crate::train::{loss_plot, prepare_run_dir, write_file, TrainArgs};
use nabla_dcdm::{train_dcdm, DcdmConfig};
use nabla_nn::{ctrlc_stop_flag, Outcome, RunOptions};

/// `nabla train` for a DCDM config.
pub fn train(args: &TrainArgs, table: toml::Table) -> Result<()> {
    let mut cfg: DcdmConfig = config::parse(table, &args.config)?;
    cfg.validate().map_err(|e| match e {
        nabla_dcdm::DcdmError::Config { key, reason } => {
            CliError::Input(format!("config {}: {key}: {reason}", args.config.display()))
        }
        other => other.into(),
    })?;
    let resolved = toml::to_string(&cfg)
        .map_err(|e| CliError::Input(format!("cannot write the resolved config: {e}")))?;
    let out = prepare_run_dir(args, &resolved)?;
    let options = RunOptions {
        run_dir: Some(out.clone()),
        resume: args.resume,
        stop: ctrlc_stop_flag().ok(),
    };
    let run = train_dcdm(&cfg, &options)?;
    let summary = serde_json::to_string_pretty(&run.summary)
        .map_err(|e| CliError::Input(format!("summary: {e}")))?;
    write_file(&out.join("summary.json"), summary.as_bytes())?;
    loss_plot(&out)?;
    let s = &run.summary;
    eprintln!(
        "{} steps in {:.1} s, final loss {:.3e}; on {} (tol {:.0e}): DCDM {:?} iterations, CG {:?}; \
         run directory {}",
        s.steps,
        s.seconds,
        s.final_loss,
        s.grid,
        s.eval_tol,
        s.dcdm_iterations,
        s.cg_iterations,
        out.display()
    );
    if s.outcome == Outcome::Stopped {
        eprintln!(
            "stopped early; continue with --resume --out {}",
            out.display()
        );
    }
    Ok(())
}
