//! The Walk-on-Spheres estimator as one CUDA kernel (`kernels/wos.cu`), compiled at run time by
//! NVRTC through cudarc and launched from here (feature `cuda`).
//!
//! Supported: boxes and balls ([`nabla_core::geometry::BoxDomain`], [`nabla_core::geometry::Ball`])
//! in 2-D and 3-D, Laplace, Poisson and screened Poisson, boundary data and source given as
//! [`nabla_core::field::Expr`] (they are translated to C and compiled into the kernel; Rust
//! closures cannot be). Gradients and control variates are CPU-only.
//!
//! The crate builds without a CUDA toolkit (cudarc loads `libcuda` and `libnvrtc` dynamically;
//! with `candle-cuda` too, candle has them linked at build time instead).
//! Where there is no driver, no NVRTC or no device, [`solve_cuda`] returns
//! [`WosError::Cuda`] with a message saying which — it never panics: the libraries' presence is
//! checked before any cudarc call.
//!
//! Random streams are the CPU's ([`crate::walk_stream`]), drawn in the same order, and the
//! per-block statistics are merged in the same order, so GPU and CPU estimates agree to the
//! rounding of the math libraries (not bitwise: a walk near the ε shell can end one step apart).

use crate::{PointEstimate, Result, WosError, WosSolution, WosSolver, WALKS_PER_BLOCK};
use cudarc::driver::{CudaContext, LaunchConfig, PushKernelArg};
use nabla_core::geometry::{Ball, BoxDomain};
use std::time::Instant;

/// The kernel source, embedded at build time.
pub const KERNEL_SOURCE: &str = include_str!("../../../kernels/wos.cu");

/// Whether a CUDA driver, NVRTC and at least one device are present (never panics).
pub fn is_available() -> bool {
    check_libraries().is_ok() && matches!(CudaContext::device_count(), Ok(n) if n > 0)
}

/// With `candle-cuda`, candle links cudarc to libcuda and libnvrtc at build time (cudarc's
/// `dynamic-linking`): this process could not have started without them.
#[cfg(feature = "candle-cuda")]
fn check_libraries() -> Result<()> {
    Ok(())
}

/// Errors unless both dynamic libraries can be loaded; cudarc panics on first use otherwise.
#[cfg(not(feature = "candle-cuda"))]
fn check_libraries() -> Result<()> {
    // SAFETY: these only try to dlopen the libraries by name; nothing else is called.
    let driver = unsafe { cudarc::driver::sys::is_culib_present() };
    if !driver {
        return Err(WosError::Cuda(
            "no CUDA driver library (libcuda.so) was found: this machine has no NVIDIA driver; \
             run on the CPU (drop --device cuda:N)"
                .into(),
        ));
    }
    // SAFETY: as above.
    let nvrtc = unsafe { cudarc::nvrtc::sys::is_culib_present() };
    if !nvrtc {
        return Err(WosError::Cuda(
            "the NVRTC library (libnvrtc.so) was not found: install the CUDA runtime compiler \
             (e.g. the cuda-nvrtc package) or run on the CPU"
                .into(),
        ));
    }
    Ok(())
}

/// The C source the kernel is compiled from for this solver: the `#define`s of dimension,
/// domain kind, boundary and source expressions, then `kernels/wos.cu`. Errors when the
/// problem is not one the kernel handles.
pub fn kernel_source(solver: &WosSolver) -> Result<(String, Vec<f64>)> {
    let p = solver.problem();
    let d = solver.dim();
    if d != 2 && d != 3 {
        return Err(WosError::Unsupported(format!(
            "the CUDA kernel handles 2-D and 3-D domains, not {d}-D"
        )));
    }
    let opts = solver.options();
    if opts.gradient || opts.control_variates {
        return Err(WosError::Unsupported(
            "gradients and control variates run on the CPU only".into(),
        ));
    }
    let any = p.domain().as_any();
    let (kind, params) = if let Some(b) = any.downcast_ref::<BoxDomain>() {
        (
            0,
            b.min().iter().chain(b.max()).copied().collect::<Vec<_>>(),
        )
    } else if let Some(b) = any.downcast_ref::<Ball>() {
        let mut v = b.center().to_vec();
        v.push(b.radius());
        (1, v)
    } else {
        return Err(WosError::Unsupported(format!(
            "the CUDA kernel handles box and ball domains; got {:?} (run it on the CPU)",
            p.domain()
        )));
    };
    let g = p.boundary().to_c_source().ok_or_else(|| {
        WosError::Unsupported(
            "the boundary data is Rust code, not an expression; the GPU needs an expression".into(),
        )
    })?;
    let f = match p.source() {
        Some(f) => Some(f.to_c_source().ok_or_else(|| {
            WosError::Unsupported(
                "the source is Rust code, not an expression; the GPU needs an expression".into(),
            )
        })?),
        None => None,
    };
    let src = format!(
        "#define WOS_DIM {d}\n#define WOS_DOMAIN {kind}\n#define WOS_HAS_SOURCE {}\n\
         #define WOS_G(x, y, z, r, theta) ({g})\n#define WOS_F(x, y, z, r, theta) ({})\n{}",
        u8::from(f.is_some()),
        f.as_deref().unwrap_or("0.0"),
        KERNEL_SOURCE
    );
    Ok((src, params))
}

