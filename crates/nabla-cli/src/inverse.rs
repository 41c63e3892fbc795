//! What `nabla train` shows after a `task = "inverse"` run (an encoder from observed frames to
//! PDE parameters, then test-time tuning on the PDE residual); training and `estimates.csv`
//! are `nabla::operator::inverse`'s.

use crate::console::note;
use nabla::operator::inverse::InverseRun;
use std::path::Path;

/// The outcome table of an inverse run: per split, the mean relative parameter error before
/// and after tuning and of least squares.
pub fn report(out: &Path, run: &InverseRun) {
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
}
