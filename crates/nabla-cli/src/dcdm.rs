//! What `nabla train` shows after a `task = "dcdm"` run (the DCDM network on Ritz-vector
//! right-hand sides); training itself is `nabla::dcdm`'s.

use crate::console::note;
use nabla::dcdm::DcdmRun;
use std::path::Path;

/// The one-line outcome of a DCDM run: loss, and DCDM against CG iterations on the test system.
pub fn report(out: &Path, run: &DcdmRun) {
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
}
