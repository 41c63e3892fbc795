//! Named, ordered model parameters and their safetensors files.

use crate::{NnError, Result};
use candle_core::{DType, Device, Tensor, Var};
use std::collections::HashMap;
use std::path::Path;

/// The parameters of a model: named candle [`Var`]s in a fixed order, split into trainable ones
/// (handed to optimizers) and frozen buffers (saved and loaded with the model, never trained,
/// e.g. the random matrix of a Fourier-feature layer).
///
/// The order is the order of creation; optimizers that flatten the parameters (L-BFGS) and
/// checkpoints rely on it, so it never depends on a hash map.
#[derive(Clone, Debug, Default)]
pub struct ParamStore {
    trainable: Vec<(String, Var)>,
    frozen: Vec<(String, Var)>,
    metadata: Vec<(String, String)>,
}

/// Checkpoint metadata key naming the task that wrote a model (`"pinn"`, `"operator"`, …).
pub const META_TASK: &str = "nabla.task";
/// Checkpoint metadata key holding the run's resolved config as TOML: with [`META_TASK`], what
/// rebuilds the model from the checkpoint alone.
pub const META_CONFIG: &str = "nabla.config";
/// Checkpoint metadata key of the self-description format version ([`MODEL_FORMAT`]).
pub const META_FORMAT: &str = "nabla.model_format";
/// Version of the self-description written under [`META_FORMAT`]. Checkpoints without it were
/// written before models described themselves; their run's `config.toml` describes them.
pub const MODEL_FORMAT: &str = "1";

impl ParamStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn check_new(&self, name: &str) -> Result<()> {
        if self.get(name).is_some() {
            return Err(NnError::invalid(
                "parameter name",
                format!("'{name}' is used twice"),
            ));
        }
        Ok(())
    }

    /// Adds a trainable parameter with the given initial value and returns its [`Var`].
    pub fn add(&mut self, name: impl Into<String>, init: &Tensor) -> Result<Var> {
        let name = name.into();
        self.check_new(&name)?;
        let var = Var::from_tensor(init)?;
        self.trainable.push((name, var.clone()));
        Ok(var)
    }

    /// Adds a frozen buffer (saved and loaded, never trained) and returns its [`Var`].
    pub fn add_frozen(&mut self, name: impl Into<String>, init: &Tensor) -> Result<Var> {
        let name = name.into();
        self.check_new(&name)?;
        let var = Var::from_tensor(init)?;
        self.frozen.push((name, var.clone()));
        Ok(var)
    }

    /// Adopts every variable of a candle-nn `VarMap` (for layers built with a `VarBuilder`), in
    /// name order, as trainable parameters.
    pub fn extend_from_var_map(&mut self, map: &candle_nn::VarMap) -> Result<()> {
        let data = map
            .data()
            .lock()
            .map_err(|_| NnError::invalid("VarMap", "lock poisoned"))?;
        let mut names: Vec<&String> = data.keys().collect();
        names.sort();
        for name in names {
            self.check_new(name)?;
            self.trainable.push((name.clone(), data[name].clone()));
        }
        Ok(())
    }

    /// Adopts every variable of `other` (sharing storage, not copying) under `prefix.NAME`,
    /// keeping its trainable/frozen split and order: how composite models (DeepONet's branch and
    /// trunk) own their parts' parameters.
    pub fn extend_prefixed(&mut self, prefix: &str, other: &ParamStore) -> Result<()> {
        for (name, var) in &other.trainable {
            let name = format!("{prefix}.{name}");
            self.check_new(&name)?;
            self.trainable.push((name, var.clone()));
        }
        for (name, var) in &other.frozen {
            let name = format!("{prefix}.{name}");
            self.check_new(&name)?;
            self.frozen.push((name, var.clone()));
        }
        Ok(())
    }

    /// Sets a string stored with the parameters in every file written from this store
    /// ([`ParamStore::save`] and training checkpoints), e.g. [`META_CONFIG`]; replaces an
    /// earlier value of the same key. Composite models set their own: [`ParamStore::extend_prefixed`]
    /// does not copy metadata.
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        match self.metadata.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.metadata.push((key, value)),
        }
    }

    /// The metadata set with [`ParamStore::set_metadata`], in the order first set.
    pub fn metadata(&self) -> &[(String, String)] {
        &self.metadata
    }

    /// The trainable parameters, in order.
    pub fn trainable(&self) -> &[(String, Var)] {
        &self.trainable
    }

    /// The frozen buffers, in order.
    pub fn frozen(&self) -> &[(String, Var)] {
        &self.frozen
    }

    /// The trainable [`Var`]s, in order (what an optimizer is built from).
    pub fn vars(&self) -> Vec<Var> {
        self.trainable.iter().map(|(_, v)| v.clone()).collect()
    }

    /// The variable called `name`, trainable or frozen.
    pub fn get(&self, name: &str) -> Option<&Var> {
        self.trainable
            .iter()
            .chain(self.frozen.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Number of trainable scalars.
    pub fn num_trainable(&self) -> usize {
        self.trainable.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// All variables (trainable then frozen) as name → tensor, for saving.
    pub fn tensors(&self) -> Vec<(String, Tensor)> {
        self.trainable
            .iter()
            .chain(self.frozen.iter())
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect()
    }

    /// Sets every variable from `tensors` (by name). Every variable must be present with its
    /// shape; values are converted to the variable's dtype and device.
    pub fn load_from(&self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        for (name, var) in self.trainable.iter().chain(self.frozen.iter()) {
            let t = tensors.get(name).ok_or_else(|| {
                NnError::invalid("weights", format!("parameter '{name}' is missing"))
            })?;
            if t.dims() != var.dims() {
                return Err(NnError::invalid(
                    "weights",
                    format!(
                        "parameter '{name}' has shape {:?}, the model expects {:?}",
                        t.dims(),
                        var.dims()
                    ),
                ));
            }
            var.set(&t.to_device(var.device())?.to_dtype(var.dtype())?)?;
        }
        Ok(())
    }

    /// Writes all variables to a safetensors file atomically (temporary name, then rename).
    /// The names are the parameter names, so candle's `VarMap::load` reads the file too.
    pub fn save(&self, path: &Path) -> Result<()> {
        let meta = (!self.metadata.is_empty()).then(|| self.metadata.iter().cloned().collect());
        write_safetensors(path, &self.tensors(), meta)
    }

    /// Loads all variables from a safetensors file written by [`ParamStore::save`] (or any file
    /// with the same names and shapes).
    pub fn load(&self, path: &Path, device: &Device) -> Result<()> {
        let (tensors, _) = read_safetensors(path, device)?;
        self.load_from(&tensors)
    }

    /// The trainable parameters flattened into one f64 vector, in order.
    pub fn flatten(&self) -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(self.num_trainable());
        for (_, v) in &self.trainable {
            out.extend(v.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?);
        }
        Ok(out)
    }

    /// Sets the trainable parameters from one flat f64 vector (the layout of
    /// [`ParamStore::flatten`]), converting to each parameter's dtype.
    pub fn set_flat(&self, flat: &[f64]) -> Result<()> {
        for (v, t) in self.split_flat(flat, "flat parameters")? {
            v.set(&t)?;
        }
        Ok(())
    }

    /// `flat` (the layout of [`ParamStore::flatten`]) cut into one tensor per trainable
    /// parameter, in its shape, dtype and device.
    fn split_flat<'p>(&'p self, flat: &[f64], what: &str) -> Result<Vec<(&'p Var, Tensor)>> {
        if flat.len() != self.num_trainable() {
            return Err(NnError::invalid(
                what,
                format!("length {} != {}", flat.len(), self.num_trainable()),
            ));
        }
        let mut off = 0;
        let mut out = Vec::with_capacity(self.trainable.len());
        for (_, v) in &self.trainable {
            let n = v.elem_count();
            let t = Tensor::from_slice(&flat[off..off + n], v.dims(), v.device())?
                .to_dtype(v.dtype())?;
            out.push((v, t));
            off += n;
        }
        Ok(out)
    }

    /// The gradient of every trainable parameter in `grads`, flattened in order as f64 (zeros
    /// for a parameter the loss does not depend on).
    pub fn flatten_grads(&self, grads: &candle_core::backprop::GradStore) -> Result<Vec<f64>> {
        let mut out = Vec::with_capacity(self.num_trainable());
        for (_, v) in &self.trainable {
            match grads.get(v.as_tensor()) {
                Some(g) => out.extend(g.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?),
                None => out.extend(std::iter::repeat_n(0.0, v.elem_count())),
            }
        }
        Ok(out)
    }
}

