//! MatrixMarket reading and writing: round trips, the formats SuiteSparse and scipy produce,
//! one-line errors for every kind of bad input, no panics on garbage, atomic writes.

use nabla_sparse::mm::{
    parse_matrix, parse_vector, read_matrix, read_vector, write_matrix, write_vector,
};
use nabla_sparse::{GridPoisson, RhsKind, SparseError, SparseMatrix};
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn datasets_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

fn rng(seed: u64) -> rand_pcg::Pcg64 {
    rand_pcg::Pcg64::seed_from_u64(seed)
}

/// Bit-for-bit equality of two CSR matrices.
fn assert_same(a: &SparseMatrix, b: &SparseMatrix) {
    assert_eq!(a.rows(), b.rows());
    assert_eq!(a.indptr(), b.indptr());
    assert_eq!(a.indices(), b.indices());
    let bits = |m: &SparseMatrix| m.values().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(a), bits(b));
}

/// Values over the whole f64 range, with exact zeros, negative zero and subnormals.
fn nasty_value(r: &mut rand_pcg::Pcg64) -> f64 {
    match r.gen_range(0..10) {
        0 => -0.0,
        1 => 5e-324 * r.gen_range(1..1000) as f64,
        2 => f64::MAX * r.gen_range(-1.0..1.0),
        3 => r.gen_range(-4..5) as f64,
        _ => r.gen_range(-1.0..1.0) * 10f64.powi(r.gen_range(-300..300)),
    }
}

fn random_matrix(n: usize, per_row: usize, symmetric: bool, seed: u64) -> SparseMatrix {
    let mut r = rng(seed);
    let mut t = Vec::new();
    for i in 0..n {
        for _ in 0..per_row {
            let j = r.gen_range(0..n);
            if symmetric && j > i {
                continue;
            }
            let v = nasty_value(&mut r);
            t.push((i, j, v));
            if symmetric && j != i {
                t.push((j, i, v));
            }
        }
    }
    // Keep one entry per position so that duplicates do not change values by summation.
    let mut seen = std::collections::HashSet::new();
    t.retain(|&(i, j, _)| seen.insert((i, j)));
    SparseMatrix::from_triplets(n, &t).unwrap()
}

/// The error of reading `text` as a matrix file, written to disk under a known name.
fn matrix_error(text: &str) -> (SparseError, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.mtx");
    std::fs::write(&path, text).unwrap();
    let err = read_matrix(&path).expect_err(text);
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line message: {msg}");
    (err, msg)
}

fn vector_error(text: &str) -> (SparseError, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.mtx");
    std::fs::write(&path, text).unwrap();
    let err = read_vector(&path).expect_err(text);
    let msg = err.to_string();
    assert!(!msg.contains('\n'), "multi-line message: {msg}");
    (err, msg)
}

/// Checks a `MatrixMarket` error: its line, that the message names the file and the line, and
/// that it mentions `needle`.
fn assert_mm(result: (SparseError, String), want_line: usize, needle: &str) {
    let (err, msg) = result;
    match err {
        SparseError::MatrixMarket { line, .. } => assert_eq!(line, want_line, "{msg}"),
        other => panic!("expected a MatrixMarket error, got {other:?}"),
    }
    assert!(msg.contains("bad.mtx"), "{msg}");
    if want_line == 0 {
        // No particular line (the file ended early): the message names none, never "line 0".
        assert!(!msg.contains("line 0"), "{msg}");
        assert!(msg.starts_with(&format!("{}: ", err_path(&msg))), "{msg}");
    } else {
        assert!(msg.contains(&format!("line {want_line}:")), "{msg}");
    }
    assert!(msg.contains(needle), "'{needle}' not in: {msg}");
}

/// The file name a MatrixMarket message starts with.
fn err_path(msg: &str) -> &str {
    &msg[..msg.find("bad.mtx").map_or(0, |i| i + "bad.mtx".len())]
}

const HEAD: &str = "%%MatrixMarket matrix coordinate real general\n";

// ---------------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------------

#[test]
fn random_general_matrix_round_trips_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.mtx");
    let a = random_matrix(300, 6, false, 1);
    write_matrix(&path, &a, false).unwrap();
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .starts_with("%%MatrixMarket matrix coordinate real general\n"));
    assert_same(&a, &read_matrix(&path).unwrap());
}

#[test]
fn random_symmetric_matrix_round_trips_through_lower_triangle() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.mtx");
    let a = random_matrix(300, 6, true, 2);
    write_matrix(&path, &a, true).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("%%MatrixMarket matrix coordinate real symmetric\n"));
    let mut lower = 0;
    for line in text.lines().filter(|l| !l.starts_with('%')).skip(1) {
        let mut f = line.split_whitespace();
        let i: usize = f.next().unwrap().parse().unwrap();
        let j: usize = f.next().unwrap().parse().unwrap();
        assert!(j <= i, "upper entry written: {line}");
        lower += 1;
    }
    let diag = (0..300).filter(|&i| a.csr().get(i, i).is_some()).count();
    assert_eq!(2 * lower - diag, a.nnz());
    assert_same(&a, &read_matrix(&path).unwrap());
    // The general form of the same matrix reads back identical too.
    write_matrix(&path, &a, false).unwrap();
    assert_same(&a, &read_matrix(&path).unwrap());
}

