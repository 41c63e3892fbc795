//! Compute-device selection for the learning layer: `cpu` or `cuda:N`, over candle.
//!
//! There is one device type in every nabla signature: [`Device`], candle's own (re-exported
//! here), on which tensors live. A run config names its device as a string; [`DeviceKind`]
//! parses and validates it (so a typo is an error before any work starts) and
//! [`DeviceKind::open`] (or [`open_device`]) opens it once for the whole run. Asking for CUDA
//! in a build without the `candle-cuda` feature, or on a machine without a GPU or driver, is a
//! [`DeviceError`], never a panic.
//!
//! ```
//! use nabla_core::device::{open_device, Device, DeviceKind};
//! let kind: DeviceKind = "cpu".parse().unwrap();
//! let dev: Device = kind.open().unwrap();
//! assert!(dev.is_cpu());
//! assert_eq!(DeviceKind::of(&dev).to_string(), "cpu");
//! assert!("cuda:x".parse::<DeviceKind>().is_err());
//! // Without the `candle-cuda` feature (or without a GPU), opening CUDA is a clear error.
//! if !nabla_core::device::cuda_compiled() {
//!     assert!(open_device("cuda:0").is_err());
//! }
//! ```

use std::fmt;
use std::str::FromStr;

/// Errors raised while parsing or opening a device.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The device string is neither `cpu` nor `cuda:N`.
    #[error("invalid device '{}': expected 'cpu' or 'cuda:N' (for example 'cuda:0')", crate::text::one_line(.0, 60))]
    Invalid(String),
    /// CUDA was requested but this build has no CUDA support.
    #[error(
        "device '{0}' needs CUDA, but nabla was built without it: rebuild with \
         `--features candle-cuda` (needs the CUDA toolkit, nvcc) or use 'cpu'"
    )]
    NotCompiled(String),
    /// CUDA support is compiled in but the device could not be opened (no GPU, no driver, bad
    /// ordinal).
    #[error("cannot open device '{device}': {} (use 'cpu', or check the GPU and driver with nvidia-smi)", crate::text::one_line(.reason, 400))]
    Unavailable {
        /// The device that was asked for.
        device: String,
        /// What candle / the CUDA driver reported.
        reason: String,
    },
}

/// Which device to run on, as written in a config or on the command line: `cpu` or `cuda:N`.
///
/// Parsing only checks the syntax; [`DeviceKind::open`] checks that the device exists.
/// Serializes as its string form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DeviceKind {
    /// The host CPU (candle's CPU backend, multi-threaded).
    #[default]
    Cpu,
    /// The NVIDIA GPU with this ordinal (candle's CUDA backend, feature `candle-cuda`).
    Cuda(usize),
}

impl FromStr for DeviceKind {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("cpu") {
            return Ok(DeviceKind::Cpu);
        }
        if t.eq_ignore_ascii_case("cuda") {
            return Ok(DeviceKind::Cuda(0));
        }
        if let Some(rest) = t.strip_prefix("cuda:").or_else(|| t.strip_prefix("CUDA:")) {
            if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(n) = rest.parse::<usize>() {
                    return Ok(DeviceKind::Cuda(n));
                }
            }
        }
        Err(DeviceError::Invalid(s.to_string()))
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceKind::Cpu => write!(f, "cpu"),
            DeviceKind::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl serde::Serialize for DeviceKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for DeviceKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether this build has candle's CUDA backend (the `candle-cuda` feature).
pub fn cuda_compiled() -> bool {
    cfg!(feature = "candle-cuda")
}

/// The compute device tensors live on: candle's device, the one `Device` of every nabla
/// signature. Open it once per run and clone it (cheap): two separately opened CUDA devices
/// are different devices to candle.
pub use candle_core::Device;

/// Parses `cpu` / `cuda:N` and opens that device.
pub fn open_device(spec: &str) -> Result<Device, DeviceError> {
    spec.parse::<DeviceKind>()?.open()
}

impl DeviceKind {
    /// Opens the device. CUDA without the `candle-cuda` feature, or with no usable GPU or
    /// driver, is an error; a panic inside the CUDA libraries is caught and reported as one.
    pub fn open(self) -> Result<Device, DeviceError> {
        match self {
            DeviceKind::Cpu => Ok(Device::Cpu),
            DeviceKind::Cuda(ordinal) => {
                if !cuda_compiled() {
                    return Err(DeviceError::NotCompiled(self.to_string()));
                }
                let opened = std::panic::catch_unwind(|| Device::new_cuda(ordinal));
                match opened {
                    Ok(Ok(device)) => Ok(device),
                    Ok(Err(e)) => Err(DeviceError::Unavailable {
                        device: self.to_string(),
                        reason: e.to_string(),
                    }),
                    Err(panic) => {
                        let reason = panic
                            .downcast_ref::<String>()
                            .cloned()
                            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                            .unwrap_or_else(|| "the CUDA driver library failed".to_string());
                        Err(DeviceError::Unavailable {
                            device: self.to_string(),
                            reason,
                        })
                    }
                }
            }
        }
    }

    /// The kind of an opened device (`cpu`, `cuda:N`; other candle backends count as `cpu`).
    pub fn of(device: &Device) -> Self {
        match device.location() {
            candle_core::DeviceLocation::Cuda { gpu_id } => DeviceKind::Cuda(gpu_id),
            _ => DeviceKind::Cpu,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cpu_and_cuda() {
        assert_eq!("cpu".parse::<DeviceKind>().unwrap(), DeviceKind::Cpu);
        assert_eq!(" CPU ".parse::<DeviceKind>().unwrap(), DeviceKind::Cpu);
        assert_eq!("cuda:3".parse::<DeviceKind>().unwrap(), DeviceKind::Cuda(3));
        assert_eq!("cuda".parse::<DeviceKind>().unwrap(), DeviceKind::Cuda(0));
        for bad in ["", "gpu", "cuda:", "cuda:-1", "cuda:1x", "cuda:+1", "metal"] {
            let e = bad.parse::<DeviceKind>().unwrap_err();
            assert!(
                e.to_string().contains("expected 'cpu' or 'cuda:N'"),
                "{bad}: {e}"
            );
        }
        assert_eq!(DeviceKind::Cuda(2).to_string(), "cuda:2");
    }

    #[test]
    fn serde_round_trip_as_string() {
        let k: DeviceKind = serde_json::from_str("\"cuda:1\"").unwrap();
        assert_eq!(k, DeviceKind::Cuda(1));
        assert_eq!(serde_json::to_string(&DeviceKind::Cpu).unwrap(), "\"cpu\"");
        assert!(serde_json::from_str::<DeviceKind>("\"tpu\"").is_err());
    }

    #[test]
    fn cuda_without_support_is_an_error_not_a_panic() {
        assert!(open_device("cpu").unwrap().is_cpu());
        if !cuda_compiled() {
            let e = open_device("cuda:0").unwrap_err();
            assert!(matches!(e, DeviceError::NotCompiled(_)));
            assert!(e.to_string().contains("candle-cuda"), "{e}");
        } else {
            // With CUDA compiled in, an absurd ordinal must still be an error.
            assert!(open_device("cuda:999").is_err());
        }
    }
}
