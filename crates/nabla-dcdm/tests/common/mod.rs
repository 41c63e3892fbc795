//! What the DCDM integration tests share.

use nabla_dcdm::DcdmConfig;

/// A small DCDM run on 16² (60 Lanczos steps, 96 samples, 150 training steps) whose training
/// set goes to `dir/set.h5`: trains in seconds and still gives a network worth testing.
pub fn tiny_config(dir: &std::path::Path) -> DcdmConfig {
    let toml = format!(
        r#"
task = "dcdm"
grid = "16x16"
[data]
file = "{}"
lanczos_steps = 60
samples = 96
[model]
channels = 8
levels = 2
convs = 0
[train]
steps = 150
batch_size = 8
lr = 1e-3
loss = "energy"
validation = 8
log_every = 50
checkpoint_every = 0
progress = false
[eval]
rhs = 1
"#,
        dir.join("set.h5").display()
    );
    toml::from_str(&toml).unwrap()
}
