//! `nabla datagen`: operator-learning data sets generated with nabla's own solvers — Darcy
//! flow, 1-D viscous Burgers and 2-D Navier–Stokes — written atomically in the PDEBench HDF5
//! layouts.

use crate::console::outln;
use crate::error::{CliError, Result};
use crate::progress::DelayedBar;
use nabla::data::datagen::{
    generate_burgers, generate_darcy, generate_navier_stokes, navier_stokes_attributes,
    BurgersSettings, DarcySettings, DatagenError, NavierStokesSettings,
};
use nabla::data::{write_darcy, write_series_1d, write_series_2d, AttrValue};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Flags of `nabla datagen`.
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Layouts (open in h5py unchanged):
  darcy    tensor float32 [N,1,S,S] (u), nu float32 [N,S,S] (a), x-coordinate and y-coordinate \
float32 [S], attribute beta = 1.0; axes are x then y: tensor[n,0,i,j] = u(x_i, y_j).
  burgers  tensor float32 [N,Nt,Nx], x-coordinate [Nx] (cell centres), t-coordinate [Nt+1] \
(PDEBench's convention: t_m = m*T/(Nt-1), the last entry one interval past T), attribute Nu = ν.
  navier-stokes  tensor float32 [N,Nt,S,S] (vorticity), tensor[n,m,i,j] = w(x_i, y_j, t_m); \
x-coordinate and y-coordinate float32 [S] (i/S); t-coordinate [Nt+1] (frame times, then one \
interval more); attribute Nu = ν plus the generator's settings.

Exit codes: 0 done; 1 bad flags or output path (one line on stderr, nothing written); 2 \
malformed flags; 3 a sample failed its solve or its verification (nothing written).")]
pub struct DatagenArgs {
    #[command(subcommand)]
    kind: Kind,
}

#[derive(clap::Subcommand, Debug)]
enum Kind {
    /// −∇·(a∇u) = 1 on the unit square, u = 0 on the boundary: a = 12 where a Gaussian random
    /// field ψ ~ N(0, (−Δ + 9I)⁻²) is ≥ 0 and 3 elsewhere; 5-point scheme on the S×S vertex
    /// grid, IC(0)-PCG to 1e-10, every residual recomputed.
    Darcy(DarcyArgs),
    /// u_t + (u²/2)_x = ν u_xx on the periodic [0, 1) from u₀ ~ N(0, 625(−Δ + 25I)⁻²):
    /// Fourier pseudo-spectral, 2/3 dealiasing, ETDRK4, snapshots on [0, T].
    Burgers(BurgersArgs),
    /// 2-D incompressible Navier–Stokes in vorticity form on the periodic unit torus, the FNO
    /// paper's set-up: w_t + u·∇w = ν Δw + 0.1 (sin 2π(x+y) + cos 2π(x+y)), w₀ ~
    /// N(0, 686 (−Δ + 49I)^−2.5); pseudo-spectral, 2/3 dealiasing, RK3 with Crank–Nicolson
    /// viscosity, CFL-controlled step; frames at t = Δ, 2Δ, …, FΔ.
    NavierStokes(NavierStokesArgs),
    /// Inverse-problem folder (PDEInvBench layout): 2-D FitzHugh–Nagumo
    /// u_t = Du Δu + u − u³ − k − v, v_t = Dv Δv + u − v, per-seed files per (k, Du, Dv),
    /// splits by PDEInvBench's parameter ranges.
    ReactionDiffusion(Box<crate::datagen_inverse::RdArgs>),
    /// Inverse-problem folder: 1-D KdV u_t + u u_x + δ² u_xxx = 0, one tensor file per δ,
    /// splits by PDEInvBench's δ ranges (δ in [0.8, 5]).
    Kdv(Box<crate::datagen_inverse::KdvArgs>),
    /// Inverse-problem folder: Darcy coefficient fields with their solutions (coeff, sol per
    /// sample), extreme split by the fraction of the coefficient at its high value.
    DarcyInverse(Box<crate::datagen_inverse::DarcyInverseArgs>),
}

/// Flags shared by the generators.
#[derive(clap::Args, Debug)]
struct Common {
    /// Number of samples N.
    #[arg(long, value_name = "N")]
    samples: usize,

    /// Seed: sample k depends only on (seed, k), the same for any --threads.
    #[arg(long, value_name = "K", default_value_t = 0)]
    seed: u64,

    /// Output HDF5 file (written atomically: complete or not at all), with its XDMF sidecar
    /// FILE.xdmf beside it for ParaView.
    #[arg(long, value_name = "FILE.h5")]
    out: PathBuf,

    /// Worker threads [default: all cores].
    #[arg(long, value_name = "T")]
    threads: Option<usize>,

    /// No progress line.
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args, Debug)]
struct DarcyArgs {
    /// Grid points per axis S, boundary included (h = 1/(S−1)).
    #[arg(long, value_name = "S", default_value_t = 64)]
    resolution: usize,

