//! Progress lines for long jobs: hidden for the first second (short runs print nothing), then
//! an indicatif bar redrawn at most ten times a second, updatable from any thread.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Jobs shorter than this print no progress line at all.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// Redraws at most this often.
const REDRAW_MS: u64 = 100;
/// Resolution of the residual-reduction bar.
const STEPS: u64 = 1000;

/// A bar that appears only once its job has run for a second.
pub struct DelayedBar {
    bar: ProgressBar,
    start: Instant,
    shown: AtomicBool,
    last_ms: AtomicU64,
    enabled: bool,
}

impl DelayedBar {
    /// A bar of `len` steps drawn with the indicatif `template`; `enabled = false` never draws.
    pub fn new(len: u64, template: &str, enabled: bool) -> Self {
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::hidden());
        let style =
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Self {
            bar,
            start: Instant::now(),
            shown: AtomicBool::new(false),
            last_ms: AtomicU64::new(0),
            enabled,
        }
    }

    /// Calls `draw` with the bar when a redraw is due (after the first second, at most every
    /// 100 ms); otherwise does nothing, so callers may call this on every iteration.
    pub fn update(&self, draw: impl FnOnce(&ProgressBar)) {
        if !self.enabled {
            return;
        }
        let elapsed = self.start.elapsed();
        if elapsed < SHOW_AFTER {
            return;
        }
        let ms = elapsed.as_millis() as u64;
        if ms < self.last_ms.load(Ordering::Relaxed) + REDRAW_MS {
            return;
        }
        self.last_ms.store(ms, Ordering::Relaxed);
        if !self.shown.swap(true, Ordering::Relaxed) {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
        }
        draw(&self.bar);
    }

    /// Removes the line, if it was ever drawn.
    pub fn finish(&self) {
        if self.shown.load(Ordering::Relaxed) {
            self.bar.finish_and_clear();
        }
    }
}

/// Progress of one iterative solve: a bar of residual reduction (log scale, from the initial
/// residual to the tolerance), the iteration and an ETA; fed by the solver's monitor callback.
pub struct SolveProgress {
    bar: DelayedBar,
    /// f64 bits of the first relative residual seen.
    initial: AtomicU64,
    tol: f64,
}

impl SolveProgress {
    /// A progress line for a solve to relative tolerance `tol`; `enabled = false` never draws.
    pub fn new(tol: f64, enabled: bool) -> Self {
        Self {
            bar: DelayedBar::new(
                STEPS,
                "{spinner} [{elapsed_precise}] {bar:30} {msg} (ETA {eta})",
                enabled,
            ),
            initial: AtomicU64::new(f64::NAN.to_bits()),
            tol,
        }
    }

    /// The solver's monitor: `(iteration, relative residual)`.
    pub fn update(&self, iteration: usize, rel: f64) {
        if iteration == 0 || f64::from_bits(self.initial.load(Ordering::Relaxed)).is_nan() {
            self.initial.store(rel.to_bits(), Ordering::Relaxed);
        }
        self.bar.update(|bar| {
            let r0 = f64::from_bits(self.initial.load(Ordering::Relaxed));
            // Orders of magnitude from r0 towards tol: CG-like methods reduce the residual
            // roughly geometrically, so this makes the ETA meaningful.
            let frac = if r0 > self.tol && rel > 0.0 {
                ((r0 / rel).ln() / (r0 / self.tol).ln()).clamp(0.0, 1.0)
            } else {
                1.0
            };
            bar.set_position((frac * STEPS as f64) as u64);
            bar.set_message(format!(
                "iteration {iteration}, relative residual {rel:.2e} (target {:.0e})",
                self.tol
            ));
        });
    }

    /// Removes the line, if it was ever drawn.
    pub fn finish(&self) {
        self.bar.finish();
    }
}
