//! A trained Fourier neural operator inside a Rust program: load its run directory, hand it
//! coefficient fields made in Rust, and check its predictions against nabla's own Darcy solver.
//!
//! Problem (the FNO paper's Darcy flow): −∇·(a∇u) = 1 on the unit square, u = 0 on the
//! boundary. The program draws `samples` coefficient fields a(x, y) ∈ {12, 3} from the training
//! distribution (a thresholded Gaussian random field, `nabla::data::datagen::generate_darcy`
//! with a seed the model never saw), solves each to 1e-10 with IC(0)-PCG for reference, and
//! predicts them with the operator in one batched call — at the training resolution and, FNOs
//! being resolution-independent, on a finer grid it was never trained on. It also feeds a
//! field of its own design (a few discs of a = 12 in a = 3), outside the training
//! distribution, to show what that costs.
//!
//! Run: `nabla train configs/fno_darcy.toml` (or use the small run shipped in the repository),
//! then `cargo run --release -p nabla --example fno_inference [RUN_DIR] [SAMPLES]`
//! (default `datasets/runs/fno_v0.1`, 16 samples).
//!
//! Prints, per grid: samples, mean and worst relative L2 error against the solver, and the
//! seconds per sample of the operator and of the solver.

use nabla::data::datagen::{generate_darcy, solve_darcy, DarcySettings};
use nabla::ndarray::{ArrayD, IxDyn};
use nabla::operator::Operator;
use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// The run directory (or checkpoint file) of a trained Darcy FNO or DeepONet.
    pub run: PathBuf,
    /// Coefficient fields per grid.
    pub samples: usize,
    /// Seed of the fields (the shipped run trained on seed 0).
    pub seed: u64,
}

impl Options {
    /// The defaults for a run directory: 16 samples, seed 12345.
    pub fn new(run: impl Into<PathBuf>) -> Self {
        Options {
            run: run.into(),
            samples: 16,
            seed: 12345,
        }
    }
}

/// The operator's accuracy and speed on one grid.
#[derive(Clone, Debug)]
pub struct GridReport {
    /// What the inputs were.
    pub label: String,
    /// Points per axis.
    pub points: usize,
    /// Samples predicted.
    pub samples: usize,
    /// Mean relative L2 error against the solver.
    pub mean_rel_l2: f64,
    /// Worst relative L2 error.
    pub max_rel_l2: f64,
    /// Operator seconds per sample (one batched call).
    pub operator_seconds: f64,
    /// Solver seconds per sample.
    pub solver_seconds: f64,
}

/// Everything the journey measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// `fno` or `deeponet`.
    pub kind: String,
    /// The training grid.
    pub train_grid: Vec<usize>,
    /// One row per grid / input family.
    pub grids: Vec<GridReport>,
}

