//! `nabla eval RUN_DIR --points pts.csv --out pred.csv`: a trained PINN's prediction at points;
//! `nabla eval RUN_DIR --input in.h5 --out pred.h5`: a trained operator's predictions;
//! `nabla eval RUN_DIR --points pts.csv --instance "c1,…,b4" --out pred.csv`: a WoS-NO
//! operator's u (and ∇u, Δu, the PDE residual for a point-query operator) at points of one
//! instance of its family.

use crate::console::note;
use crate::error::{CliError, Result};
use clap::Args;
use nabla::nn::run_dir::describe;
use nabla::operator::config::Layout;
use nabla::operator::wosno::family::StarPoisson;
use nabla::operator::wosno::WosNoNet;
use nabla::operator::Operator;
use nabla::pinn::Pinn;
use std::path::PathBuf;

/// Arguments of `nabla eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory written by `nabla train` (config.toml + checkpoint.safetensors).
    pub run_dir: PathBuf,
    /// PINN runs: CSV of points with a header of coordinate names (x,y[,z][,t], or
    /// x1,…,xd[,t]); the columns may come in any order. WoS-NO runs: CSV with columns x,y.
    #[arg(long, conflicts_with = "input")]
    pub points: Option<PathBuf>,
    /// Operator runs: HDF5 inputs — Darcy `nu` [N,S,S] (any S the model supports), a 1-D
    /// `tensor` [N,Nt,Nx] (its input slice is used) or a 2-D series `tensor` [N,Nt,Sx,Sy] (its
    /// first input_frames frames start the rollout; later frames, when present, score it).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Output: CSV of the coordinates plus `u` (PINN), or HDF5 with `tensor` predictions
    /// (operator: [N,1,S,S] for Darcy, [N,2,Nx] input and prediction for 1-D, the rollout
    /// [N,output_frames,Sx,Sy] for 2-D series) and its XDMF sidecar for ParaView (OUT.xdmf
    /// beside OUT.h5).
    #[arg(long)]
    pub out: PathBuf,
    /// WoS-NO runs: the problem instance — 13 numbers c1,c2,mu1x,mu1y,mu2x,mu2y,beta1,beta2,
    /// b0,b1,b2,b3,b4 of Δu = f in the star r(θ) = 1 + c1 cos k1θ + c2 cos k2θ, f = Σ βᵢ
    /// exp(−|x − μᵢ|²), u = b0 + (b1 cos θ + b2 sin θ + b3 cos 2θ + b4 sin 2θ)/4 on ∂Ω.
    #[arg(long, allow_hyphen_values = true)]
    pub instance: Option<String>,
    /// WoS-NO runs: the star's harmonics k1,k2 (4,8 is the training family; 3,6 the zero-shot
    /// one).
    #[arg(long, default_value = "4,8", value_parser = parse_harmonics)]
    pub harmonics: [u32; 2],
    /// Device to evaluate on: cpu, or cuda:N (needs a build with --features candle-cuda)
    /// [default: the device the run trained on]
    #[arg(long, value_name = "DEVICE", value_parser = parse_device)]
    pub device: Option<String>,
}

/// `k1,k2`: two positive integers.
fn parse_harmonics(s: &str) -> std::result::Result<[u32; 2], String> {
    let v: Vec<u32> = s
        .split(',')
        .map(|t| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| format!("'{t}' is not a whole number"))
        })
        .collect::<std::result::Result<_, _>>()?;
    match v.as_slice() {
        [a, b] if *a > 0 && *b > 0 => Ok([*a, *b]),
        _ => Err("expected two positive whole numbers, e.g. 4,8".into()),
    }
}

/// `cpu` / `cuda:N`, checked when the flags are parsed (opened when the model is built).
fn parse_device(s: &str) -> std::result::Result<String, String> {
    s.parse::<nabla::DeviceKind>()
        .map(|kind| kind.to_string())
        .map_err(|e| e.to_string())
}

