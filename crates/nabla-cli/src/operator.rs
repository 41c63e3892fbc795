//! Operator runs in the CLI: what `nabla train` shows after a `task = "operator"` run (FNO,
//! DeepONet); training and prediction themselves are `nabla::operator`'s.

use crate::console::note;
use crate::error::Result;
use crate::plot::{self, Panel};
use nabla::operator::OperatorRun;
use std::path::Path;

/// After `nabla train` of an operator config: samples.png and the one-line outcome.
pub fn report(out: &Path, run: &OperatorRun) -> Result<()> {
    samples_plot(&out.join("samples.png"), run)?;
    let s = &run.summary;
    let what = if s.test_rel_l2_per_step.is_some() {
        "rollout relative L2"
    } else {
        "relative L2"
    };
    note!(
        "{} epochs ({} steps) in {:.1} s ({:.1} samples/s): test {what} {:.4}, train {:.4}; \
         run directory {}",
        s.epochs,
        s.iterations,
        s.seconds,
        s.samples_per_second,
        s.test_rel_l2,
        s.train_rel_l2,
        out.display()
    );
    if let Some(steps) = &s.test_rel_l2_per_step {
        let steps: Vec<String> = steps.iter().map(|e| format!("{e:.4}")).collect();
        note!("test relative L2 per rollout step: {}", steps.join(" "));
    }
    Ok(())
}

/// samples.png: input, truth, prediction and |error| for the first few test samples (a 2-D
/// series: the last input frame, and the rollout's last frame).
fn samples_plot(path: &Path, run: &OperatorRun) -> Result<()> {
    let t = &run.test;
    let count = t.n.min(4);
    if count == 0 {
        return Ok(());
    }
    let p = t.points();
    let f64s = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| x as f64).collect() };
    let (ci, ct) = (t.input_channels, t.target_channels);
    let (last_in, last_out) = if ct > 1 || ci > 1 {
        (format!(", frame {ci}"), format!(", step {ct}"))
    } else {
        (String::new(), String::new())
    };
    let mut items = Vec::new();
    for k in 0..count {
        let (input, truth, pred) = (
            f64s(&t.input_channel(k, ci - 1)),
            f64s(&t.target_channel(k, ct - 1)),
            f64s(&nabla::operator::dataset::channel(
                &run.test_prediction,
                p,
                ct,
                k,
                ct - 1,
            )),
        );
        let err: Vec<f64> = truth
            .iter()
            .zip(&pred)
            .map(|(a, b)| (a - b).abs())
            .collect();
        match *t.dims.as_slice() {
            [h, w] => {
                // Data are [x, y] with y fastest; heat maps want x fastest.
                let tr = |v: &[f64]| -> Vec<f64> {
                    let mut o = vec![0.0; h * w];
                    for i in 0..h {
                        for j in 0..w {
                            o[i + h * j] = v[i * w + j];
                        }
                    }
                    o
                };
                for (title, v) in [
                    (format!("#{k} input{last_in}"), &input),
                    (format!("#{k} truth{last_out}"), &truth),
                    (format!("#{k} prediction{last_out}"), &pred),
                    (format!("#{k} |error|{last_out}"), &err),
                ] {
                    items.push(Panel::Field {
                        title,
                        values: tr(v),
                        nx: h,
                        ny: w,
                    });
                }
            }
            [n] => {
                let xs: Vec<f64> = (0..n).map(|i| i as f64 / n.max(2) as f64).collect();
                let line = |v: &[f64]| -> Vec<(f64, f64)> {
                    xs.iter().copied().zip(v.iter().copied()).collect()
                };
                items.push(Panel::Curves {
                    title: format!("test sample #{k}"),
                    series: vec![
                        ("input".into(), line(&input)),
                        ("truth".into(), line(&truth)),
                        ("prediction".into(), line(&pred)),
                    ],
                });
                items.push(Panel::Curves {
                    title: format!("#{k} |error|"),
                    series: vec![("|error|".into(), line(&err))],
                });
            }
            _ => return Ok(()),
        }
    }
    let columns = if t.dims.len() == 2 { 4 } else { 2 };
    plot::panels(path, columns, &items)?;
    Ok(())
}
