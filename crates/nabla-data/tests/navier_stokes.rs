//! The Navier–Stokes generator (`nabla_data::datagen::navier_stokes`): the Taylor–Green vortex
//! decays at the exact rate, the advection term equals the exact Jacobian of a two-mode field,
//! inviscid runs conserve energy and enstrophy, the time stepping converges at its order, the
//! set is reproducible (threads, prefixes), bad settings and blow-ups are one-line errors, and
//! the 2-D series file with its XDMF sidecar reads back.

use std::collections::HashMap;
use std::f64::consts::PI;
use std::path::Path;

use nabla_data::datagen::{
    generate_navier_stokes, navier_stokes_attributes, solve_navier_stokes, vorticity_invariants,
    NavierStokesSettings, TorusGrf, VorticitySolver,
};
use nabla_data::xdmf::{sidecar_path, MAX_SERIES_SAMPLES};
use nabla_data::{read_attrs, read_series_2d, write_series_2d, AttrValue, Series2dData};
use rand::SeedableRng;

fn grid(n: usize, f: impl Fn(f64, f64) -> f64) -> Vec<f64> {
    (0..n * n)
        .map(|p| f((p / n) as f64 / n as f64, (p % n) as f64 / n as f64))
        .collect()
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0f64, |m, x| m.max(x.abs()))
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
}

fn unforced(n: usize, nu: f64) -> NavierStokesSettings {
    NavierStokesSettings {
        resolution: n,
        viscosity: nu,
        forcing: 0.0,
        ..Default::default()
    }
}

/// Largest relative error over the frames of the Taylor–Green run w₀ = 2Uκ cos κx cos κy
/// (κ = 2πm, velocity amplitude U = `speed`) against w₀ exp(−2νκ²t), and the steps taken.
fn taylor_green_error(
    n: usize,
    m: usize,
    settings: &NavierStokesSettings,
    speed: f64,
) -> (f64, u64) {
    let kappa = 2.0 * PI * m as f64;
    let w0 = grid(n, |x, y| {
        2.0 * speed * kappa * (kappa * x).cos() * (kappa * y).cos()
    });
    let run = solve_navier_stokes(&w0, settings).unwrap();
    let mut err = 0.0f64;
    for (f, &t) in run.times.iter().enumerate() {
        let decay = (-2.0 * settings.viscosity * kappa * kappa * t).exp();
        let exact: Vec<f64> = w0.iter().map(|v| v * decay).collect();
        let frame = &run.frames[f * n * n..(f + 1) * n * n];
        err = err.max(max_diff(frame, &exact) / max_abs(&exact));
    }
    (err, run.steps)
}

#[test]
fn taylor_green_decays_as_exp_minus_2_nu_k2_t() {
    // The generator's step control (CFL 0.5, max_dt 0.05) over its 20 frames one time unit
    // apart, velocity amplitude 1: the fundamental vortex (m = 1) at the data sets' ν.
    // (Higher modes at small ν are unstable cellular flows — round-off grows into the
    // large scales — so m = 1 is the vortex to check over long times.)
    for (n, m, nu) in [(64, 1, 1e-3), (64, 1, 1e-4), (64, 1, 1e-5)] {
        let (err, steps) = taylor_green_error(n, m, &unforced(n, nu), 1.0);
        eprintln!(
            "Taylor-Green n = {n}, m = {m}, nu = {nu:e}, 20 frames: max relative error \
             {err:.2e} ({steps} steps)"
        );
        assert!(err < 1e-6, "n = {n}, m = {m}, nu = {nu}: {err:e}");
    }
    // Crank–Nicolson's error, ~T ν³|κ|⁶ dt²/63, grows with the mode: m = 2 at ν = 1e-3 needs
    // a shorter largest step for 1e-6 over ten time units.
    let s = NavierStokesSettings {
        frames: 10,
        max_dt: 0.01,
        ..unforced(64, 1e-3)
    };
    let (err, steps) = taylor_green_error(64, 2, &s, 1.0);
    eprintln!("Taylor-Green n = 64, m = 2, nu = 1e-3, max_dt 0.01: {err:.2e} ({steps} steps)");
    assert!(err < 1e-6, "{err:e}");
}