/// Runs `nabla eval`: the library finds and rebuilds the model (from its checkpoint's
/// self-description, or an older run's config.toml); the CLI checks its size, reads the points
/// and writes the predictions.
pub fn run(args: &EvalArgs) -> Result<()> {
    let checkpoint = nabla::nn::run_dir::checkpoint_path(&args.run_dir)?;
    let config_file = checkpoint
        .parent()
        .map(|d| d.join(nabla::nn::run_dir::CONFIG_FILE));
    // Operator predictions are HDF5 files written with their XDMF sidecar.
    let sidecar = args
        .input
        .as_ref()
        .map(|_| nabla::data::xdmf::sidecar_path(&args.out));
    crate::outputs::check_outputs(
        &[&Some(args.out.clone()), &sidecar],
        &[&args.points, &args.input, &config_file, &Some(checkpoint)],
    )?;
    let description = describe(&args.run_dir)?;
    let run = args.run_dir.display();
    match description.task.as_str() {
        "operator" => {
            if args.points.is_some() {
                return Err(CliError::Usage(format!(
                    "{run} is an operator run: it takes --input FILE.h5, not --points"
                )));
            }
            let input = args.input.as_ref().ok_or_else(|| {
                CliError::Usage(format!("{run} is an operator run: pass --input FILE.h5"))
            })?;
            let mut config = Operator::config_of(&description)?;
            if let Some(device) = &args.device {
                config.device = device.clone();
            }
            crate::resources::check_memory(
                &format!("evaluating {run}"),
                config.model.parameter_memory_bytes(),
            )?;
            let operator = Operator::from_parts(config, &description.checkpoint)?;
            let written = operator.predict_file(input, &args.out)?;
            let grid: Vec<String> = written.dims.iter().map(|d| d.to_string()).collect();
            match written.layout {
                Layout::Darcy => note!(
                    "{} predictions on {} written to {}",
                    written.samples,
                    grid.join("x"),
                    args.out.display()
                ),
                Layout::Series1d => note!(
                    "{} predictions on {} points written to {} (tensor[:, 0] input, tensor[:, 1] prediction)",
                    written.samples,
                    grid.join("x"),
                    args.out.display()
                ),
                Layout::Series2d => {
                    note!(
                        "{} rollouts of {} frames on {} written to {} (tensor [N, {}, {}])",
                        written.samples,
                        written.frames,
                        grid.join("x"),
                        args.out.display(),
                        written.frames,
                        grid.join(", ")
                    );
                    if let (Some(full), Some(steps)) = (written.rel_l2, &written.rel_l2_per_step) {
                        let steps: Vec<String> = steps.iter().map(|e| format!("{e:.4}")).collect();
                        note!(
                            "relative L2 against the input's frames: rollout {full:.4}; per step {}",
                            steps.join(" ")
                        );
                    }
                }
            }
            Ok(())
        }
        "pinn" => {
            let points = args.points.as_ref().ok_or_else(|| {
                CliError::Usage(format!("{run} is a PINN run: pass --points FILE.csv"))
            })?;
            if args.input.is_some() {
                return Err(CliError::Usage(format!(
                    "{run} is a PINN run: it takes --points FILE.csv, not --input"
                )));
            }
            let mut config = Pinn::config_of(&description)?;
            if let Some(device) = &args.device {
                config.device = device.clone();
            }
            // The checkpoint's network with its jets at a batch of points.
            crate::resources::check_memory(
                &format!("evaluating {run}"),
                config.memory_estimate_bytes(),
            )?;
            let pinn = Pinn::from_parts(config, &description.checkpoint)?;
            let n = pinn.predict_csv(points, &args.out)?;
            note!("{n} points → {}", args.out.display());
            Ok(())
        }
        "wosno" => {
            let (points, spec) = match (&args.points, &args.instance) {
                (Some(p), Some(i)) if args.input.is_none() => (p, i),
                _ => {
                    return Err(CliError::Usage(format!(
                        "{run} is a WoS-NO run: pass --points FILE.csv (columns x,y) and --instance \"c1,c2,mu1x,mu1y,mu2x,mu2y,beta1,beta2,b0,b1,b2,b3,b4\""
                    )))
                }
            };
            let instance = StarPoisson::parse(spec, args.harmonics)?;
            let (config, net) = WosNoNet::load(&args.run_dir, args.device.as_deref())?;
            let n = net.predict_csv(&config, &instance, points, &args.out)?;
            note!("{n} points → {}", args.out.display());
            Ok(())
        }
        other => Err(CliError::Usage(format!(
            "{run} is a {other} run; nabla eval takes PINN runs (--points), operator runs (--input) and WoS-NO runs (--points with --instance)"
        ))),
    }
}
