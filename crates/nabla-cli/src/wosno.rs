//! `nabla train` for `task = "wosno"` configs: an FNO or a point-query (GINO-style) operator on
//! the star-domain Poisson family trained on Walk-on-Spheres estimates (`train.loss = "wos"`) or
//! physics-informed (`"physics"`), with held-out WoS ground truth.

use crate::console::note;
use crate::error::Result;
use crate::plot::{self, Panel};

use nabla::operator::wosno::features::CHANNELS;
use nabla::operator::wosno::WosNoRun;
use std::path::Path;

/// After `nabla train` of a WoS-NO config: where the ground truth came from, samples.png and
/// the one-line outcome.
pub fn report(out: &Path, run: &WosNoRun) -> Result<()> {
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
    samples_plot(&out.join("samples.png"), run)?;
    if let (Some(e), Some(r)) = (s.ood_test_rel_l2, s.ood_ratio) {
        note!(
            "zero-shot: relative L2 {e:.4} on {} out-of-distribution instances ({r:.2}× the in-distribution error; truth in {})",
            s.ood_instances,
            out.join("truth_ood.h5").display()
        );
    }
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
