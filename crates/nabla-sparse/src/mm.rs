//! MatrixMarket I/O: sparse matrices in the `coordinate` format and dense vectors in the
//! `array` format, so SuiteSparse matrices and scipy users can exchange data with nabla.
//!
//! Reading accepts what scipy, Matlab and the SuiteSparse collection write:
//! - banner `%%MatrixMarket matrix <format> <field> <symmetry>`, case-insensitive;
//! - format `coordinate` (matrices, vectors) or `array` (vectors);
//! - field `real` (alias `double`), `integer`, or `pattern` (every stored entry is 1);
//! - symmetry `general`, `symmetric` or `skew-symmetric`: for the last two each off-diagonal
//!   entry is mirrored (negated for skew-symmetric), whichever triangle it was stored in;
//! - `%` comment lines and blank lines anywhere after the banner; 1-based indices; duplicate
//!   entries are summed; Fortran `D` exponents (`1.5D+03`) are understood.
//!
//! `complex` and `hermitian` files are rejected: nabla solves real systems. Every other defect
//! (garbled banner, bad size line, truncated file, extra entries, index out of range, unparsable
//! or non-finite number) is a one-line [`SparseError::MatrixMarket`] naming the file and the
//! line, 1-based as an editor numbers it (no line when the problem is not on one line: the
//! file ended early, or duplicates summed past the f64 range); row and column numbers in
//! messages are 1-based too, as in the file. Reading never panics on any input.
//!
//! Writing is atomic: the file is written under a temporary name in the target directory and
//! renamed into place, so a failed or interrupted write never leaves a partial file under the
//! requested name. Values are written in Rust's shortest round-trip form, so a matrix or vector
//! read back is bit-for-bit identical.
//!
//! ```
//! use nabla_sparse::{mm, GridPoisson};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("A.mtx");
//! let a = GridPoisson::new("8x8".parse().unwrap()).matrix();
//! mm::write_matrix(&path, &a, true).unwrap(); // lower triangle, `symmetric` banner
//! let b = mm::read_matrix(&path).unwrap();
//! assert_eq!(a.indptr(), b.indptr());
//! assert_eq!(a.indices(), b.indices());
//! assert_eq!(a.values(), b.values());
//! ```

use crate::csr::{Csr, SparseMatrix};
use crate::error::{Result, SparseError};
use rayon::prelude::*;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::Path;

/// Bodies larger than this are parsed in parallel chunks.
const PARALLEL_MIN_BYTES: usize = 1 << 20;

/// A matrix may have at most this many rows more than its entries can fill (see
/// [`parse_matrix`]).
const EMPTY_ROWS_LIMIT: usize = 1_000_000;

/// The banner a user should write, quoted in error messages.
const BANNER_HINT: &str =
    "'%%MatrixMarket matrix coordinate real general' (a matrix) or '%%MatrixMarket matrix array real general' (a vector)";

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// Reads a square sparse matrix from a MatrixMarket `coordinate` file (fields `real`,
/// `integer`, `pattern`; symmetries `general`, `symmetric`, `skew-symmetric`).
///
/// Symmetric files store one triangle; the other is mirrored here, so the result holds the
/// full matrix. Duplicate entries are summed. Errors: [`SparseError::Io`] when the file cannot
/// be read, [`SparseError::NotSquare`] for a non-square size line, and
/// [`SparseError::MatrixMarket`] (file, line, problem) for anything malformed.
pub fn read_matrix(path: &Path) -> Result<SparseMatrix> {
    let bytes = read_file(path)?;
    parse_matrix(&bytes, &path.display().to_string())
}

/// Parses MatrixMarket `coordinate` text held in memory, as [`read_matrix`] does for a file;
/// `name` stands in for the file name in error messages.
pub fn parse_matrix(bytes: &[u8], name: &str) -> Result<SparseMatrix> {
    let (header, size, mut lines) = parse_header(bytes, name)?;
    if header.format != Format::Coordinate {
        return Err(mm_err(
            name,
            1,
            "dense 'array' format holds vectors here; a matrix must be in 'coordinate' format",
        ));
    }
    let (rows, cols, nnz) = (size[0], size[1], size[2]);
    if rows != cols {
        return Err(SparseError::NotSquare { rows, cols });
    }
    let spec = EntrySpec {
        rows,
        cols,
        field: header.field,
        symmetry: header.symmetry,
    };
    let parts = parse_entries(&mut lines, &spec, nnz, name)?;
    // Each entry fills at most two rows (one and its mirror). Refuse to allocate row pointers
    // for millions of rows that cannot hold an entry: such a matrix is structurally singular,
    // and the size line is far more likely garbled.
    let covered = 2 * parts.iter().map(Triplets::len).sum::<usize>();
    if rows > covered + EMPTY_ROWS_LIMIT {
        return Err(mm_err(
            name,
            lines.size_line,
            format!(
                "the size line announces {rows} rows but the {nnz} entries leave at least {} of them empty (structurally singular)",
                rows - covered
            ),
        ));
    }
    let csr =
        assemble(rows, &parts, header.symmetry).map_err(|message| mm_err(name, 0, message))?;
    let m = SparseMatrix::from_csr(csr)?;
    // A `symmetric` file stores one triangle and is mirrored on reading.
    Ok(if header.symmetry == Symmetry::Symmetric {
        m.built_symmetric()
    } else {
        m
    })
}

