//! `nabla train` for `task = "inverse"` configs: an encoder from observed frames to PDE
//! parameters, trained supervised, then evaluated per split before and after test-time tuning
//! on the PDE residual.

use crate::config;
use crate::console::note;
use crate::error::Result;
use crate::train::{fail_if_stopped, start_run, write_file, write_summary, TrainArgs};
use nabla::operator::inverse::data::Folder;
use nabla::operator::inverse::{train_inverse, Estimate, InverseConfig};
use std::fmt::Write as _;
use std::path::Path;

/// `nabla train` for an inverse config.
pub fn train(args: &TrainArgs, table: toml::Table) -> Result<()> {
    let cfg: InverseConfig = config::parse(table, &args.config)?;
    cfg.validate()?;
    // A missing or malformed folder is reported before the run directory is touched.
    Folder::open(&cfg.data)?;
    let (out, options) = start_run(args, &cfg)?;
    let run = train_inverse(&cfg, &options, &|stage| note!("{stage} ..."))?;
    write_summary(&out, &run.summary)?;
    write_estimates(
        &out.join("estimates.csv"),
        &run.summary.estimated_parameters,
        &run.estimates,
    )?;
    let s = &run.summary;
    note!(
        "{} ({} parameters: {}), {} training windows, {:.1} epochs in {:.1} s; validation relative error {:.4}",
        s.family,
        s.estimated_parameters.len(),
        s.estimated_parameters.join(", "),
        s.train_windows,
        s.epochs,
        s.seconds,
        s.validation_rel_error
    );
    note!(
        "{:<8} {:>6} {:>14} {:>14} {:>14}",
        "split",
        "traj.",
        "before tuning",
        "after tuning",
        "least squares"
    );
    for (label, split) in &s.splits {
        note!(
            "{:<8} {:>6} {:>14.4} {:>14.4} {:>14.4}",
            label,
            split.trajectories,
            split.rel_error_before,
            split.rel_error_after,
            split.least_squares_rel_error
        );
    }
    note!(
        "(mean relative parameter error; tuning: {} Adam steps at {} per trajectory, α = {}, {:.1} s); run directory {}",
        s.tuning.steps,
        s.tuning.lr,
        s.tuning.alpha,
        s.tuning.seconds,
        out.display()
    );
    fail_if_stopped(s.outcome, &out)?;
    Ok(())
}

/// estimates.csv: split, trajectory, then per parameter the truth, the estimate before and
/// after tuning, and the least-squares estimate.
fn write_estimates(path: &Path, names: &[String], rows: &[Estimate]) -> Result<()> {
    let mut text = String::from("split,trajectory");
    for n in names {
        for kind in ["true", "before", "after", "least_squares"] {
            let _ = write!(text, ",{n}_{kind}");
        }
    }
    text.push('\n');
    for r in rows {
        let _ = write!(text, "{},{}", r.split, r.trajectory);
        for j in 0..names.len() {
            let _ = write!(
                text,
                ",{},{},{},{}",
                r.truth[j], r.before[j], r.after[j], r.least_squares[j]
            );
        }
        text.push('\n');
    }
    write_file(path, text.as_bytes())
}
