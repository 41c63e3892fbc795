//! Long calls (solves, Walk-on-Spheres, training) without the GIL, stoppable by Ctrl-C.
//!
//! The work runs on a scoped worker thread while the calling thread waits without the GIL,
//! waking every [`POLL`] to run Python's signal handlers (`Python::check_signals`). On
//! `KeyboardInterrupt` it raises the work's stop flag and waits (still without the GIL, so
//! Python callables the work calls keep running) for the work to notice it: after the current
//! iteration of a solve, the current point of a Walk-on-Spheres run, the current step of a
//! training run (which then writes its checkpoint).

use crate::errors::panic_error;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How often the waiting thread looks for signals.
pub const POLL: Duration = Duration::from_millis(50);

/// What an interruptible call returns: the work's result, and the `KeyboardInterrupt` raised
/// while it ran (the work was asked to stop), if any.
pub struct Finished<T> {
    pub value: T,
    pub interrupt: Option<PyErr>,
}

/// Runs `work` on a worker thread with the GIL released, polling for Ctrl-C; on an interrupt,
/// raises `stop` and waits for `work` to return.
pub fn run_interruptible<T, F>(
    py: Python<'_>,
    stop: &Arc<AtomicBool>,
    work: F,
) -> PyResult<Finished<T>>
where
    F: FnOnce() -> T + Send,
    T: Send,
{
    let done = AtomicBool::new(false);
    let waiter = std::thread::current();
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("nabla-worker".into())
            // As a main thread's stack: the work is what a CLI command runs on its main thread.
            .stack_size(8 << 20)
            .spawn_scoped(scope, || {
                // Signal completion even if the work panics, so the waiter wakes up.
                struct Done<'a>(&'a AtomicBool, std::thread::Thread);
                impl Drop for Done<'_> {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::SeqCst);
                        self.1.unpark();
                    }
                }
                let _done = Done(&done, waiter);
                work()
            })
            .map_err(|e| {
                pyo3::exceptions::PyRuntimeError::new_err(format!(
                    "cannot start a worker thread: {e}"
                ))
            })?;
        let mut interrupt = None;
        while !done.load(Ordering::SeqCst) {
            py.detach(|| {
                if !done.load(Ordering::SeqCst) {
                    std::thread::park_timeout(POLL);
                }
            });
            if interrupt.is_none() && !done.load(Ordering::SeqCst) {
                if let Err(e) = py.check_signals() {
                    stop.store(true, Ordering::SeqCst);
                    interrupt = Some(e);
                }
            }
        }
        let value = py.detach(|| worker.join()).map_err(panic_error)?;
        Ok(Finished { value, interrupt })
    })
}
