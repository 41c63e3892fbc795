//! The inverse-problem generators write folders in the documented layouts, with parameters in
//! their split's ranges, verified trajectories, and the same files for the same seed.

use std::path::Path;

use nabla_data::datagen::{
    generate_darcy_inverse_set, generate_kdv_set, generate_reaction_diffusion_set, Boundary,
    DarcyInverseSettings, DarcySettings, KdvSettings, ReactionDiffusionSettings, SplitCounts,
};
use nabla_data::inverse::{
    kdv_ranges, reaction_diffusion_ranges, read_darcy_sample, InverseDataset, PerSeedFile,
    RangeKind, Split, TensorFile,
};
use nabla_data::{read_attrs, AttrValue};

fn counts() -> SplitCounts {
    SplitCounts {
        train: 2,
        validation: 1,
        test: 1,
        ood: 1,
        extreme: 1,
    }
}

fn in_kind(v: f64, r: &[(f64, f64)]) -> bool {
    r.iter().any(|&(a, b)| v >= a - 1e-9 && v <= b + 1e-9)
}

fn all_data(dir: &Path) -> Vec<(String, Vec<f32>)> {
    let ds = InverseDataset::open(dir).unwrap();
    let mut out = Vec::new();
    for sf in ds.splits() {
        for f in &sf.files {
            let p = PerSeedFile::open(&f.path).unwrap();
            for i in 0..p.seeds().len() {
                out.push((
                    f.path.file_name().unwrap().to_string_lossy().into_owned(),
                    p.read_trajectory(i).unwrap(),
                ));
            }
        }
    }
    out
}

#[test]
fn reaction_diffusion_set_layout_ranges_and_determinism() {
    let dir = tempfile::tempdir().unwrap();
    let settings = ReactionDiffusionSettings {
        resolution: 8,
        boundary: Boundary::Periodic,
        t_final: 0.2,
        steps: 3,
        burn_in: 0.5,
        trajectories: 2,
        counts: counts(),
        verify_every: 3,
        ..Default::default()
    };
    let out = dir.path().join("rd");
    let report = generate_reaction_diffusion_set(&settings, &out, &|_| {}).unwrap();
    assert_eq!(report.trajectories, 12);
    assert!(report.max_check <= settings.residual_tol && report.step_halving_checked == 4);
    let ds = InverseDataset::open(&out).unwrap();
    assert_eq!(ds.splits().len(), 5);
    let ranges = reaction_diffusion_ranges();
    for sf in ds.splits() {
        assert_eq!(sf.files.len(), counts().get(sf.split));
        for f in &sf.files {
            let params = f.checked_parameters().unwrap();
            for (r, (name, v)) in ranges.iter().zip(&params) {
                assert_eq!(r.name, name);
                assert!(
                    in_kind(*v, r.intervals(sf.split.range_kind())),
                    "{name} = {v} in {:?}",
                    sf.split
                );
            }
            let p = PerSeedFile::open(&f.path).unwrap();
            assert_eq!(
                (p.seeds(), p.shape(), p.dtype()),
                (
                    &["0000".to_string(), "0001".to_string()][..],
                    &[3usize, 8, 8, 2][..],
                    "f32"
                )
            );
            assert!((p.x()[0] - (-1.0 + 0.125)).abs() < 1e-7 && (p.t()[2] - 0.2).abs() < 1e-7);
            let attrs = read_attrs(&f.path).unwrap();
            let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            assert_eq!(get("boundary"), Some(AttrValue::Str("periodic".into())));
            assert_eq!(get("frames"), Some(AttrValue::I64(3)));
        }
    }
    // OOD k is in the middle range for split_by = all.
    let ood = &ds.split(Split::OutOfDistribution).unwrap().files[0];
    assert!(in_kind(
        ood.name.get("k").unwrap(),
        ranges[2].intervals(RangeKind::OutOfDistribution)
    ));
    // Same seed, same data; another seed, other data; an existing folder is refused.
    let again = dir.path().join("rd2");
    generate_reaction_diffusion_set(&settings, &again, &|_| {}).unwrap();
    assert_eq!(all_data(&out), all_data(&again));
    let e = generate_reaction_diffusion_set(&settings, &again, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("already exists and is not an empty directory"),
        "{e}"
    );
    let other = dir.path().join("rd3");
    generate_reaction_diffusion_set(
        &ReactionDiffusionSettings {
            seed: 1,
            ..settings.clone()
        },
        &other,
        &|_| {},
    )
    .unwrap();
    assert_ne!(all_data(&out), all_data(&other));
    // Nothing but the three folders was left behind (no temporary directory).
    let mut left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec!["rd", "rd2", "rd3"]);
}

