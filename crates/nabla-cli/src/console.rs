//! The one place where the CLI writes to stdout and stderr.
//!
//! `println!` panics when stdout is closed (`nabla ... | head`) or full (`> /dev/full`); here a
//! failed write becomes [`CliError::Stdout`], which `main` turns into a quiet exit for a broken
//! pipe and into a one-line error otherwise. Messages on stderr are best effort: when stderr
//! itself cannot be written there is nobody left to tell, so those errors are dropped.

use crate::error::{CliError, Result};
use std::fmt;
use std::io::{self, Write};

/// Writes `args` and a newline to stdout and flushes, so a closed or full stdout is seen here.
pub fn out_line(args: fmt::Arguments) -> Result<()> {
    let mut s = io::stdout().lock();
    s.write_fmt(args)
        .and_then(|()| s.write_all(b"\n"))
        .and_then(|()| s.flush())
        .map_err(CliError::Stdout)
}

/// Writes `args` to stdout as is (no newline added) and flushes.
pub fn out_str(text: &str) -> Result<()> {
    let mut s = io::stdout().lock();
    s.write_all(text.as_bytes())
        .and_then(|()| s.flush())
        .map_err(CliError::Stdout)
}

/// Writes `args` and a newline to stderr, ignoring failures (see the module doc).
pub fn err_line(args: fmt::Arguments) {
    let mut s = io::stderr().lock();
    let _ = s.write_fmt(args).and_then(|()| s.write_all(b"\n"));
}

/// `println!` that returns the write error from the enclosing function (as [`CliError`]).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::console::out_line(format_args!($($arg)*))?
    };
}

/// `eprintln!` that never panics.
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::console::err_line(format_args!($($arg)*))
    };
}

pub(crate) use {note, outln};