/// Reads a dense vector: an `array` file of size `M 1` (or `1 N`), or a `coordinate` file
/// with one column (or one row), where entries not listed are 0 and duplicates are summed.
///
/// Errors as for [`read_matrix`]; NaN and infinite values are rejected, and a file holding a
/// matrix (neither dimension 1, e.g. `A.mtx` given as a right-hand side) is an error that says
/// so. The zeros of a `coordinate` vector cost memory only where entries are written.
pub fn read_vector(path: &Path) -> Result<Vec<f64>> {
    let bytes = read_file(path)?;
    parse_vector(&bytes, &path.display().to_string())
}

/// Parses MatrixMarket vector text held in memory, as [`read_vector`] does for a file;
/// `name` stands in for the file name in error messages.
pub fn parse_vector(bytes: &[u8], name: &str) -> Result<Vec<f64>> {
    let (header, size, mut lines) = parse_header(bytes, name)?;
    let (rows, cols) = (size[0], size[1]);
    // The shape first: a matrix file given where a vector belongs (`--rhs-file A.mtx`) is
    // named as such, whatever its symmetry.
    if rows != 1 && cols != 1 {
        return Err(mm_err(
            name,
            lines.size_line,
            format!(
                "the file holds a {rows} x {cols} matrix ('{}'), not a vector; a vector such as a right-hand side must be an 'array' N x 1 file or a 'coordinate' N x 1 file",
                header.describe()
            ),
        ));
    }
    if header.symmetry != Symmetry::General {
        return Err(mm_err(
            name,
            1,
            format!(
                "a vector must be stored as 'general', not '{}'",
                header.symmetry.name()
            ),
        ));
    }
    let n = if cols == 1 { rows } else { cols };
    match header.format {
        Format::Array => parse_array_values(&mut lines, header.field, n, name),
        Format::Coordinate => {
            let spec = EntrySpec {
                rows,
                cols,
                field: header.field,
                symmetry: Symmetry::General,
            };
            let parts = parse_entries(&mut lines, &spec, size[2], name)?;
            // Entries not listed are 0: the zeros come from the allocator untouched, so a long
            // sparse vector costs memory only where it has entries, and an absurd length is an
            // allocation error, not a long wait.
            let mut x = try_zeros(n).map_err(|m| mm_err(name, lines.size_line, m))?;
            for t in &parts {
                let along = if cols == 1 { &t.rows } else { &t.cols };
                for (&i, &v) in along.iter().zip(&t.vals) {
                    x[i as usize] += v;
                }
            }
            // Each value is finite, so only a sum of duplicates can overflow.
            for t in &parts {
                let along = if cols == 1 { &t.rows } else { &t.cols };
                if let Some(&i) = along.iter().find(|&&i| !x[i as usize].is_finite()) {
                    return Err(mm_err(
                        name,
                        0,
                        format!(
                            "entry {} overflows to {} after summing duplicates",
                            i as usize + 1,
                            x[i as usize]
                        ),
                    ));
                }
            }
            Ok(x)
        }
    }
}

/// Reads a dense `array` file of size `M K` as its K columns (each of length M), e.g. the
/// near-nullspace vectors of an AMG hierarchy. Errors as for [`read_vector`].
pub fn read_dense_columns(path: &Path) -> Result<Vec<Vec<f64>>> {
    let bytes = read_file(path)?;
    let name = path.display().to_string();
    let (header, size, mut lines) = parse_header(&bytes, &name)?;
    if header.format != Format::Array || header.symmetry != Symmetry::General {
        return Err(mm_err(
            &name,
            1,
            "dense columns must be stored as 'array real general' (one column per vector)",
        ));
    }
    let (rows, cols) = (size[0], size[1]);
    if rows == 0 || cols == 0 {
        return Err(mm_err(
            &name,
            lines.size_line,
            format!("the size line announces an empty {rows} x {cols} array; dense columns need at least one row and one column"),
        ));
    }
    let total = rows.checked_mul(cols).ok_or_else(|| {
        mm_err(
            &name,
            lines.size_line,
            format!("{rows} x {cols} entries overflow"),
        )
    })?;
    let values = parse_array_values(&mut lines, header.field, total, &name)?;
    // MatrixMarket arrays are column-major.
    Ok(values.chunks(rows).map(<[f64]>::to_vec).collect())
}

