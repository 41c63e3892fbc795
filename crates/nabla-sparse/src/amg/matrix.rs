//! The CSR storage of AMG levels and its parallel kernels: products, residuals, the
//! transpose with a reusable value permutation, and the Gustavson sparse product split into a
//! symbolic phase (the pattern, kept for `refactor`) and a numeric phase (the values).
//!
//! Columns inside a row are stored in the order the symbolic phase meets them, not sorted:
//! nothing downstream needs sorted rows, and the order is deterministic.

use crate::vecops::CHUNK;
use rayon::prelude::*;

/// Rows per parallel task in row-wise kernels (products, residuals): small enough that a
/// coarse level with a few thousand rows still splits across threads.
const ROW_CHUNK: usize = 2048;

/// A rectangular sparse matrix in CSR form with 32-bit column indices.
#[derive(Clone, Debug, Default)]
pub(crate) struct Csr {
    pub rows: usize,
    pub cols: usize,
    pub indptr: Vec<usize>,
    pub indices: Vec<u32>,
    pub values: Vec<f64>,
}

impl Csr {
    /// An `n × n` matrix from its rows, each a list of `(column, value)` in any order (sorted
    /// here by column).
    pub(crate) fn from_rows(n: usize, rows: impl IntoIterator<Item = Vec<(u32, f64)>>) -> Self {
        let mut indptr = vec![0usize];
        let mut indices = Vec::new();
        let mut values = Vec::new();
        for mut row in rows {
            row.sort_by_key(|e| e.0);
            for (c, v) in row {
                indices.push(c);
                values.push(v);
            }
            indptr.push(indices.len());
        }
        Csr {
            rows: n,
            cols: n,
            indptr,
            indices,
            values,
        }
    }

    /// Number of stored entries.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Heap bytes held: row pointers (`usize`), column indices (`u32`) and values (`f64`).
    pub fn heap_bytes(&self) -> usize {
        self.indptr.capacity() * std::mem::size_of::<usize>()
            + self.indices.capacity() * std::mem::size_of::<u32>()
            + self.values.capacity() * std::mem::size_of::<f64>()
    }

    /// `y ← A x`.
    pub fn spmv(&self, x: &[f64], y: &mut [f64]) {
        self.rows_into(x, y, |_, _, ax| ax);
    }

    /// `y ← y + A x`.
    pub fn spmv_add(&self, x: &[f64], y: &mut [f64]) {
        self.rows_into(x, y, |_, yi, ax| yi + ax);
    }

    /// `r ← b − A x`.
    pub fn residual(&self, b: &[f64], x: &[f64], r: &mut [f64]) {
        self.rows_into(x, r, |i, _, ax| b[i] - ax);
    }

    /// `out_i ← f(i, out_i, (A x)_i)` for every row, in parallel.
    fn rows_into(&self, x: &[f64], out: &mut [f64], f: impl Fn(usize, f64, f64) -> f64 + Sync) {
        let (ip, ix, vx) = (&self.indptr, &self.indices, &self.values);
        out.par_chunks_mut(ROW_CHUNK)
            .enumerate()
            .for_each(|(c, oc)| {
                let r0 = c * ROW_CHUNK;
                for (o, oi) in oc.iter_mut().enumerate() {
                    let i = r0 + o;
                    let mut s = 0.0;
                    for k in ip[i]..ip[i + 1] {
                        s += vx[k] * x[ix[k] as usize];
                    }
                    *oi = f(i, *oi, s);
                }
            });
    }

    /// The main diagonal (0 where not stored; duplicates summed).
    pub fn diagonal(&self) -> Vec<f64> {
        let (ip, ix, vx) = (&self.indptr, &self.indices, &self.values);
        (0..self.rows)
            .into_par_iter()
            .map(|i| {
                (ip[i]..ip[i + 1])
                    .filter(|&k| ix[k] as usize == i)
                    .map(|k| vx[k])
                    .sum()
            })
            .collect()
    }

    /// The transpose (values included).
    pub fn transpose(&self) -> Csr {
        self.transpose_into(None)
    }

