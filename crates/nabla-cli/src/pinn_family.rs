//! `nabla sequence --problem pinn-family`: METALIC over a PDE family — per instance, the
//! interface conditions of a multi-domain PINN chosen by each tuner, against the best in
//! hindsight over a sampled subset of condition sets; a table, a JSON report and a plot of the
//! error per instance.

use crate::console::outln;
use crate::error::{CliError, Result};
use crate::outputs::Staged;
use crate::plot;
use crate::sequence::SequenceArgs;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nabla::core::atomic::write_atomic;
use nabla::pinn::family::FamilyBudget;
use nabla::pinn::family_sequence::{
    run_family_sequence, FamilySequenceOptions, FamilySequenceReport, FamilyTuner,
};

/// The tuners of `--tuners`.
fn parse_tuners(text: &str) -> Result<Vec<FamilyTuner>> {
    if text == "all" {
        return Ok(vec![
            FamilyTuner::Metalic,
            FamilyTuner::MetalicTwoStage,
            FamilyTuner::Random,
            "fixed:solution+flux".parse().map_err(CliError::Usage)?,
        ]);
    }
    text.split(',')
        .map(|t| t.trim().parse::<FamilyTuner>().map_err(CliError::Usage))
        .collect()
}

/// The condition sets of `--metalic-initial` (names as in `fixed:<set>`), as arm masks.
fn parse_sets(text: Option<&str>) -> Result<Vec<u32>> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    text.split(',')
        .map(
            |set| match format!("fixed:{}", set.trim()).parse::<FamilyTuner>() {
                Ok(FamilyTuner::Fixed(mask)) => Ok(mask),
                Ok(_) => Err(CliError::Usage(format!(
                    "--metalic-initial: bad set '{set}'"
                ))),
                Err(e) => Err(CliError::Usage(format!("--metalic-initial: {e}"))),
            },
        )
        .collect()
}

/// Runs the sequence and writes what the flags ask for.
pub fn run(args: &SequenceArgs) -> Result<()> {
    let tuners = parse_tuners(&args.tuners)?;
    let instances = args.instances.unwrap_or(40);
    if instances == 0 {
        return Err(CliError::Usage("--instances must be at least 1".into()));
    }
    if args.adam_steps == 0 && args.lbfgs_iterations == 0 {
        return Err(CliError::Usage(
            "--adam-steps and --lbfgs-iterations cannot both be 0".into(),
        ));
    }
    let budget = FamilyBudget {
        adam_steps: args.adam_steps,
        lbfgs_iterations: args.lbfgs_iterations,
        seed: args.seed,
        ..Default::default()
    };
    let options = FamilySequenceOptions {
        family: args.family,
        instances,
        tuners,
        hindsight_arms: args.hindsight_arms,
        budget,
        seed: args.seed,
        metalic_play: Some(args.metalic_play.unwrap_or(instances / 2)),
        metalic_initial: parse_sets(args.metalic_initial.as_deref())?,
    };
    let mut staged = Staged::new();
    let bar = ProgressBar::new(instances as u64);
    if args.quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    } else if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} instances (ETA {eta})",
    ) {
        bar.set_style(style);
    }
    let report = run_family_sequence(&options, &mut |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    print_summary(&report)?;
    if let Some(path) = &args.report {
        staged.write(path, |tmp| {
            write_atomic(tmp, |w| {
                serde_json::to_writer_pretty(&mut *w, &report).map_err(std::io::Error::other)?;
                std::io::Write::write_all(w, b"\n")
            })
            .map_err(|e| format!("{}: {e}", path.display()))
        })?;
    }
    if let Some(path) = &args.plot {
        let mut series: Vec<(String, Vec<(f64, f64)>)> = report
            .tuners
            .iter()
            .map(|t| {
                let pts = t
                    .errors
                    .iter()
                    .enumerate()
                    .map(|(i, &e)| ((i + 1) as f64, e))
                    .collect();
                (t.name.clone(), pts)
            })
            .collect();
        series.push((
            "best in hindsight".into(),
            report
                .instances
                .iter()
                .enumerate()
                .map(|(i, r)| ((i + 1) as f64, r.best_error))
                .collect(),
        ));
        let title = format!("{:?} family: relative L2 error per instance", report.family);
        staged.write(path, |tmp| {
            plot::line_chart(tmp, &title, "instance", "relative L2 error", &series, true)
                .map_err(|e| e.to_string())
        })?;
    }
    staged.commit()
}

fn print_summary(report: &FamilySequenceReport) -> Result<()> {
    let n = report.instances.len();
    outln!(
        "{:?} family, {n} instances ({} trainings, {:.0} s; per instance {} Adam + {} L-BFGS steps)",
        report.family,
        report.trainings,
        report.seconds,
        report.budget.adam_steps,
        report.budget.lbfgs_iterations
    );
    outln!(
        "  {:<28} {:>18} {:>14} {:>16} {:>12}",
        "tuner",
        "median err (2nd ½)",
        "vs hindsight",
        "cum. regret",
        "tuner share"
    );
    for t in &report.tuners {
        outln!(
            "  {:<28} {:>18.3e} {:>14.2} {:>16.2} {:>11.2}%",
            t.name,
            t.median_error_last_half,
            t.vs_hindsight,
            t.cumulative_regret.last().copied().unwrap_or(0.0),
            100.0 * t.tuner_seconds / report.seconds.max(1e-12)
        );
    }
    outln!(
        "  {:<28} {:>18.3e}",
        "best in hindsight",
        report.hindsight_median_error_last_half
    );
    match report.metalic_play {
        Some(0) => outln!(
            "  (metalic tuners: the set of largest posterior mean from the end of the warm-up)"
        ),
        Some(play) if play < n => outln!(
            "  (metalic tuners: UCB on instances 1–{play}, then the set of largest posterior mean)"
        ),
        _ => outln!("  (metalic tuners: UCB on every instance)"),
    }
    Ok(())
}
