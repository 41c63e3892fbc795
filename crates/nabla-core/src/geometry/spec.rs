//! The text syntax for domains, shared by the CLI (`nabla wos --domain SPEC`) and configs.
//!
//! A spec is `KIND:KEY=VALUE;KEY=VALUE…`, lists of numbers separated by commas:
//!
//! | spec | domain |
//! |---|---|
//! | `box:min=0,0;max=1,1` | the box (0,1)², any dimension (3-D: `min=0,0,0;max=1,1,1`) |
//! | `box:dim=100` | the unit cube (0,1)ᵈ (`min`/`max` may be one number each, repeated) |
//! | `ball:center=0,0;radius=1` | the ball, any dimension (`radius` defaults to 1) |
//! | `ball:dim=1000` | the unit ball in ℝᵈ centred at the origin (`center` one number or d) |
//! | `polygon:vertices=0,0,2,0,2,1,0,1` | a simple polygon, vertices as x,y pairs in order |
//! | `lshape` | the L-shape (−1,1)² \ [0,1)², i.e. `polygon:vertices=-1,-1,1,-1,1,0,0,0,0,1,-1,1` |
//! | `star:c1=0.1;c2=-0.05` | r(θ) = 1 + c₁ cos 4θ + c₂ cos 8θ (the WoS-NO family) |
//! | `star:r0=1;cos=3:0.2,5:0.05;sin=2:0.1;center=0,0` | r(θ) = r₀ + Σ aₖ cos kθ + Σ bₖ sin kθ |
//! | `mesh:bunny.obj` | the inside of a closed triangle mesh (3-D; the rest of the spec is the path) |
//! | `union(A \| B \| …)` | A ∪ B ∪ … |
//! | `intersection(A \| B \| …)` | A ∩ B ∩ … |
//! | `difference(A \| B \| …)` | A \ (B ∪ …) |
//!
//! CSG operands are separated by `|` and nest: `difference(union(ball:center=0,0 |
//! ball:center=1,0) | box:min=0.4,-0.1;max=0.6,0.1)`. Whitespace around tokens is ignored.
//!
//! ```
//! use nabla_core::geometry::{parse_domain, Domain};
//! let d = parse_domain("difference(box:min=-1,-1;max=1,1 | ball:center=0,0;radius=0.5)").unwrap();
//! assert!(d.contains(&[0.75, 0.0]) && !d.contains(&[0.0, 0.0]));
//! assert!(parse_domain("ball:centre=0,0").unwrap_err().to_string().contains("centre"));
//! ```

use super::{Ball, BoxDomain, Csg, CsgOp, Domain, Mesh, Polygon, Star};
use crate::CoreError;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Parses a domain spec (syntax in the [module docs](self)). Errors are one line naming the
/// spec and the problem.
pub fn parse_domain(spec: &str) -> Result<Arc<dyn Domain>, CoreError> {
    parse(spec.trim(), spec, 0)
}

/// Deepest CSG nesting a spec may have (`union(union(…))`).
const MAX_CSG_DEPTH: usize = 64;

/// Largest `dim=D` of a box or ball: far past what a walk or a network can use, small enough
/// that the coordinate vectors stay a few megabytes.
const MAX_DIM: usize = 1_000_000;

/// The `dim=D` key of boxes and balls (for high dimensions, where listing D coordinates is
/// impractical).
fn dim(kv: &HashMap<String, String>, full: &str) -> Result<Option<usize>, CoreError> {
    kv.get("dim")
        .map(|v| match v.trim().parse::<usize>() {
            Ok(d) if (1..=MAX_DIM).contains(&d) => Ok(d),
            Ok(d) if d > MAX_DIM => Err(err(
                full,
                format!("dim: {d} is too large (at most {MAX_DIM})"),
            )),
            _ => Err(err(
                full,
                format!("dim: '{}' is not a positive integer", v.trim()),
            )),
        })
        .transpose()
}

/// One number repeated `d` times, or exactly `d` numbers.
fn broadcast(v: Vec<f64>, d: usize, key: &str, full: &str) -> Result<Vec<f64>, CoreError> {
    match v.len() {
        1 => Ok(vec![v[0]; d]),
        n if n == d => Ok(v),
        n => Err(err(
            full,
            format!("{key} has {n} numbers but dim={d} (give 1 or {d})"),
        )),
    }
}

