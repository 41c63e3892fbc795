//! Block (hyperslab) reads of masks and coefficients equal the same block of a whole read,
//! in 2-D and 3-D; bad values inside a block name their place in the whole grid.

use nabla_core::GridShape;
use std::ops::Range;

/// The block `ranges` (x first) of a flat x-fastest array over `dims`.
fn cut<T: Copy>(all: &[T], dims: &[usize], ranges: &[Range<usize>]) -> Vec<T> {
    let mut out = Vec::new();
    let (nx, ny) = (dims[0], *dims.get(1).unwrap_or(&1));
    let rz = ranges.get(2).cloned().unwrap_or(0..1);
    let ry = ranges.get(1).cloned().unwrap_or(0..1);
    for k in rz {
        for j in ry.clone() {
            for i in ranges[0].clone() {
                out.push(all[i + nx * (j + ny * k)]);
            }
        }
    }
    out
}

#[test]
fn blocks_equal_the_same_block_of_a_whole_read() {
    let dir = tempfile::tempdir().unwrap();
    for (grid, block, nodal_block) in [
        ("13x9", vec![0..13, 3..7], vec![0..15, 3..9]),
        ("7x6x5", vec![0..7, 0..6, 2..4], vec![0..9, 0..8, 2..6]),
        ("7x6x5", vec![1..5, 2..3, 0..5], vec![0..9, 1..3, 4..7]),
    ] {
        let shape: GridShape = grid.parse().unwrap();
        let dims = shape.dims().to_vec();
        let mask: Vec<bool> = (0..shape.len()).map(|p| (p * 7) % 5 == 1).collect();
        let nodes: Vec<usize> = dims.iter().map(|n| n + 2).collect();
        let count: usize = nodes.iter().product();
        let nodal: Vec<f64> = (0..count).map(|p| 1.0 + p as f64 * 0.25).collect();
        let m = dir.path().join("m.h5");
        let c = dir.path().join("c.h5");
        nabla_data::write_mask(&m, &shape, &mask).unwrap();
        nabla_data::write_coefficient(&c, &shape, &nodal).unwrap();
        assert_eq!(nabla_data::read_mask(&m, &shape).unwrap(), mask);
        assert_eq!(nabla_data::read_coefficient(&c, &shape).unwrap(), nodal);
        assert_eq!(
            nabla_data::read_mask_block(&m, &shape, &block).unwrap(),
            cut(&mask, &dims, &block),
            "{grid} {block:?}"
        );
        assert_eq!(
            nabla_data::read_coefficient_block(&c, &shape, &nodal_block).unwrap(),
            cut(&nodal, &nodes, &nodal_block),
            "{grid} {nodal_block:?}"
        );
    }
    // A bad value inside a block is reported at its node in the whole grid; a block outside
    // the grid is an error.
    let shape: GridShape = "4x3".parse().unwrap();
    let mut nodal = vec![1.0; 6 * 5];
    nodal[2 + 6 * 3] = -2.0;
    let c = dir.path().join("bad.h5");
    nabla_data::write_coefficient(&c, &shape, &nodal).unwrap();
    let err = nabla_data::read_coefficient_block(&c, &shape, &[0..6, 2..5])
        .unwrap_err()
        .to_string();
    assert!(err.contains("-2") && err.contains("node 20"), "{err}");
    let err = nabla_data::read_coefficient_block(&c, &shape, &[0..6, 2..9])
        .unwrap_err()
        .to_string();
    assert!(err.contains("not within"), "{err}");
}
