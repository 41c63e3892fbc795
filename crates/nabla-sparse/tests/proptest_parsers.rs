//! Property tests for every parser a user reaches in `nabla-sparse`: MatrixMarket matrices,
//! vectors and dense column files (arbitrary bytes and structured mutations of valid files),
//! and the `FromStr` names of solvers, right-hand sides, AMG smoothers and tuning options.
//!
//! Each asserts that the parser never panics and that an error is one line of text.

use nabla_sparse::mm::{parse_matrix, parse_vector, read_dense_columns};
use nabla_sparse::tuning::{OmegaSolver, ShiftDistribution, ShiftScaling};
use nabla_sparse::{AmgSmoother, RhsKind, SolverKind, SparseError};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use std::time::{Duration, Instant};

/// Passes `Ok`, and an `Err` whose message is one non-empty line.
fn one_line<T, E: std::fmt::Display>(r: &Result<T, E>) -> Result<(), TestCaseError> {
    if let Err(e) = r {
        let msg = e.to_string();
        prop_assert!(!msg.is_empty(), "empty error message");
        prop_assert!(
            !msg.contains(['\n', '\r', '\u{2028}', '\u{2029}', '\u{85}']),
            "multi-line error: {msg:?}"
        );
    }
    Ok(())
}

/// Runs every MatrixMarket reader on `bytes`: the matrix and vector parsers in memory and the
/// dense-column reader through a file.
fn all_readers(bytes: &[u8]) -> Result<(), TestCaseError> {
    one_line(&parse_matrix(bytes, "fuzz.mtx"))?;
    one_line(&parse_vector(bytes, "fuzz.mtx"))?;
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let path = dir.path().join("fuzz.mtx");
    std::fs::write(&path, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    one_line(&read_dense_columns(&path))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Structured MatrixMarket files
// ---------------------------------------------------------------------------------------------

fn word(options: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(options).prop_map(str::to_string)
}

/// A banner, mostly valid, with every format/field/symmetry the standard names and some that
/// it does not.
fn banner() -> impl Strategy<Value = String> {
    (
        word(&[
            "%%MatrixMarket",
            "%%MatrixMarket",
            "%%MatrixMarket",
            "%%matrixmarket",
            "%MatrixMarket",
            "%%MatrixMarketX",
            "MatrixMarket",
            "",
        ]),
        word(&[
            "matrix", "matrix", "matrix", "Matrix", "vector", "graph", "",
        ]),
        word(&[
            "coordinate",
            "coordinate",
            "array",
            "array",
            "COORDINATE",
            "coord",
            "dense",
        ]),
        word(&[
            "real", "real", "double", "integer", "pattern", "complex", "REAL", "float",
        ]),
        word(&[
            "general",
            "general",
            "symmetric",
            "skew-symmetric",
            "hermitian",
            "Symmetric",
            "skew",
        ]),
        prop::sample::select(&[0usize, 0, 0, 1, 2][..]),
    )
        .prop_map(|(mm, obj, fmt, field, sym, extra)| {
            let mut s = format!("{mm} {obj} {fmt} {field} {sym}");
            for _ in 0..extra {
                s.push_str(" extra");
            }
            s
        })
}

/// An integer token: small sizes, boundary values of u32/u64, absurd sizes and garbage.
fn int_token() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0u64..6).prop_map(|v| v.to_string()),
        1 => word(&[
            "4294967295",
            "4294967296",
            "4000000000",
            "1000000000000",
            "9999999999999999999",
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999",
            "-1",
            "-0",
            "+2",
            "1.5",
            "1e3",
            "0x10",
            "abc",
            "",
            "２",
        ]),
    ]
}

/// A value token: ordinary numbers, every special float spelling, Fortran exponents, garbage.
fn value_token() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (-1.0e3f64..1.0e3).prop_map(|v| v.to_string()),
        2 => any::<f64>().prop_map(|v| format!("{v:e}")),
        2 => word(&[
            "0", "-0", "1", "-2", "NaN", "nan", "-nan", "inf", "-inf", "Infinity", "1e308",
            "1.7976931348623157e308", "1e309", "-1e309", "1e-400", "5e-324", "1.5D+03",
            "1.5d-03", "2D", "D", "1.0.0", "abc", "0x1p3", "9223372036854775807",
            "9223372036854775808", "-9223372036854775809", "1_000", "", "１",
        ]),
    ]
}

/// One line after the banner.
fn body_line() -> impl Strategy<Value = String> {
    prop_oneof![
        // An entry (two or three tokens) or a size line (two or three integers).
        6 => (int_token(), int_token(), value_token()).prop_map(|(r, c, v)| format!("{r} {c} {v}")),
        2 => (int_token(), int_token()).prop_map(|(r, c)| format!("{r} {c}")),
        2 => value_token(),
        1 => (int_token(), int_token(), int_token(), value_token())
            .prop_map(|(a, b, c, d)| format!("{a} {b} {c} {d}")),
        1 => word(&["", "   ", "% a comment", "%", "\t", "%%MatrixMarket matrix coordinate real general"]),
        1 => "[ -~]{0,20}",
    ]
}

