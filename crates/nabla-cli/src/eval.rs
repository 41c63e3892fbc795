//! `nabla eval RUN_DIR --points pts.csv --out pred.csv`: a trained run's prediction at points.

use crate::config;
use crate::error::{CliError, Result};
use clap::Args;
use nabla_pinn::{PinnConfig, PinnModel};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `nabla eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory written by `nabla train` (config.toml + checkpoint.safetensors).
    pub run_dir: PathBuf,
    /// CSV of points with a header of coordinate names (x,y[,z][,t], or x1,…,xd[,t]); the
    /// columns may come in any order.
    #[arg(long)]
    pub points: PathBuf,
    /// Output CSV: the coordinates as given, plus a column `u`.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `nabla eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    let cfg_path = args.run_dir.join("config.toml");
    if !cfg_path.is_file() {
        return Err(CliError::Input(format!(
            "{}: not a run directory (no config.toml)",
            args.run_dir.display()
        )));
    }
    let cfg: PinnConfig = config::parse(config::load(&cfg_path, &[])?, &cfg_path)?;
    let ckpt = args.run_dir.join(nabla_nn::train::CHECKPOINT_FILE);
    if !ckpt.is_file() {
        return Err(CliError::Input(format!(
            "{}: no checkpoint.safetensors (did training start?)",
            args.run_dir.display()
        )));
    }
    let model = PinnModel::load(&cfg, &ckpt)?;
    let names = model.problem.coordinate_names();
    let text = std::fs::read_to_string(&args.points)
        .map_err(|e| CliError::Input(format!("{}: {e}", args.points.display())))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| CliError::Input(format!("{}: empty file", args.points.display())))?;
    let cols: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
    let mut order = Vec::with_capacity(names.len());
    for n in &names {
        let c = cols.iter().position(|c| c == n).ok_or_else(|| {
            CliError::Input(format!(
                "{}: header has no column '{n}' (the model takes {})",
                args.points.display(),
                names.join(",")
            ))
        })?;
        order.push(c);
    }
    if let Some(extra) = cols.iter().find(|c| !names.contains(c)) {
        return Err(CliError::Input(format!(
            "{}: unknown column '{extra}' (the model takes {})",
            args.points.display(),
            names.join(",")
        )));
    }
    let mut pts = Vec::new();
    let mut rows = Vec::new();
    for (i, line) in lines {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != cols.len() {
            return Err(CliError::Input(format!(
                "{} line {}: {} values, the header has {}",
                args.points.display(),
                i + 1,
                f.len(),
                cols.len()
            )));
        }
        for &c in &order {
            let v: f64 = f[c]
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or_else(|| {
                    CliError::Input(format!(
                        "{} line {}: '{}' is not a finite number",
                        args.points.display(),
                        i + 1,
                        f[c]
                    ))
                })?;
            pts.push(v);
        }
        rows.push(line.trim().to_string());
    }
    let u = model.predict(&pts)?;
    let mut out = String::with_capacity(rows.len() * 32);
    out.push_str(&cols.join(","));
    out.push_str(",u\n");
    for (r, v) in rows.iter().zip(&u) {
        out.push_str(&format!("{r},{v:e}\n"));
    }
    nabla_core::atomic::write_atomic(&args.out, |w| w.write_all(out.as_bytes())).map_err(
        |source| CliError::Output {
            path: args.out.clone(),
            source,
        },
    )?;
    eprintln!("{} points → {}", u.len(), args.out.display());
    Ok(())
}