#[test]
fn writing_a_nonsymmetric_matrix_as_symmetric_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.mtx");
    let a = SparseMatrix::from_triplets(2, &[(0, 0, 1.0), (0, 1, 2.0), (1, 1, 1.0)]).unwrap();
    let err = write_matrix(&path, &a, true).unwrap_err();
    assert!(matches!(err, SparseError::InvalidParameter(_)), "{err}");
    assert!(!path.exists());
}

#[test]
fn vector_round_trips_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.mtx");
    let mut r = rng(3);
    let mut x: Vec<f64> = (0..1000).map(|_| nasty_value(&mut r)).collect();
    x.extend([
        0.1,
        1.0 / 3.0,
        f64::MIN_POSITIVE,
        5e-324,
        f64::MAX,
        f64::MIN,
        -0.0,
        1e15,
        9.999999999999999e14,
        1e-4,
        9.99999999999e-5,
    ]);
    write_vector(&path, &x).unwrap();
    let y = read_vector(&path).unwrap();
    let bits = |v: &[f64]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&x), bits(&y));
    // Empty vectors too.
    write_vector(&path, &[]).unwrap();
    assert!(read_vector(&path).unwrap().is_empty());
}

#[test]
fn writing_a_non_finite_vector_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.mtx");
    let err = write_vector(&path, &[1.0, f64::NAN]).unwrap_err();
    assert!(matches!(err, SparseError::NonFinite(_)), "{err}");
    assert!(!path.exists());
}

#[test]
fn grid_poisson_matrix_round_trips_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let a = GridPoisson::new("5x4".parse().unwrap()).matrix();
    for symmetric in [false, true] {
        let path = dir.path().join(format!("p{symmetric}.mtx"));
        write_matrix(&path, &a, symmetric).unwrap();
        assert_same(&a, &read_matrix(&path).unwrap());
    }
}

#[test]
fn large_file_takes_the_parallel_path_and_matches() {
    // ~450k entries, several MB: parsed in parallel chunks.
    let dir = tempfile::tempdir().unwrap();
    let a = GridPoisson::new("300x300".parse().unwrap()).matrix();
    for symmetric in [false, true] {
        let path = dir.path().join(format!("big{symmetric}.mtx"));
        write_matrix(&path, &a, symmetric).unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 2 << 20);
        assert_same(&a, &read_matrix(&path).unwrap());
    }
}

#[test]
fn shuffled_entries_with_duplicates_are_sorted_and_summed() {
    // SuiteSparse files are column-major and may repeat entries; here the order is random and
    // every value is split into two exactly representable parts. Large enough to be parsed in
    // parallel chunks; small symmetric and general cases too.
    let mut r = rng(5);
    for (n, per_row) in [(30_000, 8), (50, 3)] {
        for symmetric in [false, true] {
            let a = random_matrix(n, per_row, symmetric, 6);
            let mut lines = Vec::new();
            for i in 0..n {
                let ip = a.indptr();
                for &j in &a.indices()[ip[i]..ip[i + 1]] {
                    let j = j as usize;
                    if symmetric && j > i {
                        continue;
                    }
                    // Quarter-integers split into quarter-integers: sums are exact.
                    let v = (r.gen_range(-4000..4000) as f64) * 0.25;
                    let part = (r.gen_range(-4000..4000) as f64) * 0.25;
                    lines.push(format!("{} {} {}", i + 1, j + 1, v - part));
                    lines.push(format!("{} {} {}", i + 1, j + 1, part));
                }
            }
            // Expected matrix: same pattern, values v (recomputed from the file lines).
            let mut t = Vec::new();
            for pair in lines.chunks(2) {
                let f: Vec<&str> = pair[0].split(' ').collect();
                let (i, j) = (
                    f[0].parse::<usize>().unwrap() - 1,
                    f[1].parse::<usize>().unwrap() - 1,
                );
                let v = f[2].parse::<f64>().unwrap()
                    + pair[1].split(' ').nth(2).unwrap().parse::<f64>().unwrap();
                t.push((i, j, v));
                if symmetric && i != j {
                    t.push((j, i, v));
                }
            }
            let expected = SparseMatrix::from_triplets(n, &t).unwrap();
            // Shuffle (Fisher-Yates).
            for k in (1..lines.len()).rev() {
                lines.swap(k, r.gen_range(0..=k));
            }
            let kind = if symmetric { "symmetric" } else { "general" };
            let text = format!(
                "%%MatrixMarket matrix coordinate real {kind}\n{n} {n} {}\n{}\n",
                lines.len(),
                lines.join("\n")
            );
            let got = parse_matrix(text.as_bytes(), "mem").unwrap();
            assert_same(&expected, &got);
        }
    }
}