/// Writes `a` as a MatrixMarket `coordinate real` file, atomically (temporary file in the same
/// directory, then rename).
///
/// With `symmetric`, only the lower triangle (`row >= col`) is written under a `symmetric`
/// banner; the matrix must then be exactly symmetric, otherwise
/// [`SparseError::InvalidParameter`] is returned and nothing is written. An unwritable path
/// gives [`SparseError::Io`] and leaves no file behind.
pub fn write_matrix(path: &Path, a: &SparseMatrix, symmetric: bool) -> Result<()> {
    if symmetric {
        if let Some((i, j, x, y)) = a.find_asymmetry(0.0) {
            return Err(SparseError::InvalidParameter(format!(
                "cannot write {} as symmetric: entry ({}, {}) = {x:e} but entry ({}, {}) = {y:e} (1-based, as in the file)",
                path.display(),
                i + 1,
                j + 1,
                j + 1,
                i + 1
            )));
        }
    }
    let (ip, ix, vx) = (a.indptr(), a.indices(), a.values());
    let n = a.rows();
    let keep = |i: usize, j: u32| !symmetric || j as usize <= i;
    let nnz = if symmetric {
        (0..n)
            .into_par_iter()
            .map(|i| (ip[i]..ip[i + 1]).filter(|&k| keep(i, ix[k])).count())
            .sum()
    } else {
        a.nnz()
    };
    let kind = if symmetric { "symmetric" } else { "general" };
    write_atomic(path, |w| {
        writeln!(w, "%%MatrixMarket matrix coordinate real {kind}")?;
        writeln!(w, "% written by nabla-sparse")?;
        writeln!(w, "{n} {n} {nnz}")?;
        let mut line = Vec::with_capacity(64);
        for i in 0..n {
            for k in ip[i]..ip[i + 1] {
                if !keep(i, ix[k]) {
                    continue;
                }
                line.clear();
                push_uint(&mut line, i as u64 + 1);
                line.push(b' ');
                push_uint(&mut line, ix[k] as u64 + 1);
                line.push(b' ');
                push_f64(&mut line, vx[k]);
                line.push(b'\n');
                w.write_all(&line)?;
            }
        }
        Ok(())
    })
}

/// Writes `x` as a MatrixMarket `array real general` column vector (`N 1`), atomically.
///
/// Non-finite values are rejected with [`SparseError::NonFinite`] before anything is written.
pub fn write_vector(path: &Path, x: &[f64]) -> Result<()> {
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(SparseError::NonFinite(format!(
            "entry {} of the vector is {}; cannot write {} (MatrixMarket values must be finite)",
            i + 1,
            x[i],
            path.display()
        )));
    }
    write_atomic(path, |w| {
        writeln!(w, "%%MatrixMarket matrix array real general")?;
        writeln!(w, "% written by nabla-sparse")?;
        writeln!(w, "{} 1", x.len())?;
        let mut line = Vec::with_capacity(32);
        for &v in x {
            line.clear();
            push_f64(&mut line, v);
            line.push(b'\n');
            w.write_all(&line)?;
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Coordinate,
    Array,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Real,
    Integer,
    Pattern,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Symmetry {
    General,
    Symmetric,
    SkewSymmetric,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Coordinate => "coordinate",
            Format::Array => "array",
        }
    }
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Real => "real",
            Field::Integer => "integer",
            Field::Pattern => "pattern",
        }
    }
}

impl Symmetry {
    fn name(self) -> &'static str {
        match self {
            Symmetry::General => "general",
            Symmetry::Symmetric => "symmetric",
            Symmetry::SkewSymmetric => "skew-symmetric",
        }
    }
}

struct Header {
    format: Format,
    field: Field,
    symmetry: Symmetry,
}

impl Header {
    /// `format field symmetry`, as in the banner.
    fn describe(&self) -> String {
        format!(
            "{} {} {}",
            self.format.name(),
            self.field.name(),
            self.symmetry.name()
        )
    }
}

/// A cursor over the lines of a buffer that knows the 1-based number of the last line returned.
struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    line: usize,
    /// Line number of the size line (once read).
    size_line: usize,
}

