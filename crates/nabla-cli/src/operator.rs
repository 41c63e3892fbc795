//! Operator runs in the CLI: `nabla train` for `task = "operator"` configs (FNO, DeepONet) and
//! `nabla eval RUN --input in.h5 --out pred.h5`.

use crate::config;
use crate::console::note;
use crate::error::{CliError, Result};
use crate::plot::{self, Panel};
use crate::train::{fail_if_stopped, start_run, write_summary, TrainArgs};
use nabla::data::{AttrValue, DarcyData, Series1dData};

use nabla::operator::config::Layout;
use nabla::operator::{train_operator, OperatorConfig, OperatorModel, OperatorRun};
use std::path::Path;

/// `nabla train` for an operator config.
pub fn train(args: &TrainArgs, table: toml::Table) -> Result<()> {
    let cfg: OperatorConfig = config::parse(table, &args.config)?;
    crate::resources::check_memory(
        "this operator's parameters and optimizer state",
        cfg.model.parameter_memory_bytes(),
    )?;
    cfg.validate()?;
    if !cfg.data.file.is_file() {
        return Err(CliError::Input(format!(
            "config {}: data.file: {} not found (generate it with `nabla datagen`)",
            args.config.display(),
            cfg.data.file.display()
        )));
    }
    let (out, options) = start_run(args, &cfg)?;
    let run = train_operator(&cfg, &options)?;
    write_summary(&out, &run.summary)?;
    samples_plot(&out.join("samples.png"), &run)?;
    let s = &run.summary;
    note!(
        "{} epochs ({} steps) in {:.1} s ({:.1} samples/s): test relative L2 {:.4}, train {:.4}; \
         run directory {}",
        s.epochs,
        s.iterations,
        s.seconds,
        s.samples_per_second,
        s.test_rel_l2,
        s.train_rel_l2,
        out.display()
    );
    fail_if_stopped(s.outcome, &out)?;
    Ok(())
}

/// samples.png: input, truth, prediction and |error| for the first few test samples.
fn samples_plot(path: &Path, run: &OperatorRun) -> Result<()> {
    let t = &run.test;
    let count = t.n.min(4);
    if count == 0 {
        return Ok(());
    }
    let p = t.points();
    let f64s = |v: &[f32]| -> Vec<f64> { v.iter().map(|&x| x as f64).collect() };
    let mut items = Vec::new();
    for k in 0..count {
        let r = k * p..(k + 1) * p;
        let (input, truth, pred) = (
            f64s(&t.input[r.clone()]),
            f64s(&t.target[r.clone()]),
            f64s(&run.test_prediction[r]),
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
                    (format!("#{k} input"), &input),
                    (format!("#{k} truth"), &truth),
                    (format!("#{k} prediction"), &pred),
                    (format!("#{k} |error|"), &err),
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

/// `nabla eval` for an operator run: predictions for every input of `input`, written to `out`
/// (atomically) in the layout of the training data.
pub fn eval(
    run_dir: &Path,
    table: toml::Table,
    cfg_path: &Path,
    input: &Path,
    out: &Path,
) -> Result<()> {
    let cfg: OperatorConfig = config::parse(table, cfg_path)?;
    let ckpt = run_dir.join(nabla::nn::train::CHECKPOINT_FILE);
    if !ckpt.is_file() {
        return Err(CliError::Input(format!(
            "{}: no checkpoint.safetensors (did training start?)",
            run_dir.display()
        )));
    }
    crate::resources::check_memory(
        &format!("evaluating {}", run_dir.display()),
        cfg.model.parameter_memory_bytes(),
    )?;
    let model = OperatorModel::load(&cfg, &ckpt)?;
    let run_attr = AttrValue::from(run_dir.display().to_string().as_str());
    match cfg.data.layout {
        Layout::Darcy => {
            let (n, s, nu) = nabla::data::read_darcy_coefficients(input)?;
            check_finite(input, "nu", &nu, s * s)?;
            let pred = model.predict(&nu, n, &[s, s], 20)?;
            let coords: Vec<f32> = (0..s)
                .map(|i| {
                    if s > 1 {
                        i as f32 / (s - 1) as f32
                    } else {
                        0.0
                    }
                })
                .collect();
            let data = DarcyData {
                n,
                s,
                coefficient: nu,
                solution: pred,
                x: coords.clone(),
                y: coords,
                beta: 1.0,
            };
            nabla::data::write_darcy(out, &data, &[("nabla_run", run_attr)])?;
            note!("{n} predictions on {s}x{s} written to {}", out.display());
        }
        Layout::Series1d => {
            let d = nabla::data::read_series_1d(input, None)?;
            let i = cfg.data.input_step;
            if i >= d.nt {
                return Err(CliError::Input(format!(
                    "{}: has {} time steps, the model reads step {i}",
                    input.display(),
                    d.nt
                )));
            }
            let mut inputs = Vec::with_capacity(d.n * d.nx);
            for k in 0..d.n {
                let base = (k * d.nt + i) * d.nx;
                inputs.extend_from_slice(&d.tensor[base..base + d.nx]);
            }
            check_finite(input, &format!("tensor[:, {i}]"), &inputs, d.nx)?;
            let pred = model.predict(&inputs, d.n, &[d.nx], 50)?;
            let mut tensor = Vec::with_capacity(2 * d.n * d.nx);
            for k in 0..d.n {
                tensor.extend_from_slice(&inputs[k * d.nx..(k + 1) * d.nx]);
                tensor.extend_from_slice(&pred[k * d.nx..(k + 1) * d.nx]);
            }
            let target = if cfg.data.target_step < 0 {
                (d.nt as i64 + cfg.data.target_step).max(0) as usize
            } else {
                cfg.data.target_step as usize
            };
            let t_at = |m: usize| d.t.get(m).copied().unwrap_or(m as f32);
            let data = Series1dData {
                n: d.n,
                nt: 2,
                nx: d.nx,
                tensor,
                x: d.x.clone(),
                t: vec![t_at(i), t_at(target)],
                nu: d.nu,
            };
            nabla::data::write_series_1d(out, &data, &[("nabla_run", run_attr)])?;
            note!(
                "{} predictions on {} points written to {} (tensor[:, 0] input, tensor[:, 1] prediction)",
                d.n,
                d.nx,
                out.display()
            );
        }
    }
    Ok(())
}

/// Errors at the first NaN or infinite input value: the network would turn it into a whole
/// sample of NaN predictions.
fn check_finite(file: &Path, name: &str, values: &[f32], per_sample: usize) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(k) => Err(CliError::Input(format!(
            "{}: {name} of sample {} has the non-finite value {} at index {}; predictions need \
             finite inputs",
            file.display(),
            k / per_sample.max(1),
            values[k],
            k % per_sample.max(1)
        ))),
    }
}
