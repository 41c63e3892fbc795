//! Recycled scratch buffers for the hand-written CPU kernels (fused jet, dense layers,
//! constant left products).
//!
//! Why: with the allocator tuned ([`crate::tune_allocator`]) freed memory is reused, but a
//! zero-filled `vec![0.0; n]` still writes every byte (calloc on reused heap memory is a
//! memset) — 8–11 % of a PINN or FNO training step. Buffers that a kernel overwrites entirely
//! come from here instead, stale contents and all.

use std::mem::MaybeUninit;
use std::sync::Mutex;

/// Most buffers kept per element type; beyond that the smallest are freed.
const KEEP: usize = 32;

/// Element types with a process-wide pool of buffers.
pub(crate) trait Pooled: Copy + Default + 'static {
    /// Runs `f` on the pool of spare buffers of `Self`.
    fn with_pool<R>(f: impl FnOnce(&mut Vec<Vec<Self>>) -> R) -> R;
}

// One pool per element type for the whole process, not per thread, and a full pool frees its
// smallest buffer rather than the one handed back. The per-thread pools this replaces missed
// every large request of a PINN step (measured: a fresh zero-filled allocation for each): a
// buffer handed back on another thread (whichever one drops the autograd graph) was out of
// reach, and pools filled with small buffers nobody asked for again, so the large ones handed
// back were dropped. The lock is taken a few dozen times per step, never inside a kernel.
macro_rules! pooled {
    ($t:ty) => {
        impl Pooled for $t {
            fn with_pool<R>(f: impl FnOnce(&mut Vec<Vec<Self>>) -> R) -> R {
                static POOL: Mutex<Vec<Vec<$t>>> = Mutex::new(Vec::new());
                let mut pool = POOL.lock().unwrap_or_else(|e| e.into_inner());
                f(&mut pool)
            }
        }
    };
}
pooled!(f32);
pooled!(f64);

/// A buffer of `len` elements whose contents are arbitrary (initialised, but left over from
/// earlier use): the caller must write every element before reading it. The shortest spare
/// buffer at least `len` long is reused (never grown, which would zero-fill the growth); with
/// none, a fresh zeroed one is allocated. A training loop's buffer sizes repeat every step, so
/// after the first step every request finds one.
pub(crate) fn take<T: Pooled>(len: usize) -> Vec<T> {
    T::with_pool(|pool| take_from(pool, len))
}

/// Hands a buffer back for reuse by [`take`]. With the pool full, the smallest buffer (this
/// one or a spare) is freed, so the large buffers that are costly to zero-fill stay.
pub(crate) fn give<T: Pooled>(v: Vec<T>) {
    T::with_pool(|pool| give_to(pool, v));
}

/// Frees every spare scratch buffer of the process-wide pools (f32 and f64) and returns the
/// bytes released. The pools keep at most 32 buffers per element type, sized like the largest
/// activations of the last training or inference step; an embedding code calls this after
/// the learning part of its run to give that memory back. Later kernels simply allocate again.
pub fn release_scratch() -> usize {
    f32::with_pool(drain_pool) + f64::with_pool(drain_pool)
}

/// Bytes held by the spare scratch buffers right now (see [`release_scratch`]).
pub fn scratch_bytes() -> usize {
    f32::with_pool(|p| pool_bytes(p)) + f64::with_pool(|p| pool_bytes(p))
}

/// Empties `pool`, returning the bytes its buffers held.
fn drain_pool<T>(pool: &mut Vec<Vec<T>>) -> usize {
    let bytes = pool_bytes(pool);
    *pool = Vec::new();
    bytes
}

/// Bytes held by the buffers of `pool`.
fn pool_bytes<T>(pool: &[Vec<T>]) -> usize {
    pool.iter()
        .map(|v| v.capacity() * std::mem::size_of::<T>())
        .sum()
}

/// [`take`] from a given pool.
fn take_from<T: Pooled>(pool: &mut Vec<Vec<T>>, len: usize) -> Vec<T> {
    let best = pool
        .iter()
        .enumerate()
        .filter(|(_, v)| v.len() >= len)
        .min_by_key(|(_, v)| v.len())
        .map(|(i, _)| i);
    match best.map(|i| pool.swap_remove(i)) {
        Some(mut v) => {
            v.truncate(len);
            v
        }
        None => vec![T::default(); len],
    }
}