#[test]
fn failed_verification_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rd");
    let settings = ReactionDiffusionSettings {
        resolution: 8,
        t_final: 0.2,
        steps: 3,
        burn_in: 0.0,
        trajectories: 1,
        counts: SplitCounts {
            train: 1,
            validation: 0,
            test: 0,
            ood: 0,
            extreme: 0,
        },
        residual_tol: 1e-14,
        ..Default::default()
    };
    let e = generate_reaction_diffusion_set(&settings, &out, &|_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("verification failed: relative residual"), "{e}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn kdv_set_layout_and_conservation() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("kdv");
    let settings = KdvSettings {
        resolution: 64,
        length: 32.0,
        t_final: 2.0,
        steps: 5,
        burn_in: 1.0,
        trajectories: 3,
        counts: counts(),
        verify_every: 5,
        ..Default::default()
    };
    let report = generate_kdv_set(&settings, &out, &|_| {}).unwrap();
    assert_eq!(report.trajectories, 18);
    assert!(report.max_check < settings.energy_tol);
    let ds = InverseDataset::open(&out).unwrap();
    let r = &kdv_ranges()[0];
    for sf in ds.splits() {
        for f in &sf.files {
            let delta = f.checked_parameters().unwrap()[0].1;
            assert!(
                in_kind(delta, r.intervals(sf.split.range_kind())),
                "δ = {delta} in {:?}",
                sf.split
            );
            let t = TensorFile::open(&f.path).unwrap();
            assert_eq!((t.n(), t.nt(), t.nx(), t.dtype()), (3, 5, 64, "f32"));
            assert_eq!(
                t.numeric_attrs()
                    .unwrap()
                    .iter()
                    .find(|(k, _)| k == "delta")
                    .map(|(_, v)| *v),
                Some(delta)
            );
            // Mass conservation in the saved (f32) frames, recomputed here.
            let u = t.read_trajectories(0..3).unwrap();
            for row in u.chunks(5 * 64) {
                let m0: f64 = row[..64].iter().map(|&v| v as f64).sum::<f64>() / 64.0;
                for fr in row.chunks(64) {
                    let m: f64 = fr.iter().map(|&v| v as f64).sum::<f64>() / 64.0;
                    assert!((m - m0).abs() < 1e-6, "mass {m} vs {m0}");
                }
            }
        }
    }
}

#[test]
fn darcy_inverse_set_splits_by_high_fraction() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("darcy");
    let settings = DarcyInverseSettings {
        darcy: DarcySettings {
            resolution: 12,
            samples: 30,
            ..Default::default()
        },
        ..Default::default()
    };
    let report = generate_darcy_inverse_set(&settings, &out, &|_| {}).unwrap();
    assert_eq!(report.trajectories, 30);
    let ds = InverseDataset::open(&out).unwrap();
    let mean = read_attrs(&ds.splits()[0].files[0].path)
        .unwrap()
        .into_iter()
        .find(|(k, _)| k == "r_mean")
        .unwrap()
        .1;
    let AttrValue::F64(mean) = mean else { panic!() };
    let mut n = 0;
    for sf in ds.splits() {
        assert_ne!(sf.split, Split::OutOfDistribution);
        for f in &sf.files {
            n += 1;
            let s = read_darcy_sample(&f.path).unwrap();
            let r = s.coeff.iter().filter(|&&a| a == 12.0).count() as f64 / 144.0;
            let attrs = read_attrs(&f.path).unwrap();
            assert!(attrs.contains(&("r".to_string(), AttrValue::F64(r))));
            if sf.split == Split::OutOfDistributionExtreme {
                assert!((r - mean).abs() > 0.0);
            }
            // u = 0 on the boundary, positive inside.
            assert_eq!(s.sol[0], 0.0);
            assert!(s.sol[6 * 12 + 6] > 0.0);
        }
    }
    assert_eq!(n, 30);
}
