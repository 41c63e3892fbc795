//! The Walk-on-Spheres estimator as one CUDA kernel (`kernels/wos.cu`), compiled at run time by
//! NVRTC through cudarc and launched from here (feature `cuda`).
//!
//! Supported: boxes, balls, polygons, star domains and CSG combinations of them (see
//! [`crate::gpu_source`], which writes the kernel's source), in 2-D and 3-D, Laplace, Poisson
//! and screened Poisson, boundary data and source given as [`nabla_core::field::Expr`] (they
//! are translated to C and compiled into the kernel; Rust closures cannot be). Gradients,
//! control variates and triangle meshes are CPU-only, each a one-line error here.
//!
//! Each device's context is opened once per process and each distinct kernel source is compiled
//! once per device and kept (a sequence of solves of one problem family pays NVRTC once); the
//! domain's numbers are a kernel argument, not part of the source.
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

use crate::gpu_source::{kernel_source as build_source, launch_parameters, merge_blocks};
use crate::{Result, WosError, WosSolution, WosSolver};
use cudarc::driver::{CudaContext, CudaFunction, LaunchConfig, PushKernelArg};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

pub use crate::gpu_source::KERNEL_SOURCE;

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

/// The C source the kernel is compiled from for this solver and the domain parameters it
/// reads (see [`crate::gpu_source::kernel_source`]). Errors when the problem is not one the
/// kernel handles.
pub fn kernel_source(solver: &WosSolver) -> Result<(String, Vec<f64>)> {
    let k = build_source(solver)?;
    Ok((k.source, k.domain))
}

/// Compiles this solver's kernel with NVRTC without touching a device (NVRTC needs no GPU nor
/// driver), so a problem can be checked for the GPU on a machine without one. Errors when the
/// problem has no GPU form, when `libnvrtc` is missing, or with NVRTC's log when the source
/// does not compile.
pub fn compile_only(solver: &WosSolver) -> Result<()> {
    let (src, _) = kernel_source(solver)?;
    nvrtc_present()?;
    cudarc::nvrtc::compile_ptx(&src)
        .map(|_| ())
        .map_err(|e| WosError::Cuda(format!("compiling kernels/wos.cu: {e}")))
}

#[cfg(feature = "candle-cuda")]
fn nvrtc_present() -> Result<()> {
    Ok(())
}

#[cfg(not(feature = "candle-cuda"))]
fn nvrtc_present() -> Result<()> {
    // SAFETY: only tries to dlopen the library by name.
    if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        Ok(())
    } else {
        Err(WosError::Cuda(
            "the NVRTC library (libnvrtc.so) was not found: install the CUDA runtime compiler \
             (e.g. the cuda-nvrtc package) or run on the CPU"
                .into(),
        ))
    }
}

/// Contexts by device ordinal and compiled kernels by (ordinal, source), kept for the process.
#[derive(Default)]
struct KernelCache {
    contexts: HashMap<usize, Arc<CudaContext>>,
    kernels: HashMap<(usize, String), CudaFunction>,
    compilations: usize,
}

fn cache() -> &'static Mutex<KernelCache> {
    static CACHE: OnceLock<Mutex<KernelCache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

/// How many times this process has compiled the kernel with NVRTC (one per distinct source
/// and device; repeated solves of one problem family compile once).
pub fn compilations() -> usize {
    cache().lock().map(|c| c.compilations).unwrap_or(0)
}

/// The device's context and the kernel for `src`, compiling only the first time.
fn kernel_for(ordinal: usize, src: &str) -> Result<(Arc<CudaContext>, CudaFunction)> {
    let cerr = |what: &str, e: &dyn std::fmt::Display| WosError::Cuda(format!("{what}: {e}"));
    let mut c = cache()
        .lock()
        .map_err(|_| WosError::Cuda("the kernel cache was poisoned by a panic".into()))?;
    let ctx = match c.contexts.get(&ordinal) {
        Some(ctx) => ctx.clone(),
        None => {
            let ctx = CudaContext::new(ordinal).map_err(|e| cerr("opening the device", &e))?;
            c.contexts.insert(ordinal, ctx.clone());
            ctx
        }
    };
    let key = (ordinal, src.to_string());
    if let Some(f) = c.kernels.get(&key) {
        return Ok((ctx, f.clone()));
    }
    let ptx = cudarc::nvrtc::compile_ptx(src).map_err(|e| cerr("compiling kernels/wos.cu", &e))?;
    let module = ctx
        .load_module(ptx)
        .map_err(|e| cerr("loading the kernel", &e))?;
    let func = module
        .load_function("wos_kernel")
        .map_err(|e| cerr("finding wos_kernel", &e))?;
    c.compilations += 1;
    c.kernels.insert(key, func.clone());
    Ok((ctx, func))
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
    let n_points = points.len() / d;
    let k = launch_parameters(solver, n_points)?;
    let (ctx, func) = kernel_for(ordinal, &src)?;
    let stream = ctx.default_stream();

    let t0 = Instant::now();
    let d_points = stream
        .clone_htod(points)
        .map_err(|e| cerr("copying points", &e))?;
    let d_dom = stream
        .clone_htod(&params)
        .map_err(|e| cerr("copying the domain", &e))?;
    let mut d_out = stream
        .alloc_zeros::<f64>(6 * k.threads)
        .map_err(|e| cerr("allocating results", &e))?;
    let block = 128u32;
    let cfg = LaunchConfig {
        grid_dim: ((k.threads as u32).div_ceil(block), 1, 1),
        block_dim: (block, 1, 1),
        shared_mem_bytes: 0,
    };
    let mut launch = stream.launch_builder(&func);
    launch
        .arg(&d_points)
        .arg(&k.n_points)
        .arg(&k.walks)
        .arg(&k.chunk)
        .arg(&k.nchunks)
        .arg(&k.seed)
        .arg(&d_dom)
        .arg(&k.epsilon)
        .arg(&k.max_steps)
        .arg(&k.discard_unfinished)
        .arg(&k.sqrt_sigma)
        .arg(&k.roulette)
        .arg(&mut d_out);
    // SAFETY: the argument list matches wos_kernel's signature in kernels/wos.cu, and the
    // buffers hold n_points·d points, the domain parameters and 6 doubles per thread.
    unsafe { launch.launch(cfg) }.map_err(|e| cerr("launching wos_kernel", &e))?;
    let out = stream
        .clone_dtoh(&d_out)
        .map_err(|e| cerr("copying results", &e))?;
    merge_blocks(
        &out,
        points,
        d,
        k.nchunks as usize,
        t0.elapsed().as_secs_f64(),
    )
}