fn relative_l2(pred: &[f64], truth: &[f64]) -> f64 {
    let num: f64 = pred.iter().zip(truth).map(|(p, t)| (p - t).powi(2)).sum();
    let den: f64 = truth.iter().map(|t| t * t).sum();
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// Predicts `fields` (each S² nodal values, x index slowest) and compares with the solver.
fn compare(
    op: &Operator,
    label: &str,
    s: usize,
    fields: &[Vec<f64>],
) -> Result<GridReport, Box<dyn Error>> {
    let n = fields.len();
    let flat: Vec<f64> = fields.iter().flatten().copied().collect();
    let input = ArrayD::from_shape_vec(IxDyn(&[n, s, s]), flat)?;
    let t = Instant::now();
    let pred = op.predict(input.view())?;
    let operator_seconds = t.elapsed().as_secs_f64() / n as f64;
    let pred = pred
        .as_slice()
        .ok_or("the prediction is not contiguous")?
        .to_vec();
    let t = Instant::now();
    let mut errors = Vec::with_capacity(n);
    for (k, a) in fields.iter().enumerate() {
        let truth = solve_darcy(a, s, 1e-10, 20_000)?;
        errors.push(relative_l2(&pred[k * s * s..(k + 1) * s * s], &truth.u));
    }
    let solver_seconds = t.elapsed().as_secs_f64() / n as f64;
    Ok(GridReport {
        label: label.to_string(),
        points: s,
        samples: n,
        mean_rel_l2: errors.iter().sum::<f64>() / n as f64,
        max_rel_l2: errors.iter().copied().fold(0.0, f64::max),
        operator_seconds,
        solver_seconds,
    })
}

/// Coefficient fields from the training distribution on an S × S grid.
fn training_like_fields(
    s: usize,
    samples: usize,
    seed: u64,
) -> Result<Vec<Vec<f64>>, Box<dyn Error>> {
    let data = generate_darcy(
        &DarcySettings {
            resolution: s,
            samples,
            seed,
            ..Default::default()
        },
        &|_| {},
    )?;
    Ok(data
        .coefficient
        .chunks(s * s)
        .map(|c| c.iter().map(|&v| f64::from(v)).collect())
        .collect())
}

/// A field of our own: discs of a = 12 in a = 3, centres from a small deterministic sequence.
fn discs_field(s: usize, k: usize) -> Vec<f64> {
    let centres: Vec<(f64, f64)> = (0..4)
        .map(|j| {
            let t = (k * 4 + j) as f64;
            ((0.61803 * t + 0.2).fract(), (0.41421 * t + 0.7).fract())
        })
        .collect();
    let h = 1.0 / (s - 1) as f64;
    let mut a = vec![3.0; s * s];
    for i in 0..s {
        for j in 0..s {
            let (x, y) = (i as f64 * h, j as f64 * h);
            if centres
                .iter()
                .any(|(cx, cy)| (x - cx).powi(2) + (y - cy).powi(2) < 0.15f64.powi(2))
            {
                a[i * s + j] = 12.0;
            }
        }
    }
    a
}

/// Loads the operator and measures it on the training grid, a grid twice as fine, and fields of
/// our own design.
pub fn run(opts: &Options) -> Result<Report, Box<dyn Error>> {
    let op = Operator::load(&opts.run)?;
    let train_grid = op.train_grid()?;
    let [s] = [train_grid[0]];
    if train_grid.len() != 2 || train_grid[1] != s {
        return Err(format!(
            "{} was trained on a {train_grid:?} grid; this journey needs a square 2-D Darcy model",
            opts.run.display()
        )
        .into());
    }
    let n = opts.samples.max(1);
    let mut grids = vec![compare(
        &op,
        "training distribution",
        s,
        &training_like_fields(s, n, opts.seed)?,
    )?];
    if op.kind() == "fno" {
        let fine = 2 * s - 1;
        grids.push(compare(
            &op,
            "same, finer grid (zero-shot)",
            fine,
            &training_like_fields(fine, n, opts.seed)?,
        )?);
    }
    let discs: Vec<Vec<f64>> = (0..n).map(|k| discs_field(s, k)).collect();
    grids.push(compare(&op, "discs (out of distribution)", s, &discs)?);
    Ok(Report {
        kind: op.kind().to_string(),
        train_grid,
        grids,
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mut opts = Options::new(
        args.next()
            .unwrap_or_else(|| "datasets/runs/fno_v0.1".into()),
    );
    if let Some(n) = args.next() {
        opts.samples = n
            .parse()
            .map_err(|_| format!("SAMPLES must be a positive integer, got '{n}'"))?;
    }
    let r = run(&opts)?;
    println!(
        "{} from {} (trained on {:?}):",
        r.kind,
        opts.run.display(),
        r.train_grid
    );
    println!(
        "{:<32} {:>6} {:>8} {:>10} {:>10} {:>12} {:>12}",
        "inputs", "grid", "samples", "mean relL2", "max relL2", "operator s", "solver s"
    );
    for g in &r.grids {
        println!(
            "{:<32} {:>6} {:>8} {:>10.4} {:>10.4} {:>12.2e} {:>12.2e}",
            g.label,
            format!("{0}x{0}", g.points),
            g.samples,
            g.mean_rel_l2,
            g.max_rel_l2,
            g.operator_seconds,
            g.solver_seconds
        );
    }
    Ok(())
}
