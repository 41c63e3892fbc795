//! HDF5 layouts of PDE inverse-problem data sets (PDEBench, PDEInvBench): readers that stream
//! (hyperslab reads of one trajectory or a window of frames at a time, float32 or float64 on
//! disk), writers, layout detection, and PDEInvBench data-set folders with their splits.
//!
//! - **Per-seed** ([`PerSeedFile`], [`write_per_seed`]): groups `0000`, `0001`, … each with
//!   `data` `[t, x, (y,) c]` and `grid/x`, (`grid/y`,) `grid/t` — PDEBench's 2-D
//!   reaction–diffusion files and PDEInvBench's reaction–diffusion files.
//! - **Tensor** ([`TensorFile`], [`write_tensor_series`]): `tensor` `[N, t, x]` (or a single
//!   trajectory `[t, x]`) with `x-coordinate`, `t-coordinate` and the PDE parameters as file
//!   attributes — PDEBench's 1-D files and PDEInvBench's KdV files.
//! - **Darcy sample** ([`read_darcy_sample`], [`write_darcy_sample`]): PDEInvBench's
//!   per-sample Darcy files, `coeff` and `sol` `[S, S, 1]`.
//! - **Folders** ([`InverseDataset`]): `train/`, `validation/`, `test/`,
//!   `out_of_distribution/`, `out_of_distribution_extreme/`, each with one file per parameter
//!   set, the parameters in the file name ([`parse_file_name`]) and as attributes.
//!
//! [`detect_layout`] tells the layouts apart and [`inspect`] describes a file or folder (what
//! `nabla inspect` prints) — any readable HDF5 file: one with none of these layouts as a tree,
//! its name read as far as it goes ([`scan_file_name`]). Every error is one line naming the
//! file and the problem.
//!
//! ```
//! use nabla_data::inverse::{write_tensor_series, TensorFile, TensorSeries};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("1D_KdV_delta=2.5.h5");
//! let series = TensorSeries {
//!     n: 2, nt: 3, nx: 4,
//!     tensor: (0..24).map(|v| v as f32).collect(),
//!     x: vec![0.0, 1.0, 2.0, 3.0],
//!     t: vec![0.0, 0.5, 1.0],
//! };
//! write_tensor_series(&path, &series, &[("delta", 2.5.into())]).unwrap();
//! let f = TensorFile::open(&path).unwrap();
//! assert_eq!((f.n(), f.nt(), f.nx()), (2, 3, 4));
//! assert_eq!(f.read_frames(1, 1..3).unwrap(), (16..24).map(|v| v as f32).collect::<Vec<_>>());
//! ```

mod darcy_sample;
mod folder;
mod inspect;
mod params;
mod perseed;
mod slab;
mod tensor;

pub use darcy_sample::{read_darcy_sample, write_darcy_sample, DarcySample};
pub use folder::{InverseDataset, ParamFile, SplitFiles};
pub use inspect::{
    detect_layout, inspect, FileReport, FolderReport, Inspection, Layout, SplitReport,
};
pub use params::{
    format_file_name, kdv_ranges, parse_file_name, reaction_diffusion_ranges, round_significant,
    scan_file_name, NameScan, ParamFileName, ParamRanges, PdeFamily, RangeKind, Split,
};
pub(crate) use perseed::seed_name;
pub use perseed::{write_per_seed, PerSeedData, PerSeedFile};
pub use tensor::{write_tensor_series, TensorFile, TensorSeries};
