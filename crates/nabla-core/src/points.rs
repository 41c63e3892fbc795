//! Point sets for solvers that work at arbitrary points (Walk-on-Spheres, PINN evaluation):
//! CSV point tables read from a file or a string, the cell centres of a grid that lie inside a
//! domain, and the probe sample that checks a field is finite on a domain before a long run.
//!
//! # Point tables
//! Both readers share one text format: one point per line, fields separated by commas and/or
//! whitespace; blank lines and lines starting with `#` are skipped, as is a leading UTF-8 byte
//! order mark. Every coordinate must be a finite number. They differ in the header:
//! - [`parse_point_table`] / [`read_point_table`]: a header line naming the coordinates is
//!   required; its columns may come in any order and are reordered into the order asked for.
//!   A column named twice, a missing or an unknown column is an error.
//! - [`parse_points_in`] / [`read_points_in`]: positional columns, `domain.dim()` per line; one
//!   leading header line (a line with no number on it) is optional and skipped; every point
//!   must lie inside the domain.
//!
//! Errors are [`PointsError`]s: one line that names the file (or the source name given) and,
//! where one line is at fault, its line number.
//!
//! ```
//! use nabla_core::geometry::parse_domain;
//! use nabla_core::points::{grid_points, parse_point_table, parse_points_in};
//! use nabla_core::GridShape;
//!
//! // A header in any order: the points come back in the order asked for.
//! let coords = ["x".to_string(), "y".to_string()];
//! let t = parse_point_table("y,x\n2,1\n# a comment\n4,3\n", "pts.csv", &coords)?;
//! assert_eq!(t.points, [1.0, 2.0, 3.0, 4.0]);
//! assert_eq!(t.lines, [2, 4]);
//!
//! // Positional columns, inside a domain; the header is optional.
//! let disk = parse_domain("ball:center=0,0;radius=1")?;
//! let p = parse_points_in("0.1,0.2\n-0.3 0.4\n", "pts.csv", disk.as_ref())?;
//! assert_eq!(p.len(), 2);
//! let e = parse_points_in("0.1,0.2\n3,3\n", "pts.csv", disk.as_ref()).unwrap_err();
//! assert_eq!(e.to_string(), "pts.csv line 2: point (3, 3) is not inside the domain");
//!
//! // The cell centres of a 4x4 grid over the disk's bounding box that lie in the disk.
//! let g = grid_points(&GridShape::new(&[4, 4])?, disk.as_ref())?;
//! assert_eq!(g.len(), 12); // the four corner cells are outside
//! assert_eq!(g.cells.len(), 16);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::geometry::{sample_boundary, sample_interior, Domain, Sampling};
use crate::text::{one_line, short_number};
use crate::{CoreError, GridShape};
use std::fmt;
use std::path::{Path, PathBuf};

/// How much of a file or source name an error message shows.
const NAME_CHARS: usize = 1000;
/// How much of a field or column name an error message quotes.
const FIELD_CHARS: usize = 200;
/// How much of a reason an error message shows.
const REASON_CHARS: usize = 1000;

