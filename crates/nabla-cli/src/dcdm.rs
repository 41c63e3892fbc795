//! `nabla train` for `task = "dcdm"` configs: the DCDM network on Ritz-vector right-hand sides.

use crate::config;
use crate::console::note;
use crate::error::{CliError, Result};
use crate::train::{fail_if_stopped, start_run, write_summary, TrainArgs};
use nabla_dcdm::{train_dcdm, DcdmConfig};

/// `nabla train` for a DCDM config.
pub fn train(args: &TrainArgs, table: toml::Table) -> Result<()> {
    let mut cfg: DcdmConfig = config::parse(table, &args.config)?;
    cfg.validate().map_err(|e| match e {
        nabla_dcdm::DcdmError::Config { key, reason } => {
            CliError::Input(format!("config {}: {key}: {reason}", args.config.display()))
        }
        other => other.into(),
    })?;
    let (out, options) = start_run(args, &cfg)?;
    let run = train_dcdm(&cfg, &options)?;
    write_summary(&out, &run.summary)?;
    let s = &run.summary;
    note!(
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
    fail_if_stopped(s.outcome, &out)?;
    Ok(())
}
