//! `nabla train` for `task = "dcdm"` configs: the DCDM network on Ritz-vector right-hand sides.

use crate::config;
use crate::console::note;
use crate::error::{CliError, Result};
use crate::train::{fail_if_stopped, start_run, write_summary, TrainArgs};
use nabla::dcdm::{train_dcdm, DcdmConfig};

/// `nabla train` for a DCDM config.
pub fn train(args: &TrainArgs, table: toml::Table) -> Result<()> {
    let mut cfg: DcdmConfig = config::parse(table, &args.config)?;
    cfg.validate().map_err(|e| match e {
        nabla::dcdm::DcdmError::Config { key, reason } => {
            CliError::Input(format!("config {}: {key}: {reason}", args.config.display()))
        }
        other => other.into(),
    })?;
    crate::resources::check_memory(
        &format!(
            "DCDM on {} with {} channels, batch {}",
            cfg.grid, cfg.model.channels, cfg.train.batch_size
        ),
        memory_estimate(&cfg),
    )?;
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

/// A rough upper estimate of DCDM training memory, in bytes: the U-Net's feature maps (every
/// conv of every level kept for the backward pass, the pyramid at most doubling the finest
/// level) for a batch, its weights with Adam state, and the training set (right-hand sides and
/// masks on the grid).
fn memory_estimate(cfg: &DcdmConfig) -> f64 {
    let cells = cfg
        .grid
        .parse::<nabla::core::grid::GridShape>()
        .map_or(0.0, |g| g.len() as f64);
    let m = &cfg.model;
    let (c, bytes) = (m.channels as f64, m.precision.bytes() as f64);
    let features = 2.0 * cells * c * (2.0 * m.convs as f64 + 2.0) * cfg.train.batch_size as f64;
    let weights = m.levels as f64 * m.convs as f64 * 2.0 * 9.0 * c * c;
    let data = cfg.data.samples as f64 * cells * 16.0;
    3.0 * features * bytes + 4.0 * weights * bytes + data
}