/// Errors of the point-table readers. Each message is one line that names the file (or source
/// name) and, for a fault on one line, the line number (1-based, counting every line).
#[derive(Debug, thiserror::Error)]
pub enum PointsError {
    /// The file could not be read (missing, a directory, not UTF-8, ...).
    #[error("{}: {}", one_line(&path.display().to_string(), NAME_CHARS), one_line(&source.to_string(), REASON_CHARS))]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The table as a whole is wrong: empty, no points, or a header that does not name the
    /// coordinates.
    #[error("{}: {}", one_line(.source_name, NAME_CHARS), one_line(.reason, REASON_CHARS))]
    Table {
        /// The file name (or the name given for a string).
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// One data line is wrong: a field that is not a finite number, or the wrong number of
    /// fields.
    #[error("{} line {line}: {}", one_line(.source_name, NAME_CHARS), one_line(.reason, REASON_CHARS))]
    Line {
        /// The file name (or the name given for a string).
        source_name: String,
        /// The line, 1-based.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A point does not lie inside the domain it was read for.
    #[error("{} line {line}: point ({}) is not inside the domain", one_line(.source_name, NAME_CHARS), coordinates(.point))]
    Outside {
        /// The file name (or the name given for a string).
        source_name: String,
        /// The line, 1-based.
        line: usize,
        /// The point's coordinates.
        point: Vec<f64>,
    },
}

/// `0.1, 2` for a message.
fn coordinates(p: &[f64]) -> String {
    p.iter()
        .map(|&v| short_number(v))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A table of points read from text: the coordinates in the order asked for, and each data
/// line as written, for echoing next to results.
#[derive(Clone, Debug, PartialEq)]
pub struct PointTable {
    /// The header's column names in file order, as written (trimmed). Empty when a positional
    /// table ([`parse_points_in`]) had no header.
    pub columns: Vec<String>,
    /// The points, flat and row-major (`dim` values per point, point `i` is
    /// `points[i*dim..(i+1)*dim]`), in the requested coordinate order.
    pub points: Vec<f64>,
    /// Each data line's fields in file order, joined by commas as written (so a row can be
    /// echoed into an output CSV under [`PointTable::columns`]).
    pub rows: Vec<String>,
    /// The 1-based line number of each point in the text (for messages about one point).
    pub lines: Vec<usize>,
    /// Coordinates per point.
    pub dim: usize,
}

impl PointTable {
    /// The number of points.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no points (the readers never return one).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Point `i`'s coordinates, in the requested order.
    pub fn point(&self, i: usize) -> &[f64] {
        &self.points[i * self.dim..(i + 1) * self.dim]
    }
}

/// The text without a leading UTF-8 byte order mark.
fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// The lines that carry data or a header: `(1-based line number, trimmed line)`, skipping
/// blank lines and `#` comments.
fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    strip_bom(text)
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

/// The fields of a line: separated by commas and/or whitespace, empty fields dropped.
fn fields(line: &str) -> Vec<&str> {
    line.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .collect()
}

/// `'field'` for a message.
fn quoted(field: &str) -> String {
    format!("'{}'", one_line(field, FIELD_CHARS))
}

/// Reads a file to a string, as a [`PointsError::Read`] on failure.
fn read_text(path: &Path) -> Result<String, PointsError> {
    std::fs::read_to_string(path).map_err(|source| PointsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses a point table with a header naming its columns (see the [module docs](self) for the
/// format): the header must name each of `coordinates` exactly once and nothing else, in any
/// order; every later line holds one finite number per column. The points come back in the
/// order of `coordinates`. `source_name` (usually the file name) starts every error message.
///
/// ```
/// use nabla_core::points::parse_point_table;
/// let coords = ["x".to_string(), "y".to_string(), "t".to_string()];
/// let t = parse_point_table("t, x, y\n0, 0.5, 0.25\n1 0.5 0.75\n", "p.csv", &coords)?;
/// assert_eq!(t.points, [0.5, 0.25, 0.0, 0.5, 0.75, 1.0]);
/// assert_eq!(t.rows, ["0,0.5,0.25", "1,0.5,0.75"]);
/// let e = parse_point_table("x,y\n0.5,0.5\n", "p.csv", &coords).unwrap_err();
/// assert_eq!(e.to_string(), "p.csv: header has no column 't' (the coordinates are x,y,t)");
/// # Ok::<(), nabla_core::points::PointsError>(())
/// ```
pub fn parse_point_table(
    text: &str,
    source_name: &str,
    coordinates: &[String],
) -> Result<PointTable, PointsError> {
    let table_err = |reason: String| PointsError::Table {
        source_name: source_name.to_string(),
        reason,
    };
    let line_err = |line: usize, reason: String| PointsError::Line {
        source_name: source_name.to_string(),
        line,
        reason,
    };
    let expected = || {
        one_line(
            &coordinates
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(","),
            FIELD_CHARS,
        )
    };
    let mut lines = content_lines(text);
    let (_, header) = lines.next().ok_or_else(|| table_err("empty file".into()))?;
    let columns: Vec<String> = fields(header).into_iter().map(String::from).collect();
    if !columns.is_empty() && columns.iter().all(|c| c.parse::<f64>().is_ok()) {
        return Err(table_err(format!(
            "the first line must be a header naming the columns ({}), got numbers",
            expected()
        )));
    }
    if let Some((k, c)) = columns
        .iter()
        .enumerate()
        .find(|(k, c)| columns[..*k].contains(c))
    {
        return Err(table_err(format!(
            "column {} appears twice in the header (column {})",
            quoted(c),
            k + 1
        )));
    }
    let mut order = Vec::with_capacity(coordinates.len());
    for name in coordinates {
        let c = columns.iter().position(|c| c == name).ok_or_else(|| {
            table_err(format!(
                "header has no column {} (the coordinates are {})",
                quoted(name),
                expected()
            ))
        })?;
        order.push(c);
    }
    if let Some(extra) = columns.iter().find(|c| !coordinates.contains(c)) {
        return Err(table_err(format!(
            "unknown column {} (the coordinates are {})",
            quoted(extra),
            expected()
        )));
    }
    let dim = coordinates.len();
    let mut table = PointTable {
        columns,
        points: Vec::new(),
        rows: Vec::new(),
        lines: Vec::new(),
        dim,
    };
    for (line, text) in lines {
        let f = fields(text);
        if f.len() != table.columns.len() {
            return Err(line_err(
                line,
                format!("{} values, the header has {}", f.len(), table.columns.len()),
            ));
        }
        for &c in &order {
            let v = f[c]
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    line_err(line, format!("{} is not a finite number", quoted(f[c])))
                })?;
            table.points.push(v);
        }
        table.rows.push(f.join(","));
        table.lines.push(line);
    }
    if table.rows.is_empty() {
        return Err(table_err("no points after the header".into()));
    }
    Ok(table)
}

/// [`parse_point_table`] on the file at `path` (its display name starts every message).
pub fn read_point_table(path: &Path, coordinates: &[String]) -> Result<PointTable, PointsError> {
    parse_point_table(&read_text(path)?, &path.display().to_string(), coordinates)
}

/// Parses points with positional columns for `domain` (see the [module docs](self) for the
/// format): `domain.dim()` numbers per line; one header line before the first point (a line
/// none of whose fields is a number) is skipped and its fields become
/// [`PointTable::columns`]; every coordinate must be finite and every point inside the
/// domain. `source_name` (usually the file name) starts every error message.
pub fn parse_points_in(
    text: &str,
    source_name: &str,
    domain: &dyn Domain,
) -> Result<PointTable, PointsError> {
    let d = domain.dim();
    let line_err = |line: usize, reason: String| PointsError::Line {
        source_name: source_name.to_string(),
        line,
        reason,
    };
    let mut table = PointTable {
        columns: Vec::new(),
        points: Vec::new(),
        rows: Vec::new(),
        lines: Vec::new(),
        dim: d,
    };
    let mut seen_data = false;
    for (line, text) in content_lines(text) {
        let f = fields(text);
        let nums: Result<Vec<f64>, _> = f.iter().map(|s| s.parse::<f64>()).collect();
        let nums = match nums {
            Ok(v) => v,
            Err(_) if !seen_data && f.iter().all(|s| s.parse::<f64>().is_err()) => {
                seen_data = true; // a header line
                table.columns = f.iter().map(|s| s.to_string()).collect();
                continue;
            }
            Err(_) => {
                let bad = f
                    .iter()
                    .find(|s| s.parse::<f64>().is_err())
                    .copied()
                    .unwrap_or("");
                return Err(line_err(line, format!("{} is not a number", quoted(bad))));
            }
        };
        seen_data = true;
        if nums.len() != d {
            return Err(line_err(
                line,
                format!(
                    "expected {d} coordinates for the {d}-D domain, got {}",
                    nums.len()
                ),
            ));
        }
        if let Some(v) = nums.iter().find(|v| !v.is_finite()) {
            return Err(line_err(line, format!("'{v}' is not a finite coordinate")));
        }
        if !domain.contains(&nums) {
            return Err(PointsError::Outside {
                source_name: source_name.to_string(),
                line,
                point: nums,
            });
        }
        table.points.extend_from_slice(&nums);
        table.rows.push(f.join(","));
        table.lines.push(line);
    }
    if table.rows.is_empty() {
        return Err(PointsError::Table {
            source_name: source_name.to_string(),
            reason: format!("no points (expected lines of {d} comma-separated numbers)"),
        });
    }
    Ok(table)
}

/// [`parse_points_in`] on the file at `path` (its display name starts every message).
pub fn read_points_in(path: &Path, domain: &dyn Domain) -> Result<PointTable, PointsError> {
    parse_points_in(&read_text(path)?, &path.display().to_string(), domain)
}

/// The cell centres of a grid over a domain's bounding box that lie inside the domain, and
/// where each grid cell's point is (see [`grid_points`]).
#[derive(Clone, Debug, PartialEq)]
pub struct GridPoints {
    /// The grid, x fastest (cell `(i, j, k)` is `grid.index(&[i, j, k])`).
    pub grid: GridShape,
    /// The centres inside the domain, flat and row-major, in grid order.
    pub points: Vec<f64>,
    /// For each grid cell, in grid order, the index of its point in `points`, or `None` when
    /// its centre is outside the domain.
    pub cells: Vec<Option<usize>>,
}

impl GridPoints {
    /// The number of points (cells whose centre lies inside the domain).
    pub fn len(&self) -> usize {
        self.points.len() / self.grid.ndim()
    }

    /// Whether no cell centre lies inside the domain.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// Coordinates per point (the grid's dimension).
    pub fn dim(&self) -> usize {
        self.grid.ndim()
    }

    /// Scatters one value per point onto the whole grid (grid order), with `outside` in the
    /// cells whose centre is not in the domain: e.g. `f64::NAN` for a colour map with holes.
    /// Panics if `values` has fewer than [`GridPoints::len`] entries.
    pub fn to_grid(&self, values: &[f64], outside: f64) -> Vec<f64> {
        self.cells
            .iter()
            .map(|c| c.map_or(outside, |i| values[i]))
            .collect()
    }
}

/// The cell centres of `grid` laid over `domain.bounds()` that lie inside the domain: cell
/// `idx` has centre `min[k] + (idx[k] + ½)·(max[k] − min[k]) / dims[k]` along axis k.
///
/// Errors when the grid's dimension is not the domain's. The result holds one `Option` per
/// grid cell: the caller bounds the grid's size.
///
/// ```
/// use nabla_core::geometry::parse_domain;
/// use nabla_core::points::grid_points;
/// let square = parse_domain("box:min=0,0;max=1,1")?;
/// let g = grid_points(&"2x2".parse()?, square.as_ref())?;
/// assert_eq!(g.points, [0.25, 0.25, 0.75, 0.25, 0.25, 0.75, 0.75, 0.75]);
/// assert!(grid_points(&"2x2x2".parse()?, square.as_ref()).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn grid_points(grid: &GridShape, domain: &dyn Domain) -> Result<GridPoints, CoreError> {
    let d = domain.dim();
    let dims = grid.dims();
    if dims.len() != d {
        return Err(CoreError::InvalidGrid {
            spec: grid.to_string(),
            reason: format!("{}-D but the domain is {d}-D", dims.len()),
        });
    }
    let b = domain.bounds();
    let mut points = Vec::new();
    let mut cells = Vec::with_capacity(grid.len());
    let mut x = vec![0.0; d];
    for cell in 0..grid.len() {
        let mut rest = cell;
        for k in 0..d {
            let i = rest % dims[k];
            rest /= dims[k];
            x[k] = b.min[k] + (i as f64 + 0.5) * (b.max[k] - b.min[k]) / dims[k] as f64;
        }
        if domain.contains(&x) {
            cells.push(Some(points.len() / d));
            points.extend_from_slice(&x);
        } else {
            cells.push(None);
        }
    }
    Ok(GridPoints {
        grid: grid.clone(),
        points,
        cells,
    })
}

/// Points of the fixed probe sample per kind (interior, boundary).
pub const PROBE_POINTS: usize = 64;
/// The seed of the probe sample, so every check probes the same points.
const PROBE_SEED: u64 = 0x9e37;

/// A fixed, seeded sample of [`PROBE_POINTS`] interior and [`PROBE_POINTS`] boundary points of
/// a domain, for checking before a long run that the user's fields are finite there: a source
/// `ln(x - 2)` or boundary values `1/x` that are not finite somewhere on the domain make
/// solvers return NaN or ±∞ later instead of an error now.
///
/// ```
/// use nabla_core::geometry::parse_domain;
/// use nabla_core::points::ProbeSample;
/// let disk = parse_domain("ball:dim=2")?;
/// let probe = ProbeSample::new(disk.as_ref());
/// assert!(probe.first_non_finite_inside(|p: &[f64]| p[0] * p[1]).is_none());
/// let bad = probe.first_non_finite_on_boundary(|p: &[f64]| (p[0] - 1.0).ln()).unwrap();
/// assert!(bad.to_string().starts_with("evaluates to NaN at ("));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSample {
    /// Coordinates per point.
    pub dim: usize,
    /// Interior points, flat and row-major (empty when the domain is too thin to sample).
    pub interior: Vec<f64>,
    /// Boundary points, flat and row-major (empty when the boundary cannot be sampled).
    pub boundary: Vec<f64>,
}

impl ProbeSample {
    /// The probe sample of `domain` (the same points on every call).
    pub fn new(domain: &dyn Domain) -> Self {
        let sampling = Sampling::Random { seed: PROBE_SEED };
        Self {
            dim: domain.dim(),
            interior: sample_interior(domain, PROBE_POINTS, sampling).unwrap_or_default(),
            boundary: sample_boundary(domain, PROBE_POINTS, sampling).unwrap_or_default(),
        }
    }

    /// The first interior point where `f` is not finite.
    pub fn first_non_finite_inside(&self, f: impl FnMut(&[f64]) -> f64) -> Option<NonFinite> {
        first_non_finite(&self.interior, self.dim, f)
    }

    /// The first boundary point where `f` is not finite.
    pub fn first_non_finite_on_boundary(&self, f: impl FnMut(&[f64]) -> f64) -> Option<NonFinite> {
        first_non_finite(&self.boundary, self.dim, f)
    }
}

/// A point where a field is not finite, and its value there. Displays as `evaluates to NaN at
/// (0.1234, -0.5000)`, to follow the field's name in a message.
#[derive(Clone, Debug, PartialEq)]
pub struct NonFinite {
    /// The point.
    pub point: Vec<f64>,
    /// The value there (NaN or ±∞).
    pub value: f64,
}

impl fmt::Display for NonFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let coords: Vec<String> = self.point.iter().map(|c| format!("{c:.4}")).collect();
        write!(f, "evaluates to {} at ({})", self.value, coords.join(", "))
    }
}