    /// Relative residual every solve reaches.
    #[arg(
        long,
        value_name = "TOL",
        default_value = "1e-10",
        allow_negative_numbers = true
    )]
    tol: f64,

    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args, Debug)]
struct BurgersArgs {
    /// Grid points Nx (cell centres of [0, 1)).
    #[arg(long, value_name = "NX", default_value_t = 1024)]
    resolution: usize,

    /// Viscosity ν.
    #[arg(
        long,
        value_name = "NU",
        default_value_t = 0.1,
        allow_negative_numbers = true
    )]
    nu: f64,

    /// Snapshots Nt per trajectory, t = 0 and t = T included.
    #[arg(long, value_name = "NT", default_value_t = 101)]
    steps: usize,

    /// Final time T.
    #[arg(
        long,
        value_name = "T",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    t_final: f64,

    /// Largest internal time step (each save interval is split into equal steps).
    #[arg(
        long,
        value_name = "DT",
        default_value = "5e-4",
        allow_negative_numbers = true
    )]
    max_dt: f64,

    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args, Debug)]
struct NavierStokesArgs {
    /// Output grid points per axis S (even, ≥ 8): x_i = i/S.
    #[arg(long, value_name = "S", default_value_t = 64)]
    resolution: usize,

    /// Grid of the simulation (even, ≥ --resolution); frames are spectrally truncated to
    /// --resolution [default: --resolution].
    #[arg(long, value_name = "M")]
    sim_resolution: Option<usize>,

    /// Viscosity ν (the FNO sets: 1e-3, 1e-4, 1e-5).
    #[arg(
        long,
        value_name = "NU",
        default_value = "1e-3",
        allow_negative_numbers = true
    )]
    viscosity: f64,

    /// Time Δ between recorded frames.
    #[arg(
        long,
        value_name = "DT",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    record_interval: f64,

    /// Frames F recorded at t = Δ, 2Δ, …, FΔ (20: the benchmark's 10 in, 10 out).
    #[arg(long, value_name = "F", default_value_t = 20)]
    frames: usize,

    /// Also record the initial vorticity as frame 0 (t = 0): F + 1 frames.
    #[arg(long)]
    include_initial: bool,

    /// Fixed largest time step instead of the CFL-controlled one.
    #[arg(long, value_name = "DT", allow_negative_numbers = true)]
    dt: Option<f64>,

    /// Courant number of the automatic step, dt ≤ cfl·h/max(|u|+|v|), in (0, 1].
    #[arg(
        long,
        value_name = "C",
        default_value_t = 0.5,
        allow_negative_numbers = true
    )]
    cfl: f64,

    /// Largest automatic time step.
    #[arg(
        long,
        value_name = "DT",
        default_value_t = 0.05,
        allow_negative_numbers = true
    )]
    max_dt: f64,

    #[command(flatten)]
    common: Common,
}

/// Runs `nabla datagen`.
pub fn run(args: &DatagenArgs) -> Result<()> {
    match &args.kind {
        Kind::Darcy(a) => darcy(a),
        Kind::Burgers(a) => burgers(a),
        Kind::NavierStokes(a) => navier_stokes(a),
        Kind::ReactionDiffusion(a) => crate::datagen_inverse::reaction_diffusion(a),
        Kind::Kdv(a) => crate::datagen_inverse::kdv(a),
        Kind::DarcyInverse(a) => crate::datagen_inverse::darcy_inverse(a),
    }
}

