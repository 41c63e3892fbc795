//! `nabla eval RUN_DIR --points pts.csv --out pred.csv`: a trained PINN's prediction at points;
//! `nabla eval RUN_DIR --input in.h5 --out pred.h5`: a trained operator's predictions.

use crate::config;
use crate::console::note;
use crate::error::{CliError, Result};
use clap::Args;
use nabla::pinn::{PinnConfig, PinnModel};
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `nabla eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory written by `nabla train` (config.toml + checkpoint.safetensors).
    pub run_dir: PathBuf,
    /// PINN runs: CSV of points with a header of coordinate names (x,y[,z][,t], or
    /// x1,…,xd[,t]); the columns may come in any order.
    #[arg(long, conflicts_with = "input")]
    pub points: Option<PathBuf>,
    /// Operator runs: HDF5 inputs — Darcy `nu` [N,S,S] (any S the model supports) or a 1-D
    /// `tensor` [N,Nt,Nx] (its input slice is used).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Output: CSV of the coordinates plus `u` (PINN), or HDF5 with `tensor` predictions
    /// (operator: [N,1,S,S] for Darcy, [N,2,Nx] input and prediction for 1-D).
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
    let ckpt = args.run_dir.join(nabla::nn::train::CHECKPOINT_FILE);
    crate::outputs::check_outputs(
        &[&Some(args.out.clone())],
        &[
            &args.points,
            &args.input,
            &Some(cfg_path.clone()),
            &Some(ckpt.clone()),
        ],
    )?;
    let table = config::load(&cfg_path, &[])?;
    if config::task(&table) == "operator" {
        if args.points.is_some() {
            return Err(CliError::Usage(format!(
                "{} is an operator run: it takes --input FILE.h5, not --points",
                args.run_dir.display()
            )));
        }
        let input = args.input.as_ref().ok_or_else(|| {
            CliError::Usage(format!(
                "{} is an operator run: pass --input FILE.h5",
                args.run_dir.display()
            ))
        })?;
        return crate::operator::eval(&args.run_dir, table, &cfg_path, input, &args.out);
    }
    let points = args.points.as_ref().ok_or_else(|| {
        CliError::Usage(format!(
            "{} is a PINN run: pass --points FILE.csv",
            args.run_dir.display()
        ))
    })?;
    if args.input.is_some() {
        return Err(CliError::Usage(format!(
            "{} is a PINN run: it takes --points FILE.csv, not --input",
            args.run_dir.display()
        )));
    }
    let cfg: PinnConfig = config::parse(table, &cfg_path)?;
    if !ckpt.is_file() {
        return Err(CliError::Input(format!(
            "{}: no checkpoint.safetensors (did training start?)",
            args.run_dir.display()
        )));
    }
    // The checkpoint's network with its jets at a batch of points, and the points themselves.
    crate::resources::check_memory(
        &format!("evaluating {}", args.run_dir.display()),
        cfg.memory_estimate_bytes(),
    )?;
    let model = PinnModel::load(&cfg, &ckpt)?;
    let names = model.problem.coordinate_names();
    let text = std::fs::read_to_string(points)
        .map_err(|e| CliError::Input(format!("{}: {e}", points.display())))?;
    let table = parse_points_table(&text, &points.display().to_string(), &names)?;
    let (cols, pts, rows) = (table.columns, table.points, table.rows);
    let u = model.predict(&pts)?;
    let mut out = String::with_capacity(rows.len() * 32);
    out.push_str(&cols.join(","));
    out.push_str(",u\n");
    for (r, v) in rows.iter().zip(&u) {
        out.push_str(&format!("{r},{v:e}\n"));
    }
    nabla::core::atomic::write_atomic(&args.out, |w| w.write_all(out.as_bytes())).map_err(
        |source| CliError::Output {
            path: args.out.clone(),
            source,
        },
    )?;
    note!("{} points → {}", u.len(), args.out.display());
    Ok(())
}

/// A points CSV as read for a PINN: the header's columns, the points in the model's coordinate
/// order (flat, row-major) and each data line as written (for echoing in the output).
#[derive(Debug)]
struct PointsTable {
    columns: Vec<String>,
    points: Vec<f64>,
    rows: Vec<String>,
}

/// Parses the text of the points CSV `name` for a model whose inputs are `names`: a header
/// naming exactly those columns (any order), then one finite number per column per line.
fn parse_points_table(text: &str, name: &str, names: &[String]) -> Result<PointsTable> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines
        .next()
        .ok_or_else(|| CliError::Input(format!("{}: empty file", name)))?;
    let cols: Vec<String> = header.split(',').map(|s| s.trim().to_string()).collect();
    if let Some((k, c)) = cols
        .iter()
        .enumerate()
        .find(|(k, c)| cols[..*k].contains(c))
    {
        return Err(CliError::Input(format!(
            "{name}: column '{c}' appears twice in the header (column {})",
            k + 1
        )));
    }
    let mut order = Vec::with_capacity(names.len());
    for n in names {
        let c = cols.iter().position(|c| c == n).ok_or_else(|| {
            CliError::Input(format!(
                "{}: header has no column '{n}' (the model takes {})",
                name,
                names.join(",")
            ))
        })?;
        order.push(c);
    }
    if let Some(extra) = cols.iter().find(|c| !names.contains(c)) {
        return Err(CliError::Input(format!(
            "{}: unknown column '{extra}' (the model takes {})",
            name,
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
                name,
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
                        name,
                        i + 1,
                        f[c]
                    ))
                })?;
            pts.push(v);
        }
        rows.push(line.trim().to_string());
    }
    if rows.is_empty() {
        return Err(CliError::Input(format!(
            "{name}: no points after the header"
        )));
    }
    Ok(PointsTable {
        columns: cols,
        points: pts,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any text: a table of finite points with one value per model input, or one error
        /// line naming the file.
        #[test]
        fn points_table_never_panics(text in "([-+0-9.eE, xytNaif]{0,24}\\n){0,6}") {
            let names = vec!["x".to_string(), "y".to_string()];
            match parse_points_table(&text, "p.csv", &names) {
                Ok(t) => {
                    prop_assert_eq!(t.points.len(), 2 * t.rows.len());
                    prop_assert!(t.points.iter().all(|v| v.is_finite()));
                }
                Err(e) => {
                    let m = e.to_string();
                    prop_assert!(m.starts_with("p.csv") && !m.contains('\n'), "{}", m);
                }
            }
        }
    }

    #[test]
    fn columns_in_any_order_are_reordered() {
        let names = vec!["x".to_string(), "y".to_string()];
        let t = parse_points_table("y,x\n2,1\n4,3\n", "p.csv", &names).unwrap();
        assert_eq!(t.points, vec![1.0, 2.0, 3.0, 4.0]);
        let e = parse_points_table("x,y\n", "p.csv", &names).unwrap_err();
        assert!(e.to_string().contains("no points"), "{e}");
    }
}
