//! The process's communicator: MPI when the process was started by `mpirun` and the build has
//! the `mpi` feature, one rank otherwise.
//!
//! ```
//! use nabla::core::comm::Communicator;
//! let world = nabla::world::World::from_launcher().unwrap();
//! let comm = world.comm();
//! assert!(comm.rank() < comm.size());
//! ```

use crate::Error;
use nabla_core::comm::{Communicator, SerialComm};

/// Ranks the launcher says this job has (Open MPI, MPICH/Hydra, Slurm), if it was launched.
pub fn launcher_size() -> Option<usize> {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// Ranks the launcher placed on this node, if it says (for sizing thread pools).
pub fn launcher_local_size() -> Option<usize> {
    [
        "OMPI_COMM_WORLD_LOCAL_SIZE",
        "MPI_LOCALNRANKS",
        "SLURM_NTASKS_PER_NODE",
    ]
    .iter()
    .find_map(|v| std::env::var(v).ok()?.parse().ok())
}

/// The communicator of this process.
pub enum World {
    /// One rank (no launcher, or a build without MPI started as a single process).
    Serial(SerialComm),
    /// MPI's world communicator (feature `mpi`).
    #[cfg(feature = "mpi")]
    Mpi(nabla_mpi::MpiSession),
}

impl World {
    /// MPI when started by a launcher (feature `mpi`), serial otherwise. A build without MPI
    /// started as several ranks is an error naming the fix, rather than N copies of one job.
    pub fn from_launcher() -> Result<Self, Error> {
        #[cfg(feature = "mpi")]
        if let Some(session) = nabla_mpi::MpiSession::from_launcher() {
            return Ok(World::Mpi(session));
        }
        match launcher_size() {
            Some(n) if n > 1 => Err(Error::Input(format!(
                "started by mpirun as {n} ranks, but this nabla was built without MPI: rebuild \
                 with `cargo build --release --features mpi` (needs Debian's libopenmpi-dev \
                 openmpi-bin libclang-dev)"
            ))),
            _ => Ok(World::Serial(SerialComm)),
        }
    }

    /// The communicator.
    pub fn comm(&self) -> &dyn Communicator {
        match self {
            World::Serial(c) => c,
            #[cfg(feature = "mpi")]
            World::Mpi(s) => s.comm(),
        }
    }

    /// Whether the job runs under MPI (even with one rank).
    pub fn is_mpi(&self) -> bool {
        !matches!(self, World::Serial(_))
    }
}