impl<'a> Lines<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            line: 0,
            size_line: 0,
        }
    }

    /// The next line without its `\n` (a trailing `\r` is whitespace to the tokenizer).
    fn next_line(&mut self) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.pos..).filter(|r| !r.is_empty())?;
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        self.pos += end + 1;
        self.line += 1;
        Some(&rest[..end])
    }

    /// The next line that is neither blank nor a `%` comment.
    fn next_content(&mut self) -> Option<&'a [u8]> {
        while let Some(line) = self.next_line() {
            if !is_skippable(line) {
                return Some(line);
            }
        }
        None
    }

    /// What has not been read yet.
    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or(&[])
    }
}

/// Blank lines and `%` comments.
fn is_skippable(line: &[u8]) -> bool {
    match line.iter().find(|b| !b.is_ascii_whitespace()) {
        None => true,
        Some(&b) => b == b'%',
    }
}

/// Splits a line on ASCII whitespace into at most `N` tokens; returns the full token count.
fn tokens<'a, const N: usize>(line: &'a [u8], out: &mut [&'a [u8]; N]) -> usize {
    let mut count = 0;
    let mut i = 0;
    let len = line.len();
    while i < len {
        while i < len && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == len {
            break;
        }
        let start = i;
        while i < len && !line[i].is_ascii_whitespace() {
            i += 1;
        }
        if count < N {
            out[count] = &line[start..i];
        }
        count += 1;
    }
    count
}

/// Reads the banner and the size line. `size` is `[rows, cols, entries]`; for `array` files
/// `entries` is `rows * cols`.
fn parse_header<'a>(bytes: &'a [u8], name: &str) -> Result<(Header, [usize; 3], Lines<'a>)> {
    // A UTF-8 byte order mark (some Windows editors add one) is not part of the banner.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut lines = Lines::new(bytes);
    let Some(banner) = lines.next_line() else {
        return Err(mm_err(
            name,
            0,
            format!("empty file: expected a {BANNER_HINT} banner"),
        ));
    };
    const PREFIX: &[u8] = b"%%matrixmarket";
    let starts_ok =
        banner.len() >= PREFIX.len() && banner[..PREFIX.len()].eq_ignore_ascii_case(PREFIX);
    if !starts_ok {
        return Err(mm_err(
            name,
            1,
            format!(
                "missing MatrixMarket banner: the first line is {}, expected {BANNER_HINT}",
                show(banner)
            ),
        ));
    }
    let mut t = [&[][..]; 5];
    let count = tokens(banner, &mut t);
    let garbled = || {
        mm_err(
            name,
            1,
            format!(
                "garbled banner {}: expected '%%MatrixMarket matrix <coordinate|array> <real|integer|pattern> <general|symmetric|skew-symmetric>'",
                show(banner)
            ),
        )
    };
    if count != 5 || !t[0].eq_ignore_ascii_case(PREFIX) {
        return Err(garbled());
    }
    let word = |tok: &[u8]| String::from_utf8_lossy(tok).to_ascii_lowercase();
    let object = word(t[1]);
    if object != "matrix" {
        return Err(mm_err(
            name,
            1,
            format!(
                "unsupported object {}: only 'matrix' is supported",
                show(t[1])
            ),
        ));
    }
    let format = match word(t[2]).as_str() {
        "coordinate" => Format::Coordinate,
        "array" => Format::Array,
        _ => {
            return Err(mm_err(
                name,
                1,
                format!(
                    "unsupported format {}: expected 'coordinate' or 'array'",
                    show(t[2])
                ),
            ))
        }
    };
    let field = match word(t[3]).as_str() {
        "real" | "double" => Field::Real,
        "integer" => Field::Integer,
        "pattern" => Field::Pattern,
        "complex" => {
            return Err(mm_err(
                name,
                1,
                "complex values are not supported (nabla solves real systems)",
            ))
        }
        _ => {
            return Err(mm_err(
                name,
                1,
                format!(
                    "unsupported field {}: expected 'real', 'integer' or 'pattern'",
                    show(t[3])
                ),
            ))
        }
    };
    let symmetry = match word(t[4]).as_str() {
        "general" => Symmetry::General,
        "symmetric" => Symmetry::Symmetric,
        "skew-symmetric" => Symmetry::SkewSymmetric,
        "hermitian" => {
            return Err(mm_err(
                name,
                1,
                "hermitian matrices are not supported (complex; nabla solves real systems)",
            ))
        }
        _ => {
            return Err(mm_err(
                name,
                1,
                format!(
                    "unsupported symmetry {}: expected 'general', 'symmetric' or 'skew-symmetric'",
                    show(t[4])
                ),
            ))
        }
    };
    if format == Format::Array && field == Field::Pattern {
        return Err(mm_err(
            name,
            1,
            "'pattern' is not valid with the 'array' format",
        ));
    }

    let Some(size_line) = lines.next_content() else {
        return Err(mm_err(name, 0, "file ended before the size line"));
    };
    lines.size_line = lines.line;
    let want = if format == Format::Coordinate { 3 } else { 2 };
    let expected = if want == 3 {
        "'ROWS COLS ENTRIES'"
    } else {
        "'ROWS COLS'"
    };
    let bad_size = |why: &str| {
        mm_err(
            name,
            lines.size_line,
            format!(
                "bad size line {}: {why}; expected {expected}",
                show(size_line)
            ),
        )
    };
    let mut s = [&[][..]; 3];
    let count = tokens(size_line, &mut s);
    if count != want {
        return Err(bad_size(&format!("found {count} field(s)")));
    }
    let mut size = [0usize; 3];
    for k in 0..want {
        size[k] = parse_uint(s[k])
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| bad_size(&format!("{} is not a non-negative integer", show(s[k]))))?;
    }
    for &d in &size[..2] {
        if d > u32::MAX as usize {
            return Err(bad_size(&format!(
                "dimension {d} exceeds the 32-bit index limit {}",
                u32::MAX
            )));
        }
    }
    if format == Format::Array {
        size[2] = size[0]
            .checked_mul(size[1])
            .ok_or_else(|| bad_size("the array is too large"))?;
    }
    Ok((
        Header {
            format,
            field,
            symmetry,
        },
        size,
        lines,
    ))
}

