//! Symmetric strength of connection and standard (greedy, three-pass) aggregation.
//!
//! Strength (Vaněk–Mandel–Brezina): nodes `i ≠ j` are strongly coupled when
//! `|a_ij| > θ·√(|a_ii|·|a_jj|)`. With a block size `b > 1` (systems such as elasticity, `b`
//! unknowns per node, node `I` = rows `b·I .. b·I + b`) the test runs on the node matrix of
//! Frobenius norms of the `b × b` blocks. A node with no strong neighbour is *isolated*: it
//! belongs to no aggregate (its row of the tentative prolongator is empty), which is right for
//! rows that the smoother alone resolves, such as Dirichlet rows or a diagonal matrix.

use super::matrix::{for_each_row_mut, Csr};
use rayon::prelude::*;

/// The strength graph of one level.
pub(crate) struct Strength {
    /// For every stored entry of the level matrix: whether it is kept by the filtered matrix
    /// (a strong coupling, or inside the diagonal block).
    pub keep: Vec<bool>,
    /// The node graph for a block size > 1 (strong neighbours, itself excluded, CSR-like);
    /// `None` for block size 1, where the graph is the matrix's pattern masked by `keep`.
    pub node_graph: Option<(Vec<usize>, Vec<u32>)>,
}

impl Strength {
    /// The strong neighbours of every node, as (pointers, indices, mask): the mask (if any)
    /// selects the entries that are edges.
    pub fn graph<'a>(&'a self, a: &'a Csr) -> Graph<'a> {
        match &self.node_graph {
            Some((p, i)) => Graph {
                ptr: p,
                idx: i,
                mask: None,
            },
            None => Graph {
                ptr: &a.indptr,
                idx: &a.indices,
                mask: Some(&self.keep),
            },
        }
    }
}

/// A node graph given by CSR pointers and indices, optionally masked (self-loops never count).
pub(crate) struct Graph<'a> {
    ptr: &'a [usize],
    idx: &'a [u32],
    mask: Option<&'a [bool]>,
}

impl Graph<'_> {
    fn nodes(&self) -> usize {
        self.ptr.len() - 1
    }

    fn neighbours(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        (self.ptr[i]..self.ptr[i + 1])
            .filter(move |&k| self.mask.is_none_or(|m| m[k]))
            .map(|k| self.idx[k] as usize)
            .filter(move |&j| j != i)
    }
}

/// Computes the strength graph of `a` (main diagonal `diag`) with threshold `theta` and block
/// size `bs`.
pub(crate) fn strength(a: &Csr, diag: &[f64], theta: f64, bs: usize) -> Strength {
    let n = a.rows;
    let nodes = n / bs;
    let (ip, ix, vx) = (&a.indptr, &a.indices, &a.values);
    let mut keep = vec![false; a.nnz()];
    if bs == 1 {
        let diag: Vec<f64> = diag.iter().map(|d| d.abs()).collect();
        let t2 = theta * theta;
        for_each_row_mut(ip, &mut keep, |i, row| {
            for (o, k) in (ip[i]..ip[i + 1]).enumerate() {
                let j = ix[k] as usize;
                let v = vx[k];
                row[o] = j == i || (v != 0.0 && v * v > t2 * diag[i] * diag[j]);
            }
        });
        return Strength {
            keep,
            node_graph: None,
        };
    }
    // Node matrix of block Frobenius norms (squared), row by node.
    let node_rows: Vec<Vec<(u32, f64)>> = (0..nodes)
        .into_par_iter()
        .map(|node| {
            let mut acc: Vec<(u32, f64)> = Vec::new();
            for i in node * bs..node * bs + bs {
                for k in ip[i]..ip[i + 1] {
                    let j = (ix[k] as usize / bs) as u32;
                    let v2 = vx[k] * vx[k];
                    match acc.iter_mut().find(|(c, _)| *c == j) {
                        Some(e) => e.1 += v2,
                        None => acc.push((j, v2)),
                    }
                }
            }
            acc
        })
        .collect();
    let node_diag: Vec<f64> = node_rows
        .par_iter()
        .enumerate()
        .map(|(i, r)| {
            r.iter()
                .find(|(c, _)| *c as usize == i)
                .map_or(0.0, |e| e.1.sqrt())
        })
        .collect();
    let strong_node = |i: usize, j: usize, norm2: f64| {
        i == j || (norm2 > 0.0 && norm2 > theta * theta * node_diag[i] * node_diag[j])
    };
    for_each_row_mut(ip, &mut keep, |i, row| {
        let ni = i / bs;
        for (o, k) in (ip[i]..ip[i + 1]).enumerate() {
            let nj = ix[k] as usize / bs;
            let norm2 = node_rows[ni]
                .iter()
                .find(|(c, _)| *c as usize == nj)
                .map_or(0.0, |e| e.1);
            row[o] = strong_node(ni, nj, norm2);
        }
    });
    let mut graph_ptr = Vec::with_capacity(nodes + 1);
    let mut graph_idx = Vec::new();
    graph_ptr.push(0);
    for (ni, r) in node_rows.iter().enumerate() {
        for &(nj, norm2) in r {
            if nj as usize != ni && strong_node(ni, nj as usize, norm2) {
                graph_idx.push(nj);
            }
        }
        graph_ptr.push(graph_idx.len());
    }
    Strength {
        keep,
        node_graph: Some((graph_ptr, graph_idx)),
    }
}

