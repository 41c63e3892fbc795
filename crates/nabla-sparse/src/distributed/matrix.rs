//! A user's matrix across ranks: rows partitioned in blocks of [`SEGMENT`] rows, each rank
//! holding its rows with columns renumbered (its own rows first, then the remote columns it
//! reads, "ghosts"); products exchange exactly the ghost values each rank needs.
//!
//! Rank boundaries fall on multiples of [`SEGMENT`] rows, and dot products sum per segment in a
//! fixed order before the exact reduction, so CG iterates are bit-identical for any rank count.

use super::lines::line_dot;
use super::operator::DistOperator;
use crate::csr::SparseMatrix;
use crate::error::{Result, SparseError};
use nabla_core::comm::{block_range, Communicator};
use rayon::prelude::*;
use std::ops::Range;

/// Rows per segment: the unit of partitioning and of reproducible partial sums.
pub const SEGMENT: usize = 256;

/// This rank's rows of a distributed sparse matrix.
pub struct DistCsr {
    n: usize,
    rows: Range<usize>,
    indptr: Vec<usize>,
    /// Local column indices: `< rows.len()` own rows, then ghosts in ascending global order.
    cols: Vec<u32>,
    values: Vec<f64>,
    diag: Vec<f64>,
    /// Global columns of the ghosts.
    ghosts: Vec<usize>,
    /// Per rank that reads our values: (rank, local rows to send, in its ghost order).
    send: Vec<(usize, Vec<usize>)>,
    /// Per rank we read from: (rank, range of our ghost slots it fills).
    recv: Vec<(usize, Range<usize>)>,
    /// Segments whose rows read no ghost (computed while ghosts travel).
    local_only: Vec<bool>,
    nonzeros: usize,
}

/// Send and receive buffers of the ghost exchange, kept between products.
#[derive(Default)]
pub struct GhostBuffers {
    send: Vec<Vec<f64>>,
    ghost_values: Vec<f64>,
    segment_dots: Vec<f64>,
}

/// The rows of rank `rank` of `size` for an `n`-row matrix (whole segments).
pub fn row_block(n: usize, rank: usize, size: usize) -> Range<usize> {
    let segments = n.div_ceil(SEGMENT);
    let s = block_range(segments, rank, size);
    (s.start * SEGMENT).min(n)..(s.end * SEGMENT).min(n)
}