#[test]
fn errors_in_a_large_file_name_the_right_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.mtx");
    let a = GridPoisson::new("200x200".parse().unwrap()).matrix();
    write_matrix(&path, &a, false).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let bad = dir.path().join("bad.mtx");
    let check = |body: String, want_line: usize, needle: &str| {
        std::fs::write(&bad, body).unwrap();
        let err = read_matrix(&bad).unwrap_err();
        let msg = err.to_string();
        match err {
            SparseError::MatrixMarket { line, .. } => assert_eq!(line, want_line, "{msg}"),
            other => panic!("{other:?}"),
        }
        assert!(msg.contains(needle), "{msg}");
    };

    // A garbled value in the middle (line numbers are 1-based).
    let mut l = lines.clone();
    let mid = l.len() / 2;
    l[mid] = "17 18 x1.0";
    check(l.join("\n"), mid + 1, "cannot parse value 'x1.0'");

    // An extra entry at the end, and an error after it: the first bad line wins.
    let mut l = lines.clone();
    l.push("1 1 1.0");
    l.push("1 1 nan");
    check(l.join("\n"), lines.len() + 1, "more entries than the");

    // Truncated: the last 1000 lines cut off.
    let l = &lines[..lines.len() - 1000];
    check(
        l.join("\n"),
        0,
        &format!("{} of the {} entries", a.nnz() - 1000, a.nnz()),
    );

    // An out-of-range index near the end.
    let mut l = lines.clone();
    let near_end = l.len() - 3;
    l[near_end] = "40001 1 1.0";
    check(
        l.join("\n"),
        near_end + 1,
        "row index 40001 out of range 1..=40000",
    );
}

// ---------------------------------------------------------------------------------------------
// Fields, symmetries and layouts other writers produce
// ---------------------------------------------------------------------------------------------

#[test]
fn symmetric_file_equals_the_mirrored_general_matrix() {
    let g = read_matrix(&data("general_real.mtx")).unwrap();
    let s = read_matrix(&data("symmetric_real.mtx")).unwrap();
    assert_same(&g, &s);
    assert_eq!(g.nnz(), 10);
    assert_eq!(g.get(1, 1), 4.0); // duplicates summed
    assert_eq!(g.get(0, 3), 2.0);
    assert_eq!(g.get(3, 0), 2.0);
    assert_eq!(g.get(3, 3), 12.5);
    assert!(g.find_asymmetry(0.0).is_none());
}

#[test]
fn integer_field_case_insensitive_banner_crlf_and_tabs() {
    let a = read_matrix(&data("integer_symmetric.mtx")).unwrap();
    let dense: Vec<f64> = (0..3)
        .flat_map(|i| (0..3).map(move |j| (i, j)))
        .map(|(i, j)| a.get(i, j))
        .collect();
    assert_eq!(dense, vec![2.0, -1.0, 0.0, -1.0, 2.0, 0.0, 0.0, 0.0, 7.0]);
}

#[test]
fn pattern_field_reads_as_ones() {
    let a = read_matrix(&data("pattern_general.mtx")).unwrap();
    assert_eq!(a.nnz(), 3);
    assert_eq!(a.get(0, 0), 1.0);
    assert_eq!(a.get(1, 2), 2.0); // listed twice
    assert_eq!(a.get(2, 0), 1.0);
    assert_eq!(a.get(0, 2), 0.0);
}

#[test]
fn skew_symmetric_mirrors_with_a_sign_and_fortran_exponents_parse() {
    let a = read_matrix(&data("skew_symmetric.mtx")).unwrap();
    assert_eq!(a.get(1, 0), 1.5);
    assert_eq!(a.get(0, 1), -1.5);
    assert_eq!(a.get(2, 1), -2.0);
    assert_eq!(a.get(1, 2), 2.0);
    assert_eq!(a.nnz(), 4);
}

#[test]
fn vectors_in_array_and_coordinate_form() {
    assert_eq!(
        read_vector(&data("vector_array.mtx")).unwrap(),
        vec![1.0, -2.5, 3e-3, 0.0]
    );
    assert_eq!(
        read_vector(&data("vector_row_array.mtx")).unwrap(),
        vec![7.0, -8.0, 9.0]
    );
    assert_eq!(
        read_vector(&data("vector_coordinate.mtx")).unwrap(),
        vec![0.0, 2.0, 0.0, 0.0, -4.0]
    );
    // A one-row coordinate file, from memory.
    let x = parse_vector(
        b"%%MatrixMarket matrix coordinate real general\n1 3 1\n1 3 5\n",
        "mem",
    )
    .unwrap();
    assert_eq!(x, vec![0.0, 0.0, 5.0]);
}