/// Marks a node that belongs to no aggregate.
pub(crate) const NO_AGGREGATE: u32 = u32::MAX;

/// Greedy standard aggregation of the strength graph. Returns the aggregate of every node
/// ([`NO_AGGREGATE`] for isolated nodes) and the number of aggregates.
///
/// Pass 1 makes an aggregate of every node whose strong neighbours are all still free (the
/// node and its neighbourhood); pass 2 attaches each remaining node to an aggregate of pass 1
/// that it is strongly coupled to; pass 3 groups what is left with its free neighbours.
pub(crate) fn aggregate(graph: &Graph) -> (Vec<u32>, usize) {
    let nodes = graph.nodes();
    let mut agg = vec![NO_AGGREGATE; nodes];
    let mut from_pass1 = vec![false; nodes];
    let mut isolated = vec![true; nodes];
    let mut count: u32 = 0;
    for i in 0..nodes {
        if agg[i] != NO_AGGREGATE {
            isolated[i] = false;
            continue;
        }
        let mut any = false;
        let mut all_free = true;
        for j in graph.neighbours(i) {
            any = true;
            if agg[j] != NO_AGGREGATE {
                all_free = false;
                break;
            }
        }
        isolated[i] = !any;
        if any && all_free {
            agg[i] = count;
            from_pass1[i] = true;
            for j in graph.neighbours(i) {
                agg[j] = count;
                from_pass1[j] = true;
            }
            count += 1;
        }
    }
    for i in 0..nodes {
        if agg[i] != NO_AGGREGATE || isolated[i] {
            continue;
        }
        if let Some(j) = graph.neighbours(i).find(|&j| from_pass1[j]) {
            agg[i] = agg[j];
        }
    }
    for i in 0..nodes {
        if agg[i] != NO_AGGREGATE || isolated[i] {
            continue;
        }
        agg[i] = count;
        for j in graph.neighbours(i) {
            if agg[j] == NO_AGGREGATE {
                agg[j] = count;
            }
        }
        count += 1;
    }
    (agg, count as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1-D Laplacian tridiag(−1, 2, −1) with `n` rows.
    fn laplace_1d(n: usize) -> Csr {
        Csr::from_rows(
            n,
            (0..n).map(|i| {
                [(i.wrapping_sub(1), -1.0), (i, 2.0), (i + 1, -1.0)]
                    .into_iter()
                    .filter(|&(j, _)| j < n)
                    .map(|(j, v)| (j as u32, v))
                    .collect()
            }),
        )
    }

    #[test]
    fn aggregates_of_a_chain_are_triples() {
        let a = laplace_1d(9);
        let s = strength(&a, &a.diagonal(), 0.25, 1);
        let (agg, count) = aggregate(&s.graph(&a));
        assert_eq!(count, 3);
        // Pass 1 takes {0,1}, {2,3,4}, {5,6,7}; node 8 joins the last in pass 2.
        assert_eq!(agg, vec![0, 0, 1, 1, 1, 2, 2, 2, 2]);
        // Every node aggregated, every aggregate connected.
        assert!(agg.iter().all(|&g| g != NO_AGGREGATE));
    }

    #[test]
    fn weak_and_isolated_nodes() {
        // diag(1, 1) with a tiny coupling: weak at θ = 0.5, so both nodes are isolated.
        let a = Csr {
            rows: 2,
            cols: 2,
            indptr: vec![0, 2, 4],
            indices: vec![0, 1, 0, 1],
            values: vec![1.0, -0.01, -0.01, 1.0],
        };
        let s = strength(&a, &a.diagonal(), 0.5, 1);
        assert_eq!(s.keep, vec![true, false, false, true]);
        let (agg, count) = aggregate(&s.graph(&a));
        assert_eq!(count, 0);
        assert_eq!(agg, vec![NO_AGGREGATE; 2]);
        // Block size 2 on a 4×4 matrix of two 2×2 nodes coupled strongly.
        let b = laplace_1d(4);
        let s = strength(&b, &b.diagonal(), 0.1, 2);
        assert_eq!(s.node_graph.as_ref().unwrap().0, vec![0, 1, 2]);
        assert!(s.keep.iter().all(|&k| k));
    }
}
