//! Recycled scratch buffers for the hand-written CPU kernels (fused jet, dense layers,
//! constant left products).
//!
//! Why: with the allocator tuned ([`crate::tune_allocator`]) freed memory is reused, but a
//! zero-filled `vec![0.0; n]` still writes every byte (calloc on reused heap memory is a
//! memset) — 8–11 % of a PINN or FNO training step. Buffers that a kernel overwrites entirely
//! come from here instead, stale contents and all.

use std::cell::RefCell;
use std::mem::MaybeUninit;

/// Most buffers kept per thread and element type; more are freed.
const KEEP: usize = 32;

/// Element types with a per-thread pool of buffers.
pub(crate) trait Pooled: Copy + Default + 'static {
    /// Runs `f` on this thread's pool of spare buffers of `Self`.
    fn with_pool<R>(f: impl FnOnce(&mut Vec<Vec<Self>>) -> R) -> R;
}

macro_rules! pooled {
    ($t:ty) => {
        impl Pooled for $t {
            fn with_pool<R>(f: impl FnOnce(&mut Vec<Vec<Self>>) -> R) -> R {
                thread_local! {
                    static POOL: RefCell<Vec<Vec<$t>>> = const { RefCell::new(Vec::new()) };
                }
                POOL.with(|p| f(&mut p.borrow_mut()))
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
    let spare = T::with_pool(|pool| {
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, v)| v.len() >= len)
            .min_by_key(|(_, v)| v.len())
            .map(|(i, _)| i);
        best.map(|i| pool.swap_remove(i))
    });
    match spare {
        Some(mut v) => {
            v.truncate(len);
            v
        }
        None => vec![T::default(); len],
    }
}

/// Hands a buffer back for reuse by [`take`] on this thread.
pub(crate) fn give<T: Pooled>(v: Vec<T>) {
    if v.capacity() == 0 {
        return;
    }
    T::with_pool(|pool| {
        if pool.len() < KEEP {
            pool.push(v);
        }
    });
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
    use super::{give, take, written_by};

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
        let mut a = take::<f64>(1000);
        a.iter_mut().for_each(|x| *x = 7.0);
        let ptr = a.as_ptr();
        give(a);
        let b = take::<f64>(600);
        assert_eq!(b.len(), 600);
        assert_eq!(b.as_ptr(), ptr, "the spare buffer is reused");
        give(b);
        // A longer request than any spare buffer gets a fresh zeroed one.
        let c = take::<f64>(900);
        assert_eq!(c.len(), 900);
        assert!(c.iter().all(|&x| x == 0.0));
        give(c);
        let c = take::<f64>(300);
        assert_eq!(c.len(), 300);
        assert_eq!(
            c[0], 7.0,
            "the shortest fitting spare buffer (600) is reused"
        );
        give(c);
        let d = take::<f64>(5000);
        assert_eq!(d.len(), 5000);
        assert!(d.iter().all(|&x| x == 0.0), "a fresh buffer is zeroed");
    }
}