impl ParamStore {
    /// Replaces the gradient of every trainable parameter in `grads` by its slice of `flat`
    /// (the layout of [`ParamStore::flatten_grads`]), e.g. after summing gradients over ranks.
    pub fn set_grads_flat(
        &self,
        grads: &mut candle_core::backprop::GradStore,
        flat: &[f64],
    ) -> Result<()> {
        for (v, t) in self.split_flat(flat, "flat gradients")? {
            grads.insert(v.as_tensor(), t);
        }
        Ok(())
    }
}

/// Writes named tensors (and optional string metadata) to a safetensors file atomically.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: Option<HashMap<String, String>>,
) -> Result<()> {
    // Tensors must be contiguous and on the host for serialization.
    let host: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.to_device(&Device::Cpu)?.contiguous()?)))
        .collect::<Result<_>>()?;
    let bytes = safetensors::serialize(host.iter().map(|(n, t)| (n.as_str(), t)), metadata)
        .map_err(|e| NnError::invalid("safetensors", e.to_string()))?;
    nabla_core::atomic::check_destination(path).map_err(|e| NnError::io(path, e))?;
    nabla_core::atomic::write_atomic(path, |w| std::io::Write::write_all(w, &bytes))
        .map_err(|e| NnError::io(path, e))
}

/// The string metadata of a safetensors file (empty when it has none), without loading its
/// tensors onto a device.
pub fn read_safetensors_metadata(path: &Path) -> Result<HashMap<String, String>> {
    let bytes = std::fs::read(path).map_err(|e| NnError::io(path, e))?;
    let (_, meta) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| NnError::Checkpoint {
            path: path.to_path_buf(),
            reason: format!("not a readable safetensors file: {e}"),
        })?;
    Ok(meta.metadata().clone().unwrap_or_default())
}

/// Reads every tensor of a safetensors file onto `device`, with the file's string metadata.
pub fn read_safetensors(
    path: &Path,
    device: &Device,
) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let bytes = std::fs::read(path).map_err(|e| NnError::io(path, e))?;
    let bad = |e: String| NnError::Checkpoint {
        path: path.to_path_buf(),
        reason: format!("not a readable safetensors file: {e}"),
    };
    let (_, meta) =
        safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let tensors =
        candle_core::safetensors::load_buffer(&bytes, device).map_err(|e| bad(e.to_string()))?;
    Ok((tensors, metadata))
}
