//! The communicator abstraction: what distributed solvers, Walk-on-Spheres and training need
//! from a message-passing layer, written once against this trait.
//!
//! Three implementations:
//! - [`SerialComm`]: one rank, every operation local (the default everywhere);
//! - [`LocalComm`]: N ranks as N threads of one process, over channels — for tests and for
//!   checking rank-count independence on a machine without MPI;
//! - `nabla_mpi::MpiComm` (crate `nabla-mpi`, facade feature `mpi`): MPI through rsmpi.
//!
//! Every operation is collective over all ranks unless it says otherwise, and ranks must call
//! collectives in the same order (the usual MPI rule). Time spent inside the operations is
//! accumulated and reported by [`Communicator::communication_seconds`].

mod exact;
mod local;

pub use exact::{ExactSum, EXACT_SUM_DIGITS};
pub use local::LocalComm;

use std::cell::Cell;
use std::time::Instant;

/// A message-passing communicator over `size()` ranks.
pub trait Communicator {
    /// This rank, in `0..size()`.
    fn rank(&self) -> usize;

    /// Number of ranks.
    fn size(&self) -> usize;

    /// Element-wise sum of `buf` over all ranks, result on every rank (integer: exact, any order).
    fn allreduce_sum_i64(&self, buf: &mut [i64]);

    /// Element-wise sum of `buf` over all ranks, result on every rank. Floating-point: the
    /// rounding may depend on the rank count; use [`Communicator::exact_sum`] where results must
    /// not.
    fn allreduce_sum_f64(&self, buf: &mut [f64]);

    /// Element-wise maximum of `buf` over all ranks, result on every rank.
    fn allreduce_max_f64(&self, buf: &mut [f64]);

    /// Point-to-point exchange: sends each `(rank, data)` of `sends`, receives into each
    /// `(rank, buffer)` of `recvs` (buffers sized by the caller to the matching send), and runs
    /// `overlap` while the messages are in flight — the interior work of a halo exchange. At most
    /// one message per (sender, receiver) pair per call.
    fn exchange(
        &self,
        sends: &[(usize, &[f64])],
        recvs: &mut [(usize, &mut [f64])],
        overlap: &mut dyn FnMut(),
    );

    /// Gathers every rank's `local` (any lengths) onto `root`, concatenated in rank order:
    /// `Some(all)` on the root, `None` elsewhere.
    fn gather_f64(&self, local: &[f64], root: usize) -> Option<Vec<f64>>;

    /// Every rank's `local`, concatenated in rank order, on every rank. The default gathers onto
    /// rank 0 and broadcasts.
    fn allgather_f64(&self, local: &[f64]) -> Vec<f64> {
        let gathered = self.gather_f64(local, 0);
        let mut bytes: Vec<u8> = gathered
            .map(|v| v.iter().flat_map(|x| x.to_le_bytes()).collect())
            .unwrap_or_default();
        self.broadcast_bytes(&mut bytes, 0);
        bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8-byte chunks")))
            .collect()
    }

    /// Copies `root`'s `buf` to every rank (other ranks' contents and lengths are replaced).
    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize);

    /// Waits until every rank has arrived.
    fn barrier(&self);

    /// Seconds this rank has spent inside the communicator's operations (waiting included,
    /// the `overlap` work of [`exchange`](Communicator::exchange) excluded).
    fn communication_seconds(&self) -> f64;

    /// The name of the transport: `serial`, `threads` or `mpi`.
    fn transport(&self) -> &'static str;

    /// Sum of `acc` over all ranks, exact: the same bits for any rank count and any split of
    /// the terms. One integer allreduce of [`EXACT_SUM_DIGITS`] digits.
    fn exact_sum(&self, acc: &mut ExactSum) -> f64 {
        if self.size() == 1 {
            return acc.value();
        }
        let mut digits = *acc.digits();
        self.allreduce_sum_i64(&mut digits);
        ExactSum::from_digits(&digits).value()
    }

    /// Exact sums of several accumulators in one allreduce (fewer latencies than one call each).
    fn exact_sums(&self, accs: &mut [ExactSum]) -> Vec<f64> {
        if self.size() == 1 {
            return accs.iter().map(ExactSum::value).collect();
        }
        let mut digits: Vec<i64> = Vec::with_capacity(accs.len() * EXACT_SUM_DIGITS);
        for a in accs.iter_mut() {
            digits.extend_from_slice(a.digits());
        }
        self.allreduce_sum_i64(&mut digits);
        digits
            .chunks(EXACT_SUM_DIGITS)
            .map(|d| ExactSum::from_digits(d).value())
            .collect()
    }
}