#[test]
fn crank_nicolson_is_second_order_on_the_viscous_decay() {
    // Long fixed steps on a slow vortex (advection negligible), so the viscous time error
    // dominates: halving dt divides it by 4.
    let errs: Vec<f64> = [0.5, 0.25, 0.125]
        .iter()
        .map(|&dt| {
            let s = NavierStokesSettings {
                frames: 4,
                dt: Some(dt),
                ..unforced(16, 0.002)
            };
            taylor_green_error(16, 2, &s, 1e-3).0
        })
        .collect();
    eprintln!("Taylor-Green errors for dt = 0.5, 0.25, 0.125: {errs:?}");
    for w in errs.windows(2) {
        let order = (w[0] / w[1]).log2();
        assert!((1.9..2.1).contains(&order), "{errs:?}");
    }
}

#[test]
fn advection_term_is_the_exact_jacobian_of_a_two_mode_field() {
    let n = 32;
    let (nu, a) = (0.01, 0.1);
    let solver = VorticitySolver::new(n, nu, a).unwrap();
    // w = cos 2πx + cos 4πy: ψ = cos 2πx/(4π²) + cos 4πy/(16π²), u = ψ_y = −sin 4πy/(4π),
    // v = −ψ_x = sin 2πx/(2π), and −u·∇w = 1.5 sin 2πx sin 4πy.
    let w = grid(n, |x, y| (2.0 * PI * x).cos() + (4.0 * PI * y).cos());
    let (u, v) = solver.velocity(&w);
    let u_exact = grid(n, |_, y| -(4.0 * PI * y).sin() / (4.0 * PI));
    let v_exact = grid(n, |x, _| (2.0 * PI * x).sin() / (2.0 * PI));
    assert!(max_diff(&u, &u_exact) < 1e-15, "{}", max_diff(&u, &u_exact));
    assert!(max_diff(&v, &v_exact) < 1e-15);
    let dwdt = solver.tendency(&w);
    let exact = grid(n, |x, y| {
        1.5 * (2.0 * PI * x).sin() * (4.0 * PI * y).sin()
            - nu * (4.0 * PI * PI * (2.0 * PI * x).cos() + 16.0 * PI * PI * (4.0 * PI * y).cos())
            + a * ((2.0 * PI * (x + y)).sin() + (2.0 * PI * (x + y)).cos())
    });
    let err = max_diff(&dwdt, &exact);
    eprintln!("two-mode tendency error {err:.2e}");
    assert!(err < 1e-12, "{err:e}");
}

/// A band-limited random initial field on the n × n grid.
fn random_field(n: usize, seed: u64) -> Vec<f64> {
    let grf = TorusGrf::new((n - 1) / 3, 686.0, 7.0, 2.5);
    grf.sample(n, &mut rand_pcg::Pcg64::seed_from_u64(seed))
}

#[test]
fn inviscid_unforced_runs_conserve_energy_and_enstrophy() {
    let n = 32;
    let w0: Vec<f64> = random_field(n, 11).iter().map(|v| 4.0 * v).collect();
    // Short fixed steps: RK3 damps a mode by ~(κ|u|dt)⁴/24 per step.
    let s = NavierStokesSettings {
        frames: 5,
        dt: Some(0.0025),
        ..unforced(n, 0.0)
    };
    let run = solve_navier_stokes(&w0, &s).unwrap();
    let (e0, z0) = vorticity_invariants(&w0, n);
    let mut drift = (0.0f64, 0.0f64);
    for f in 0..5 {
        let (e, z) = vorticity_invariants(&run.frames[f * n * n..(f + 1) * n * n], n);
        drift.0 = drift.0.max((e / e0 - 1.0).abs());
        drift.1 = drift.1.max((z / z0 - 1.0).abs());
    }
    // The flow really moved.
    let moved = max_diff(&run.frames[4 * n * n..], &w0) / max_abs(&w0);
    eprintln!(
        "inviscid: energy drift {:.2e}, enstrophy drift {:.2e}, change of w {moved:.2}, {} steps",
        drift.0, drift.1, run.steps
    );
    assert!(moved > 0.5, "{moved}");
    assert!(drift.0 < 1e-6 && drift.1 < 1e-6, "{drift:?}");
}

