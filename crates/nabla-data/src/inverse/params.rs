//! PDE parameters carried in PDEInvBench file names (`2D_diff-react_Du=0.1_Dv=0.2_k=0.05.h5`,
//! `1D_KdV_delta=2.5.h5`, `sample_0012.h5`), the PDE families that use them, and the
//! evaluation splits by parameter range.

use std::path::Path;

use crate::{DataError, Result};

/// The PDE families of the inverse-problem data sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdeFamily {
    /// 2-D FitzHugh–Nagumo reaction–diffusion, parameters `k`, `Du`, `Dv`; per-seed layout.
    ReactionDiffusion2d,
    /// 1-D Korteweg–de Vries u_t + u u_x + δ² u_xxx = 0, parameter `delta`; `tensor` layout.
    Kdv1d,
    /// 2-D Darcy flow −∇·(a∇u) = 1; the coefficient field is the parameter (`coeff`/`sol`).
    Darcy2d,
}

impl PdeFamily {
    /// The file-name prefix nabla writes (`2D_diff-react`, `1D_KdV`, `sample`).
    pub fn prefix(self) -> &'static str {
        match self {
            Self::ReactionDiffusion2d => "2D_diff-react",
            Self::Kdv1d => "1D_KdV",
            Self::Darcy2d => "sample",
        }
    }

    /// A human-readable name.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ReactionDiffusion2d => "2-D reaction-diffusion (FitzHugh-Nagumo)",
            Self::Kdv1d => "1-D Korteweg-de Vries",
            Self::Darcy2d => "2-D Darcy flow",
        }
    }

    /// The PDE parameters of the family, in the order nabla writes them in file names.
    pub fn parameters(self) -> &'static [&'static str] {
        match self {
            Self::ReactionDiffusion2d => &["Du", "Dv", "k"],
            Self::Kdv1d => &["delta"],
            Self::Darcy2d => &[],
        }
    }

    /// Other `name=value` entries a file name may carry that are not PDE parameters
    /// (PDEInvBench's KdV names carry the initial-condition index `ic`).
    pub fn extra_names(self) -> &'static [&'static str] {
        match self {
            Self::Kdv1d => &["ic"],
            _ => &[],
        }
    }

    /// The family a file name belongs to, from its prefix or, for PDEInvBench's bare names
    /// (`Du=0.1_Dv=0.2_k=0.05.h5`, `delta=3.5_ic=42.h5`), from its parameter names.
    fn from_name(name: &ParamFileName) -> Option<Self> {
        let prefix = name.prefix.to_ascii_lowercase();
        if prefix.contains("diff-react") || prefix.contains("reaction") {
            return Some(Self::ReactionDiffusion2d);
        }
        if prefix.contains("kdv") {
            return Some(Self::Kdv1d);
        }
        if prefix == "sample" || prefix.starts_with("sample_") {
            return Some(Self::Darcy2d);
        }
        let has = |p: &str| name.values.iter().any(|(n, _)| n == p);
        if has("Du") || has("Dv") || has("k") {
            Some(Self::ReactionDiffusion2d)
        } else if has("delta") {
            Some(Self::Kdv1d)
        } else {
            None
        }
    }
}

/// A parsed data-set file name: the prefix (the `_`-separated tokens before the first
/// `name=value`) and the `name=value` pairs in file order.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamFileName {
    /// The tokens before the first `name=value` (e.g. `2D_diff-react`); may be empty.
    pub prefix: String,
    /// The `name=value` pairs, values as written.
    pub values: Vec<(String, f64)>,
    /// The family the name belongs to.
    pub family: PdeFamily,
}

impl ParamFileName {
    /// The value of `name`, if the file name carries it.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.values.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }

    /// The PDE parameters only (without entries such as `ic`), in the family's order.
    pub fn parameters(&self) -> Vec<(String, f64)> {
        self.family
            .parameters()
            .iter()
            .filter_map(|p| self.get(p).map(|v| (p.to_string(), v)))
            .collect()
    }
}