/// A file: banner, a size line, entry lines; then optional damage (truncation, CRLF ends,
/// a byte order mark, a missing final newline).
fn mm_file() -> impl Strategy<Value = Vec<u8>> {
    (
        banner(),
        (int_token(), int_token(), prop::option::of(int_token())),
        prop::collection::vec(body_line(), 0..12),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(any::<prop::sample::Index>()),
        any::<bool>(),
    )
        .prop_map(
            |(banner, (r, c, nnz), body, crlf, bom, cut, final_newline)| {
                let eol = if crlf { "\r\n" } else { "\n" };
                let mut s = String::new();
                if bom {
                    s.push('\u{feff}');
                }
                s.push_str(&banner);
                s.push_str(eol);
                s.push_str(&r);
                s.push(' ');
                s.push_str(&c);
                if let Some(n) = nnz {
                    s.push(' ');
                    s.push_str(&n);
                }
                for line in body {
                    s.push_str(eol);
                    s.push_str(&line);
                }
                if final_newline {
                    s.push_str(eol);
                }
                let mut bytes = s.into_bytes();
                if let Some(at) = cut {
                    let at = at.index(bytes.len() + 1);
                    bytes.truncate(at);
                }
                bytes
            },
        )
}

/// A valid file, then one structural mutation applied to one of its lines.
fn mutated_valid_file() -> impl Strategy<Value = Vec<u8>> {
    let valid = (
        1usize..6,
        prop::collection::vec((0usize..6, 0usize..6, -10.0f64..10.0), 0..10),
    )
        .prop_map(|(n, entries)| {
            let entries: Vec<(usize, usize, f64)> = entries
                .into_iter()
                .map(|(i, j, v)| (i % n + 1, j % n + 1, v))
                .collect();
            (n, entries)
        });
    (
        valid,
        word(&[
            "coordinate real general",
            "coordinate real symmetric",
            "coordinate real skew-symmetric",
            "coordinate integer general",
            "coordinate pattern general",
            "coordinate pattern symmetric",
            "coordinate complex general",
            "coordinate complex hermitian",
            "array real general",
            "array real symmetric",
            "array integer general",
            "array pattern general",
        ]),
        0usize..12,
        any::<prop::sample::Index>(),
        value_token(),
        int_token(),
    )
        .prop_map(|((n, entries), kind, mutation, at, value, index)| {
            let array = kind.starts_with("array");
            let pattern = kind.contains("pattern");
            let mut lines = vec![format!("%%MatrixMarket matrix {kind}")];
            if array {
                lines.push(format!("{n} 1"));
                for (_, _, v) in &entries {
                    lines.push(v.to_string());
                }
                if entries.len() < n {
                    lines.extend((entries.len()..n).map(|_| "0".to_string()));
                }
                lines.truncate(2 + n);
            } else {
                lines.push(format!("{n} {n} {}", entries.len()));
                for (i, j, v) in &entries {
                    lines.push(if pattern {
                        format!("{i} {j}")
                    } else {
                        format!("{i} {j} {v}")
                    });
                }
            }
            let k = if lines.len() > 2 {
                2 + at.index(lines.len() - 2)
            } else {
                1
            };
            match mutation {
                // Wrong value.
                0 => {
                    let mut t: Vec<String> = lines[k].split(' ').map(str::to_string).collect();
                    if let Some(last) = t.last_mut() {
                        *last = value;
                    }
                    lines[k] = t.join(" ");
                }
                // Wrong row index.
                1 => {
                    let mut t: Vec<String> = lines[k].split(' ').map(str::to_string).collect();
                    t[0] = index;
                    lines[k] = t.join(" ");
                }
                // Wrong column index.
                2 => {
                    let mut t: Vec<String> = lines[k].split(' ').map(str::to_string).collect();
                    if t.len() > 1 {
                        t[1] = index;
                    } else {
                        t.push(index);
                    }
                    lines[k] = t.join(" ");
                }
                // Wrong counts on the size line.
                3 => lines[1] = format!("{n} {n} {index}"),
                4 => lines[1] = format!("{index} {index} {}", lines.len() - 2),
                5 => lines[1] = format!("{index} 1"),
                // Duplicate an entry (and fix the count, so duplicates are summed).
                6 => {
                    lines.push(lines[k].clone());
                    if !array {
                        lines[1] = format!("{n} {n} {}", lines.len() - 2);
                    }
                }
                // Truncate a line in the middle.
                7 => {
                    let half = lines[k].len() / 2;
                    lines[k].truncate(half);
                }
                // Drop a line.
                8 => {
                    lines.remove(k);
                }
                // Duplicate a value far past the f64 range: sums overflow.
                9 => {
                    for _ in 0..3 {
                        lines.push(if array {
                            "1.7e308".into()
                        } else {
                            "1 1 1.7e308".into()
                        });
                    }
                    lines[1] = if array {
                        format!("{} 1", lines.len() - 2)
                    } else {
                        format!("{n} {n} {}", lines.len() - 2)
                    };
                }
                // Matrix where a vector is expected, and vice versa.
                10 => lines[1] = format!("{n} {n}"),
                _ => lines[0] = "%%MatrixMarket matrix coordinate real general".into(),
            }
            let mut text = lines.join("\n");
            text.push('\n');
            text.into_bytes()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        all_readers(&bytes)?;
    }

    #[test]
    fn arbitrary_text_after_a_banner_never_panics(
        banner in banner(),
        rest in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = banner.into_bytes();
        bytes.push(b'\n');
        bytes.extend_from_slice(&rest);
        all_readers(&bytes)?;
    }

    #[test]
    fn structured_files_never_panic(bytes in mm_file()) {
        all_readers(&bytes)?;
    }

    #[test]
    fn mutated_valid_files_never_panic(bytes in mutated_valid_file()) {
        all_readers(&bytes)?;
    }

    #[test]
    fn absurd_declared_sizes_are_refused_fast(
        rows in prop::sample::select(&[4_000_000_000u64, 4_294_967_295, 1_000_000_000, 50_000_000][..]),
        cols in prop::sample::select(&[1u64, 4_000_000_000, 4_294_967_295, 1_000_000_000][..]),
        nnz in prop::sample::select(&[0u64, 1, 3, 1_000_000_000_000, 9_999_999_999_999_999_999][..]),
        kind in word(&["coordinate real general", "coordinate real symmetric", "coordinate pattern general", "array real general"]),
    ) {
        let size = if kind.starts_with("array") {
            format!("{rows} {cols}")
        } else {
            format!("{rows} {cols} {nnz}")
        };
        let text = format!("%%MatrixMarket matrix {kind}\n{size}\n1 1 1\n2 1 2\n3 1 3\n");
        let t0 = Instant::now();
        let m = parse_matrix(text.as_bytes(), "big.mtx");
        prop_assert!(m.is_err(), "absurd matrix accepted: {size}");
        one_line(&m)?;
        let v = parse_vector(text.as_bytes(), "big.mtx");
        one_line(&v)?;
        if let Ok(v) = &v {
            // A sparse vector may be long; it must not have cost time or memory up front.
            prop_assert!(v.len() as u64 == rows.max(cols) || v.len() as u64 == rows.min(cols));
        }
        drop(v);
        prop_assert!(t0.elapsed() < Duration::from_secs(2), "took {:?}", t0.elapsed());
    }
}

// ---------------------------------------------------------------------------------------------
// Names given on the command line
// ---------------------------------------------------------------------------------------------

/// A name: a valid one, a valid one damaged, or anything.
fn name_like(valid: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        2 => prop::sample::select(valid).prop_map(str::to_string),
        2 => (prop::sample::select(valid), any::<prop::sample::Index>(), "[\\x00-\\x7f\\n\\r\\t ]{0,3}")
            .prop_map(|(v, at, noise)| {
                let mut s = v.to_string();
                let at = at.index(s.len() + 1);
                s.insert_str(at, &noise);
                s
            }),
        2 => any::<String>(),
        1 => "chebyshev[0-9+\\-]{0,25}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn cli_names_never_panic(s in name_like(&[
        "cg", "jacobi-pcg", "ic0-pcg", "ssor-pcg", "mg-pcg", "amg-pcg", "amg", "sor", "ssor",
        "random", "ones", "point", "jacobi", "sgs", "symmetric-gauss-seidel", "spai0",
        "chebyshev", "chebyshev3", "chebyshev10", "high", "low", "spectral", "literal",
    ])) {
        one_line(&s.parse::<SolverKind>())?;
        one_line(&s.parse::<RhsKind>())?;
        one_line(&s.parse::<AmgSmoother>())?;
        one_line(&s.parse::<ShiftDistribution>())?;
        one_line(&s.parse::<ShiftScaling>())?;
        one_line(&s.parse::<OmegaSolver>())?;
    }
}

/// Every name printed by a parsed value parses back to the same value.
#[test]
fn names_round_trip() {
    for k in SolverKind::ALL {
        assert_eq!(k.name().parse::<SolverKind>().unwrap(), k);
    }
    for d in 1..=10 {
        let s = AmgSmoother::Chebyshev { degree: d };
        assert_eq!(s.name().parse::<AmgSmoother>().unwrap(), s);
    }
    for bad in [
        "chebyshev0",
        "chebyshev11",
        "chebyshev+3",
        "chebyshev99999999999999999999",
    ] {
        let e = bad.parse::<AmgSmoother>().unwrap_err();
        assert!(matches!(e, SparseError::InvalidParameter(_)), "{bad}: {e}");
    }
}