// ---------------------------------------------------------------------------------------------
// Entries
// ---------------------------------------------------------------------------------------------

struct EntrySpec {
    rows: usize,
    cols: usize,
    field: Field,
    symmetry: Symmetry,
}

/// Parsed coordinate entries, 0-based.
#[derive(Default)]
struct Triplets {
    rows: Vec<u32>,
    cols: Vec<u32>,
    vals: Vec<f64>,
}

impl Triplets {
    fn with_capacity(n: usize) -> Self {
        Self {
            rows: Vec::with_capacity(n),
            cols: Vec::with_capacity(n),
            vals: Vec::with_capacity(n),
        }
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn push(&mut self, (r, c, v): (u32, u32, f64)) {
        self.rows.push(r);
        self.cols.push(c);
        self.vals.push(v);
    }
}

/// Parses one coordinate entry line (not blank, not a comment) into a 0-based triplet.
fn parse_coord_entry(
    line: &[u8],
    spec: &EntrySpec,
) -> std::result::Result<(u32, u32, f64), String> {
    let mut t = [&[][..]; 3];
    let count = tokens(line, &mut t);
    let want = if spec.field == Field::Pattern { 2 } else { 3 };
    if count != want {
        let layout = if want == 2 {
            "'ROW COL'"
        } else {
            "'ROW COL VALUE'"
        };
        return Err(format!(
            "expected {want} fields {layout}, found {count} in {}",
            show(line)
        ));
    }
    let r = parse_index(t[0], spec.rows, "row")?;
    let c = parse_index(t[1], spec.cols, "column")?;
    let v = match spec.field {
        Field::Pattern => 1.0,
        Field::Real => parse_real(t[2])
            .ok_or_else(|| format!("cannot parse value {} as a real number", show(t[2])))?,
        Field::Integer => parse_value(t[2], Field::Integer).ok_or_else(|| {
            format!(
                "cannot parse value {} as an integer (field is 'integer')",
                show(t[2])
            )
        })?,
    };
    if !v.is_finite() {
        return Err(format!(
            "non-finite value {} at ({}, {}); values must be finite",
            show(t[2]),
            r + 1,
            c + 1
        ));
    }
    if spec.symmetry == Symmetry::SkewSymmetric && r == c && v != 0.0 {
        return Err(format!(
            "skew-symmetric matrix with a nonzero diagonal entry at ({}, {})",
            r + 1,
            c + 1
        ));
    }
    Ok((r, c, v))
}

/// A 1-based index in `1..=n`, returned 0-based.
fn parse_index(tok: &[u8], n: usize, what: &str) -> std::result::Result<u32, String> {
    match parse_uint(tok) {
        Some(i) if i >= 1 && i <= n as u64 => Ok((i - 1) as u32),
        Some(i) => Err(format!("{what} index {i} out of range 1..={n}")),
        None => Err(format!(
            "{what} index {} is not a positive integer",
            show(tok)
        )),
    }
}

/// Decimal digits only, at most 19 of them (no overflow of u64).
fn parse_uint(tok: &[u8]) -> Option<u64> {
    if tok.is_empty() || tok.len() > 19 {
        return None;
    }
    let mut v = 0u64;
    for &b in tok {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u64;
    }
    Some(v)
}

/// A real number as Rust parses it, also accepting Fortran `D` exponents.
fn parse_real(tok: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(tok).ok()?;
    if let Ok(v) = s.parse::<f64>() {
        return Some(v);
    }
    if tok.len() <= 64 && tok.iter().any(|&b| b == b'd' || b == b'D') {
        let mut buf = [0u8; 64];
        for (o, &b) in buf.iter_mut().zip(tok) {
            *o = if b == b'd' || b == b'D' { b'e' } else { b };
        }
        return std::str::from_utf8(&buf[..tok.len()]).ok()?.parse().ok();
    }
    None
}

/// Reads the `nnz` announced entries after the size line, in parallel chunks for large files;
/// any problem is reported by a strict serial pass that finds the first bad line.
fn parse_entries(
    lines: &mut Lines<'_>,
    spec: &EntrySpec,
    nnz: usize,
    name: &str,
) -> Result<Vec<Triplets>> {
    let body = lines.rest();
    let threads = rayon::current_num_threads();
    if body.len() >= PARALLEL_MIN_BYTES && threads > 1 {
        let chunks = split_chunks(body, threads * 4);
        let parts: Option<Vec<Triplets>> = chunks
            .par_iter()
            .map(|c| parse_chunk(c, spec, nnz))
            .collect();
        if let Some(parts) = parts {
            if parts.iter().map(Triplets::len).sum::<usize>() == nnz {
                return Ok(parts);
            }
        }
    }
    parse_strict(lines, spec, nnz)
        .map(|t| vec![t])
        .map_err(|(line, message)| mm_err(name, line, message))
}

/// Splits `body` into about `k` pieces that end at line ends.
fn split_chunks(body: &[u8], k: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for t in 1..=k {
        if start >= body.len() {
            break;
        }
        let mut end = if t == k {
            body.len()
        } else {
            (body.len() / k * t).max(start)
        };
        if end < body.len() {
            end = match body[end..].iter().position(|&b| b == b'\n') {
                Some(p) => end + p + 1,
                None => body.len(),
            };
        }
        out.push(&body[start..end]);
        start = end;
    }
    out
}

/// Fast path: parses a chunk of entry lines in one pass over the bytes; `None` on any problem
/// (the strict pass then finds and reports it). Accepts exactly the lines the strict pass
/// accepts, with the same values.
fn parse_chunk(chunk: &[u8], spec: &EntrySpec, nnz: usize) -> Option<Triplets> {
    /// Whitespace inside a line (what `is_ascii_whitespace` accepts, minus `\n`).
    fn hspace(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\r' | b'\x0c')
    }
    /// A 1-based index in `1..=n` starting at `i`, returned 0-based with the position after it.
    fn index(c: &[u8], mut i: usize, n: usize) -> Option<(u32, usize)> {
        let start = i;
        let mut v = 0u64;
        while i < c.len() && c[i].is_ascii_digit() && i - start < 19 {
            v = v * 10 + (c[i] - b'0') as u64;
            i += 1;
        }
        (i > start && v >= 1 && v <= n as u64).then_some(((v - 1) as u32, i))
    }
    let mut t = Triplets::with_capacity((chunk.len() / 8 + 16).min(nnz));
    let c = chunk;
    let n = c.len();
    let mut i = 0;
    while i < n {
        while i < n && hspace(c[i]) {
            i += 1;
        }
        if i == n {
            break;
        }
        if c[i] == b'\n' {
            i += 1;
            continue;
        }
        if c[i] == b'%' {
            i += c[i..].iter().position(|&b| b == b'\n').unwrap_or(n - i);
            continue;
        }
        let (r, j) = index(c, i, spec.rows)?;
        i = j;
        if !(i < n && hspace(c[i])) {
            return None;
        }
        while i < n && hspace(c[i]) {
            i += 1;
        }
        let (col, j) = index(c, i, spec.cols)?;
        i = j;
        let v = if spec.field == Field::Pattern {
            1.0
        } else {
            if !(i < n && hspace(c[i])) {
                return None;
            }
            while i < n && hspace(c[i]) {
                i += 1;
            }
            let s = i;
            while i < n && !c[i].is_ascii_whitespace() {
                i += 1;
            }
            parse_value(&c[s..i], spec.field)?
        };
        while i < n && hspace(c[i]) {
            i += 1;
        }
        if i < n {
            if c[i] != b'\n' {
                return None;
            }
            i += 1;
        }
        if !v.is_finite() || (spec.symmetry == Symmetry::SkewSymmetric && r == col && v != 0.0) {
            return None;
        }
        t.push((r, col, v));
    }
    Some(t)
}

/// A value of a `real` or `integer` field (`None` for `pattern` or when unparsable).
fn parse_value(tok: &[u8], field: Field) -> Option<f64> {
    match field {
        Field::Real => parse_real(tok),
        Field::Integer => std::str::from_utf8(tok)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .map(|v| v as f64),
        Field::Pattern => None,
    }
}

/// Strict serial pass: exactly `nnz` entries, errors with their 1-based line (0 at EOF).
fn parse_strict(
    lines: &mut Lines<'_>,
    spec: &EntrySpec,
    nnz: usize,
) -> std::result::Result<Triplets, (usize, String)> {
    let mut t = Triplets::with_capacity(nnz.min(lines.rest().len() / 4 + 1));
    while t.len() < nnz {
        let Some(line) = lines.next_content() else {
            return Err((
                0,
                format!(
                    "file ended after {} of the {nnz} entries announced by the size line (line {}); is it truncated?",
                    t.len(),
                    lines.size_line
                ),
            ));
        };
        t.push(parse_coord_entry(line, spec).map_err(|m| (lines.line, m))?);
    }
    if lines.next_content().is_some() {
        return Err((
            lines.line,
            format!(
                "more entries than the {nnz} announced by the size line (line {})",
                lines.size_line
            ),
        ));
    }
    Ok(t)
}

/// Dense values of an `array` file, one per line.
fn parse_array_values(
    lines: &mut Lines<'_>,
    field: Field,
    n: usize,
    name: &str,
) -> Result<Vec<f64>> {
    let mut x = Vec::with_capacity(n.min(lines.rest().len() / 2 + 1));
    while x.len() < n {
        let Some(line) = lines.next_content() else {
            return Err(mm_err(
                name,
                0,
                format!(
                    "file ended after {} of the {n} values announced by the size line (line {}); is it truncated?",
                    x.len(),
                    lines.size_line
                ),
            ));
        };
        let err = |m: String| mm_err(name, lines.line, m);
        let mut t = [&[][..]; 1];
        let count = tokens(line, &mut t);
        if count != 1 {
            return Err(err(format!(
                "expected one value per line, found {count} in {}",
                show(line)
            )));
        }
        let v = match field {
            Field::Integer => std::str::from_utf8(t[0])
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .map(|v| v as f64)
                .ok_or_else(|| {
                    err(format!(
                        "cannot parse value {} as an integer (field is 'integer')",
                        show(t[0])
                    ))
                })?,
            _ => parse_real(t[0]).ok_or_else(|| {
                err(format!(
                    "cannot parse value {} as a real number",
                    show(t[0])
                ))
            })?,
        };
        if !v.is_finite() {
            return Err(err(format!(
                "non-finite value {} at entry {}; values must be finite",
                show(t[0]),
                x.len() + 1
            )));
        }
        x.push(v);
    }
    if lines.next_content().is_some() {
        return Err(mm_err(
            name,
            lines.line,
            format!(
                "more values than the {n} announced by the size line (line {})",
                lines.size_line
            ),
        ));
    }
    Ok(x)
}

// ---------------------------------------------------------------------------------------------
// CSR assembly
// ---------------------------------------------------------------------------------------------

/// Builds an `n × n` CSR matrix from parsed triplets: mirrors off-diagonal entries of
/// (skew-)symmetric files, sorts each row by column and sums duplicates in file order.
fn assemble(n: usize, parts: &[Triplets], symmetry: Symmetry) -> std::result::Result<Csr, String> {
    let mirror = symmetry != Symmetry::General;
    let sign = if symmetry == Symmetry::SkewSymmetric {
        -1.0
    } else {
        1.0
    };

    // Row counts, then row starts.
    let mut indptr = try_zeros_usize(n + 1)?;
    for t in parts {
        for (&r, &c) in t.rows.iter().zip(&t.cols) {
            indptr[r as usize + 1] += 1;
            if mirror && r != c {
                indptr[c as usize + 1] += 1;
            }
        }
    }
    for i in 0..n {
        indptr[i + 1] += indptr[i];
    }
    let total = indptr[n];

    // Scatter into rows (file order within each row).
    let mut next = indptr[..n].to_vec();
    let mut indices = vec![0u32; total];
    let mut data = vec![0.0f64; total];
    for t in parts {
        for ((&r, &c), &v) in t.rows.iter().zip(&t.cols).zip(&t.vals) {
            let p = &mut next[r as usize];
            indices[*p] = c;
            data[*p] = v;
            *p += 1;
            if mirror && r != c {
                let p = &mut next[c as usize];
                indices[*p] = r;
                data[*p] = sign * v;
                *p += 1;
            }
        }
    }
    drop(next);

    // Sort rows that need it (stable: duplicates keep file order), sum duplicates, compact.
    let mut scratch: Vec<(u32, f64)> = Vec::new();
    let mut w = 0;
    let mut start = 0;
    for i in 0..n {
        let (s, e) = (start, indptr[i + 1]);
        start = e;
        let sorted = indices[s..e].windows(2).all(|p| p[0] < p[1]);
        if sorted && w == s {
            w = e;
        } else {
            if !sorted {
                scratch.clear();
                scratch.extend(
                    indices[s..e]
                        .iter()
                        .copied()
                        .zip(data[s..e].iter().copied()),
                );
                scratch.sort_by_key(|p| p.0);
                for (k, &(c, v)) in (s..e).zip(&scratch) {
                    indices[k] = c;
                    data[k] = v;
                }
            }
            let row_start = w;
            for k in s..e {
                if w > row_start && indices[w - 1] == indices[k] {
                    data[w - 1] += data[k];
                } else {
                    indices[w] = indices[k];
                    data[w] = data[k];
                    w += 1;
                }
            }
        }
        indptr[i + 1] = w;
    }
    indices.truncate(w);
    data.truncate(w);
    if let Some(k) = data.iter().position(|v| !v.is_finite()) {
        let row = indptr.partition_point(|&p| p <= k) - 1;
        return Err(format!(
            "entry ({}, {}) overflows to {} after summing duplicates",
            row + 1,
            indices[k] + 1,
            data[k]
        ));
    }
    Csr::try_new((n, n), indptr, indices, data)
        .map_err(|(_, _, _, e)| format!("internal error assembling CSR: {e}"))
}

fn try_zeros_usize(n: usize) -> std::result::Result<Vec<usize>, String> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| format!("cannot allocate a matrix with {} rows", n.saturating_sub(1)))?;
    v.resize(n, 0);
    Ok(v)
}