impl DistCsr {
    /// This rank's rows of `a`, which every rank holds (see [`broadcast_matrix`] to get it
    /// there from one reader). Collective: ranks tell each other which values they read.
    pub fn from_global(a: &SparseMatrix, comm: &dyn Communicator) -> Result<Self> {
        let n = a.rows();
        let size = comm.size();
        let me = comm.rank();
        if n.div_ceil(SEGMENT) < size {
            return Err(SparseError::InvalidParameter(format!(
                "a {n}-row matrix is too small for {size} ranks (each rank needs at least \
                 {SEGMENT} rows; use fewer ranks)"
            )));
        }
        let rows = row_block(n, me, size);
        let owner_starts: Vec<usize> = (0..size).map(|r| row_block(n, r, size).start).collect();
        let owner = |c: usize| owner_starts.partition_point(|&s| s <= c) - 1;
        let (ip, idx, val) = (a.indptr(), a.indices(), a.values());
        let mut ghosts: Vec<usize> = (ip[rows.start]..ip[rows.end])
            .map(|k| idx[k] as usize)
            .filter(|c| !rows.contains(c))
            .collect();
        ghosts.sort_unstable();
        ghosts.dedup();
        let nloc = rows.len();
        let mut indptr = Vec::with_capacity(nloc + 1);
        indptr.push(0);
        let mut cols = Vec::with_capacity(ip[rows.end] - ip[rows.start]);
        let mut values = Vec::with_capacity(cols.capacity());
        let mut diag = vec![0.0; nloc];
        let mut local_only = vec![true; nloc.div_ceil(SEGMENT)];
        for r in rows.clone() {
            for k in ip[r]..ip[r + 1] {
                let c = idx[k] as usize;
                let local = if rows.contains(&c) {
                    c - rows.start
                } else {
                    local_only[(r - rows.start) / SEGMENT] = false;
                    nloc + ghosts
                        .binary_search(&c)
                        .expect("every remote column is a ghost")
                };
                if c == r {
                    diag[r - rows.start] += val[k];
                }
                cols.push(local as u32);
                values.push(val[k]);
            }
            indptr.push(cols.len());
        }
        // Ghosts per owner (ascending global order, so contiguous per owner).
        let mut recv: Vec<(usize, Range<usize>)> = Vec::new();
        for (slot, &c) in ghosts.iter().enumerate() {
            let o = owner(c);
            match recv.last_mut() {
                Some((r, range)) if *r == o => range.end = slot + 1,
                _ => recv.push((o, slot..slot + 1)),
            }
        }
        // Tell every rank how many of its values we read, then which.
        let mut counts_out = vec![0.0f64; size];
        for (o, range) in &recv {
            counts_out[*o] = range.len() as f64;
        }
        let others: Vec<usize> = (0..size).filter(|&r| r != me).collect();
        let count_msgs: Vec<[f64; 1]> = others.iter().map(|&r| [counts_out[r]]).collect();
        let mut counts_in = vec![[0.0f64; 1]; others.len()];
        {
            let sends: Vec<(usize, &[f64])> = others
                .iter()
                .zip(&count_msgs)
                .map(|(&r, m)| (r, &m[..]))
                .collect();
            let mut recvs: Vec<(usize, &mut [f64])> = others
                .iter()
                .zip(counts_in.iter_mut())
                .map(|(&r, m)| (r, &mut m[..]))
                .collect();
            comm.exchange(&sends, &mut recvs, &mut || {});
        }
        let requests: Vec<Vec<f64>> = recv
            .iter()
            .map(|(_, range)| ghosts[range.clone()].iter().map(|&c| c as f64).collect())
            .collect();
        let asked: Vec<(usize, usize)> = others
            .iter()
            .zip(&counts_in)
            .filter(|(_, c)| c[0] > 0.0)
            .map(|(&r, c)| (r, c[0] as usize))
            .collect();
        let mut wanted: Vec<Vec<f64>> = asked.iter().map(|&(_, k)| vec![0.0; k]).collect();
        {
            let sends: Vec<(usize, &[f64])> = recv
                .iter()
                .zip(&requests)
                .map(|((r, _), m)| (*r, m.as_slice()))
                .collect();
            let mut recvs: Vec<(usize, &mut [f64])> = asked
                .iter()
                .zip(wanted.iter_mut())
                .map(|(&(r, _), m)| (r, m.as_mut_slice()))
                .collect();
            comm.exchange(&sends, &mut recvs, &mut || {});
        }
        let send = asked
            .iter()
            .zip(wanted)
            .map(|(&(r, _), cols)| {
                (
                    r,
                    cols.into_iter()
                        .map(|c| c as usize - rows.start)
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        Ok(Self {
            n,
            rows,
            indptr,
            cols,
            values,
            diag,
            ghosts,
            send,
            recv,
            local_only,
            nonzeros: a.nnz(),
        })
    }

    /// Rows of the whole matrix.
    pub fn global_rows(&self) -> usize {
        self.n
    }

    /// The global rows this rank owns.
    pub fn rows(&self) -> Range<usize> {
        self.rows.clone()
    }

    /// Stored entries of the whole matrix.
    pub fn nonzeros(&self) -> usize {
        self.nonzeros
    }

    /// Remote values this rank reads per product.
    pub fn ghost_count(&self) -> usize {
        self.ghosts.len()
    }

    fn rows_into(
        &self,
        x: &[f64],
        ghosts: &[f64],
        y: &mut [f64],
        dots: &mut [f64],
        pick: impl Fn(usize) -> bool + Sync,
        want_dots: bool,
    ) {
        let nloc = self.rows.len();
        y.par_chunks_mut(SEGMENT)
            .zip(dots.par_iter_mut())
            .enumerate()
            .filter(|(s, _)| pick(*s))
            .for_each(|(s, (ys, d))| {
                for (o, yi) in ys.iter_mut().enumerate() {
                    let r = s * SEGMENT + o;
                    let mut acc = 0.0;
                    for k in self.indptr[r]..self.indptr[r + 1] {
                        let c = self.cols[k] as usize;
                        let v = if c < nloc { x[c] } else { ghosts[c - nloc] };
                        acc += self.values[k] * v;
                    }
                    *yi = acc;
                }
                if want_dots {
                    let xs = &x[s * SEGMENT..s * SEGMENT + ys.len()];
                    *d = line_dot(xs, ys);
                }
            });
    }

    fn product(
        &self,
        comm: &dyn Communicator,
        x: &[f64],
        y: &mut [f64],
        ws: &mut GhostBuffers,
        want_dots: bool,
    ) {
        let GhostBuffers {
            send,
            ghost_values,
            segment_dots,
        } = ws;
        send.resize(self.send.len(), Vec::new());
        for (buf, (_, idx)) in send.iter_mut().zip(&self.send) {
            buf.clear();
            buf.extend(idx.iter().map(|&i| x[i]));
        }
        ghost_values.resize(self.ghosts.len(), 0.0);
        segment_dots.resize(self.rows.len().div_ceil(SEGMENT), 0.0);
        {
            let sends: Vec<(usize, &[f64])> = self
                .send
                .iter()
                .zip(send.iter())
                .map(|((r, _), b)| (*r, b.as_slice()))
                .collect();
            let mut rest: &mut [f64] = ghost_values;
            let mut recvs: Vec<(usize, &mut [f64])> = Vec::with_capacity(self.recv.len());
            for (r, range) in &self.recv {
                let (head, tail) = rest.split_at_mut(range.len());
                recvs.push((*r, head));
                rest = tail;
            }
            let y_ptr = &mut *y;
            let dots = &mut *segment_dots;
            comm.exchange(&sends, &mut recvs, &mut || {
                self.rows_into(x, &[], y_ptr, dots, |s| self.local_only[s], want_dots);
            });
        }
        self.rows_into(
            x,
            ghost_values,
            y,
            segment_dots,
            |s| !self.local_only[s],
            want_dots,
        );
    }
}

impl DistOperator for DistCsr {
    type Workspace = GhostBuffers;

    fn local_len(&self) -> usize {
        self.rows.len()
    }

    fn segment_len(&self) -> usize {
        SEGMENT
    }

    fn apply(&self, comm: &dyn Communicator, x: &[f64], y: &mut [f64], ws: &mut GhostBuffers) {
        self.product(comm, x, y, ws, false);
    }

    fn apply_dot(
        &self,
        comm: &dyn Communicator,
        x: &[f64],
        y: &mut [f64],
        ws: &mut GhostBuffers,
    ) -> f64 {
        self.product(comm, x, y, ws, true);
        super::lines::totals(comm, &[&ws.segment_dots])[0]
    }

    fn diagonal(&self) -> &[f64] {
        &self.diag
    }
}

/// Sends `root`'s matrix to every rank (one read, one broadcast). A reading error on the root
/// reaches every rank as the same error, so no rank waits for a matrix that never comes.
pub fn broadcast_matrix(
    comm: &dyn Communicator,
    root: usize,
    read: impl FnOnce() -> std::result::Result<SparseMatrix, String>,
) -> std::result::Result<SparseMatrix, String> {
    let mut bytes = Vec::new();
    if comm.rank() == root {
        match read() {
            Ok(m) => {
                bytes.push(0u8);
                bytes.extend((m.rows() as u64).to_le_bytes());
                bytes.extend((m.nnz() as u64).to_le_bytes());
                for &p in m.indptr() {
                    bytes.extend((p as u64).to_le_bytes());
                }
                for &c in m.indices() {
                    bytes.extend(c.to_le_bytes());
                }
                for &v in m.values() {
                    bytes.extend(v.to_le_bytes());
                }
            }
            Err(e) => {
                bytes.push(1u8);
                bytes.extend(e.as_bytes());
            }
        }
    }
    comm.broadcast_bytes(&mut bytes, root);
    if bytes.first() != Some(&0) {
        return Err(String::from_utf8_lossy(bytes.get(1..).unwrap_or_default()).into_owned());
    }
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let n = word(1) as usize;
    let nnz = word(9) as usize;
    let mut at = 17;
    let indptr: Vec<usize> = (0..=n).map(|i| word(at + 8 * i) as usize).collect();
    at += 8 * (n + 1);
    let indices: Vec<u32> = (0..nnz)
        .map(|i| u32::from_le_bytes(bytes[at + 4 * i..at + 4 * i + 4].try_into().expect("4")))
        .collect();
    at += 4 * nnz;
    let values: Vec<f64> = (0..nnz)
        .map(|i| f64::from_le_bytes(bytes[at + 8 * i..at + 8 * i + 8].try_into().expect("8")))
        .collect();
    let csr = crate::csr::Csr::new((n, n), indptr, indices, values);
    SparseMatrix::from_csr(csr).map_err(|e| e.to_string())
}