/// Runs the solver's estimator on GPU `ordinal` at `points` (flat, row-major). Same contract and
/// statistics as [`WosSolver::solve`].
pub fn solve_cuda(solver: &WosSolver, points: &[f64], ordinal: usize) -> Result<WosSolution> {
    let (src, params) = kernel_source(solver)?;
    let d = solver.dim();
    if !points.len().is_multiple_of(d) {
        return Err(WosError::DimensionMismatch(format!(
            "{} coordinates are not a whole number of {d}-D points",
            points.len()
        )));
    }
    for (i, x) in points.chunks(d).enumerate() {
        if x.iter().any(|v| !v.is_finite()) || !solver.problem().domain().contains(x) {
            return Err(WosError::PointOutside {
                index: i,
                point: x.to_vec(),
            });
        }
    }
    check_libraries()?;
    let count = CudaContext::device_count().map_err(|e| WosError::Cuda(e.to_string()))?;
    if count <= 0 {
        return Err(WosError::Cuda("the driver reports no CUDA device".into()));
    }
    if ordinal >= count as usize {
        return Err(WosError::Cuda(format!(
            "cuda:{ordinal} does not exist ({count} device(s): cuda:0..cuda:{})",
            count - 1
        )));
    }
    let cerr = |what: &str, e: &dyn std::fmt::Display| WosError::Cuda(format!("{what}: {e}"));
    let opts = solver.options();
    let n_points = points.len() / d;
    let nchunks = opts.walks.div_ceil(WALKS_PER_BLOCK);
    let threads = n_points
        .checked_mul(nchunks)
        .filter(|&t| t <= u32::MAX as usize / 2)
        .ok_or_else(|| WosError::InvalidOptions("too many points × walks for one launch".into()))?;
    let walks = u32::try_from(opts.walks)
        .map_err(|_| WosError::InvalidOptions("walks must fit in 32 bits on the GPU".into()))?;
    let max_steps = u32::try_from(opts.max_steps).unwrap_or(u32::MAX);

    let ptx = cudarc::nvrtc::compile_ptx(&src).map_err(|e| cerr("compiling kernels/wos.cu", &e))?;
    let ctx = CudaContext::new(ordinal).map_err(|e| cerr("opening the device", &e))?;
    let stream = ctx.default_stream();
    let module = ctx
        .load_module(ptx)
        .map_err(|e| cerr("loading the kernel", &e))?;
    let func = module
        .load_function("wos_kernel")
        .map_err(|e| cerr("finding wos_kernel", &e))?;

    let t0 = Instant::now();
    let d_points = stream
        .clone_htod(points)
        .map_err(|e| cerr("copying points", &e))?;
    let d_dom = stream
        .clone_htod(&params)
        .map_err(|e| cerr("copying the domain", &e))?;
    let mut d_out = stream
        .alloc_zeros::<f64>(6 * threads)
        .map_err(|e| cerr("allocating results", &e))?;
    let n_points_u = n_points as u32;
    let chunk = WALKS_PER_BLOCK as u32;
    let nchunks_u = nchunks as u32;
    let seed = opts.seed;
    let eps = opts.epsilon;
    let discard = i32::from(opts.unfinished == crate::Unfinished::Discard);
    let sqrt_sigma = solver.problem().sigma().sqrt();
    let roulette = opts.roulette_threshold;
    let block = 128u32;
    let cfg = LaunchConfig {
        grid_dim: ((threads as u32).div_ceil(block), 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut launch = stream.launch_builder(&func);
    launch
        .arg(&d_points)
        .arg(&n_points_u)
        .arg(&walks)
        .arg(&chunk)
        .arg(&nchunks_u)
        .arg(&seed)
        .arg(&d_dom)
        .arg(&eps)
        .arg(&max_steps)
        .arg(&discard)
        .arg(&sqrt_sigma)
        .arg(&roulette)
        .arg(&mut d_out);
    // SAFETY: the argument list matches wos_kernel's signature in kernels/wos.cu, and the
    // buffers hold n_points·d points, the domain parameters and 6 doubles per thread.
    unsafe { launch.launch(cfg) }.map_err(|e| cerr("launching wos_kernel", &e))?;
    let out = stream
        .clone_dtoh(&d_out)
        .map_err(|e| cerr("copying results", &e))?;
    let seconds = t0.elapsed().as_secs_f64();

    let mut estimates = Vec::with_capacity(n_points);
    let (mut total_walks, mut total_steps) = (0u64, 0u64);
    for p in 0..n_points {
        let (mut n, mut mean, mut m2, mut steps, mut run, mut unf) = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        for c in 0..nchunks {
            let o = &out[6 * (p * nchunks + c)..6 * (p * nchunks + c + 1)];
            let (bn, bmean, bm2) = (o[0], o[1], o[2]);
            if bn > 0.0 {
                if n == 0.0 {
                    (n, mean, m2) = (bn, bmean, bm2);
                } else {
                    let tot = n + bn;
                    let dlt = bmean - mean;
                    mean += dlt * bn / tot;
                    m2 += bm2 + dlt * dlt * n * bn / tot;
                    n = tot;
                }
            }
            steps += o[3];
            run += o[4];
            unf += o[5];
        }
        if !mean.is_finite() {
            return Err(WosError::NonFinite {
                index: p,
                point: points[p * d..(p + 1) * d].to_vec(),
            });
        }
        let var = if n > 1.0 { m2 / (n - 1.0) } else { 0.0 };
        total_walks += run as u64;
        total_steps += steps as u64;
        estimates.push(PointEstimate {
            value: mean,
            variance: var,
            stderr: if n > 0.0 { (var / n).sqrt() } else { f64::NAN },
            mean_steps: if run > 0.0 { steps / run } else { 0.0 },
            walks: n as usize,
            unfinished: unf as usize,
            gradient: None,
            gradient_stderr: None,
        });
    }
    Ok(WosSolution {
        estimates,
        total_walks,
        total_steps,
        seconds,
    })
}