/// Parses the PDE parameters out of a data-set file name (`.h5` or `.hdf5`).
///
/// The stem is split at `_`; tokens of the form `name=value` are parameters (the value a
/// finite number), the tokens before the first one are the prefix. The family comes from the
/// prefix or the parameter names ([`PdeFamily`]); every name must be one the family knows and
/// every one of its parameters must be present, so a typo is an error naming the file, the
/// unknown name and the names allowed. Darcy names (`sample_0012.h5`) carry no parameters.
pub fn parse_file_name(path: &Path) -> Result<ParamFileName> {
    let bad = |reason: String| DataError::InvalidInput {
        path: path.to_path_buf(),
        reason,
    };
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| bad("the file name is not valid UTF-8".into()))?;
    let stem = file_name
        .strip_suffix(".h5")
        .or_else(|| file_name.strip_suffix(".hdf5"))
        .ok_or_else(|| bad("a data-set file name must end in .h5 or .hdf5".into()))?;
    let mut prefix: Vec<&str> = Vec::new();
    let mut values: Vec<(String, f64)> = Vec::new();
    for token in stem.split('_') {
        match token.split_once('=') {
            None if values.is_empty() => prefix.push(token),
            None => {
                return Err(bad(format!(
                    "file name token '{token}' after the parameters is not of the form name=value"
                )))
            }
            Some((name, value)) => {
                let v: f64 = value.parse().map_err(|_| {
                    bad(format!(
                        "file name parameter '{name}' has value '{value}', not a number"
                    ))
                })?;
                if !v.is_finite() {
                    return Err(bad(format!(
                        "file name parameter '{name}' is {value}, not finite"
                    )));
                }
                if values.iter().any(|(n, _)| n == name) {
                    return Err(bad(format!("file name parameter '{name}' appears twice")));
                }
                values.push((name.to_string(), v));
            }
        }
    }
    let mut parsed = ParamFileName {
        prefix: prefix.join("_"),
        values,
        family: PdeFamily::Darcy2d,
    };
    parsed.family = PdeFamily::from_name(&parsed).ok_or_else(|| {
        bad(format!(
            "cannot tell the PDE from the file name: expected a prefix 2D_diff-react, 1D_KdV or \
             sample, or parameters Du/Dv/k or delta; found prefix '{}' and parameters [{}]",
            parsed.prefix,
            parsed
                .values
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let family = parsed.family;
    let allowed: Vec<&str> = family
        .parameters()
        .iter()
        .chain(family.extra_names())
        .copied()
        .collect();
    for (name, _) in &parsed.values {
        if !allowed.contains(&name.as_str()) {
            return Err(bad(format!(
                "unknown parameter '{name}' in the file name; {} files take {}",
                family.describe(),
                if allowed.is_empty() {
                    "no parameters".to_string()
                } else {
                    allowed.join(", ")
                }
            )));
        }
    }
    for p in family.parameters() {
        if parsed.get(p).is_none() {
            return Err(bad(format!(
                "the file name lacks parameter '{p}' ({} files name {})",
                family.describe(),
                family.parameters().join(", ")
            )));
        }
    }
    Ok(parsed)
}

/// What [`scan_file_name`] could read from a file name: never an error, whatever the name.
#[derive(Debug, Clone, PartialEq)]
pub struct NameScan {
    /// The `_`-separated tokens before the first parameter (e.g. `1D_KdV`); may be empty.
    pub prefix: String,
    /// The PDE family the name points to, if any ([`PdeFamily`]).
    pub family: Option<PdeFamily>,
    /// The parameters read, in file order: `name=value` tokens and PDEBench's `name<number>`
    /// tokens (`Nu0.001`, `beta1.0`), values finite.
    pub values: Vec<(String, f64)>,
    /// The tokens after the prefix that are not parameters (`train`, `100`), and parameters
    /// whose value is not a finite number or that repeat, each with the reason in parentheses.
    pub not_parsed: Vec<String>,
}

impl NameScan {
    /// Notes on parameters that do not fit the family: names it does not take and parameters
    /// it needs that are missing (empty when the family is unknown).
    pub fn notes(&self) -> Vec<String> {
        let Some(family) = self.family else {
            return Vec::new();
        };
        let allowed: Vec<&str> = family
            .parameters()
            .iter()
            .chain(family.extra_names())
            .copied()
            .collect();
        let mut notes = Vec::new();
        for (name, _) in &self.values {
            if !allowed.contains(&name.as_str()) {
                notes.push(format!(
                    "file name parameter '{name}' is not one {} files take ({})",
                    family.describe(),
                    if allowed.is_empty() {
                        "they take none".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ));
            }
        }
        for p in family.parameters() {
            if !self.values.iter().any(|(n, _)| n == p) {
                notes.push(format!(
                    "the file name lacks parameter '{p}' ({} files name {})",
                    family.describe(),
                    family.parameters().join(", ")
                ));
            }
        }
        notes
    }
}

/// Reads what it can out of any file name, for describing a file (`nabla inspect`): unlike
/// [`parse_file_name`] it never fails. The stem (the name without `.h5`, `.hdf5`, `.hdf` or
/// `.he5`, else without its last extension) is split at `_`; `name=value` tokens with a finite
/// number are parameters, and so are PDEBench's `name<number>` tokens (`Nu0.001`, `M0.1`;
/// before the first parameter only with a name of two or more letters or a decimal point in
/// the number, so that `v2` stays part of a name). The tokens before the first parameter are
/// the prefix; every other token is listed in [`NameScan::not_parsed`].
pub fn scan_file_name(path: &Path) -> NameScan {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = [".h5", ".hdf5", ".hdf", ".he5"]
        .iter()
        .find_map(|ext| file_name.strip_suffix(ext))
        .map(str::to_string)
        .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut prefix: Vec<&str> = Vec::new();
    let mut values: Vec<(String, f64)> = Vec::new();
    let mut not_parsed: Vec<String> = Vec::new();
    let mut in_prefix = true;
    for token in stem.split('_') {
        let (name, value) = match token.split_once('=') {
            Some(nv) => nv,
            None => match split_glued(token) {
                // `Nu0.001` is a parameter after the prefix; inside it only with a name of two
                // or more letters or a decimal point, so that `v2` stays part of a name.
                Some(nv) if !in_prefix || nv.0.len() >= 2 || nv.1.contains('.') => nv,
                _ => {
                    if in_prefix {
                        prefix.push(token);
                    } else if !token.is_empty() {
                        not_parsed.push(token.to_string());
                    }
                    continue;
                }
            },
        };
        in_prefix = false;
        let problem = match value.parse::<f64>() {
            _ if name.is_empty() => Some("no parameter name".to_string()),
            Ok(v) if v.is_finite() => {
                if values.iter().any(|(n, _)| n == name) {
                    Some(format!("'{name}' appears twice"))
                } else {
                    values.push((name.to_string(), v));
                    None
                }
            }
            Ok(_) => Some("not finite".to_string()),
            Err(_) => Some("not a number".to_string()),
        };
        if let Some(why) = problem {
            not_parsed.push(format!("{token} ({why})"));
        }
    }
    let probe = ParamFileName {
        prefix: prefix.join("_"),
        values,
        family: PdeFamily::Darcy2d,
    };
    let family = PdeFamily::from_name(&probe);
    NameScan {
        prefix: probe.prefix,
        family,
        values: probe.values,
        not_parsed,
    }
}

/// Splits a PDEBench-style token `Nu0.001` / `beta1.0` into its name (ASCII letters only) and
/// its number (starting with a digit or `.`), if it has that form.
fn split_glued(token: &str) -> Option<(&str, &str)> {
    let at = token.find(|c: char| c.is_ascii_digit() || c == '.')?;
    let (name, number) = token.split_at(at);
    let ok = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphabetic())
        && number.parse::<f64>().is_ok_and(f64::is_finite)
        && number
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.');
    ok.then_some((name, number))
}

/// The file name nabla writes for a parameter set: `PREFIX_name=value_..._name=value.h5`,
/// values in Rust's shortest round-trip form (so parsing the name gives the same f64 back).
pub fn format_file_name(family: PdeFamily, params: &[(&str, f64)]) -> String {
    let mut name = family.prefix().to_string();
    for (n, v) in params {
        name.push_str(&format!("_{n}={v}"));
    }
    name.push_str(".h5");
    name
}

/// Rounds `v` to `digits` significant decimal digits, so that sampled parameters have short,
/// exact file names.
pub fn round_significant(v: f64, digits: usize) -> f64 {
    format!("{:.*e}", digits.saturating_sub(1), v)
        .parse()
        .unwrap_or(v)
}

/// The evaluation splits of PDEInvBench, as directory names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    /// `train/` (in-distribution parameters).
    Train,
    /// `validation/` (in-distribution).
    Validation,
    /// `test/` (in-distribution).
    Test,
    /// `out_of_distribution/`: parameters in the middle range excluded from training.
    OutOfDistribution,
    /// `out_of_distribution_extreme/`: parameters at the ends of the range.
    OutOfDistributionExtreme,
}

impl Split {
    /// All splits, in directory order.
    pub const ALL: [Split; 5] = [
        Split::Train,
        Split::Validation,
        Split::Test,
        Split::OutOfDistribution,
        Split::OutOfDistributionExtreme,
    ];

    /// The directory name.
    pub fn dir_name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Validation => "validation",
            Self::Test => "test",
            Self::OutOfDistribution => "out_of_distribution",
            Self::OutOfDistributionExtreme => "out_of_distribution_extreme",
        }
    }

    /// The split a directory name denotes.
    pub fn from_dir_name(name: &str) -> Option<Split> {
        Self::ALL.into_iter().find(|s| s.dir_name() == name)
    }

    /// Which parameter range the split draws from.
    pub fn range_kind(self) -> RangeKind {
        match self {
            Self::Train | Self::Validation | Self::Test => RangeKind::InDistribution,
            Self::OutOfDistribution => RangeKind::OutOfDistribution,
            Self::OutOfDistributionExtreme => RangeKind::Extreme,
        }
    }
}