/// [`give`] to a given pool.
fn give_to<T: Pooled>(pool: &mut Vec<Vec<T>>, v: Vec<T>) {
    if v.capacity() == 0 {
        return;
    }
    if pool.len() < KEEP {
        pool.push(v);
        return;
    }
    let smallest = pool
        .iter()
        .enumerate()
        .min_by_key(|(_, b)| b.len())
        .map(|(i, b)| (i, b.len()));
    if let Some((i, len)) = smallest {
        if len < v.len() {
            pool[i] = v;
        }
    }
}

/// A new vector of `len` elements initialised by `fill` alone, without zero-filling first:
/// for kernel outputs that leave the kernel (candle storage), which cannot be recycled.
///
/// # Safety
/// `fill` must write every one of the `len` elements (e.g. a β = 0 product covering them all).
pub(crate) unsafe fn written_by<T>(len: usize, fill: impl FnOnce(*mut T)) -> Vec<T> {
    let mut v: Vec<T> = Vec::with_capacity(len);
    let spare: &mut [MaybeUninit<T>] = v.spare_capacity_mut();
    fill(spare.as_mut_ptr().cast::<T>());
    // SAFETY: the caller guarantees that fill initialised all len elements.
    unsafe { v.set_len(len) };
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn release_gives_the_spare_buffers_back() {
        // On a pool of its own: the process-wide pools are shared with concurrent tests.
        let mut pool: Vec<Vec<f64>> = Vec::new();
        give_to(&mut pool, vec![0.0; 1 << 20]);
        give_to(&mut pool, vec![0.0; 10]);
        assert_eq!(super::pool_bytes(&pool), 8 * ((1 << 20) + 10));
        assert_eq!(super::drain_pool(&mut pool), 8 * ((1 << 20) + 10));
        assert!(pool.is_empty() && pool.capacity() == 0);
        super::release_scratch();
    }

    use super::{give, give_to, take, take_from, written_by, KEEP};

    #[test]
    fn written_by_keeps_what_fill_wrote() {
        // SAFETY: the closure writes all 100 elements.
        let v = unsafe {
            written_by::<f32>(100, |p| {
                for k in 0..100 {
                    p.add(k).write(k as f32);
                }
            })
        };
        assert_eq!(v.len(), 100);
        assert!(v.iter().enumerate().all(|(k, &x)| x == k as f32));
    }

    #[test]
    fn buffers_are_reused_and_sized() {
        // A private pool: the process-wide one is shared with concurrently running tests.
        let mut pool: Vec<Vec<f64>> = Vec::new();
        let mut a = take_from(&mut pool, 1000);
        a.iter_mut().for_each(|x| *x = 7.0);
        let ptr = a.as_ptr();
        give_to(&mut pool, a);
        let b = take_from(&mut pool, 600);
        assert_eq!(b.len(), 600);
        assert_eq!(b.as_ptr(), ptr, "the spare buffer is reused");
        give_to(&mut pool, b);
        // A longer request than any spare buffer gets a fresh zeroed one.
        let c = take_from(&mut pool, 900);
        assert_eq!(c.len(), 900);
        assert!(c.iter().all(|&x| x == 0.0));
        give_to(&mut pool, c);
        let c = take_from(&mut pool, 300);
        assert_eq!(c.len(), 300);
        assert_eq!(
            c[0], 7.0,
            "the shortest fitting spare buffer (600) is reused"
        );
        give_to(&mut pool, c);
        let d = take_from(&mut pool, 5000);
        assert_eq!(d.len(), 5000);
        assert!(d.iter().all(|&x| x == 0.0), "a fresh buffer is zeroed");
        // The process-wide pool hands out correctly sized buffers.
        let e = take::<f32>(123);
        assert_eq!(e.len(), 123);
        give(e);
    }

    #[test]
    fn a_full_pool_keeps_the_largest_buffers() {
        let mut pool: Vec<Vec<f32>> = (0..KEEP).map(|i| vec![0.0; 10 + i]).collect();
        give_to(&mut pool, vec![1.0; 100_000]);
        assert_eq!(pool.len(), KEEP);
        assert!(
            pool.iter().any(|v| v.len() == 100_000),
            "the large buffer is kept"
        );
        assert!(
            pool.iter().all(|v| v.len() != 10),
            "the smallest spare was freed"
        );
        give_to(&mut pool, vec![1.0; 5]);
        assert!(
            pool.iter().all(|v| v.len() != 5),
            "a buffer smaller than all spares is freed"
        );
    }
}
