//! N ranks as N threads of one process: the message-passing semantics of MPI over channels, so
//! rank-count independence is tested by `cargo test` on any machine.

use super::{CommClock, Communicator};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Barrier};

enum Message {
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bytes(Vec<u8>),
}

/// One rank of a group of threads created by [`LocalComm::run`].
///
/// ```
/// use nabla_core::comm::{Communicator, LocalComm};
/// let sums = LocalComm::run(3, |c| {
///     let mut v = [c.rank() as f64 + 1.0];
///     c.allreduce_sum_f64(&mut v);
///     v[0]
/// });
/// assert_eq!(sums, vec![6.0, 6.0, 6.0]);
/// ```
pub struct LocalComm {
    rank: usize,
    size: usize,
    /// `to[r]`: the channel into rank r's inbox from this rank.
    to: Vec<Sender<Message>>,
    /// `from[r]`: this rank's inbox from rank r (FIFO per pair, as MPI orders messages).
    from: Vec<Receiver<Message>>,
    barrier: Arc<Barrier>,
    clock: CommClock,
}

impl LocalComm {
    /// Runs `body` on `size` ranks, each on its own thread, and returns their results in rank
    /// order. Panics in a rank propagate.
    pub fn run<T: Send>(size: usize, body: impl Fn(&LocalComm) -> T + Sync) -> Vec<T> {
        assert!(size >= 1, "LocalComm::run needs at least one rank");
        // inbox[dst][src]
        let mut senders: Vec<Vec<Option<Sender<Message>>>> = (0..size)
            .map(|_| (0..size).map(|_| None).collect())
            .collect();
        let mut receivers: Vec<Vec<Option<Receiver<Message>>>> = (0..size)
            .map(|_| (0..size).map(|_| None).collect())
            .collect();
        for dst in 0..size {
            for src in 0..size {
                let (s, r) = channel();
                senders[src][dst] = Some(s);
                receivers[dst][src] = Some(r);
            }
        }
        let barrier = Arc::new(Barrier::new(size));
        let comms: Vec<LocalComm> = senders
            .into_iter()
            .zip(receivers)
            .enumerate()
            .map(|(rank, (to, from))| LocalComm {
                rank,
                size,
                to: to.into_iter().map(Option::unwrap).collect(),
                from: from.into_iter().map(Option::unwrap).collect(),
                barrier: barrier.clone(),
                clock: CommClock::default(),
            })
            .collect();
        let body = &body;
        std::thread::scope(|s| {
            let handles: Vec<_> = comms
                .into_iter()
                .map(|c| s.spawn(move || body(&c)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }

    fn send(&self, dst: usize, m: Message) {
        // The receiver lives as long as its thread, which outlives every collective it joins.
        let _ = self.to[dst].send(m);
    }

    fn recv(&self, src: usize) -> Message {
        self.from[src]
            .recv()
            .expect("a rank of LocalComm exited while others still communicate")
    }

    fn recv_f64(&self, src: usize) -> Vec<f64> {
        match self.recv(src) {
            Message::F64(v) => v,
            _ => panic!("LocalComm: ranks called different collectives"),
        }
    }

    fn recv_i64(&self, src: usize) -> Vec<i64> {
        match self.recv(src) {
            Message::I64(v) => v,
            _ => panic!("LocalComm: ranks called different collectives"),
        }
    }

    /// Reduce onto rank 0 in rank order, then broadcast: deterministic for a given rank count.
    fn allreduce_f64(&self, buf: &mut [f64], op: fn(f64, f64) -> f64) {
        if self.rank == 0 {
            for src in 1..self.size {
                let v = self.recv_f64(src);
                for (a, b) in buf.iter_mut().zip(v) {
                    *a = op(*a, b);
                }
            }
            for dst in 1..self.size {
                self.send(dst, Message::F64(buf.to_vec()));
            }
        } else {
            self.send(0, Message::F64(buf.to_vec()));
            buf.copy_from_slice(&self.recv_f64(0));
        }
    }
}

impl Communicator for LocalComm {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.size
    }

    fn allreduce_sum_i64(&self, buf: &mut [i64]) {
        self.clock.time(|| {
            if self.rank == 0 {
                for src in 1..self.size {
                    for (a, b) in buf.iter_mut().zip(self.recv_i64(src)) {
                        *a += b;
                    }
                }
                for dst in 1..self.size {
                    self.send(dst, Message::I64(buf.to_vec()));
                }
            } else {
                self.send(0, Message::I64(buf.to_vec()));
                buf.copy_from_slice(&self.recv_i64(0));
            }
        })
    }

    fn allreduce_sum_f64(&self, buf: &mut [f64]) {
        self.clock.time(|| self.allreduce_f64(buf, |a, b| a + b))
    }

    fn allreduce_max_f64(&self, buf: &mut [f64]) {
        self.clock.time(|| self.allreduce_f64(buf, f64::max))
    }

    fn exchange(
        &self,
        sends: &[(usize, &[f64])],
        recvs: &mut [(usize, &mut [f64])],
        overlap: &mut dyn FnMut(),
    ) {
        self.clock.time(|| {
            for (dst, data) in sends {
                self.send(*dst, Message::F64(data.to_vec()));
            }
        });
        overlap();
        self.clock.time(|| {
            for (src, buf) in recvs.iter_mut() {
                let v = self.recv_f64(*src);
                assert_eq!(
                    v.len(),
                    buf.len(),
                    "LocalComm::exchange: message size mismatch"
                );
                buf.copy_from_slice(&v);
            }
        })
    }

    fn gather_f64(&self, local: &[f64], root: usize) -> Option<Vec<f64>> {
        self.clock.time(|| {
            if self.rank == root {
                let mut all = Vec::new();
                for src in 0..self.size {
                    if src == root {
                        all.extend_from_slice(local);
                    } else {
                        all.extend(self.recv_f64(src));
                    }
                }
                Some(all)
            } else {
                self.send(root, Message::F64(local.to_vec()));
                None
            }
        })
    }

    fn broadcast_bytes(&self, buf: &mut Vec<u8>, root: usize) {
        self.clock.time(|| {
            if self.rank == root {
                for dst in (0..self.size).filter(|&d| d != root) {
                    self.send(dst, Message::Bytes(buf.clone()));
                }
            } else {
                match self.recv(root) {
                    Message::Bytes(v) => *buf = v,
                    _ => panic!("LocalComm: ranks called different collectives"),
                }
            }
        })
    }

    fn barrier(&self) {
        self.clock.time(|| {
            self.barrier.wait();
        });
    }

    fn communication_seconds(&self) -> f64 {
        self.clock.seconds()
    }

    fn transport(&self) -> &'static str {
        "threads"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comm::ExactSum;

    #[test]
    fn collectives_and_exchange_on_four_ranks() {
        let out = LocalComm::run(4, |c| {
            let r = c.rank();
            let mut m = [r as f64, -(r as f64)];
            c.allreduce_max_f64(&mut m);
            assert_eq!(m, [3.0, 0.0]);
            // ring exchange: send my rank to the right, receive from the left
            let right = (r + 1) % 4;
            let left = (r + 3) % 4;
            let mine = [r as f64; 3];
            let mut got = [0.0; 3];
            let mut worked = false;
            c.exchange(&[(right, &mine)], &mut [(left, &mut got)], &mut || {
                worked = true
            });
            assert!(worked);
            assert_eq!(got, [left as f64; 3]);
            let gathered = c.gather_f64(&vec![r as f64; r + 1], 2);
            if r == 2 {
                assert_eq!(
                    gathered.unwrap(),
                    vec![0.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0, 3.0]
                );
            } else {
                assert!(gathered.is_none());
            }
            let mut bytes = if r == 1 {
                b"hello".to_vec()
            } else {
                Vec::new()
            };
            c.broadcast_bytes(&mut bytes, 1);
            assert_eq!(bytes, b"hello");
            let mut acc = ExactSum::new();
            acc.add(0.1 * (r as f64 + 1.0));
            c.barrier();
            c.exact_sum(&mut acc)
        });
        let mut serial = ExactSum::new();
        (1..=4).for_each(|k| serial.add(0.1 * k as f64));
        assert!(out.iter().all(|v| v.to_bits() == serial.value().to_bits()));
    }
}