#[test]
fn zero_sized_and_comment_heavy_files() {
    let a = parse_matrix(format!("{HEAD}0 0 0\n").as_bytes(), "mem").unwrap();
    assert_eq!(a.rows(), 0);
    let text = format!("{HEAD}%c\n\n   \n% c\n2 2 2\n%c\n1 1 1\n\n%x\n2 2 3e0\n%end\n\n");
    let a = parse_matrix(text.as_bytes(), "mem").unwrap();
    assert_eq!((a.get(0, 0), a.get(1, 1), a.nnz()), (1.0, 3.0, 2));
}

// ---------------------------------------------------------------------------------------------
// Bad input: one-line errors naming file, line and problem
// ---------------------------------------------------------------------------------------------

#[test]
fn banner_errors() {
    assert_mm(matrix_error(""), 0, "empty file");
    assert_mm(
        matrix_error("3 3 1\n1 1 1\n"),
        1,
        "missing MatrixMarket banner",
    );
    assert_mm(
        matrix_error("%%MatrixMarket matrix coordinate real\n1 1 1\n1 1 1\n"),
        1,
        "garbled banner",
    );
    assert_mm(
        matrix_error("%%MatrixMarketX matrix coordinate real general\n1 1 1\n1 1 1\n"),
        1,
        "garbled banner",
    );
    assert_mm(
        matrix_error("%%MatrixMarket vector coordinate real general\n"),
        1,
        "unsupported object 'vector'",
    );
    assert_mm(
        matrix_error("%%MatrixMarket matrix compressed real general\n"),
        1,
        "unsupported format 'compressed'",
    );
    assert_mm(
        matrix_error("%%MatrixMarket matrix array real general\n2 2\n1\n2\n3\n4\n"),
        1,
        "'coordinate' format",
    );
    assert_mm(
        matrix_error("%%MatrixMarket matrix coordinate complex general\n1 1 1\n1 1 1 0\n"),
        1,
        "complex values are not supported",
    );
    assert_mm(
        matrix_error("%%MatrixMarket matrix coordinate real hermitian\n"),
        1,
        "hermitian",
    );
    assert_mm(
        matrix_error("%%MatrixMarket matrix coordinate quaternion general\n"),
        1,
        "unsupported field 'quaternion'",
    );
    assert_mm(
        matrix_error("%%MatrixMarket matrix coordinate real lopsided\n"),
        1,
        "unsupported symmetry 'lopsided'",
    );
}

#[test]
fn size_line_errors() {
    assert_mm(matrix_error(HEAD), 0, "before the size line");
    assert_mm(
        matrix_error(&format!("{HEAD}% only comments\n\n")),
        0,
        "before the size line",
    );
    assert_mm(
        matrix_error(&format!("{HEAD}% c\n3 3\n")),
        3,
        "bad size line '3 3'",
    );
    assert_mm(
        matrix_error(&format!("{HEAD}3 x 1\n")),
        2,
        "'x' is not a non-negative integer",
    );
    assert_mm(matrix_error(&format!("{HEAD}-3 3 1\n")), 2, "bad size line");
    assert_mm(
        matrix_error(&format!("{HEAD}3 3 1 1\n")),
        2,
        "found 4 field(s)",
    );
    assert_mm(
        matrix_error(&format!("{HEAD}99999999999 99999999999 1\n")),
        2,
        "32-bit index limit",
    );
}

#[test]
fn entry_count_errors() {
    assert_mm(
        matrix_error(&format!("{HEAD}3 3 4\n1 1 1\n2 2 1\n")),
        0,
        "file ended after 2 of the 4 entries",
    );
    assert_mm(
        matrix_error(&format!("{HEAD}3 3 2\n1 1 1\n2 2 1\n% fine\n3 3 1\n")),
        6,
        "more entries than the 2 announced",
    );
}

#[test]
fn entry_errors() {
    let m = |body: &str| matrix_error(&format!("{HEAD}3 3 1\n{body}\n"));
    assert_mm(m("4 1 1.0"), 3, "row index 4 out of range 1..=3");
    assert_mm(m("1 0 1.0"), 3, "column index 0 out of range 1..=3");
    assert_mm(
        m("1 -2 1.0"),
        3,
        "column index '-2' is not a positive integer",
    );
    assert_mm(m("1.0 1 1.0"), 3, "row index '1.0'");
    assert_mm(m("1 1 abc"), 3, "cannot parse value 'abc'");
    assert_mm(m("1 1 1.0.0"), 3, "cannot parse value '1.0.0'");
    assert_mm(m("1 1"), 3, "expected 3 fields");
    assert_mm(m("1 1 1.0 2.0"), 3, "found 4");
    assert_mm(m("1 1 NaN"), 3, "non-finite value 'NaN' at (1, 1)");
    assert_mm(m("1 1 -inf"), 3, "non-finite value '-inf'");
    assert_mm(m("1 1 1e400"), 3, "non-finite value '1e400'");
    let int = "%%MatrixMarket matrix coordinate integer general\n3 3 1\n1 1 1.5\n";
    assert_mm(matrix_error(int), 3, "as an integer");
    let pat = "%%MatrixMarket matrix coordinate pattern general\n3 3 1\n1 1 1.5\n";
    assert_mm(matrix_error(pat), 3, "expected 2 fields");
    let skew = "%%MatrixMarket matrix coordinate real skew-symmetric\n3 3 1\n2 2 1.5\n";
    assert_mm(matrix_error(skew), 3, "nonzero diagonal");
    // Garbage bytes are quoted escaped, on one line.
    let (err, msg) = m("1 1 \u{1b}[31m\u{7}");
    assert!(
        matches!(err, SparseError::MatrixMarket { line: 3, .. }),
        "{msg}"
    );
    // Duplicates overflowing to infinity are caught after summation.
    let (err, msg) = matrix_error(&format!("{HEAD}1 1 2\n1 1 1e308\n1 1 1e308\n"));
    assert!(matches!(err, SparseError::MatrixMarket { .. }), "{msg}");
    assert!(msg.contains("overflows"), "{msg}");
}