/// Checks the shared flags and the output path (before any work), then sizes the pool.
fn check_common(c: &Common) -> Result<()> {
    if c.samples == 0 {
        return Err(CliError::Usage("--samples must be at least 1".into()));
    }
    crate::resources::check_threads(c.threads)?;
    // write_darcy / write_series_1d also write the XDMF sidecar beside --out.
    crate::outputs::check_outputs(
        &[
            &Some(c.out.clone()),
            &Some(nabla::data::xdmf::sidecar_path(&c.out)),
        ],
        &[],
    )?;
    if let Some(nt) = c.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(nt)
            .build_global()
            .map_err(|e| CliError::Usage(format!("--threads {nt}: {e}")))?;
    }
    Ok(())
}

/// Refuses a data set whose samples (`data_bytes`, held in memory until the file is written,
/// then written to disk) plus the generators' working memory (`work_bytes`) exceed the
/// memory limit, or whose file would not fit on the output's file system.
fn check_output_size(c: &Common, data_bytes: f64, work_bytes: f64) -> Result<()> {
    let what = format!("{} samples", c.samples);
    crate::resources::check_memory(&what, 1.1 * data_bytes + work_bytes)?;
    crate::resources::check_disk(&what, data_bytes, &c.out)
}

/// Settings errors are usage errors; a failed solve or check exits with 3.
fn gen_error(e: DatagenError) -> CliError {
    if e.is_settings() {
        CliError::Usage(e.to_string())
    } else {
        CliError::NotConverged(format!("{e} (nothing written)"))
    }
}

fn progress_bar(samples: usize, quiet: bool) -> DelayedBar {
    DelayedBar::new(
        samples as u64,
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} samples (ETA {eta})",
        !quiet,
    )
}

fn darcy(args: &DarcyArgs) -> Result<()> {
    let c = &args.common;
    if args.resolution < 3 {
        return Err(CliError::Usage(format!(
            "--resolution must be at least 3 (one interior point), got {}",
            args.resolution
        )));
    }
    if !(args.tol > 0.0 && args.tol < 1.0) {
        return Err(CliError::Usage(format!(
            "--tol must be in (0, 1), got {}",
            args.tol
        )));
    }
    let settings = DarcySettings {
        resolution: args.resolution,
        samples: c.samples,
        seed: c.seed,
        tol: args.tol,
        ..Default::default()
    };
    check_common(c)?;
    settings.validate().map_err(gen_error)?;
    let cells = (args.resolution as f64).powi(2);
    check_output_size(
        c,
        // coefficient and solution (f32) of every sample, kept until the file is written
        c.samples as f64 * cells * 8.0,
        // plus each thread's solver: matrix, IC(0) factor and vectors
        rayon::current_num_threads() as f64 * cells * 200.0,
    )?;

    let t0 = Instant::now();
    let bar = progress_bar(c.samples, c.quiet);
    let data = generate_darcy(&settings, &|done| {
        bar.update(|b| b.set_position(done as u64))
    });
    bar.finish();
    let data = data.map_err(gen_error)?;
    let seconds = t0.elapsed().as_secs_f64();

    let s = &settings;
    let attrs: Vec<(&str, AttrValue)> = vec![
        ("generator", "nabla datagen darcy".into()),
        ("nabla_version", env!("CARGO_PKG_VERSION").into()),
        (
            "equation",
            "-div(a grad u) = beta on [0,1]^2, u = 0 on the boundary".into(),
        ),
        (
            "scheme",
            "5-point finite differences on the S x S vertex grid (boundary included, \
             h = 1/(S-1)), arithmetic-mean face coefficients"
                .into(),
        ),
        ("solver", "ic0-pcg".into()),
        ("tolerance", s.tol.into()),
        ("residual_check", "every sample's relative residual recomputed from the stencil".into()),
        (
            "coefficient",
            format!(
                "a = {} where psi >= 0, {} elsewhere; psi ~ N(0, tau^(2 alpha - 2) (-Laplacian + tau^2)^(-alpha)), Neumann cosine series, mean mode removed",
                s.a_pos, s.a_neg
            )
            .into(),
        ),
        ("tau", s.tau.into()),
        ("alpha", s.alpha.into()),
        ("a_pos", s.a_pos.into()),
        ("a_neg", s.a_neg.into()),
        ("resolution", s.resolution.into()),
        ("samples", s.samples.into()),
        ("seed", AttrValue::I64(s.seed as i64)),
        ("axis_order", "tensor[n,0,i,j] = u(x_i, y_j), nu[n,i,j] = a(x_i, y_j)".into()),
    ];
    write_darcy(&c.out, &data, &attrs)?;
    outln!(
        "darcy      {} samples on the {r}x{r} vertex grid, a in {{{}, {}}}, seed {}",
        s.samples,
        s.a_pos,
        s.a_neg,
        s.seed,
        r = s.resolution
    );
    outln!(
        "solver     ic0-pcg to relative residual {:.0e}, each residual recomputed",
        s.tol
    );
    print_tail(c, seconds)?;
    Ok(())
}