/// `n` zeros from a zeroed allocation (the pages stay untouched until written, like
/// `vec![0.0; n]`), or an error instead of an abort when the allocation fails.
fn try_zeros(n: usize) -> std::result::Result<Vec<f64>, String> {
    let fail = || {
        format!(
            "cannot allocate a vector of length {n} ({:.1} GB)",
            n as f64 * 8.0 / 1e9
        )
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    let layout = std::alloc::Layout::array::<f64>(n).map_err(|_| fail())?;
    // SAFETY: `layout` has a nonzero size (n ≥ 1). A non-null pointer from `alloc_zeroed` is
    // an allocation of the global allocator with exactly this layout, i.e. room for `n` f64
    // (size and alignment of `[f64; n]`), every byte zero, and all-zero bytes are the f64 0.0,
    // so all `n` elements are initialized: what `Vec::from_raw_parts(ptr, n, n)` requires.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout).cast::<f64>();
        if ptr.is_null() {
            return Err(fail());
        }
        Ok(Vec::from_raw_parts(ptr, n, n))
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers: errors, number formatting, atomic writes
// ---------------------------------------------------------------------------------------------

fn mm_err(name: &str, line: usize, message: impl Into<String>) -> SparseError {
    SparseError::MatrixMarket {
        path: name.to_string(),
        line,
        message: message.into(),
    }
}

/// Reads a whole file; a directory or a device (such as `/dev/zero`, which would be read
/// forever) is refused, regular files and pipes (`<(gunzip -c A.mtx.gz)`) are read.
fn read_file(path: &Path) -> Result<Vec<u8>> {
    let io_err = |source| SparseError::Io {
        path: path.display().to_string(),
        source,
    };
    let meta = fs::metadata(path).map_err(io_err)?;
    #[cfg(unix)]
    let pipe = std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type());
    #[cfg(not(unix))]
    let pipe = false;
    if !meta.is_file() && !pipe {
        return Err(io_err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file or a pipe (a MatrixMarket file is expected)",
        )));
    }
    fs::read(path).map_err(io_err)
}

/// Quotes a piece of user input for an error message: at most 40 characters, escaped, on one
/// line.
fn show(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    let mut out: String = s.chars().take(40).flat_map(char::escape_debug).collect();
    if s.chars().count() > 40 {
        out.push('…');
    }
    format!("'{out}'")
}

fn push_uint(buf: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// Shortest round-trip form: plain decimal for moderate magnitudes, scientific otherwise.
fn push_f64(buf: &mut Vec<u8>, v: f64) {
    let a = v.abs();
    if a == 0.0 || (1e-4..1e15).contains(&a) {
        let _ = write!(buf, "{v}");
    } else {
        let _ = write!(buf, "{v:e}");
    }
}

/// Writes through `body` into a temporary file next to `path`, then renames it into place.
/// On any failure the temporary file is removed and `path` is untouched.
fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<()> {
    nabla_core::atomic::write_atomic(path, body).map_err(|source| SparseError::Io {
        path: path.display().to_string(),
        source,
    })
}