#[test]
fn huge_size_line_with_few_entries_is_refused_before_allocating() {
    assert_mm(
        matrix_error(&format!("{HEAD}4000000000 4000000000 1\n1 1 1\n")),
        2,
        "structurally singular",
    );
    // A byte order mark before the banner is tolerated.
    let a = parse_matrix(format!("\u{feff}{HEAD}1 1 1\n1 1 2\n").as_bytes(), "mem").unwrap();
    assert_eq!(a.get(0, 0), 2.0);
}

#[test]
fn non_square_matrix_is_not_square() {
    let (err, _) = matrix_error(&format!("{HEAD}3 4 1\n1 1 1\n"));
    assert!(
        matches!(err, SparseError::NotSquare { rows: 3, cols: 4 }),
        "{err:?}"
    );
}

#[test]
fn missing_file_is_io() {
    let err = read_matrix(Path::new("/nonexistent/dir/a.mtx")).unwrap_err();
    assert!(matches!(err, SparseError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/dir/a.mtx"));
    let err = read_vector(Path::new("/nonexistent/dir/b.mtx")).unwrap_err();
    assert!(matches!(err, SparseError::Io { .. }), "{err:?}");
}

#[test]
fn vector_errors() {
    let a = "%%MatrixMarket matrix array real general\n";
    assert_mm(
        vector_error(&format!("{a}3 2\n1\n2\n3\n4\n5\n6\n")),
        2,
        "holds a 3 x 2 matrix ('array real general'), not a vector",
    );
    assert_mm(
        vector_error(&format!("{a}3 1\n1\n2\n")),
        0,
        "file ended after 2 of the 3 values",
    );
    assert_mm(
        vector_error(&format!("{a}2 1\n1\n2\n3\n")),
        5,
        "more values than the 2",
    );
    assert_mm(
        vector_error(&format!("{a}2 1\n1\nnan\n")),
        4,
        "non-finite value 'nan'",
    );
    assert_mm(vector_error(&format!("{a}2 1\n1\ninf\n")), 4, "non-finite");
    assert_mm(
        vector_error(&format!("{a}2 1\n1 2\n")),
        3,
        "one value per line",
    );
    assert_mm(
        vector_error(&format!("{a}2 1\n1\n2,5\n")),
        4,
        "cannot parse value '2,5'",
    );
    assert_mm(vector_error(&format!("{a}2\n1\n2\n")), 2, "bad size line");
    assert_mm(
        vector_error("%%MatrixMarket matrix array real symmetric\n1 1\n1\n"),
        1,
        "'general'",
    );
    assert_mm(
        vector_error("%%MatrixMarket matrix array pattern general\n1 1\n"),
        1,
        "'pattern' is not valid",
    );
    let c = HEAD;
    assert_mm(
        vector_error(&format!("{c}3 1 1\n4 1 1.0\n")),
        3,
        "row index 4 out of range",
    );
    assert_mm(
        vector_error(&format!("{c}3 1 1\n1 2 1.0\n")),
        3,
        "column index 2 out of range",
    );
    assert_mm(
        vector_error(&format!("{c}3 1 2\n1 1 1.0\n")),
        0,
        "1 of the 2 entries",
    );
    assert_mm(
        vector_error(&format!("{c}3 1 1\n1 1 NaN\n")),
        3,
        "non-finite",
    );
}

// ---------------------------------------------------------------------------------------------
// Robustness: truncations and garbage never panic
// ---------------------------------------------------------------------------------------------

#[test]
fn truncation_at_every_byte_never_panics() {
    let files = [
        "general_real.mtx",
        "symmetric_real.mtx",
        "integer_symmetric.mtx",
        "pattern_general.mtx",
        "skew_symmetric.mtx",
    ];
    let dir = tempfile::tempdir().unwrap();
    for name in files {
        let bytes = std::fs::read(data(name)).unwrap();
        assert!(parse_matrix(&bytes, name).is_ok(), "{name}");
        let mut errors = 0;
        for cut in 0..bytes.len() {
            // Through the file system for a few, in memory for all.
            if cut % 17 == 0 {
                let p = dir.path().join("cut.mtx");
                std::fs::write(&p, &bytes[..cut]).unwrap();
                let _ = read_matrix(&p);
            }
            if let Err(e) = parse_matrix(&bytes[..cut], name) {
                assert!(!e.to_string().contains('\n'));
                errors += 1;
            }
            let _ = parse_vector(&bytes[..cut], name);
        }
        assert!(
            errors > bytes.len() / 2,
            "{name}: only {errors} truncations rejected"
        );
    }
    for name in [
        "vector_array.mtx",
        "vector_coordinate.mtx",
        "vector_row_array.mtx",
    ] {
        let bytes = std::fs::read(data(name)).unwrap();
        assert!(parse_vector(&bytes, name).is_ok(), "{name}");
        for cut in 0..bytes.len() {
            let _ = parse_vector(&bytes[..cut], name);
            let _ = parse_matrix(&bytes[..cut], name);
        }
    }
}

#[test]
fn random_garbage_and_mutations_never_panic() {
    let mut r = rng(99);
    let seeds: Vec<Vec<u8>> = [
        "general_real.mtx",
        "symmetric_real.mtx",
        "skew_symmetric.mtx",
        "pattern_general.mtx",
        "vector_array.mtx",
        "vector_coordinate.mtx",
    ]
    .iter()
    .map(|n| std::fs::read(data(n)).unwrap())
    .collect();
    let alphabet = b"0123456789 \n\t\r%-+.eEdDnaNiIf\x00\xff";
    for round in 0..20_000 {
        let mut bytes = seeds[round % seeds.len()].clone();
        match r.gen_range(0..4) {
            // Pure garbage, sometimes behind a valid banner.
            0 => {
                let len = r.gen_range(0..200);
                bytes = if r.gen_bool(0.5) {
                    HEAD.as_bytes().to_vec()
                } else {
                    Vec::new()
                };
                bytes.extend((0..len).map(|_| alphabet[r.gen_range(0..alphabet.len())]));
            }
            // Byte substitutions.
            1 => {
                for _ in 0..r.gen_range(1..4) {
                    let k = r.gen_range(0..bytes.len());
                    bytes[k] = alphabet[r.gen_range(0..alphabet.len())];
                }
            }
            // Insertions (can make huge sizes or indices).
            2 => {
                for _ in 0..r.gen_range(1..4) {
                    let k = r.gen_range(0..=bytes.len());
                    let run: Vec<u8> = (0..r.gen_range(1..12))
                        .map(|_| alphabet[r.gen_range(0..11)])
                        .collect();
                    bytes.splice(k..k, run);
                }
            }
            // Deletions.
            _ => {
                let a = r.gen_range(0..bytes.len());
                let b = (a + r.gen_range(1..20)).min(bytes.len());
                bytes.drain(a..b);
            }
        }
        for result in [
            parse_matrix(&bytes, "fuzz").map(|_| ()),
            parse_vector(&bytes, "fuzz").map(|_| ()),
        ] {
            if let Err(e) = result {
                assert!(!e.to_string().contains('\n'), "{e}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Atomic writes
// ---------------------------------------------------------------------------------------------

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn failed_writes_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let a = GridPoisson::new("4x4".parse().unwrap()).matrix();

    // Into a directory that does not exist.
    let missing = dir.path().join("no/such/dir/a.mtx");
    let err = write_matrix(&missing, &a, false).unwrap_err();
    assert!(matches!(err, SparseError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("no/such/dir/a.mtx"), "{err}");
    let err = write_vector(&dir.path().join("no/b.mtx"), &[1.0]).unwrap_err();
    assert!(matches!(err, SparseError::Io { .. }), "{err:?}");
    assert!(entries(dir.path()).is_empty());

    // Onto a path that is a directory: the rename fails and the temp file is removed.
    let sub = dir.path().join("taken.mtx");
    std::fs::create_dir(&sub).unwrap();
    let err = write_matrix(&sub, &a, true).unwrap_err();
    assert!(matches!(err, SparseError::Io { .. }), "{err:?}");
    let err = write_vector(&sub, &[1.0, 2.0]).unwrap_err();
    assert!(matches!(err, SparseError::Io { .. }), "{err:?}");
    assert_eq!(entries(dir.path()), vec!["taken.mtx".to_string()]);
    assert!(entries(&sub).is_empty());
}

#[test]
fn successful_writes_replace_the_file_and_leave_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.mtx");
    write_vector(&path, &[1.0, 2.0, 3.0]).unwrap();
    write_vector(&path, &[4.0]).unwrap();
    assert_eq!(read_vector(&path).unwrap(), vec![4.0]);
    let a = GridPoisson::new("3x3".parse().unwrap()).matrix();
    write_matrix(&dir.path().join("a.mtx"), &a, true).unwrap();
    assert_eq!(
        entries(dir.path()),
        vec!["a.mtx".to_string(), "x.mtx".to_string()]
    );
}

// ---------------------------------------------------------------------------------------------
// Shipped example inputs (datasets/)
// ---------------------------------------------------------------------------------------------

/// Seed of the right-hand side in `datasets/poisson2d_16x16_rhs.mtx`.
const DATASET_RHS_SEED: u64 = 16;

#[test]
fn shipped_poisson_dataset_reads_back() {
    let a = read_matrix(&datasets_dir().join("poisson2d_16x16.mtx")).unwrap();
    assert_same(&GridPoisson::new("16x16".parse().unwrap()).matrix(), &a);
    let text = std::fs::read_to_string(datasets_dir().join("poisson2d_16x16.mtx")).unwrap();
    assert!(text.starts_with("%%MatrixMarket matrix coordinate real symmetric\n"));
    let b = read_vector(&datasets_dir().join("poisson2d_16x16_rhs.mtx")).unwrap();
    assert_eq!(b.len(), 256);
    assert!(b.iter().all(|v| (-1.0..=1.0).contains(v)));
    // The README documents the generator; regenerate (below) if the rhs stream ever changes.
    let p = GridPoisson::new("16x16".parse().unwrap());
    assert_eq!(b, p.rhs(RhsKind::Random, DATASET_RHS_SEED));
}

/// Regenerates `datasets/poisson2d_16x16{,_rhs}.mtx`:
/// `cargo test -p nabla-sparse --test matrix_market -- --ignored generate_datasets`.
#[test]
#[ignore]
fn generate_datasets() {
    let p = GridPoisson::new("16x16".parse().unwrap());
    let dir = datasets_dir();
    std::fs::create_dir_all(&dir).unwrap();
    write_matrix(&dir.join("poisson2d_16x16.mtx"), &p.matrix(), true).unwrap();
    write_vector(
        &dir.join("poisson2d_16x16_rhs.mtx"),
        &p.rhs(RhsKind::Random, DATASET_RHS_SEED),
    )
    .unwrap();
}

/// Read speed on the 1000x1000 grid Poisson matrix (~5M entries):
/// `cargo test --release -p nabla-sparse --test matrix_market -- --ignored --nocapture read_speed`.
#[test]
#[ignore]
fn read_speed() {
    let dir = tempfile::tempdir().unwrap();
    let a = GridPoisson::new("1000x1000".parse().unwrap()).matrix();
    for symmetric in [false, true] {
        let path = dir.path().join("big.mtx");
        let t = std::time::Instant::now();
        write_matrix(&path, &a, symmetric).unwrap();
        let write_s = t.elapsed().as_secs_f64();
        let bytes = std::fs::metadata(&path).unwrap().len();
        let _ = read_matrix(&path).unwrap(); // warm the page cache
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let b = read_matrix(&path).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
            assert_eq!(b.nnz(), a.nnz());
        }
        println!(
            "{} storage: {} entries in the matrix, file {:.1} MB: write {:.3} s, read {:.3} s ({:.1} M stored entries/s, {:.0} MB/s)",
            if symmetric { "symmetric" } else { "general" },
            a.nnz(),
            bytes as f64 / 1e6,
            write_s,
            best,
            a.nnz() as f64 / best / 1e6,
            bytes as f64 / best / 1e6
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Messages name the real cause (issue 20)
// ---------------------------------------------------------------------------------------------

/// A symmetric matrix given where a vector belongs (`nabla poisson --rhs-file A.mtx`) is named
/// as a matrix, not as a vector with the wrong symmetry.
#[test]
fn a_matrix_where_a_vector_belongs_is_named_a_matrix() {
    let sym =
        "%%MatrixMarket matrix coordinate real symmetric\n3 3 4\n1 1 2\n2 1 -1\n2 2 2\n3 3 2\n";
    let (err, msg) = vector_error(sym);
    assert!(
        matches!(err, SparseError::MatrixMarket { line: 2, .. }),
        "{msg}"
    );
    assert!(msg.contains("holds a 3 x 3 matrix"), "{msg}");
    assert!(msg.contains("'coordinate real symmetric'"), "{msg}");
    assert!(msg.contains("not a vector"), "{msg}");
    assert!(msg.contains("'array' N x 1"), "{msg}");
    assert!(!msg.contains("stored as 'general'"), "{msg}");
    for kind in ["skew-symmetric", "general"] {
        let text = format!("%%MatrixMarket matrix coordinate real {kind}\n2 2 1\n2 1 1\n");
        let (_, msg) = vector_error(&text);
        assert!(msg.contains("holds a 2 x 2 matrix"), "{msg}");
    }
    // A 1 x 1 file is a vector; a non-general one is still refused for its symmetry.
    let (_, msg) = vector_error("%%MatrixMarket matrix coordinate real symmetric\n1 1 1\n1 1 2\n");
    assert!(msg.contains("stored as 'general'"), "{msg}");
}

/// Row, column and line numbers in messages are 1-based, as in the file; no message says
/// "line 0" or "row 0".
#[test]
fn numbers_in_messages_are_one_based() {
    // Zero diagonal in row 1 of the file.
    let text = "%%MatrixMarket matrix coordinate real symmetric\n2 2 2\n2 1 1\n2 2 1\n";
    let a = parse_matrix(text.as_bytes(), "z.mtx").unwrap();
    let sor = nabla_sparse::Sor::new(&a, 1.0).err().unwrap().to_string();
    assert!(sor.contains("zero diagonal entry at row 1;"), "{sor}");
    let amg = nabla_sparse::Amg::new(&a, Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(amg.contains("zero diagonal entry at row 1; AMG"), "{amg}");
    // Asymmetric pair (1, 2) / (2, 1) of the file.
    let text = "%%MatrixMarket matrix coordinate real general\n2 2 3\n1 1 2\n1 2 1\n2 2 2\n";
    let a = parse_matrix(text.as_bytes(), "n.mtx").unwrap();
    let e = a.check_symmetric("cg").unwrap_err().to_string();
    assert!(
        e.contains("entry (1, 2) = 1e0 but entry (2, 1) = 0e0"),
        "{e}"
    );
    // Negative pivot in row 2 of the file.
    let text = "%%MatrixMarket matrix coordinate real symmetric\n2 2 2\n1 1 1\n2 2 -1\n";
    let a = parse_matrix(text.as_bytes(), "i.mtx").unwrap();
    let e = nabla_sparse::Ic0::new(&a).err().unwrap().to_string();
    assert!(e.contains("at row 2"), "{e}");
    let e = nabla_sparse::Jacobi::new(&a).err().unwrap().to_string();
    assert!(e.contains("at row 2"), "{e}");
    // A truncated file names no line 0.
    let (_, msg) = matrix_error(&format!("{HEAD}3 3 3\n1 1 1\n2 2 1\n"));
    assert!(!msg.contains("line 0"), "{msg}");
    assert!(msg.contains("file ended after 2 of the 3 entries"), "{msg}");
    // Duplicates summing to an overflow: the entry as in the file, and no line 0.
    let (_, msg) = matrix_error(&format!("{HEAD}2 2 3\n2 1 1.7e308\n2 1 1.7e308\n1 1 1\n"));
    assert!(msg.contains("entry (2, 1) overflows"), "{msg}");
    assert!(!msg.contains("line 0"), "{msg}");
    let (_, msg) = vector_error(&format!("{HEAD}3 1 2\n3 1 1.7e308\n3 1 1.7e308\n"));
    assert!(msg.contains("entry 3 overflows"), "{msg}");
    // Writing: the asymmetric pair and the non-finite entry, 1-based.
    let dir = tempfile::tempdir().unwrap();
    let e = write_matrix(&dir.path().join("w.mtx"), &a_nonsym(), true)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("entry (1, 2) = 1e0 but entry (2, 1) = 0e0"),
        "{e}"
    );
    let e = write_vector(&dir.path().join("v.mtx"), &[1.0, f64::NAN])
        .unwrap_err()
        .to_string();
    assert!(e.contains("entry 2 of the vector is NaN"), "{e}");
}

fn a_nonsym() -> SparseMatrix {
    SparseMatrix::from_triplets(2, &[(0, 0, 2.0), (0, 1, 1.0), (1, 1, 2.0)]).unwrap()
}

/// A coordinate vector of absurd declared length with a few entries is answered at once (its
/// zeros cost no time), and a dense column file must hold a column.
#[test]
fn long_sparse_vectors_cost_nothing_up_front() {
    let t0 = std::time::Instant::now();
    let text = format!("{HEAD}4000000000 1 2\n1 1 1\n3999999999 1 2\n");
    match parse_vector(text.as_bytes(), "long.mtx") {
        Ok(x) => {
            assert_eq!(x.len(), 4_000_000_000);
            assert_eq!((x[0], x[3_999_999_998]), (1.0, 2.0));
        }
        Err(e) => assert!(e.to_string().contains("cannot allocate"), "{e}"),
    }
    assert!(t0.elapsed().as_secs_f64() < 2.0, "{:?}", t0.elapsed());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cols.mtx");
    std::fs::write(&path, "%%MatrixMarket matrix array real general\n0 3\n").unwrap();
    let e = nabla_sparse::mm::read_dense_columns(&path)
        .unwrap_err()
        .to_string();
    assert!(e.contains("at least one row"), "{e}");
}

/// A directory or a device is refused at once (`/dev/zero` would be read forever).
#[test]
fn devices_and_directories_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for path in [dir.path(), Path::new("/dev/zero")] {
        if !path.exists() {
            continue;
        }
        let e = read_matrix(path).unwrap_err();
        assert!(matches!(e, SparseError::Io { .. }), "{e:?}");
        assert!(e.to_string().contains("not a regular file"), "{e}");
        assert!(read_vector(path).is_err());
        assert!(nabla_sparse::mm::read_dense_columns(path).is_err());
    }
}