    /// The transpose plus `perm`, where `perm[k]` is the position in the transpose of this
    /// matrix's entry `k`; [`Csr::transpose_values`] then refills values alone.
    pub fn transpose_with_perm(&self) -> (Csr, Vec<usize>) {
        let mut perm = vec![0usize; self.nnz()];
        let t = self.transpose_into(Some(&mut perm));
        (t, perm)
    }

    /// The transpose, recording each entry's position in `perm` when given.
    fn transpose_into(&self, mut perm: Option<&mut [usize]>) -> Csr {
        let (m, n) = (self.rows, self.cols);
        let mut counts = vec![0usize; n + 1];
        for &j in &self.indices {
            counts[j as usize + 1] += 1;
        }
        for j in 0..n {
            counts[j + 1] += counts[j];
        }
        let indptr = counts.clone();
        let mut next = counts;
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0.0; self.nnz()];
        for i in 0..m {
            for k in self.indptr[i]..self.indptr[i + 1] {
                let j = self.indices[k] as usize;
                let pos = next[j];
                next[j] += 1;
                indices[pos] = i as u32;
                values[pos] = self.values[k];
                if let Some(perm) = perm.as_deref_mut() {
                    perm[k] = pos;
                }
            }
        }
        Csr {
            rows: n,
            cols: m,
            indptr,
            indices,
            values,
        }
    }

    /// Writes this matrix's values into `t`, the transpose built by
    /// [`Csr::transpose`] with permutation `perm`.
    pub fn transpose_values(&self, perm: &[usize], t: &mut Csr) {
        for (k, &pos) in perm.iter().enumerate() {
            t.values[pos] = self.values[k];
        }
    }
}

/// Runs `f(i, row_slice)` for every row `i` of a CSR pattern with row pointers `indptr`, where
/// `row_slice` is row `i`'s part of `data` (an array aligned with the stored entries), in
/// parallel over blocks of rows.
pub(crate) fn for_each_row_mut<T: Send>(
    indptr: &[usize],
    data: &mut [T],
    f: impl Fn(usize, &mut [T]) + Sync,
) {
    let rows = indptr.len() - 1;
    let blocks = row_blocks(rows, 8);
    let mut rest: &mut [T] = data;
    let mut slots = Vec::with_capacity(blocks.len());
    for r in &blocks {
        let (head, tail) = rest.split_at_mut(indptr[r.end] - indptr[r.start]);
        slots.push(head);
        rest = tail;
    }
    slots
        .into_par_iter()
        .zip(blocks.par_iter())
        .for_each(|(chunk, range)| {
            let base = indptr[range.start];
            for i in range.clone() {
                f(i, &mut chunk[indptr[i] - base..indptr[i + 1] - base]);
            }
        });
}

/// Splits `0..rows` into a fixed number of contiguous blocks for kernels that need a scratch
/// array per block (sized by the column count): few enough blocks that the scratch is cheap,
/// enough to balance the threads.
pub(crate) fn row_blocks(rows: usize, work_per_row: usize) -> Vec<std::ops::Range<usize>> {
    let tasks = (rayon::current_num_threads() * 4).max(1);
    // Tiny products are not worth splitting.
    let min_rows = (CHUNK / work_per_row.max(1)).max(64);
    let per = rows.div_ceil(tasks).max(min_rows);
    (0..rows.div_ceil(per))
        .map(|t| t * per..((t + 1) * per).min(rows))
        .collect()
}