fn err(full: &str, reason: impl Into<String>) -> CoreError {
    CoreError::InvalidDomain {
        spec: full.to_string(),
        reason: reason.into(),
    }
}

fn parse(s: &str, full: &str, depth: usize) -> Result<Arc<dyn Domain>, CoreError> {
    for (name, op) in [
        ("union", CsgOp::Union),
        ("intersection", CsgOp::Intersection),
        ("difference", CsgOp::Difference),
    ] {
        if let Some(rest) = s.strip_prefix(name) {
            let rest = rest.trim_start();
            if let Some(inner) = rest.strip_prefix('(') {
                if depth >= MAX_CSG_DEPTH {
                    return Err(err(
                        full,
                        format!("CSG nested more than {MAX_CSG_DEPTH} levels deep"),
                    ));
                }
                let inner = inner
                    .strip_suffix(')')
                    .ok_or_else(|| err(full, format!("{name}( … ) is missing its closing ')'")))?;
                let parts = split_top(inner, full)?
                    .into_iter()
                    .map(|p| parse(p.trim(), full, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                return Csg::new(op, parts)
                    .map(|c| Arc::new(c) as Arc<dyn Domain>)
                    .map_err(|e| relabel(e, full));
            }
        }
    }
    let (kind, params) = match s.split_once(':') {
        Some((k, p)) => (k.trim(), p.trim()),
        None => (s, ""),
    };
    if kind == "mesh" {
        if params.is_empty() {
            return Err(err(full, "mesh needs a path: mesh:FILE.obj"));
        }
        let path = params.strip_prefix("path=").unwrap_or(params);
        return Ok(Arc::new(
            Mesh::from_obj(Path::new(path)).map_err(|e| relabel(e, full))?,
        ));
    }
    let kv = key_values(params, full)?;
    let allow = |keys: &[&str]| -> Result<(), CoreError> {
        if let Some(k) = kv.keys().find(|k| !keys.contains(&k.as_str())) {
            return Err(err(
                full,
                format!(
                    "unknown key '{k}' for {kind} (expected {})",
                    keys.join(", ")
                ),
            ));
        }
        Ok(())
    };
    let nums = |key: &str| -> Result<Option<Vec<f64>>, CoreError> {
        kv.get(key)
            .map(|v| {
                v.split(',')
                    .map(|t| {
                        t.trim().parse::<f64>().map_err(|_| {
                            err(full, format!("{key}: '{}' is not a number", t.trim()))
                        })
                    })
                    .collect()
            })
            .transpose()
    };
    let need = |key: &str| -> Result<Vec<f64>, CoreError> {
        nums(key)?.ok_or_else(|| err(full, format!("{kind} needs {key}=…")))
    };
    let scalar = |key: &str, default: f64| -> Result<f64, CoreError> {
        match nums(key)? {
            None => Ok(default),
            Some(v) if v.len() == 1 => Ok(v[0]),
            Some(v) => Err(err(
                full,
                format!("{key} takes one number, got {}", v.len()),
            )),
        }
    };
    let domain: Arc<dyn Domain> = match kind {
        "box" => {
            allow(&["min", "max", "dim"])?;
            let (min, max) = match dim(&kv, full)? {
                // `box:dim=100` is the unit cube; `min`/`max` may then be one number each.
                Some(d) => (
                    broadcast(nums("min")?.unwrap_or(vec![0.0]), d, "min", full)?,
                    broadcast(nums("max")?.unwrap_or(vec![1.0]), d, "max", full)?,
                ),
                None => (need("min")?, need("max")?),
            };
            Arc::new(BoxDomain::new(min, max).map_err(|e| relabel(e, full))?)
        }
        "ball" => {
            allow(&["center", "radius", "dim"])?;
            let center = match dim(&kv, full)? {
                // `ball:dim=1000` is centred at the origin unless a centre is given.
                Some(d) => broadcast(nums("center")?.unwrap_or(vec![0.0]), d, "center", full)?,
                None => need("center")?,
            };
            Arc::new(Ball::new(center, scalar("radius", 1.0)?).map_err(|e| relabel(e, full))?)
        }
        "polygon" => {
            allow(&["vertices"])?;
            let v = need("vertices")?;
            if v.len() % 2 != 0 {
                return Err(err(
                    full,
                    format!("vertices needs x,y pairs; got {} numbers", v.len()),
                ));
            }
            let pts: Vec<[f64; 2]> = v.chunks(2).map(|c| [c[0], c[1]]).collect();
            Arc::new(Polygon::new(&pts).map_err(|e| relabel(e, full))?)
        }
        "lshape" => {
            allow(&[])?;
            let pts = [
                [-1.0, -1.0],
                [1.0, -1.0],
                [1.0, 0.0],
                [0.0, 0.0],
                [0.0, 1.0],
                [-1.0, 1.0],
            ];
            Arc::new(Polygon::new(&pts).map_err(|e| relabel(e, full))?)
        }
        "star" => {
            allow(&["c1", "c2", "r0", "cos", "sin", "center"])?;
            let center = match nums("center")? {
                None => [0.0, 0.0],
                Some(c) if c.len() == 2 => [c[0], c[1]],
                Some(c) => {
                    return Err(err(
                        full,
                        format!("center of a star needs 2 numbers, got {}", c.len()),
                    ))
                }
            };
            let mut modes: Vec<(u32, f64, f64)> = Vec::new();
            let mut add = |k: u32, a: f64, b: f64| match modes.iter_mut().find(|m| m.0 == k) {
                Some(m) => {
                    m.1 += a;
                    m.2 += b;
                }
                None => modes.push((k, a, b)),
            };
            add(4, scalar("c1", 0.0)?, 0.0);
            add(8, scalar("c2", 0.0)?, 0.0);
            for (key, is_cos) in [("cos", true), ("sin", false)] {
                if let Some(list) = kv.get(key) {
                    for item in list.split(',') {
                        let (k, a) = item.split_once(':').ok_or_else(|| {
                            err(full, format!("{key}: expected K:AMPLITUDE, got '{item}'"))
                        })?;
                        let k: u32 = k.trim().parse().map_err(|_| {
                            err(full, format!("{key}: '{k}' is not a non-negative integer"))
                        })?;
                        let a: f64 = a
                            .trim()
                            .parse()
                            .map_err(|_| err(full, format!("{key}: '{a}' is not a number")))?;
                        if is_cos {
                            add(k, a, 0.0)
                        } else {
                            add(k, 0.0, a)
                        }
                    }
                }
            }
            let mut r0 = scalar("r0", 1.0)?;
            // A k = 0 cosine term is a constant: fold it into r0.
            if let Some(pos) = modes.iter().position(|m| m.0 == 0) {
                r0 += modes.remove(pos).1;
            }
            Arc::new(Star::new(center, r0, modes).map_err(|e| relabel(e, full))?)
        }
        "" => return Err(err(full, "empty domain spec")),
        other => {
            return Err(err(
                full,
                format!(
                    "unknown domain kind '{other}' (expected box, ball, polygon, lshape, star, \
                     mesh, union(…), intersection(…), difference(…))"
                ),
            ))
        }
    };
    Ok(domain)
}

/// Replaces the spec named in a shape's error by the user's full spec.
fn relabel(e: CoreError, full: &str) -> CoreError {
    match e {
        CoreError::InvalidDomain { reason, .. } => err(full, reason),
        other => other,
    }
}

fn key_values(params: &str, full: &str) -> Result<HashMap<String, String>, CoreError> {
    let mut kv = HashMap::new();
    for item in params.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| err(full, format!("expected KEY=VALUE, got '{item}'")))?;
        let k = k.trim().to_string();
        if kv.insert(k.clone(), v.trim().to_string()).is_some() {
            return Err(err(full, format!("key '{k}' is given twice")));
        }
    }
    Ok(kv)
}

/// Splits `s` at the `|` separators that are not inside parentheses.
fn split_top<'a>(s: &'a str, full: &str) -> Result<Vec<&'a str>, CoreError> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(err(full, "unbalanced ')'"));
                }
            }
            '|' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(err(full, "unbalanced '('"));
    }
    parts.push(&s[start..]);
    Ok(parts)
}