fn burgers(args: &BurgersArgs) -> Result<()> {
    let c = &args.common;
    let settings = BurgersSettings {
        resolution: args.resolution,
        samples: c.samples,
        seed: c.seed,
        nu: args.nu,
        t_final: args.t_final,
        steps: args.steps,
        max_dt: args.max_dt,
        ..Default::default()
    };
    for (flag, v) in [
        ("--nu", args.nu),
        ("--t-final", args.t_final),
        ("--max-dt", args.max_dt),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err(CliError::Usage(format!(
                "{flag} must be positive and finite, got {v}"
            )));
        }
    }
    if args.steps < 2 {
        return Err(CliError::Usage(format!(
            "--steps (snapshots, t = 0 and t = T included) must be at least 2, got {}",
            args.steps
        )));
    }
    if args.resolution < 8 {
        return Err(CliError::Usage(format!(
            "--resolution must be at least 8, got {}",
            args.resolution
        )));
    }
    check_common(c)?;
    check_output_size(
        c,
        c.samples as f64 * args.steps as f64 * args.resolution as f64 * 4.0,
        rayon::current_num_threads() as f64 * args.resolution as f64 * 400.0,
    )?;
    settings.validate().map_err(gen_error)?;

    let t0 = Instant::now();
    let bar = progress_bar(c.samples, c.quiet);
    let data = generate_burgers(&settings, &|done| {
        bar.update(|b| b.set_position(done as u64))
    });
    bar.finish();
    let data = data.map_err(gen_error)?;
    let seconds = t0.elapsed().as_secs_f64();

    let s = &settings;
    let checked = if s.verify_every == 0 {
        0
    } else {
        s.samples.div_ceil(s.verify_every)
    };
    let attrs: Vec<(&str, AttrValue)> = vec![
        ("generator", "nabla datagen burgers".into()),
        ("nabla_version", env!("CARGO_PKG_VERSION").into()),
        ("equation", "u_t + (u^2/2)_x = Nu u_xx on the periodic [0, 1)".into()),
        (
            "viscosity_convention",
            "Nu is the viscosity itself (PDEBench's Burgers files store eps with viscosity eps/pi)"
                .into(),
        ),
        (
            "scheme",
            "Fourier pseudo-spectral, 2/3-rule dealiasing, ETDRK4 (Kassam-Trefethen contour coefficients)"
                .into(),
        ),
        ("dt", s.dt().into()),
        ("substeps_per_snapshot", s.substeps().into()),
        ("t_final", s.t_final.into()),
        ("snapshots", s.steps.into()),
        (
            "t_coordinate_convention",
            "Nt+1 entries t_m = m T/(Nt-1) as PDEBench writes them; tensor holds t_0..t_(Nt-1), the last entry lies past T"
                .into(),
        ),
        (
            "initial_condition",
            "u0 ~ N(0, sigma^2 (-Laplacian + tau^2)^(-gamma)), periodic Fourier series, mean mode removed"
                .into(),
        ),
        ("sigma", s.sigma.into()),
        ("tau", s.tau.into()),
        ("gamma", s.gamma.into()),
        ("resolution", s.resolution.into()),
        ("samples", s.samples.into()),
        ("seed", AttrValue::I64(s.seed as i64)),
        ("step_halving_checked_samples", checked.into()),
        ("step_halving_tolerance", s.verify_tol.into()),
    ];
    write_series_1d(&c.out, &data, &attrs)?;
    outln!(
        "burgers    {} trajectories on {} points, nu = {}, {} snapshots on [0, {}], seed {}",
        s.samples,
        s.resolution,
        s.nu,
        s.steps,
        s.t_final,
        s.seed
    );
    outln!(
        "solver     pseudo-spectral ETDRK4, dt = {:.3e} ({} steps per snapshot), {} trajectories checked by step halving to {:.0e}",
        s.dt(),
        s.substeps(),
        checked,
        s.verify_tol
    );
    print_tail(c, seconds)?;
    Ok(())
}

