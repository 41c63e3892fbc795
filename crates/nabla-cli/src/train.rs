//! `nabla train CONFIG.toml`: trains the model a config describes into a run directory.

use crate::console::note;
use crate::error::{CliError, Result};
use crate::plot;
use crate::progress::DelayedBar;
use clap::Args;
use nabla::nn::{ctrlc_stop_flag, Outcome};
use nabla::pinn::run::Evaluation;
use nabla::pinn::{PinnModel, PinnRun};
use nabla::run::{TaskConfig, TrainObserver, TrainOptions, TrainedRun};
use std::path::{Path, PathBuf};

/// Arguments of `nabla train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The run config (TOML), e.g. configs/pinn_poisson2d.toml.
    pub config: PathBuf,
    /// Override a config value: --set section.key=value (repeatable), e.g.
    /// --set train.seed=3 --set model.hidden=[32,32].
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Continue the run in --out from its checkpoint (same config), bit for bit.
    #[arg(long)]
    pub resume: bool,
    /// Run directory (default runs/<config name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `nabla train`: the library reads the config, trains its task into the run directory
/// and writes `config.toml`, checkpoints, `metrics.csv` and `summary.json`; the CLI checks the
/// memory estimate first, then draws the plots and prints the outcome.
///
/// Under mpirun (every task), every rank trains its share of the points, batches or instances
/// and rank 0 writes the run directory, plots and prints.
pub fn run(args: &TrainArgs, comm: &dyn nabla::core::comm::Communicator) -> Result<()> {
    let distributed = (comm.transport() != "serial").then_some(comm);
    let writer = comm.rank() == 0;
    let out = run_dir(args);
    let config = TaskConfig::load(&args.config, &args.sets)?;
    crate::resources::check_memory(&config.size_description(), config.memory_estimate_bytes())?;
    let is_new = !args.resume && !out.exists();
    let options = TrainOptions {
        resume: args.resume,
        stop: ctrlc_stop_flag().ok(),
        config_source: Some(args.config.clone()),
    };
    let result = train_and_report(&config, &out, &options, distributed);
    match result {
        Err(e) if writer && is_new && !matches!(e, CliError::Interrupted(_)) => {
            Err(match nabla::nn::run_dir::discard_failed_run(&out) {
                Some(note) => CliError::Input(format!("{e} ({note})")),
                None => e,
            })
        }
        other => other,
    }
}

/// Progress beyond the training bar: WoS-NO's ground-truth bar, inverse runs' stages.
struct Observer {
    truth: Option<DelayedBar>,
}

impl TrainObserver for Observer {
    fn stage(&self, what: &str) {
        note!("{what} ...");
    }

    fn ground_truth(&self, done: usize, _total: usize) {
        if let Some(bar) = &self.truth {
            bar.update(|b| b.set_position(done as u64));
        }
    }
}

fn train_and_report(
    config: &TaskConfig,
    out: &Path,
    options: &TrainOptions,
    comm: Option<&dyn nabla::core::comm::Communicator>,
) -> Result<()> {
    let writer = comm.is_none_or(|c| c.rank() == 0);
    let observer = Observer {
        truth: match config {
            TaskConfig::WosNo(c) => Some(DelayedBar::new(
                c.test.instances as u64,
                "ground truth {bar:30} {pos}/{len} instances, ETA {eta}",
                c.train.progress && writer,
            )),
            _ => None,
        },
    };
    let run = config.train_on(out, options, &observer, comm)?;
    if let Some(bar) = &observer.truth {
        bar.finish();
    }
    if !writer {
        return Ok(());
    }
    loss_plot(out)?;
    match &run {
        TrainedRun::Pinn(r) => report_pinn(out, r)?,
        TrainedRun::Operator(r) => crate::operator::report(out, r)?,
        TrainedRun::WosNo(r) => crate::wosno::report(out, r)?,
        TrainedRun::Dcdm(r) => crate::dcdm::report(out, r),
        TrainedRun::Inverse(r) => crate::inverse::report(out, r),
    }
    fail_if_stopped(run.outcome(), out)
}

/// `--out`, or runs/<config stem>.
fn run_dir(args: &TrainArgs) -> PathBuf {
    args.out.clone().unwrap_or_else(|| {
        let stem = args
            .config
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "run".into());
        Path::new("runs").join(stem)
    })
}

/// Ends a run that Ctrl-C stopped early with [`CliError::Interrupted`] (exit 130), telling the
/// user how to continue it; its checkpoint and summary are already written.
fn fail_if_stopped(outcome: Outcome, out: &Path) -> Result<()> {
    if outcome == Outcome::Stopped {
        return Err(CliError::Interrupted(format!(
            "stopped early by Ctrl-C (checkpoint kept); continue with --resume --out {}",
            out.display()
        )));
    }
    Ok(())
}

