//! `nabla train` for `task = "wosno"` configs: an FNO on the star-domain Poisson family
//! trained on Walk-on-Spheres estimates (`train.loss = "wos"`) or physics-informed
//! (`"physics"`), with held-out WoS ground truth.

use crate::config;
use crate::console::note;
use crate::error::Result;
use crate::plot::{self, Panel};
use crate::progress::DelayedBar;
use crate::train::{fail_if_stopped, start_run, write_summary, TrainArgs};

use nabla::operator::wosno::features::CHANNELS;
use nabla::operator::wosno::{run::build_model, train_wosno, WosNoConfig, WosNoRun};
use std::path::Path;

/// `nabla train` for a WoS-NO config.
pub fn train(args: &TrainArgs, table: toml::Table) -> Result<()> {
    let cfg: WosNoConfig = config::parse(table, &args.config)?;
    cfg.validate()?;
    let m = &cfg.model;
    let cells = (cfg.grid.points as f64).powi(2);
    let (w, bytes) = (m.width as f64, m.precision.bytes() as f64);
    // Feature maps of every layer for a batch (kept for the backward pass, with the padded
    // grid and the spectral products), and the spectral weights with Adam state.
    let features = 4.0 * cells * w * (m.layers as f64 + 2.0) * cfg.train.batch_size as f64;
    let weights = m.layers as f64 * 2.0 * w * w * 2.0 * (m.modes as f64).powi(2);
    crate::resources::check_memory(
        &format!(
            "WoS-NO on a {0}x{0} grid, width {1}, batch {2}",
            cfg.grid.points, m.width, cfg.train.batch_size
        ),
        3.0 * features * bytes + 4.0 * weights * bytes,
    )?;
    build_model(&cfg)?;
    let (out, options) = start_run(args, &cfg)?;
    let bar = DelayedBar::new(
        cfg.test.instances as u64,
        "ground truth {bar:30} {pos}/{len} instances, ETA {eta}",
        cfg.train.progress,
    );
    let run = train_wosno(&cfg, &options, &|done, _| {
        bar.update(|b| b.set_position(done as u64))
    })?;
    bar.finish();
    let s = &run.summary;
    if s.truth_cached {
        note!("ground truth read from {}", out.join("truth.h5").display());
    } else {
        note!(
            "ground truth: {} nodes × {} walks in {:.1} s (mean relative standard error {:.2e}), cached in {}",
            s.truth_nodes,
            s.truth_walks,
            s.truth_seconds,
            s.truth_rel_stderr,
            out.join("truth.h5").display()
        );
    }
    write_summary(&out, s)?;
    samples_plot(&out.join("samples.png"), &run)?;
    note!(
        "{} steps ({} loss) in {:.1} s ({:.1} ms/step): held-out relative L2 {:.4} (initial {:.4}; \
         truth's relative standard error {:.2e}), peak RSS {:.0} MiB; run directory {}",
        s.steps,
        match s.loss {
            nabla::operator::wosno::LossKind::Wos => "wos",
            nabla::operator::wosno::LossKind::Physics => "physics",
            nabla::operator::wosno::LossKind::Reference => "reference",
        },
        s.seconds,
        1e3 * s.seconds_per_step,
        s.test_rel_l2,
        s.initial_test_rel_l2,
        s.truth_rel_stderr,
        s.peak_rss_mib.unwrap_or(f64::NAN),
        out.display()
    );
    fail_if_stopped(s.outcome, &out)?;
    Ok(())
}

/// samples.png: source, truth, prediction and |error| for the first four held-out instances,
/// grey outside the domain.
fn samples_plot(path: &Path, run: &WosNoRun) -> Result<()> {
    let h = &run.held_out;
    let n = h.grid.n;
    let p = n * n;
    let count = h.instances.len().min(4);
    let mut items = Vec::new();
    // Grid values are [i, j] with j (y) fastest; heat maps want x fastest.
    let tr = |v: &dyn Fn(usize) -> f64| -> Vec<f64> {
        let mut o = vec![f64::NAN; p];
        for i in 0..n {
            for j in 0..n {
                o[i + n * j] = v(i * n + j);
            }
        }
        o
    };
    for k in 0..count {
        let inside = |q: usize| h.features[k].inside[q];
        let masked = |q: usize, v: f64| if inside(q) { v } else { f64::NAN };
        let source = tr(&|q| masked(q, h.features[k].values[q * CHANNELS] as f64));
        let truth = tr(&|q| h.truth[k * p + q]);
        let pred = tr(&|q| masked(q, run.prediction[k * p + q] as f64));
        let err = tr(&|q| (run.prediction[k * p + q] as f64 - h.truth[k * p + q]).abs());
        for (title, values) in [
            (format!("#{k} source f"), source),
            (format!("#{k} truth (WoS)"), truth),
            (format!("#{k} prediction"), pred),
            (format!("#{k} |error|"), err),
        ] {
            items.push(Panel::Field {
                title,
                values,
                nx: n,
                ny: n,
            });
        }
    }
    if !items.is_empty() {
        plot::panels(path, 4, &items)?;
    }
    Ok(())
}
