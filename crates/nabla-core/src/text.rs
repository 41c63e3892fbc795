//! Quoting user input inside one-line error messages.
//!
//! ```
//! use nabla_core::text::one_line;
//! assert_eq!(one_line("64x\n64", 80), "64x\\n64");
//! assert_eq!(one_line("abcdef", 3), "abc…");
//! ```

use std::fmt::Write;

/// `s` made fit to quote inside a one-line message: control characters and Unicode line
/// separators are escaped (`\n`, `\t`, `\u{1b}`, `\u{2028}`), and text past `max_chars`
/// characters is cut and marked with `…`.
pub fn one_line(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars.saturating_mul(4)));
    for (n, c) in s.chars().enumerate() {
        if n == max_chars {
            out.push('…');
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn escapes_controls_and_cuts() {
        assert_eq!(
            one_line("a\r\nb\tc\u{1b}\u{85}\u{2028}", 100),
            "a\\r\\nb\\tc\\u{1b}\\u{85}\\u{2028}"
        );
        assert_eq!(one_line("ünïcödé", 3), "ünï…");
        assert_eq!(one_line("", 0), "");
        assert_eq!(one_line("x", 0), "…");
    }
}

/// A number for a message: `{}` between 1e-4 and 1e15 in magnitude (`0.5`, `100000`), `{:e}`
/// outside (`1e308`, `1e-300`), where `{}` alone would print hundreds of digits.
pub fn short_number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() || (1e-4..1e15).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

#[cfg(test)]
mod short_number_tests {
    use super::short_number;

    #[test]
    fn large_and_tiny_numbers_use_exponents() {
        assert_eq!(short_number(1e308), "1e308");
        assert_eq!(short_number(-1e-300), "-1e-300");
        assert_eq!(short_number(0.5), "0.5");
        assert_eq!(short_number(0.0), "0");
        assert_eq!(short_number(f64::NAN), "NaN");
    }
}