/// The pattern of `C = A B` (values zeroed), by Gustavson's row-by-row merge in parallel.
#[cfg(test)]
pub(crate) fn spgemm_pattern(a: &Csr, b: &Csr) -> Csr {
    debug_assert_eq!(a.cols, b.rows);
    let blocks = row_blocks(a.rows, 16);
    let parts: Vec<(Vec<usize>, Vec<u32>)> = blocks
        .par_iter()
        .map(|range| {
            let mut marker = vec![usize::MAX; b.cols];
            let mut counts = Vec::with_capacity(range.len());
            let mut cols = Vec::new();
            for i in range.clone() {
                let start = cols.len();
                for ka in a.indptr[i]..a.indptr[i + 1] {
                    let k = a.indices[ka] as usize;
                    for kb in b.indptr[k]..b.indptr[k + 1] {
                        let j = b.indices[kb];
                        if marker[j as usize] != i {
                            marker[j as usize] = i;
                            cols.push(j);
                        }
                    }
                }
                counts.push(cols.len() - start);
            }
            (counts, cols)
        })
        .collect();
    let mut indptr = Vec::with_capacity(a.rows + 1);
    indptr.push(0);
    for (counts, _) in &parts {
        for c in counts {
            indptr.push(indptr.last().copied().unwrap_or(0) + c);
        }
    }
    let nnz = *indptr.last().unwrap_or(&0);
    let mut indices = vec![0u32; nnz];
    let mut rest: &mut [u32] = &mut indices;
    let mut slots = Vec::with_capacity(parts.len());
    for (_, cols) in &parts {
        let (head, tail) = rest.split_at_mut(cols.len());
        slots.push(head);
        rest = tail;
    }
    slots
        .into_par_iter()
        .zip(parts.par_iter())
        .for_each(|(dst, (_, cols))| dst.copy_from_slice(cols));
    Csr {
        rows: a.rows,
        cols: b.cols,
        indptr,
        indices,
        values: vec![0.0; nnz],
    }
}

/// `C = A B` with values, in one pass (the pattern and the values of [`spgemm_pattern`] and
/// [`spgemm_values`], with the same summation order, so the same bits).
pub(crate) fn spgemm(a: &Csr, b: &Csr) -> Csr {
    debug_assert_eq!(a.cols, b.rows);
    let blocks = row_blocks(a.rows, 16);
    type Part = (Vec<usize>, Vec<u32>, Vec<f64>);
    let parts: Vec<Part> = blocks
        .par_iter()
        .map(|range| {
            // Position of each column in this block's output, u32 to halve the cache footprint
            // (a block holds far fewer than 2³² entries).
            let mut slot = vec![u32::MAX; b.cols];
            let mut counts = Vec::with_capacity(range.len());
            // The product count bounds the entries: reserving it avoids regrowing (and
            // copying) the block's arrays; pages never written are never touched.
            let bound: usize = a.indices[a.indptr[range.start]..a.indptr[range.end]]
                .iter()
                .map(|&k| b.indptr[k as usize + 1] - b.indptr[k as usize])
                .sum();
            let mut cols: Vec<u32> = Vec::with_capacity(bound);
            let mut vals: Vec<f64> = Vec::with_capacity(bound);
            for i in range.clone() {
                let start = cols.len();
                for ka in a.indptr[i]..a.indptr[i + 1] {
                    let k = a.indices[ka] as usize;
                    let av = a.values[ka];
                    for kb in b.indptr[k]..b.indptr[k + 1] {
                        let j = b.indices[kb] as usize;
                        let s = slot[j] as usize;
                        if slot[j] == u32::MAX || s < start {
                            slot[j] = cols.len() as u32;
                            cols.push(j as u32);
                            vals.push(0.0 + av * b.values[kb]);
                        } else {
                            vals[s] += av * b.values[kb];
                        }
                    }
                }
                counts.push(cols.len() - start);
            }
            (counts, cols, vals)
        })
        .collect();
    concat_rows(a.rows, b.cols, parts)
}

/// Row counts, column indices and values built block by block (blocks in row order), joined
/// into one matrix.
pub(crate) fn concat_rows(
    rows: usize,
    cols: usize,
    parts: Vec<(Vec<usize>, Vec<u32>, Vec<f64>)>,
) -> Csr {
    let mut indptr = Vec::with_capacity(rows + 1);
    indptr.push(0);
    for (counts, _, _) in &parts {
        for c in counts {
            indptr.push(indptr.last().copied().unwrap_or(0) + c);
        }
    }
    let nnz = *indptr.last().unwrap_or(&0);
    let mut indices = vec![0u32; nnz];
    let mut values = vec![0.0; nnz];
    let (mut ri, mut rv): (&mut [u32], &mut [f64]) = (&mut indices, &mut values);
    let mut slots = Vec::with_capacity(parts.len());
    for (_, c, _) in &parts {
        let (hi, ti) = ri.split_at_mut(c.len());
        let (hv, tv) = rv.split_at_mut(c.len());
        slots.push((hi, hv));
        ri = ti;
        rv = tv;
    }
    slots
        .into_par_iter()
        .zip(parts.par_iter())
        .for_each(|((di, dv), (_, c, v))| {
            di.copy_from_slice(c);
            dv.copy_from_slice(v);
        });
    Csr {
        rows,
        cols,
        indptr,
        indices,
        values,
    }
}

