//! Small helpers shared by the fused CPU ops (candle custom ops) of this crate.

use candle_core::{CpuStorage, Layout};

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

/// The elements of a contiguous operand of element type `T` (an op's storage slot); an error
/// naming the op and operand when its dtype is another or it is not contiguous.
pub(crate) fn operand<'a, T: crate::fused::Real>(
    s: &'a CpuStorage,
    l: &Layout,
    op: &str,
    what: &str,
) -> candle_core::Result<&'a [T]> {
    let data = T::slice(s).ok_or_else(|| {
        candle_core::Error::Msg(format!("{op}: {what} has another dtype than the input"))
    })?;
    contiguous(data, l, op, what)
}

/// The error of an op called with an element type other than f32 and f64.
pub(crate) fn unsupported_dtype(op: &str, dtype: candle_core::DType) -> candle_core::Error {
    candle_core::Error::Msg(format!("{op}: unsupported dtype {dtype:?}"))
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

/// An error naming the op when an axis after the leading (batch) one is empty: the fused
/// kernels split work into chunks of a row's length, and a zero-length row cannot be chunked
/// (an empty batch is fine and gives an empty result).
pub(crate) fn nonempty(dims: &[usize], op: &str, what: &str) -> candle_core::Result<()> {
    if dims.iter().skip(1).any(|&n| n == 0) {
        return Err(candle_core::Error::Msg(format!(
            "{op}: {what} {dims:?} has an empty axis"
        )));
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    /// The fused ops whose kernels chunk by row length refuse an empty row axis with an error
    /// naming themselves (it used to panic in rayon's chunking); an empty batch still gives an
    /// empty result.
    #[test]
    fn empty_axes_are_errors_not_panics() {
        let d = Device::Cpu;
        let z = |dims: &[usize]| Tensor::zeros(dims, DType::F32, &d).unwrap();
        let msg = |r: candle_core::Result<Tensor>| r.unwrap_err().to_string();
        assert!(msg(crate::max_pool::max_pool2x2(&z(&[1, 4, 4, 0]))).contains("max_pool2x2"));
        assert!(msg(crate::upsample::upsample_bilinear2x(&z(&[2, 0, 3, 1]))).contains("empty axis"));
        let head =
            crate::gelu_head::gelu_head(&z(&[5, 3]), &z(&[3, 0]), &z(&[0]), &z(&[0, 1]), &z(&[1]));
        assert!(msg(head).contains("w1, w2"));
        let (c, s) = (
            4,
            crate::spectral_block::BlockShape {
                patch: 2,
                heads: 2,
                tokens: 2,
                basis: 2,
            },
        );
        let (we, be, wd, bd, lat, basis) = (
            z(&[c, 2 * c]),
            z(&[2 * c]),
            z(&[c, c]),
            z(&[c]),
            z(&[2, 2, 2]),
            z(&[c, 4]),
        );
        let params = crate::spectral_block::BlockParams {
            encode_weight: &we,
            encode_bias: &be,
            decode_weight: &wd,
            decode_bias: &bd,
            latent: &lat,
            basis: &basis,
        };
        let r = crate::spectral_block::spectral_block(&z(&[1, 4, 0, c]), &params, s, true);
        assert!(msg(r).contains("empty axis"));
        let empty = crate::max_pool::max_pool2x2(&z(&[0, 4, 4, 2])).unwrap();
        assert_eq!(empty.dims(), &[0, 2, 2, 2]);
    }
}