#[test]
fn forced_runs_converge_under_step_halving() {
    // The generator's equation (ν = 1e-3, FNO forcing) from a random field, fixed steps.
    let n = 32;
    let w0 = random_field(n, 5);
    let run = |dt: f64| {
        let s = NavierStokesSettings {
            resolution: n,
            frames: 4,
            dt: Some(dt),
            ..Default::default()
        };
        solve_navier_stokes(&w0, &s).unwrap().frames
    };
    let reference = run(0.05 / 16.0);
    let scale = max_abs(&reference);
    let errs: Vec<f64> = [0.05, 0.025, 0.0125]
        .iter()
        .map(|&dt| max_diff(&run(dt), &reference) / scale)
        .collect();
    eprintln!("forced run, dt = 0.05, 0.025, 0.0125: relative errors {errs:?}");
    for w in errs.windows(2) {
        let order = (w[0] / w[1]).log2();
        assert!(order > 1.8, "{errs:?}");
    }
}

#[test]
fn grf_has_the_stated_covariance_and_nested_modes() {
    let (kmax, c, tau, alpha) = (10, 686.0, 7.0, 2.5);
    let grf = TorusGrf::new(kmax, c, tau, alpha);
    // Pointwise variance Σ_k c λ_k^{−α} over the kept modes k ≠ 0.
    let mut want = 0.0;
    for k1 in -(kmax as i64)..=kmax as i64 {
        for k2 in -(kmax as i64)..=kmax as i64 {
            if k1 != 0 || k2 != 0 {
                let lam = 4.0 * PI * PI * (k1 * k1 + k2 * k2) as f64 + tau * tau;
                want += c * lam.powf(-alpha);
            }
        }
    }
    let mut rng = rand_pcg::Pcg64::seed_from_u64(9);
    let (mut sum, mut count) = (0.0, 0usize);
    for _ in 0..400 {
        let w = grf.sample(24, &mut rng);
        let mean: f64 = w.iter().sum::<f64>() / w.len() as f64;
        assert!(mean.abs() < 1e-14);
        sum += w.iter().map(|v| v * v).sum::<f64>();
        count += w.len();
    }
    let var = sum / count as f64;
    eprintln!("GRF pointwise variance {var:.4} (exact {want:.4})");
    assert!((var / want - 1.0).abs() < 0.1, "{var} vs {want}");
    // A larger band extends a smaller one drawn from the same stream.
    let small =
        TorusGrf::new(4, c, tau, alpha).sample_modes(&mut rand_pcg::Pcg64::seed_from_u64(1));
    let large = grf.sample_modes(&mut rand_pcg::Pcg64::seed_from_u64(1));
    assert_eq!(large[..small.len()], small[..]);
}

fn run_with_threads(settings: &NavierStokesSettings, threads: usize) -> Series2dData {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| generate_navier_stokes(settings, &|_| {}))
        .unwrap()
        .data
}

