//! MPI for nabla: [`MpiComm`] implements nabla-core's
//! `Communicator` (`nabla_core::comm`) over rsmpi, so the distributed solvers,
//! Walk-on-Spheres and training written against that trait run across machines.
//!
//! A separate crate rather than a feature of nabla-core, on purpose: turning a feature of
//! nabla-core on would rebuild every crate above it (candle-based ones included) for the MPI
//! build; here only this crate, the facade and the CLI change.
//!
//! ```no_run
//! use nabla_core::comm::Communicator;
//! // Under `mpirun -np 2`: two ranks; run plainly: `None` (use `SerialComm`).
//! if let Some(session) = nabla_mpi::MpiSession::from_launcher() {
//!     let comm = session.comm();
//!     let mut v = [comm.rank() as f64];
//!     comm.allreduce_sum_f64(&mut v);
//!     println!("rank {} of {}: sum {}", comm.rank(), comm.size(), v[0]);
//! }
//! ```

#![warn(missing_docs)]

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Destination, Root, Source};
use mpi::Count;
use nabla_core::comm::{CommClock, Communicator};

/// Environment variables an MPI launcher sets in every process it starts (Open MPI, MPICH /
/// Hydra, PMIx, Slurm's `srun`): a process without any of them was started plainly.
pub const LAUNCHER_VARIABLES: [&str; 5] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "PMIX_RANK",
    "MPI_LOCALNRANKS",
    "SLURM_STEP_NUM_TASKS",
];

/// Whether this process was started by an MPI launcher (see [`LAUNCHER_VARIABLES`]).
pub fn launched_by_mpirun() -> bool {
    LAUNCHER_VARIABLES
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

/// An initialized MPI environment; MPI is finalized when it is dropped (once per process).
pub struct MpiSession {
    _universe: mpi::environment::Universe,
    comm: MpiComm,
}

impl MpiSession {
    /// Initializes MPI when the process was started by a launcher; `None` otherwise, or when MPI
    /// was already initialized. Only the thread that calls this may call MPI afterwards (worker
    /// threads of rayon never do).
    pub fn from_launcher() -> Option<Self> {
        if !launched_by_mpirun() {
            return None;
        }
        Self::initialize()
    }

    /// Initializes MPI unconditionally (a singleton run of one rank when no launcher started
    /// the process); `None` when MPI was already initialized.
    pub fn initialize() -> Option<Self> {
        let universe = mpi::initialize()?;
        let world = universe.world();
        Some(Self {
            _universe: universe,
            comm: MpiComm {
                world,
                clock: CommClock::default(),
            },
        })
    }

    /// The world communicator.
    pub fn comm(&self) -> &MpiComm {
        &self.comm
    }
}

/// The MPI world communicator as a nabla [`Communicator`].
pub struct MpiComm {
    world: SimpleCommunicator,
    clock: CommClock,
}

impl MpiComm {
    /// The underlying rsmpi communicator, for code that needs more of MPI.
    pub fn raw(&self) -> &SimpleCommunicator {
        &self.world
    }
}

impl Communicator for MpiComm {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn allreduce_sum_i64(&self, buf: &mut [i64]) {
        self.clock.time(|| {
            let send = buf.to_vec();
            self.world
                .all_reduce_into(&send[..], buf, SystemOperation::sum());
        })
    }

    fn allreduce_sum_f64(&self, buf: &mut [f64]) {
        self.clock.time(|| {
            let send = buf.to_vec();
            self.world
                .all_reduce_into(&send[..], buf, SystemOperation::sum());
        })
    }

    fn allreduce_max_f64(&self, buf: &mut [f64]) {
        self.clock.time(|| {
            let send = buf.to_vec();
            self.world
                .all_reduce_into(&send[..], buf, SystemOperation::max());
        })
    }

    fn exchange(
        &self,
        sends: &[(usize, &[f64])],
        recvs: &mut [(usize, &mut [f64])],
        overlap: &mut dyn FnMut(),
    ) {
        let t = std::time::Instant::now();
        let mut overlap_seconds = 0.0;
        mpi::request::scope(|scope| {
            let mut pending_recvs = Vec::with_capacity(recvs.len());
            for (src, buf) in recvs.iter_mut() {
                pending_recvs.push(
                    self.world
                        .process_at_rank(*src as i32)
                        .immediate_receive_into(scope, &mut buf[..]),
                );
            }
            let mut pending_sends = Vec::with_capacity(sends.len());
            for (dst, data) in sends {
                pending_sends.push(
                    self.world
                        .process_at_rank(*dst as i32)
                        .immediate_send(scope, &data[..]),
                );
            }
            let w = std::time::Instant::now();
            overlap();
            overlap_seconds = w.elapsed().as_secs_f64();
            for r in pending_recvs {
                r.wait_without_status();
            }
            for s in pending_sends {
                s.wait_without_status();
            }
        });
        self.clock
            .add((t.elapsed().as_secs_f64() - overlap_seconds).max(0.0));
    }

    fn gather_f64(&self, local: &[f64], root: usize) -> Option<Vec<f64>> {
        self.clock.time(|| {
            let root_process = self.world.process_at_rank(root as i32);
            let count = local.len() as Count;
            if self.rank() == root {
                let mut counts = vec![0 as Count; self.size()];
                root_process.gather_into_root(&count, &mut counts[..]);
                let displs: Vec<Count> = counts
                    .iter()
                    .scan(0 as Count, |acc, &c| {
                        let d = *acc;
                        *acc += c;
                        Some(d)
                    })
                    .collect();
                let total: usize = counts.iter().map(|&c| c as usize).sum();
                let mut all = vec![0.0f64; total];
                {
                    let mut part = PartitionMut::new(&mut all[..], counts, displs);
                    root_process.gather_varcount_into_root(local, &mut part);
                }
                Some(all)
            } else {
                root_process.gather_into(&count);
                root_process.gather_varcount_into(local);
                None
            }
        })
    }

    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize) {
        self.clock.time(|| {
            let root_process = self.world.process_at_rank(root as i32);
            let mut len = buf.len() as u64;
            root_process.broadcast_into(&mut len);
            buf.resize(len as usize, 0);
            root_process.broadcast_into(&mut buf[..]);
        })
    }

    fn barrier(&self) {
        self.clock.time(|| self.world.barrier())
    }

    fn communication_seconds(&self) -> f64 {
        self.clock.seconds()
    }

    fn transport(&self) -> &'static str {
        "mpi"
    }
}
