//! Stopping solves from outside (Ctrl-C in a Python session, a deadline in a simulation code)
//! without a new field in [`SolveOptions`](super::SolveOptions): a stop flag scoped to the
//! solves that a closure makes on the current thread.
//!
//! Every iterative solver of this crate (CG/PCG with any preconditioner, SOR, SSOR, the AMG
//! iteration), and DCDM in `nabla-dcdm`, checks [`stop_requested`] once per iteration. When the
//! flag is raised, the solve ends after the iteration in progress and returns its report as
//! usual: `x` holds the last iterate, `iterations` counts the iterations done and `converged`
//! is false unless the tolerance was already met. Set-up (an IC(0) factorization, an AMG
//! hierarchy) is not interrupted; the stop takes effect at the first iteration after it.
//!
//! ```
//! use nabla_sparse::solvers::stop::with_stop_flag;
//! use nabla_sparse::{Cg, GridPoisson, RhsKind, SolveOptions, Solver};
//! use std::sync::atomic::AtomicBool;
//! use std::sync::Arc;
//!
//! let problem = GridPoisson::new("64x64".parse().unwrap());
//! let a = problem.matrix();
//! let b = problem.rhs(RhsKind::Random, 1);
//! let mut x = vec![0.0; b.len()];
//! let stop = Arc::new(AtomicBool::new(true)); // raised before the solve: no iteration runs
//! let report = with_stop_flag(stop, || Cg::new(&a).solve(&b, &mut x, &SolveOptions::default()))
//!     .unwrap();
//! assert_eq!(report.iterations, 0);
//! assert!(!report.converged);
//! ```

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

thread_local! {
    static STOP: RefCell<Option<Arc<AtomicBool>>> = const { RefCell::new(None) };
}

/// Runs `f` with `flag` as the stop flag of every solve that `f` runs on this thread (solves
/// that `f` hands to other threads do not see it). Scopes nest: the previous flag is restored
/// when `f` returns or panics.
pub fn with_stop_flag<R>(flag: Arc<AtomicBool>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<AtomicBool>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            STOP.with(|s| *s.borrow_mut() = previous);
        }
    }
    let _restore = Restore(STOP.with(|s| s.replace(Some(flag))));
    f()
}

/// Whether the stop flag of the enclosing [`with_stop_flag`] scope is raised (false outside
/// any scope). Solvers call it once per iteration: a thread-local read and an atomic load.
pub fn stop_requested() -> bool {
    STOP.with(|s| {
        s.borrow()
            .as_ref()
            .is_some_and(|flag| flag.load(Ordering::Relaxed))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest_and_restore() {
        assert!(!stop_requested());
        let outer = Arc::new(AtomicBool::new(true));
        with_stop_flag(outer, || {
            assert!(stop_requested());
            let inner = Arc::new(AtomicBool::new(false));
            with_stop_flag(inner.clone(), || {
                assert!(!stop_requested());
                inner.store(true, Ordering::Relaxed);
                assert!(stop_requested());
            });
            assert!(stop_requested());
            // Another thread does not see this thread's flag.
            assert!(!std::thread::spawn(stop_requested).join().unwrap());
        });
        assert!(!stop_requested());
    }

    /// Each solver family ends after the iteration in which the flag went up (raised here by
    /// the monitor after iteration 5), with the iterate reached and `converged = false`.
    #[test]
    fn every_solver_stops_after_the_current_iteration() {
        use crate::{
            Amg, AmgOptions, Cg, GridPoisson, Ic0, Pcg, RhsKind, SolveOptions, Solver, Sor,
        };
        let problem = GridPoisson::new("48x48".parse().unwrap());
        let a = problem.matrix();
        let b = problem.rhs(RhsKind::Random, 3);
        let solvers: Vec<Box<dyn Solver>> = vec![
            Box::new(Cg::new(&a)),
            Box::new(Pcg::new(&a, Box::new(Ic0::new(&a).unwrap()))),
            Box::new(Sor::new(&a, 1.0).unwrap()),
            Box::new(Amg::new(&a, AmgOptions::default()).unwrap()),
        ];
        for mut solver in solvers {
            let flag = Arc::new(AtomicBool::new(false));
            let raise = |it: usize, _: f64| {
                if it == 5 {
                    flag.store(true, Ordering::Relaxed);
                }
            };
            let opts = SolveOptions {
                tol: 1e-14,
                monitor: Some(&raise),
                ..Default::default()
            };
            let mut x = vec![0.0; b.len()];
            let report = with_stop_flag(flag.clone(), || solver.solve(&b, &mut x, &opts)).unwrap();
            assert_eq!(report.iterations, 5, "{}", solver.name());
            assert!(!report.converged);
            assert!(x.iter().any(|v| *v != 0.0));
        }
    }
}
