//! Small helpers shared by the fused CPU ops (candle custom ops) of this crate.

use candle_core::Layout;

/// The elements of a contiguous operand; an error naming the op and operand otherwise.
pub(crate) fn contiguous<'a, T>(
    data: &'a [T],
    l: &Layout,
    op: &str,
    what: &str,
) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => Err(candle_core::Error::Msg(format!(
            "{op}: {what} is not contiguous"
        ))),
    }
}

/// The dimensions of a channels-last 2-D field `[B, H, W, C]`; an error naming the op
/// otherwise.
pub(crate) fn dims4(l: &Layout, op: &str) -> candle_core::Result<[usize; 4]> {
    match *l.shape().dims() {
        [b, h, w, c] => Ok([b, h, w, c]),
        _ => Err(candle_core::Error::Msg(format!(
            "{op}: expected [B, H, W, C], got {:?}",
            l.shape()
        ))),
    }
}

/// The largest absolute difference of two tensors of one shape (tests).
#[cfg(test)]
pub(crate) fn max_diff(a: &candle_core::Tensor, b: &candle_core::Tensor) -> f64 {
    (a - b)
        .and_then(|d| d.abs())
        .and_then(|d| d.max_all())
        .and_then(|d| d.to_dtype(candle_core::DType::F64))
        .and_then(|d| d.to_scalar::<f64>())
        .unwrap_or(f64::INFINITY)
}