fn report_pinn(out: &Path, run: &PinnRun) -> Result<()> {
    field_plots(out, &run.model, &run.evaluation)?;
    let s = &run.summary;
    match s.rel_l2 {
        Some(e) => note!(
            "{} steps in {:.1} s ({:.2} ms/step), relative L2 error {e:.3e} on {} points; run \
             directory {}",
            s.iterations,
            s.seconds,
            1e3 * s.seconds_per_step,
            s.eval_points,
            out.display()
        ),
        None => note!(
            "{} steps in {:.1} s, final loss {:.3e}; run directory {}",
            s.iterations,
            s.seconds,
            s.final_loss,
            out.display()
        ),
    }
    Ok(())
}

/// loss.png from metrics.csv: the total loss (and rel_l2 / test_rel_l2 when logged) against
/// the step.
fn loss_plot(dir: &Path) -> Result<()> {
    let metrics = nabla::nn::run_dir::read_metrics(dir)?;
    let series: Vec<(String, Vec<(f64, f64)>)> = [
        "loss",
        "rel_l2",
        "test_rel_l2",
        "val_loss",
        "validation_rel_error",
    ]
    .iter()
    .filter_map(|name| Some((name.to_string(), metrics.series("step", name)?)))
    .filter(|(_, pts)| !pts.is_empty())
    .collect();
    if series.is_empty() {
        return Ok(());
    }
    plot::line_chart(
        &dir.join("loss.png"),
        "training",
        "step",
        "value",
        &series,
        true,
    )?;
    Ok(())
}

/// solution.png and error.png: heat maps on the evaluation grid (2-D inputs), a line chart
/// (1-D), or for 2-D space + time the final time slice.
fn field_plots(dir: &Path, model: &PinnModel, ev: &Evaluation) -> Result<()> {
    let p = &model.problem;
    let d = p.space_dim();
    let exact = p.exact.as_ref();
    if ev.axes.len() == 2 {
        let (nx, ny) = (ev.axes[0].len(), ev.axes[1].len());
        // Grid nodes are row-major with the last axis fastest: node (i, j) at i*ny + j; the
        // heat map wants x (axis 0) fastest.
        let pick = |v: &[f64]| -> Vec<f64> {
            let mut out = vec![f64::NAN; nx * ny];
            for i in 0..nx {
                for j in 0..ny {
                    if let Some(k) = ev.grid_index[i * ny + j] {
                        out[i + nx * j] = v[k];
                    }
                }
            }
            out
        };
        let second = if p.time.is_some() { "t" } else { "y" };
        plot::heatmap(
            &dir.join("solution.png"),
            &pick(&ev.predicted),
            nx,
            ny,
            &format!("PINN u(x, {second})"),
        )?;
        if let Some(e) = &ev.exact {
            let err: Vec<f64> = ev
                .predicted
                .iter()
                .zip(e)
                .map(|(a, b)| (a - b).abs())
                .collect();
            plot::heatmap(&dir.join("error.png"), &pick(&err), nx, ny, "|u - exact|")?;
        }
    } else if ev.axes.len() == 1 {
        let xs = &ev.axes[0];
        let line = |v: &[f64]| -> Vec<(f64, f64)> {
            xs.iter()
                .enumerate()
                .filter_map(|(i, &x)| ev.grid_index[i].map(|k| (x, v[k])))
                .collect()
        };
        let mut series = vec![("PINN".to_string(), line(&ev.predicted))];
        if let Some(e) = &ev.exact {
            series.push(("exact".to_string(), line(e)));
            let err: Vec<f64> = ev
                .predicted
                .iter()
                .zip(e)
                .map(|(a, b)| (a - b).abs())
                .collect();
            plot::line_chart(
                &dir.join("error.png"),
                "|u - exact|",
                "x",
                "error",
                &[("error".into(), line(&err))],
                true,
            )?;
        }
        plot::line_chart(&dir.join("solution.png"), "u(x)", "x", "u", &series, false)?;
    } else if d == 2 && p.time.is_some() {
        let (t1, m) = (p.time.map(|t| t.1).unwrap_or(0.0), 101);
        let b = p.domain.bounds();
        let xs = nabla::pinn::points::linspace(b.min[0], b.max[0], m);
        let ys = nabla::pinn::points::linspace(b.min[1], b.max[1], m);
        let mut pts = Vec::with_capacity(m * m * 3);
        let mut inside = Vec::with_capacity(m * m);
        for &y in &ys {
            for &x in &xs {
                pts.extend_from_slice(&[x, y, t1]);
                inside.push(p.domain.signed_distance(&[x, y]) <= 1e-9);
            }
        }
        let u = model.predict(&pts)?;
        let masked = |v: Vec<f64>| -> Vec<f64> {
            v.into_iter()
                .zip(&inside)
                .map(|(a, &k)| if k { a } else { f64::NAN })
                .collect()
        };
        if let Some(e) = exact {
            let err: Vec<f64> = pts
                .chunks(3)
                .zip(&u)
                .map(|(q, a)| (a - e.eval(q)).abs())
                .collect();
            plot::heatmap(
                &dir.join("error.png"),
                &masked(err),
                m,
                m,
                &format!("|u - exact| at t = {t1}"),
            )?;
        }
        plot::heatmap(
            &dir.join("solution.png"),
            &masked(u),
            m,
            m,
            &format!("PINN u(x, y, t = {t1})"),
        )?;
    }
    Ok(())
}
