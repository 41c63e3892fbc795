//! Writes a `--mask` and a `--coefficient` file for `nabla poisson --grid` (used by
//! `benches/mpi_bench.sh`): solid discs (2-D) or balls (3-D) on a regular lattice covering about
//! 15 % of the cells, and a coefficient that jumps 1:CONTRAST on a checkerboard of 16-cell blocks.
//!
//! `cargo run --release -p nabla-data --example grid_inputs -- GRID OUT_DIR [CONTRAST]`
//! writes `OUT_DIR/mask.h5` and `OUT_DIR/coefficient.h5`.

use nabla_core::GridShape;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(grid), Some(dir)) = (args.first(), args.get(1)) else {
        return Err("usage: grid_inputs GRID OUT_DIR [CONTRAST]".into());
    };
    let shape: GridShape = grid.parse()?;
    let contrast: f64 = args.get(2).map_or(Ok(1000.0), |c| c.parse())?;
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir)?;
    let dims = shape.dims().to_vec();
    let nd = dims.len();
    let cell = 64usize;
    let radius2 = (0.25 * cell as f64).powi(2);
    let mut mask = vec![false; shape.len()];
    let mut idx = vec![0usize; nd];
    for m in mask.iter_mut() {
        let d2: f64 = idx
            .iter()
            .map(|&i| ((i % cell) as f64 - cell as f64 / 2.0).powi(2))
            .sum();
        *m = d2 < radius2;
        for (a, i) in idx.iter_mut().enumerate() {
            *i += 1;
            if *i < dims[a] {
                break;
            }
            *i = 0;
        }
    }
    let ext: Vec<usize> = dims.iter().map(|n| n + 2).collect();
    let ext_len: usize = ext.iter().product();
    let mut nodal = vec![0.0; ext_len];
    let mut idx = vec![0usize; nd];
    for v in nodal.iter_mut() {
        let parity: usize = idx.iter().map(|i| i / 16).sum();
        *v = if parity.is_multiple_of(2) {
            contrast
        } else {
            1.0
        };
        for (a, i) in idx.iter_mut().enumerate() {
            *i += 1;
            if *i < ext[a] {
                break;
            }
            *i = 0;
        }
    }
    nabla_data::write_mask(&dir.join("mask.h5"), &shape, &mask)?;
    nabla_data::write_coefficient(&dir.join("coefficient.h5"), &shape, &nodal)?;
    let solid = mask.iter().filter(|&&s| s).count();
    println!(
        "{}: {} solid cells ({:.1} %), coefficient 1:{contrast}",
        dir.display(),
        solid,
        100.0 * solid as f64 / mask.len() as f64
    );
    Ok(())
}