/// In-distribution, out-of-distribution (middle) or extreme parameter range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeKind {
    /// Training, validation and (ID) test parameters.
    InDistribution,
    /// The middle range excluded from training.
    OutOfDistribution,
    /// The ends of the range.
    Extreme,
}

/// The ranges of one parameter: a union of closed intervals per range kind.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRanges {
    /// The parameter's name (as in file names).
    pub name: &'static str,
    /// In-distribution intervals.
    pub id: Vec<(f64, f64)>,
    /// Out-of-distribution (middle) intervals.
    pub ood: Vec<(f64, f64)>,
    /// Extreme intervals.
    pub extreme: Vec<(f64, f64)>,
}

impl ParamRanges {
    /// The intervals of `kind`.
    pub fn intervals(&self, kind: RangeKind) -> &[(f64, f64)] {
        match kind {
            RangeKind::InDistribution => &self.id,
            RangeKind::OutOfDistribution => &self.ood,
            RangeKind::Extreme => &self.extreme,
        }
    }

    /// The smallest interval containing every range.
    pub fn full(&self) -> (f64, f64) {
        let all = self.id.iter().chain(&self.ood).chain(&self.extreme);
        all.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &(a, b)| {
            (lo.min(a), hi.max(b))
        })
    }

    /// Maps `u` in [0, 1) uniformly onto the union of the intervals of `kind` (by length).
    pub fn sample(&self, kind: RangeKind, u: f64) -> f64 {
        let iv = self.intervals(kind);
        let total: f64 = iv.iter().map(|(a, b)| b - a).sum();
        let mut t = u.clamp(0.0, 1.0) * total;
        for &(a, b) in iv {
            if t <= b - a {
                return a + t;
            }
            t -= b - a;
        }
        iv.last().map_or(0.0, |&(_, b)| b)
    }
}