#[test]
fn generated_sets_are_thread_independent_with_the_prefix_property() {
    let settings = NavierStokesSettings {
        resolution: 16,
        samples: 3,
        seed: 5,
        frames: 4,
        ..Default::default()
    };
    let one = run_with_threads(&settings, 1);
    assert_eq!(one, run_with_threads(&settings, 2));
    assert_eq!((one.n, one.nt, one.nx, one.ny), (3, 4, 16, 16));
    assert_eq!(one.t, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(one.x[1], 1.0 / 16.0);
    assert_eq!(one.nu, Some(1e-3));
    // Mean vorticity stays zero; samples differ.
    for frame in one.tensor.chunks(256) {
        let mean: f32 = frame.iter().sum::<f32>() / 256.0;
        assert!(mean.abs() < 1e-6, "{mean}");
    }
    assert_ne!(one.tensor[..1024], one.tensor[1024..2048]);
    let more = run_with_threads(
        &NavierStokesSettings {
            samples: 5,
            ..settings.clone()
        },
        2,
    );
    assert_eq!(more.tensor[..one.tensor.len()], one.tensor[..]);
    // With the initial frame: the same later frames, w0 first.
    let with0 = run_with_threads(
        &NavierStokesSettings {
            include_initial: true,
            ..settings.clone()
        },
        2,
    );
    assert_eq!(with0.nt, 5);
    assert_eq!(with0.t[0], 0.0);
    assert_eq!(with0.tensor[256..5 * 256], one.tensor[..4 * 256]);
}

#[test]
fn a_finer_simulation_grid_agrees_on_the_output_modes() {
    // Written on 16², runs on 32² and 64² start from the same modes |k| < 8 and differ later
    // only through their interaction with the modes 11..21 that the 32² run does not hold:
    // small at ν = 1e-3.
    let base = NavierStokesSettings {
        resolution: 16,
        sim_resolution: Some(32),
        seed: 2,
        frames: 3,
        include_initial: true,
        ..Default::default()
    };
    let coarse = run_with_threads(&base, 2);
    let fine = run_with_threads(
        &NavierStokesSettings {
            sim_resolution: Some(64),
            ..base.clone()
        },
        2,
    );
    let a: Vec<f64> = coarse.tensor.iter().map(|&v| f64::from(v)).collect();
    let b: Vec<f64> = fine.tensor.iter().map(|&v| f64::from(v)).collect();
    let frame = 16 * 16;
    for m in 0..4 {
        let d = max_diff(
            &a[m * frame..(m + 1) * frame],
            &b[m * frame..(m + 1) * frame],
        ) / max_abs(&a[m * frame..(m + 1) * frame]);
        eprintln!("sim 64 vs 32 on 16², frame {m}: relative difference {d:.2e}");
        assert!(d < if m == 0 { 1e-6 } else { 1e-3 }, "frame {m}: {d}");
    }
}

#[test]
fn bad_settings_and_blow_ups_are_one_line_errors() {
    let base = NavierStokesSettings {
        resolution: 16,
        frames: 2,
        ..Default::default()
    };
    for (s, needle) in [
        (
            NavierStokesSettings {
                resolution: 15,
                ..base.clone()
            },
            "resolution must be even",
        ),
        (
            NavierStokesSettings {
                resolution: 6,
                ..base.clone()
            },
            "resolution must be even and in 8",
        ),
        (
            NavierStokesSettings {
                sim_resolution: Some(8),
                ..base.clone()
            },
            "sim_resolution",
        ),
        (
            NavierStokesSettings {
                viscosity: 0.0,
                ..base.clone()
            },
            "viscosity must be positive",
        ),
        (
            NavierStokesSettings {
                viscosity: f64::NAN,
                ..base.clone()
            },
            "viscosity must be positive",
        ),
        (
            NavierStokesSettings {
                frames: 0,
                ..base.clone()
            },
            "frames must be at least 1",
        ),
        (
            NavierStokesSettings {
                record_interval: -1.0,
                ..base.clone()
            },
            "record_interval",
        ),
        (
            NavierStokesSettings {
                dt: Some(0.0),
                ..base.clone()
            },
            "dt must be positive",
        ),
    ] {
        let e = generate_navier_stokes(&s, &|_| {}).unwrap_err();
        assert!(e.is_settings(), "{e}");
        let msg = e.to_string();
        assert!(msg.contains(needle) && !msg.contains('\n'), "{msg}");
    }
    // One step per time unit is far past the advective limit: the run blows up, and the error
    // names the sample.
    let e = generate_navier_stokes(
        &NavierStokesSettings {
            resolution: 32,
            samples: 2,
            viscosity: 1e-4,
            ic_scale: 686.0 * 400.0,
            frames: 30,
            dt: Some(1.0),
            ..Default::default()
        },
        &|_| {},
    )
    .unwrap_err();
    assert!(!e.is_settings());
    let msg = e.to_string();
    eprintln!("{msg}");
    assert!(msg.starts_with("sample "), "{msg}");
    assert!(
        msg.contains("blew up") && msg.contains("lower --dt"),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
}

/// The sidecar's grids: for each `Grid` of the temporal collection, its time and, per field,
/// the HyperSlab start and count of `tensor`.
type SlabGrid = (f64, HashMap<String, (Vec<usize>, Vec<usize>)>);

fn sidecar_grids(h5: &Path) -> (Vec<SlabGrid>, String) {
    let xml = std::fs::read_to_string(sidecar_path(h5)).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let grids = doc
        .descendants()
        .filter(|g| g.has_tag_name("Grid") && g.attribute("GridType") == Some("Uniform"))
        .map(|g| {
            let time = g
                .children()
                .find(|c| c.has_tag_name("Time"))
                .and_then(|t| t.attribute("Value"))
                .unwrap()
                .parse()
                .unwrap();
            let fields = g
                .children()
                .filter(|c| c.has_tag_name("Attribute"))
                .map(|a| {
                    let slab = a.children().find(|c| c.has_tag_name("DataItem")).unwrap();
                    assert_eq!(slab.attribute("ItemType"), Some("HyperSlab"));
                    let sel: Vec<usize> = slab
                        .children()
                        .find(|c| c.has_tag_name("DataItem"))
                        .unwrap()
                        .text()
                        .unwrap()
                        .split_whitespace()
                        .map(|v| v.parse().unwrap())
                        .collect();
                    let rank = sel.len() / 3;
                    (
                        a.attribute("Name").unwrap().to_string(),
                        (sel[..rank].to_vec(), sel[2 * rank..].to_vec()),
                    )
                })
                .collect();
            (time, fields)
        })
        .collect();
    (grids, xml)
}

#[test]
fn the_file_reads_back_with_its_attributes_and_sidecar() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ns.h5");
    let settings = NavierStokesSettings {
        resolution: 16,
        samples: 6,
        seed: 1,
        frames: 3,
        record_interval: 0.5,
        ..Default::default()
    };
    let set = generate_navier_stokes(&settings, &|_| {}).unwrap();
    let attrs = navier_stokes_attributes(&settings, &set);
    write_series_2d(&path, &set.data, &attrs).unwrap();
    let back = read_series_2d(&path, None).unwrap();
    assert_eq!(back, set.data);
    assert_eq!(back.t, vec![0.5, 1.0, 1.5, 2.0]);
    let part = read_series_2d(&path, Some(2..4)).unwrap();
    assert_eq!(part.n, 2);
    assert_eq!(part.tensor, set.data.tensor[2 * 768..4 * 768]);
    let (shape, _) = nabla_data::read_f64_dataset(&path, "tensor").unwrap();
    assert_eq!(shape, vec![6, 3, 16, 16]);

    let a: HashMap<String, AttrValue> = read_attrs(&path).unwrap().into_iter().collect();
    assert_eq!(a["Nu"], AttrValue::F64(1e-3));
    assert_eq!(a["viscosity"], AttrValue::F64(1e-3));
    assert_eq!(a["seed"], AttrValue::I64(1));
    assert_eq!(a["resolution"], AttrValue::I64(16));
    assert_eq!(a["dt"], AttrValue::F64(set.dt_max));
    assert_eq!(a["time_steps"], AttrValue::I64(set.steps as i64));
    assert!(matches!(&a["generator"], AttrValue::Str(s) if s == "nabla datagen navier-stokes"));
    assert!(matches!(&a["forcing"], AttrValue::Str(s) if s.contains("0.1 (sin(2 pi (x+y))")));
    assert!(set.dt_min > 0.0 && set.dt_min <= set.dt_max && set.dt_max <= 0.05);

    // Sidecar: one grid per frame at its time, a field per listed sample reading
    // tensor[k, m, :, :].
    let (grids, xml) = sidecar_grids(&path);
    assert_eq!(grids.len(), 3);
    for (m, (time, fields)) in grids.iter().enumerate() {
        assert_eq!(*time, 0.5 * (m + 1) as f64);
        assert_eq!(fields.len(), MAX_SERIES_SAMPLES);
        for k in 0..MAX_SERIES_SAMPLES {
            let (start, count) = &fields[&format!("sample_{k}")];
            assert_eq!(start, &vec![k, m, 0, 0]);
            assert_eq!(count, &vec![1, 1, 16, 16]);
        }
    }
    for item in [
        r#"Dimensions="6 3 16 16" NumberType="Float" Precision="4" Format="HDF">ns.h5:/tensor<"#,
        r#"TopologyType="2DRectMesh" Dimensions="16 16""#,
        r#"Format="HDF">ns.h5:/x-coordinate<"#,
        r#"Format="HDF">ns.h5:/y-coordinate<"#,
        "Lists trajectories 0 to 3 of 6",
    ] {
        assert!(xml.contains(item), "{item} not in {xml}");
    }
}

#[test]
fn series_2d_layout_errors_and_files_without_nu() {
    let dir = tempfile::tempdir().unwrap();
    let data = Series2dData {
        n: 2,
        nt: 3,
        nx: 4,
        ny: 5,
        tensor: (0..120).map(|p| p as f32).collect(),
        x: vec![0.0, 0.25, 0.5, 0.75],
        y: vec![0.0, 0.2, 0.4, 0.6, 0.8],
        t: vec![0.0, 1.0, 2.0],
        nu: None,
    };
    let path = dir.path().join("s.h5");
    write_series_2d(&path, &data, &[]).unwrap();
    assert_eq!(read_series_2d(&path, None).unwrap(), data);
    assert!(read_attrs(&path).unwrap().is_empty());

    let mut bad = data.clone();
    bad.y.pop();
    let e = write_series_2d(&dir.path().join("b.h5"), &bad, &[])
        .unwrap_err()
        .to_string();
    assert!(e.contains("y has 4 values, expected Ny = 5"), "{e}");
    let e = write_series_2d(
        &dir.path().join("b.h5"),
        &Series2dData {
            nu: Some(0.1),
            ..data.clone()
        },
        &[("Nu", AttrValue::F64(1.0))],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("'Nu' is given twice"), "{e}");
    assert!(!dir.path().join("b.h5").exists());

    // A 1-D series is not a 2-D one.
    let one_d = dir.path().join("one_d.h5");
    nabla_data::write_series_1d(
        &one_d,
        &nabla_data::Series1dData {
            n: 1,
            nt: 2,
            nx: 3,
            tensor: vec![0.0; 6],
            x: vec![0.0; 3],
            t: vec![0.0; 3],
            nu: 0.1,
        },
        &[],
    )
    .unwrap();
    let e = read_series_2d(&one_d, None).unwrap_err().to_string();
    assert!(
        e.contains("'tensor' has shape [1, 2, 3], expected [N, Nt, Nx, Ny]"),
        "{e}"
    );
    let e = read_series_2d(&path, Some(1..3)).unwrap_err().to_string();
    assert!(e.contains("sample range 1..3"), "{e}");
}
