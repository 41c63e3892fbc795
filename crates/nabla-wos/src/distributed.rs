//! Walk-on-Spheres across ranks: query points split into contiguous blocks, each point's walks
//! drawing the streams of its global index ([`walk_stream`](crate::walk_stream)`(seed, point,
//! walk)`), so the estimates are bit-identical for any rank count — and to a one-process run.

use crate::estimator::{PointEstimate, WosSolution, WosSolver};
use crate::{Result, WosError};
use nabla_core::comm::{block_range, Communicator};

impl WosSolver {
    /// Estimates u at `points` (every rank passes the same full set, flat `n·d`) with the work
    /// split over the ranks of `comm`; the root receives the whole [`WosSolution`] in input
    /// order (`Some`), other ranks `None`. Collective. `progress(done)` counts this rank's
    /// finished points. A failure at any point (outside the domain, a non-finite estimate) is
    /// returned on every rank, naming the first failing point.
    pub fn solve_distributed(
        &self,
        comm: &dyn Communicator,
        points: &[f64],
        root: usize,
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Option<WosSolution>> {
        let d = self.dim();
        if !points.len().is_multiple_of(d) {
            return Err(WosError::DimensionMismatch(format!(
                "{} coordinates are not a whole number of {d}-D points",
                points.len()
            )));
        }
        let n = points.len() / d;
        for (i, x) in points.chunks(d).enumerate() {
            if x.iter().any(|v| !v.is_finite()) || !self.problem().domain().contains(x) {
                return Err(WosError::PointOutside {
                    index: i,
                    point: x.to_vec(),
                });
            }
        }
        let mine = block_range(n, comm.rank(), comm.size());
        let local = self.solve_indexed(&points[mine.start * d..mine.end * d], mine.start, progress);
        // Agree on failure before any gather, so no rank waits for one that gave up.
        let mut first_bad = [match &local {
            Err(WosError::NonFinite { index, .. }) => -(*index as f64),
            Err(_) => -(mine.start as f64),
            Ok(_) => f64::NEG_INFINITY,
        }];
        comm.allreduce_max_f64(&mut first_bad);
        if first_bad[0] > f64::NEG_INFINITY {
            let index = (-first_bad[0]) as usize;
            return Err(match local {
                Err(e) => e,
                Ok(_) => WosError::NonFinite {
                    index,
                    point: points[index * d..(index + 1) * d].to_vec(),
                },
            });
        }
        let local = local?;
        let width = record_width(d, self.options().gradient);
        let mut flat = Vec::with_capacity(local.estimates.len() * width);
        for e in &local.estimates {
            encode(e, d, self.options().gradient, &mut flat);
        }
        let mut totals = [local.total_walks as f64, local.total_steps as f64];
        comm.allreduce_sum_f64(&mut totals);
        let mut seconds = [local.seconds];
        comm.allreduce_max_f64(&mut seconds);
        let Some(all) = comm.gather_f64(&flat, root) else {
            return Ok(None);
        };
        let estimates = all
            .chunks(width)
            .map(|r| decode(r, d, self.options().gradient))
            .collect();
        Ok(Some(WosSolution {
            estimates,
            total_walks: totals[0] as u64,
            total_steps: totals[1] as u64,
            seconds: seconds[0],
        }))
    }
}

/// Values per point in the gathered records: value, variance, stderr, mean steps, walks,
/// unfinished, then the gradient and its standard errors when estimated.
fn record_width(d: usize, gradient: bool) -> usize {
    6 + if gradient { 2 * d } else { 0 }
}

fn encode(e: &PointEstimate, d: usize, gradient: bool, out: &mut Vec<f64>) {
    out.extend_from_slice(&[
        e.value,
        e.variance,
        e.stderr,
        e.mean_steps,
        e.walks as f64,
        e.unfinished as f64,
    ]);
    if gradient {
        let nan = vec![f64::NAN; d];
        out.extend_from_slice(e.gradient.as_deref().unwrap_or(&nan));
        out.extend_from_slice(e.gradient_stderr.as_deref().unwrap_or(&nan));
    }
}

fn decode(r: &[f64], d: usize, gradient: bool) -> PointEstimate {
    PointEstimate {
        value: r[0],
        variance: r[1],
        stderr: r[2],
        mean_steps: r[3],
        walks: r[4] as usize,
        unfinished: r[5] as usize,
        gradient: gradient.then(|| r[6..6 + d].to_vec()),
        gradient_stderr: gradient.then(|| r[6 + d..6 + 2 * d].to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use crate::{WosOptions, WosProblem, WosSolver};
    use nabla_core::comm::LocalComm;
    use nabla_core::field::ScalarField;
    use nabla_core::geometry::Domain;
    use std::sync::Arc;

    #[test]
    fn estimates_are_bit_identical_for_any_rank_count() {
        let domain: Arc<dyn Domain> =
            nabla_core::geometry::parse_domain("box:min=0,0;max=1,1").unwrap();
        let boundary: Arc<dyn ScalarField> =
            Arc::new("x*x - y*y".parse::<nabla_core::field::Expr>().unwrap());
        let opts = WosOptions {
            walks: 64,
            seed: 9,
            gradient: true,
            ..Default::default()
        };
        let solver = WosSolver::new(WosProblem::laplace(domain, boundary), opts).unwrap();
        let points: Vec<f64> = (0..23)
            .flat_map(|i| [0.05 + 0.04 * i as f64, 0.5 + 0.3 * ((i as f64) * 0.7).sin()])
            .collect();
        let serial = solver.solve(&points).unwrap();
        for ranks in [1, 2, 3, 5] {
            let got = LocalComm::run(ranks, |c| {
                solver.solve_distributed(c, &points, 0, &|_| {}).unwrap()
            });
            let root = got[0].as_ref().unwrap();
            assert!(got[1..].iter().all(Option::is_none));
            assert_eq!(root.total_walks, serial.total_walks);
            assert_eq!(root.total_steps, serial.total_steps);
            for (a, b) in root.estimates.iter().zip(&serial.estimates) {
                assert_eq!(a.value.to_bits(), b.value.to_bits(), "{ranks} ranks");
                assert_eq!(a.stderr.to_bits(), b.stderr.to_bits());
                assert_eq!(a.gradient, b.gradient);
            }
        }
    }
}
