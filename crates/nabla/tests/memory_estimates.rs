//! The memory guard of operator runs counts the activations a training step keeps — through the
//! whole rollout for `series-2d` — not only the parameters: the shipped Navier–Stokes configs are
//! sized from the data file's shape, and the estimate scales with the batch.

use nabla::core::config::{apply_override, parse_table};
use nabla::run::TaskConfig;
use std::path::Path;

fn config(name: &str, data: &Path, overrides: &[&str]) -> TaskConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../configs")
        .join(name);
    let mut table = parse_table(&std::fs::read_to_string(path).unwrap(), name).unwrap();
    apply_override(&mut table, &format!("data.file=\"{}\"", data.display())).unwrap();
    for o in overrides {
        apply_override(&mut table, o).unwrap();
    }
    TaskConfig::from_table(table, name).unwrap()
}

#[test]
fn navier_stokes_runs_count_their_rollout_activations() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ns.h5");
    let (n, nt, s) = (4, 20, 64);
    let data = nabla::data::Series2dData {
        n,
        nt,
        nx: s,
        ny: s,
        tensor: vec![0.0; n * nt * s * s],
        x: (0..s).map(|i| i as f32 / s as f32).collect(),
        y: (0..s).map(|i| i as f32 / s as f32).collect(),
        t: (0..=nt).map(|m| m as f32 + 1.0).collect(),
        nu: Some(1e-3),
    };
    nabla::data::write_series_2d(&file, &data, &[]).unwrap();
    let gb = |c: &TaskConfig| c.memory_estimate_bytes() / 1e9;
    // Measured peak RSS at 64², 10-step rollouts: LSM width 32 batch 10 1.94 GB, width 16
    // batch 20 2.05 GB; FNO-2D batch 20 ~2.2 GB.
    let lsm20 = config("lsm_navier_stokes.toml", &file, &[]);
    let lsm10 = config("lsm_navier_stokes.toml", &file, &["train.batch_size=10"]);
    let fno = config("fno_navier_stokes.toml", &file, &[]);
    assert!(
        (3.7..8.0).contains(&gb(&lsm20)),
        "LSM batch 20: {} GB",
        gb(&lsm20)
    );
    assert!(
        (1.94..4.0).contains(&gb(&lsm10)),
        "LSM batch 10: {} GB",
        gb(&lsm10)
    );
    // A batch of 200 is refused on a 24 GB machine.
    let lsm200 = config("lsm_navier_stokes.toml", &file, &["train.batch_size=200"]);
    assert!(gb(&lsm200) > 24.0, "LSM batch 200: {} GB", gb(&lsm200));
    assert!((2.2..6.0).contains(&gb(&fno)), "FNO: {} GB", gb(&fno));
    assert!(lsm20
        .size_description()
        .contains("lsm (batch 20, 10-step rollouts)"));
    // Without a readable data file only the parameters are counted.
    let missing = config("lsm_navier_stokes.toml", &dir.path().join("none.h5"), &[]);
    assert!(gb(&missing) < 0.5, "{}", gb(&missing));
}