/// Fills `c.values` with the values of `A B` on the pattern from [`spgemm_pattern`] (the same
/// pattern may be reused when `A` and `B` keep theirs and change values).
pub(crate) fn spgemm_values(a: &Csr, b: &Csr, c: &mut Csr) {
    let blocks = row_blocks(a.rows, 16);
    // Hand each block its own slice of `c.values`.
    let mut rest: &mut [f64] = &mut c.values;
    let mut slots = Vec::with_capacity(blocks.len());
    for r in &blocks {
        let len = c.indptr[r.end] - c.indptr[r.start];
        let (head, tail) = rest.split_at_mut(len);
        slots.push(head);
        rest = tail;
    }
    let (cp, ci) = (&c.indptr, &c.indices);
    slots
        .into_par_iter()
        .zip(blocks.par_iter())
        .for_each(|(vals, range)| {
            let base = cp[range.start];
            let mut slot = vec![0u32; b.cols];
            for i in range.clone() {
                let (s, e) = (cp[i], cp[i + 1]);
                for p in s..e {
                    slot[ci[p] as usize] = (p - base) as u32;
                    vals[p - base] = 0.0;
                }
                for ka in a.indptr[i]..a.indptr[i + 1] {
                    let k = a.indices[ka] as usize;
                    let av = a.values[ka];
                    for kb in b.indptr[k]..b.indptr[k + 1] {
                        vals[slot[b.indices[kb] as usize] as usize] += av * b.values[kb];
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dense(m: &Csr) -> Vec<Vec<f64>> {
        let mut d = vec![vec![0.0; m.cols]; m.rows];
        for (i, row) in d.iter_mut().enumerate() {
            for k in m.indptr[i]..m.indptr[i + 1] {
                row[m.indices[k] as usize] += m.values[k];
            }
        }
        d
    }

    fn random_csr(rows: usize, cols: usize, per_row: usize, seed: u64) -> Csr {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_pcg::Pcg64::seed_from_u64(seed);
        let mut indptr = vec![0];
        let mut indices = Vec::new();
        let mut values = Vec::new();
        for _ in 0..rows {
            let mut cols: Vec<u32> = (0..per_row)
                .map(|_| rng.gen_range(0..cols as u32))
                .collect();
            cols.sort_unstable();
            cols.dedup();
            for c in cols {
                indices.push(c);
                values.push(rng.gen_range(-1.0..1.0));
            }
            indptr.push(indices.len());
        }
        Csr {
            rows,
            cols,
            indptr,
            indices,
            values,
        }
    }

    #[test]
    fn product_and_transpose_match_dense_formulas() {
        let a = random_csr(300, 200, 5, 1);
        let b = random_csr(200, 70, 4, 2);
        let mut c = spgemm_pattern(&a, &b);
        spgemm_values(&a, &b, &mut c);
        let fused = spgemm(&a, &b);
        assert_eq!(fused.indptr, c.indptr);
        assert_eq!(fused.indices, c.indices);
        assert_eq!(fused.values, c.values);
        let (da, db, dc) = (dense(&a), dense(&b), dense(&c));
        for i in 0..300 {
            for j in 0..70 {
                let want: f64 = (0..200).map(|k| da[i][k] * db[k][j]).sum();
                assert!((dc[i][j] - want).abs() < 1e-12, "C[{i},{j}]");
            }
        }
        let (mut t, perm) = a.transpose_with_perm();
        assert_eq!(dense(&t), dense(&a.transpose()));
        a.transpose_values(&perm, &mut t);
        let dt = dense(&t);
        for i in 0..300 {
            for j in 0..200 {
                assert_eq!(dt[j][i], da[i][j]);
            }
        }
        let x: Vec<f64> = (0..200).map(|i| (i as f64).sin()).collect();
        let mut y = vec![0.0; 300];
        a.spmv(&x, &mut y);
        let mut r = vec![0.0; 300];
        a.residual(&y, &x, &mut r);
        assert!(r.iter().all(|v| v.abs() < 1e-14));
    }
}
