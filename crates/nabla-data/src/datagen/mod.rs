//! Data generation for operator learning: Darcy flow, 1-D viscous Burgers and 2-D
//! Navier–Stokes (vorticity) samples in the PDEBench layouts of [`crate::DarcyData`],
//! [`crate::Series1dData`] and [`crate::Series2dData`].
//!
//! Every generator takes a settings struct and a progress callback `progress(done)` (the
//! number of finished samples, called from worker threads), runs in parallel over samples
//! with rayon, and is reproducible: sample k draws its random numbers from a PCG64 stream
//! derived from `(seed, k)` alone, so the output is bit-for-bit the same for any thread
//! count, and sample k of a run of N samples equals sample k of any longer run.
//!
//! ```
//! use nabla_data::datagen::{generate_darcy, DarcySettings};
//!
//! let data = generate_darcy(
//!     &DarcySettings { resolution: 16, samples: 2, seed: 0, ..Default::default() },
//!     &|_done| {},
//! )
//! .unwrap();
//! assert_eq!(data.solution.len(), 2 * 16 * 16);
//! ```

pub mod burgers;
pub mod darcy;
mod etd;
pub mod grf;
pub mod inverse_sets;
pub mod kdv;
pub mod navier_stokes;
pub mod reaction_diffusion;

pub use burgers::{generate_burgers, solve_burgers, BurgersSettings};
pub use darcy::{darcy_residual, generate_darcy, solve_darcy, DarcySettings, DarcySolution};
pub use grf::{CosineGrf, PeriodicGrf};
pub use inverse_sets::{
    check_output_folder, generate_darcy_inverse_set, generate_kdv_set,
    generate_reaction_diffusion_set, DarcyInverseSettings, FileEntry, KdvSettings,
    ReactionDiffusionSettings, SetReport, SplitCounts,
};
pub use kdv::{kdv_invariants, run_kdv, KdvRun, KdvSolver};
pub use navier_stokes::{
    generate_navier_stokes, navier_stokes_attributes, solve_navier_stokes, vorticity_invariants,
    NavierStokesRun, NavierStokesSet, NavierStokesSettings, TorusGrf, VorticitySolver,
};
pub use reaction_diffusion::{
    rd_residual, solve_reaction_diffusion, Boundary, RdParams, RdSolver, RdState,
};

use rand_pcg::Pcg64;

/// Errors of the generators; each message is one line.
#[derive(Debug, thiserror::Error)]
pub enum DatagenError {
    /// A setting is out of range (the message names it and the value).
    #[error("{0}")]
    InvalidSettings(String),
    /// A solve failed or stopped short of its tolerance.
    #[error("{0}")]
    Solve(String),
    /// An independent check of a finished solve failed (residual, step-halving difference,
    /// maximum principle, ...).
    #[error("verification failed: {0}")]
    Verification(String),
    /// Writing the output failed (nothing was left at the destination).
    #[error("{0}")]
    Output(String),
    /// An HDF5 write failed.
    #[error(transparent)]
    Data(#[from] crate::DataError),
    /// One of the above, for sample `sample`.
    #[error("sample {sample}: {source}")]
    Sample {
        /// The sample's index.
        sample: usize,
        /// What went wrong with it.
        #[source]
        source: Box<DatagenError>,
    },
}

impl DatagenError {
    /// Tags the error with the sample it happened on.
    pub fn at_sample(self, sample: usize) -> Self {
        Self::Sample {
            sample,
            source: Box::new(self),
        }
    }

    /// Whether the error is about the settings (a usage error) rather than a failed solve.
    pub fn is_settings(&self) -> bool {
        match self {
            Self::InvalidSettings(_) => true,
            Self::Sample { source, .. } => source.is_settings(),
            _ => false,
        }
    }
}

/// SplitMix64's output function: a bijection of u64 with good avalanche.
pub(crate) fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The random stream of sample `sample` of generator `stream` under `seed`: a PCG64 whose
/// state and increment are hashed from the three, so samples are independent of each other
/// and of the order (and thread) they are drawn in.
pub(crate) fn sample_rng(seed: u64, sample: usize, stream: u64) -> Pcg64 {
    let x0 = splitmix64(seed);
    let x1 = splitmix64(x0 ^ sample as u64);
    let x2 = splitmix64(x1 ^ stream);
    let x3 = splitmix64(x2);
    Pcg64::new(
        (u128::from(x1) << 64) | u128::from(x2),
        (u128::from(x3) << 64) | sample as u128,
    )
}