/// The first point of `points` (flat, row-major, `dim` coordinates each) where `f` is not
/// finite, in order; `None` when it is finite at all of them.
pub fn first_non_finite(
    points: &[f64],
    dim: usize,
    mut f: impl FnMut(&[f64]) -> f64,
) -> Option<NonFinite> {
    points.chunks(dim.max(1)).find_map(|p| {
        let value = f(p);
        (!value.is_finite()).then(|| NonFinite {
            point: p.to_vec(),
            value,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::parse_domain;
    use proptest::prelude::*;

    fn xy() -> Vec<String> {
        vec!["x".to_string(), "y".to_string()]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        /// Any text: a table of finite points with one value per coordinate, or one error line
        /// naming the file.
        #[test]
        fn point_table_never_panics(text in "([-+0-9.eE, xytNaif#]{0,24}\\n){0,6}") {
            match parse_point_table(&text, "p.csv", &xy()) {
                Ok(t) => {
                    prop_assert_eq!(t.points.len(), 2 * t.rows.len());
                    prop_assert_eq!(t.lines.len(), t.rows.len());
                    prop_assert!(!t.is_empty());
                    prop_assert!(t.points.iter().all(|v| v.is_finite()));
                }
                Err(e) => {
                    let m = e.to_string();
                    prop_assert!(m.starts_with("p.csv") && !m.contains('\n'), "{}", m);
                }
            }
        }

        /// Any text: points inside the domain, or one error line naming the file.
        #[test]
        fn points_in_never_panics(text in "(([-+0-9.eE,# xyzinfa]{0,24})\\n){0,6}") {
            let domain = parse_domain("ball:dim=2").unwrap();
            match parse_points_in(&text, "p.csv", domain.as_ref()) {
                Ok(t) => {
                    prop_assert!(!t.points.is_empty() && t.points.len() == 2 * t.len());
                    for i in 0..t.len() {
                        prop_assert!(domain.contains(t.point(i)));
                    }
                }
                Err(e) => {
                    let m = e.to_string();
                    prop_assert!(m.starts_with("p.csv") && !m.contains('\n'), "{}", m);
                }
            }
        }
    }

    #[test]
    fn columns_in_any_order_are_reordered() {
        let t = parse_point_table("y,x\n2,1\n4,3\n", "p.csv", &xy()).unwrap();
        assert_eq!(t.points, vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(t.columns, ["y", "x"]);
        assert_eq!(t.rows, ["2,1", "4,3"]);
        assert_eq!(t.point(1), [3.0, 4.0]);
        let e = parse_point_table("x,y\n", "p.csv", &xy()).unwrap_err();
        assert_eq!(e.to_string(), "p.csv: no points after the header");
    }

    #[test]
    fn header_errors_name_the_column() {
        let cases = [
            ("", "p.csv: empty file"),
            (
                "0.5,0.5\n",
                "p.csv: the first line must be a header naming the columns (x,y), got numbers",
            ),
            (
                "x,x\n1,2\n",
                "p.csv: column 'x' appears twice in the header (column 2)",
            ),
            (
                "x,z\n1,2\n",
                "p.csv: header has no column 'y' (the coordinates are x,y)",
            ),
            (
                "x,y,z\n1,2,3\n",
                "p.csv: unknown column 'z' (the coordinates are x,y)",
            ),
            ("x,y\n0.5\n", "p.csv line 2: 1 values, the header has 2"),
            (
                "x,y\n0.5,abc\n",
                "p.csv line 2: 'abc' is not a finite number",
            ),
            (
                "x,y\n\n0.5,inf\n",
                "p.csv line 3: 'inf' is not a finite number",
            ),
            (
                "x,y\n0.5,a\u{1b}b\n",
                "p.csv line 2: 'a\\u{1b}b' is not a finite number",
            ),
        ];
        for (text, want) in cases {
            let e = parse_point_table(text, "p.csv", &xy()).unwrap_err();
            assert_eq!(e.to_string(), want, "{text:?}");
        }
    }

    #[test]
    fn bom_crlf_comments_and_spaces_are_accepted() {
        let t =
            parse_point_table("\u{feff} x , y \r\n# c\r\n0.5 0.25\r\n", "p.csv", &xy()).unwrap();
        assert_eq!(t.points, [0.5, 0.25]);
        assert_eq!(t.lines, [3]);
    }

    #[test]
    fn positional_points_follow_the_cli_format() {
        let domain = parse_domain("ball:dim=2").unwrap();
        let t = parse_points_in(
            "x,y\n# interior points\n0.1,0.2\n-0.3,0.4\n0.5 -0.5\n0.05,0\n",
            "p.csv",
            domain.as_ref(),
        )
        .unwrap();
        assert_eq!(t.columns, ["x", "y"]);
        assert_eq!(t.len(), 4);
        assert_eq!(t.point(2), [0.5, -0.5]);
        assert_eq!(t.lines, [3, 4, 5, 6]);
        let no_header = parse_points_in("0.1,0.2\n", "p.csv", domain.as_ref()).unwrap();
        assert!(no_header.columns.is_empty());
    }

    #[test]
    fn positional_errors_are_the_cli_messages() {
        let domain = parse_domain("ball:dim=2").unwrap();
        let cases = [
            (
                "x,y\n0.1,NaN\n",
                "p.csv line 2: 'NaN' is not a finite coordinate",
            ),
            (
                "0.1,2\n",
                "p.csv line 1: point (0.1, 2) is not inside the domain",
            ),
            ("0.1,0.2\n0.1,zz\n", "p.csv line 2: 'zz' is not a number"),
            ("x,y\nu,v\n", "p.csv line 2: 'u' is not a number"),
            (
                "0.1,0.2,0.3\n",
                "p.csv line 1: expected 2 coordinates for the 2-D domain, got 3",
            ),
            (
                "# nothing\n",
                "p.csv: no points (expected lines of 2 comma-separated numbers)",
            ),
        ];
        for (text, want) in cases {
            let e = parse_points_in(text, "p.csv", domain.as_ref()).unwrap_err();
            assert_eq!(e.to_string(), want, "{text:?}");
        }
    }

    #[test]
    fn read_errors_name_the_file() {
        let domain = parse_domain("ball:dim=2").unwrap();
        let e = read_points_in(Path::new("/nonexistent/p.csv"), domain.as_ref()).unwrap_err();
        assert!(matches!(e, PointsError::Read { .. }));
        assert!(e.to_string().starts_with("/nonexistent/p.csv: "), "{e}");
        let e = read_point_table(Path::new("/nonexistent/p.csv"), &xy()).unwrap_err();
        assert!(e.to_string().starts_with("/nonexistent/p.csv: "), "{e}");
    }

    #[test]
    fn grid_points_keep_the_inside_cells_in_grid_order() {
        let lshape = parse_domain("lshape").unwrap();
        let grid = GridShape::new(&[4, 4]).unwrap();
        let g = grid_points(&grid, lshape.as_ref()).unwrap();
        // The upper-right quarter [0, 1)² (4 of 16 cells) is cut out.
        assert_eq!(g.len(), 12);
        assert_eq!(g.dim(), 2);
        assert_eq!(g.cells.iter().filter(|c| c.is_none()).count(), 4);
        assert_eq!(g.cells[grid.index(&[3, 3])], None);
        let first = g.cells[grid.index(&[0, 0])].unwrap();
        assert_eq!(&g.points[2 * first..2 * first + 2], [-0.75, -0.75]);
        let values: Vec<f64> = (0..g.len()).map(|i| i as f64).collect();
        let full = g.to_grid(&values, f64::NAN);
        assert_eq!(full.len(), 16);
        assert!(full[grid.index(&[3, 3])].is_nan());
        assert_eq!(full[grid.index(&[1, 0])], 1.0);
        let e = grid_points(&GridShape::new(&[4, 4, 4]).unwrap(), lshape.as_ref()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid grid '4x4x4': 3-D but the domain is 2-D"
        );
    }

    #[test]
    fn probe_finds_the_first_non_finite_value() {
        let square = parse_domain("box:min=0,0;max=1,1").unwrap();
        let probe = ProbeSample::new(square.as_ref());
        assert_eq!(probe.interior.len(), 2 * PROBE_POINTS);
        assert_eq!(probe.boundary.len(), 2 * PROBE_POINTS);
        assert_eq!(probe, ProbeSample::new(square.as_ref()));
        assert!(probe.first_non_finite_inside(|p| p[0].ln()).is_none());
        let bad = probe
            .first_non_finite_inside(|p| (p[0] - 2.0).ln())
            .unwrap();
        assert!(bad.value.is_nan());
        assert!(
            bad.to_string().starts_with("evaluates to NaN at (0."),
            "{bad}"
        );
        assert!(first_non_finite(&[1.0, 0.0], 1, |p| 1.0 / p[0])
            .is_some_and(|b| b.point == [0.0] && b.value == f64::INFINITY));
    }
}