fn navier_stokes(args: &NavierStokesArgs) -> Result<()> {
    let c = &args.common;
    let usage = |m: String| Err(CliError::Usage(m));
    if !args.resolution.is_multiple_of(2) || args.resolution < 8 {
        return usage(format!(
            "--resolution must be even and at least 8, got {}",
            args.resolution
        ));
    }
    if let Some(m) = args.sim_resolution {
        if !m.is_multiple_of(2) || m < args.resolution {
            return usage(format!(
                "--sim-resolution must be even and at least --resolution {}, got {m}",
                args.resolution
            ));
        }
    }
    if args.frames == 0 {
        return usage("--frames must be at least 1".into());
    }
    for (flag, v) in [
        ("--viscosity", Some(args.viscosity)),
        ("--record-interval", Some(args.record_interval)),
        ("--dt", args.dt),
        ("--max-dt", Some(args.max_dt)),
    ] {
        if let Some(v) = v {
            if !(v.is_finite() && v > 0.0) {
                return usage(format!("{flag} must be positive and finite, got {v}"));
            }
        }
    }
    if !(args.cfl.is_finite() && args.cfl > 0.0 && args.cfl <= 1.0) {
        return usage(format!("--cfl must be in (0, 1], got {}", args.cfl));
    }
    let settings = NavierStokesSettings {
        resolution: args.resolution,
        sim_resolution: args.sim_resolution,
        samples: c.samples,
        seed: c.seed,
        viscosity: args.viscosity,
        record_interval: args.record_interval,
        frames: args.frames,
        include_initial: args.include_initial,
        dt: args.dt,
        cfl: args.cfl,
        max_dt: args.max_dt,
        ..Default::default()
    };
    settings.validate().map_err(gen_error)?;
    check_common(c)?;
    let s = &settings;
    let out_cells = (s.resolution as f64).powi(2);
    let sim_cells = (s.sim_grid() as f64).powi(2);
    check_output_size(
        c,
        // every frame of every sample (f32), kept until the file is written
        c.samples as f64 * s.frame_count() as f64 * out_cells * 4.0,
        // plus each thread's solver: FFT buffers and one trajectory in f64
        rayon::current_num_threads() as f64
            * (sim_cells * 120.0 + s.frame_count() as f64 * out_cells * 8.0),
    )?;

    let t0 = Instant::now();
    let bar = progress_bar(c.samples, c.quiet);
    let set = generate_navier_stokes(s, &|done| bar.update(|b| b.set_position(done as u64)));
    bar.finish();
    let set = set.map_err(gen_error)?;
    let seconds = t0.elapsed().as_secs_f64();

    write_series_2d(&c.out, &set.data, &navier_stokes_attributes(s, &set))?;
    let times = s.frame_times();
    outln!(
        "navier-stokes {} samples on {r}x{r} (simulated on {m}x{m}), nu = {}, {} frames at t = {}..{} every {}, seed {}",
        s.samples,
        s.viscosity,
        s.frame_count(),
        times[0],
        times[times.len() - 1],
        s.record_interval,
        s.seed,
        r = s.resolution,
        m = s.sim_grid()
    );
    outln!(
        "solver     pseudo-spectral RK3/Crank-Nicolson, 2/3 dealiasing, dt {:.3e}..{:.3e} ({}), {} steps",
        set.dt_min,
        set.dt_max,
        match s.dt {
            Some(_) => "fixed".to_string(),
            None => format!("cfl {}, max {}", s.cfl, s.max_dt),
        },
        set.steps
    );
    print_tail(c, seconds)?;
    Ok(())
}

fn print_tail(c: &Common, seconds: f64) -> Result<()> {
    outln!(
        "time       {seconds:.2} s ({:.1} samples/s, {} threads)",
        c.samples as f64 / seconds.max(1e-9),
        rayon::current_num_threads()
    );
    outln!("wrote      {} ({})", c.out.display(), file_size(&c.out));
    Ok(())
}

fn file_size(path: &Path) -> String {
    match std::fs::metadata(path) {
        Ok(m) => format!("{:.1} MB", m.len() as f64 / 1e6),
        Err(_) => "size unknown".into(),
    }
}