/// Accumulated time of a communicator's operations (single-threaded use per rank).
#[derive(Debug, Default)]
pub struct CommClock {
    seconds: Cell<f64>,
}

impl CommClock {
    /// Runs `f`, adding its wall time.
    pub fn time<T>(&self, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.add(t.elapsed().as_secs_f64());
        out
    }

    /// Adds `seconds`.
    pub fn add(&self, seconds: f64) {
        self.seconds.set(self.seconds.get() + seconds);
    }

    /// Total seconds so far.
    pub fn seconds(&self) -> f64 {
        self.seconds.get()
    }
}

/// The one-rank communicator: collectives return their input, there is nobody to exchange with.
#[derive(Debug, Default)]
pub struct SerialComm;

impl Communicator for SerialComm {
    fn rank(&self) -> usize {
        0
    }
    fn size(&self) -> usize {
        1
    }
    fn allreduce_sum_i64(&self, _buf: &mut [i64]) {}
    fn allreduce_sum_f64(&self, _buf: &mut [f64]) {}
    fn allreduce_max_f64(&self, _buf: &mut [f64]) {}
    fn exchange(
        &self,
        sends: &[(usize, &[f64])],
        recvs: &mut [(usize, &mut [f64])],
        overlap: &mut dyn FnMut(),
    ) {
        // A one-rank decomposition has no neighbours other than itself (periodic wrap-around).
        for ((_, data), (_, buf)) in sends.iter().zip(recvs.iter_mut()) {
            buf.copy_from_slice(data);
        }
        overlap();
    }
    fn gather_f64(&self, local: &[f64], _root: usize) -> Option<Vec<f64>> {
        Some(local.to_vec())
    }
    fn broadcast_bytes(&self, _buf: &mut Vec<u8>, _root: usize) {}
    fn barrier(&self) {}
    fn communication_seconds(&self) -> f64 {
        0.0
    }
    fn transport(&self) -> &'static str {
        "serial"
    }
}

/// The contiguous block of `n` items that rank `rank` of `size` owns: the first `n % size`
/// ranks get one more item. Returns the half-open range.
pub fn block_range(n: usize, rank: usize, size: usize) -> std::ops::Range<usize> {
    let base = n / size;
    let extra = n % size;
    let start = rank * base + rank.min(extra);
    let len = base + usize::from(rank < extra);
    start..start + len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_ranges_tile_the_items() {
        for n in [0, 1, 5, 17, 1024] {
            for size in 1..6 {
                let mut next = 0;
                for r in 0..size {
                    let b = block_range(n, r, size);
                    assert_eq!(b.start, next);
                    assert!(b.len() == n / size || b.len() == n / size + 1);
                    next = b.end;
                }
                assert_eq!(next, n);
            }
        }
    }

    #[test]
    fn serial_exact_sum_is_the_local_value() {
        let c = SerialComm;
        let mut a = ExactSum::new();
        a.add(2.5);
        a.add(-0.5);
        assert_eq!(c.exact_sum(&mut a), 2.0);
        assert_eq!(c.gather_f64(&[1.0, 2.0], 0), Some(vec![1.0, 2.0]));
    }
}