/// PDEInvBench's reaction–diffusion ranges (DATA_GUIDE.md of ASK-Berkeley/PDEInvBench,
/// section 4a): ID k ∈ [0.01, 0.04] ∪ [0.08, 0.09], Du, Dv ∈ [0.08, 0.2] ∪ [0.4, 0.49];
/// OOD k ∈ [0.04, 0.08], Du, Dv ∈ [0.2, 0.4]; extreme k ∈ [0.001, 0.01] ∪ [0.09, 0.1],
/// Du, Dv ∈ [0.02, 0.08] ∪ [0.49, 0.5].
pub fn reaction_diffusion_ranges() -> Vec<ParamRanges> {
    let d = |name| ParamRanges {
        name,
        id: vec![(0.08, 0.2), (0.4, 0.49)],
        ood: vec![(0.2, 0.4)],
        extreme: vec![(0.02, 0.08), (0.49, 0.5)],
    };
    vec![
        d("Du"),
        d("Dv"),
        ParamRanges {
            name: "k",
            id: vec![(0.01, 0.04), (0.08, 0.09)],
            ood: vec![(0.04, 0.08)],
            extreme: vec![(0.001, 0.01), (0.09, 0.1)],
        },
    ]
}

/// PDEInvBench's KdV ranges (DATA_GUIDE.md, section 4d): ID δ ∈ [1.22, 2.48] ∪ [3.32, 4.58],
/// OOD δ ∈ [2.48, 3.32], extreme δ ∈ [0.8, 1.22] ∪ [4.58, 5].
pub fn kdv_ranges() -> Vec<ParamRanges> {
    vec![ParamRanges {
        name: "delta",
        id: vec![(1.22, 2.48), (3.32, 4.58)],
        ood: vec![(2.48, 3.32)],
        extreme: vec![(0.8, 1.22), (4.58, 5.0)],
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_of_both_conventions() {
        let p = parse_file_name(Path::new("d/2D_diff-react_Du=0.1_Dv=0.2_k=0.05.h5")).unwrap();
        assert_eq!(p.family, PdeFamily::ReactionDiffusion2d);
        assert_eq!(p.prefix, "2D_diff-react");
        assert_eq!(
            p.parameters(),
            vec![("Du".into(), 0.1), ("Dv".into(), 0.2), ("k".into(), 0.05)]
        );
        let p = parse_file_name(Path::new("Du=0.1_Dv=0.2_k=0.05.h5")).unwrap();
        assert_eq!(
            (p.family, p.get("k")),
            (PdeFamily::ReactionDiffusion2d, Some(0.05))
        );
        let p = parse_file_name(Path::new("delta=3.5_ic=42.h5")).unwrap();
        assert_eq!(
            (p.family, p.get("delta"), p.get("ic")),
            (PdeFamily::Kdv1d, Some(3.5), Some(42.0))
        );
        assert_eq!(p.parameters(), vec![("delta".into(), 3.5)]);
        let p = parse_file_name(Path::new("1D_KdV_delta=2.5.hdf5")).unwrap();
        assert_eq!(p.family, PdeFamily::Kdv1d);
        let p = parse_file_name(Path::new("sample_0012.h5")).unwrap();
        assert_eq!((p.family, p.values.len()), (PdeFamily::Darcy2d, 0));
    }

    #[test]
    fn bad_names_are_errors_naming_file_and_problem() {
        let e = |name: &str| parse_file_name(Path::new(name)).unwrap_err().to_string();
        let m = e("2D_diff-react_Du=0.1_Dw=0.2_k=0.05.h5");
        assert!(
            m.starts_with("2D_diff-react_Du=0.1_Dw=0.2_k=0.05.h5: "),
            "{m}"
        );
        assert!(
            m.contains("unknown parameter 'Dw'") && m.contains("Du, Dv, k"),
            "{m}"
        );
        let m = e("1D_KdV_delta=abc.h5");
        assert!(m.contains("'delta' has value 'abc', not a number"), "{m}");
        let m = e("1D_KdV_nu=0.1.h5");
        assert!(m.contains("unknown parameter 'nu'"), "{m}");
        let m = e("2D_diff-react_Du=0.1_k=0.05.h5");
        assert!(m.contains("lacks parameter 'Dv'"), "{m}");
        let m = e("foo_bar=1.h5");
        assert!(m.contains("cannot tell the PDE"), "{m}");
        let m = e("1D_KdV_delta=2.txt");
        assert!(m.contains("must end in .h5"), "{m}");
        let m = e("1D_KdV_delta=inf.h5");
        assert!(m.contains("not finite"), "{m}");
    }

    #[test]
    fn names_round_trip_and_ranges_sample_their_union() {
        let v = round_significant(0.052_341_789_123, 6);
        assert_eq!(v, 0.0523418);
        let name = format_file_name(
            PdeFamily::ReactionDiffusion2d,
            &[("Du", 0.1), ("Dv", 0.25), ("k", v)],
        );
        assert_eq!(name, "2D_diff-react_Du=0.1_Dv=0.25_k=0.0523418.h5");
        assert_eq!(parse_file_name(Path::new(&name)).unwrap().get("k"), Some(v));
        let r = &kdv_ranges()[0];
        assert_eq!(r.full(), (0.8, 5.0));
        assert_eq!(r.sample(RangeKind::InDistribution, 0.0), 1.22);
        assert!((r.sample(RangeKind::InDistribution, 0.25) - 1.85).abs() < 1e-12);
        assert!((r.sample(RangeKind::InDistribution, 0.75) - 3.95).abs() < 1e-12);
        assert_eq!(r.sample(RangeKind::InDistribution, 1.0), 4.58);
        for u in [0.0, 0.3, 0.9] {
            let x = r.sample(RangeKind::OutOfDistribution, u);
            assert!((2.48..=3.32).contains(&x));
        }
        assert_eq!(
            Split::from_dir_name("out_of_distribution_extreme"),
            Some(Split::OutOfDistributionExtreme)
        );
    }
}
