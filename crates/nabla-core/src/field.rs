//! Scalar fields u: ℝᵈ → ℝ, from text expressions or Rust closures.
//!
//! A [`ScalarField`] is what PDE solvers take for a source term f, boundary data g or a known
//! exact solution. Anything `Fn(&[f64]) -> f64 + Send + Sync` is a field, and so is an
//! [`Expr`] parsed from text such as `"sin(pi*x) * exp(-y^2)"`.
//!
//! # Expression syntax
//! - numbers: `1`, `2.5`, `1e-3`, `.5`
//! - variables: `x`, `y`, `z` (coordinates 0, 1, 2; a variable past the point's dimension reads
//!   0), `r` (Euclidean norm √(x₀² + … + x_{d−1}²) over all coordinates) and `theta`
//!   (the polar angle atan2(y, x) in radians, in (−π, π])
//! - constants: `pi`, `e`
//! - operators, loosest first: `+ -`, `* /`, unary `-` and `+`, `^` (power, right-associative:
//!   `2^3^2` = 2⁹; `-x^2` = −(x²))
//! - functions of one argument: `sin cos tan asin acos atan sinh cosh tanh exp ln log`
//!   (`log` is the natural logarithm, like `ln`) `log10 sqrt abs floor ceil sign`; of two:
//!   `atan2(y, x) pow(a, b) min(a, b) max(a, b)`
//!
//! Names are case-sensitive; whitespace is ignored. Parsing folds constant subexpressions, so
//! `2*pi*x` costs one multiplication per evaluation. An expression may nest at most
//! 256 levels deep and hold at most 4096 operators and calls (evaluation is recursive, and runs
//! on worker threads with small stacks).
//!
//! ```
//! use nabla_core::field::{Expr, ScalarField};
//! let f: Expr = "sin(pi*x) * y^2 + 1".parse().unwrap();
//! assert!((f.eval(&[0.5, 2.0]) - 5.0).abs() < 1e-12);
//! let g = |p: &[f64]| p[0] + p[1];
//! assert_eq!(g.eval(&[1.0, 2.0]), 3.0);
//! assert!("sin(x".parse::<Expr>().is_err());
//! ```

use crate::CoreError;
use std::fmt;
use std::str::FromStr;

/// A scalar function of a point, shared by every solver in nabla.
///
/// `x` has the dimension of the problem (2 or 3 for most solvers). Implementations must be
/// thread-safe: solvers evaluate fields from many threads at once.
pub trait ScalarField: Send + Sync {
    /// The value at `x`.
    fn eval(&self, x: &[f64]) -> f64;

    /// The same function as a CUDA C / C99 expression over `double` variables `x`, `y`, `z`
    /// (and `r`, `theta` if used), for kernels compiled at run time; `None` when the field is
    /// Rust code (a closure) that cannot be translated.
    fn to_c_source(&self) -> Option<String> {
        None
    }
}

impl<F: Fn(&[f64]) -> f64 + Send + Sync> ScalarField for F {
    fn eval(&self, x: &[f64]) -> f64 {
        self(x)
    }
}

/// A field parsed from a text expression (see the [module docs](self) for the syntax).
#[derive(Clone, Debug)]
pub struct Expr {
    text: String,
    node: Node,
    /// False when the expression uses space–time variables that have no C translation.
    c_compatible: bool,
}

/// The variables an expression over a space–time point may use (see [`Expr::parse_with`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variables {
    /// Number of space coordinates d: `x y z` (d ≤ 3) and `x1 … xd` (any d) name them.
    pub space_dim: usize,
    /// Whether the point carries a time coordinate after the space ones, named `t`.
    pub time: bool,
}

/// Built-in functions of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fn1 {
    Sin,
    Cos,
    Tan,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Exp,
    Ln,
    Log10,
    Sqrt,
    Abs,
    Floor,
    Ceil,
    Sign,
}

/// Built-in functions of two arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fn2 {
    Atan2,
    Pow,
    Min,
    Max,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

#[derive(Clone, Debug)]
enum Node {
    Const(f64),
    /// Coordinate `i` (0 when the point has fewer coordinates).
    Var(usize),
    /// Euclidean norm over the first `n` coordinates (`None`: all of them).
    Radius(Option<usize>),
    Theta,
    Neg(Box<Node>),
    Bin(BinOp, Box<Node>, Box<Node>),
    Call1(Fn1, Box<Node>),
    Call2(Fn2, Box<Node>, Box<Node>),
}

impl Fn1 {
    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "sin" => Self::Sin,
            "cos" => Self::Cos,
            "tan" => Self::Tan,
            "asin" => Self::Asin,
            "acos" => Self::Acos,
            "atan" => Self::Atan,
            "sinh" => Self::Sinh,
            "cosh" => Self::Cosh,
            "tanh" => Self::Tanh,
            "exp" => Self::Exp,
            "ln" | "log" => Self::Ln,
            "log10" => Self::Log10,
            "sqrt" => Self::Sqrt,
            "abs" => Self::Abs,
            "floor" => Self::Floor,
            "ceil" => Self::Ceil,
            "sign" => Self::Sign,
            _ => return None,
        })
    }

    fn apply(self, a: f64) -> f64 {
        match self {
            Self::Sin => a.sin(),
            Self::Cos => a.cos(),
            Self::Tan => a.tan(),
            Self::Asin => a.asin(),
            Self::Acos => a.acos(),
            Self::Atan => a.atan(),
            Self::Sinh => a.sinh(),
            Self::Cosh => a.cosh(),
            Self::Tanh => a.tanh(),
            Self::Exp => a.exp(),
            Self::Ln => a.ln(),
            Self::Log10 => a.log10(),
            Self::Sqrt => a.sqrt(),
            Self::Abs => a.abs(),
            Self::Floor => a.floor(),
            Self::Ceil => a.ceil(),
            Self::Sign => {
                if a > 0.0 {
                    1.0
                } else if a < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
        }
    }

    fn c_name(self) -> &'static str {
        match self {
            Self::Sin => "sin",
            Self::Cos => "cos",
            Self::Tan => "tan",
            Self::Asin => "asin",
            Self::Acos => "acos",
            Self::Atan => "atan",
            Self::Sinh => "sinh",
            Self::Cosh => "cosh",
            Self::Tanh => "tanh",
            Self::Exp => "exp",
            Self::Ln => "log",
            Self::Log10 => "log10",
            Self::Sqrt => "sqrt",
            Self::Abs => "fabs",
            Self::Floor => "floor",
            Self::Ceil => "ceil",
            Self::Sign => "nabla_sign",
        }
    }
}

impl Fn2 {
    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "atan2" => Self::Atan2,
            "pow" => Self::Pow,
            "min" => Self::Min,
            "max" => Self::Max,
            _ => return None,
        })
    }

    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Self::Atan2 => a.atan2(b),
            Self::Pow => a.powf(b),
            Self::Min => a.min(b),
            Self::Max => a.max(b),
        }
    }

    fn c_name(self) -> &'static str {
        match self {
            Self::Atan2 => "atan2",
            Self::Pow => "pow",
            Self::Min => "fmin",
            Self::Max => "fmax",
        }
    }
}

impl BinOp {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Self::Add => a + b,
            Self::Sub => a - b,
            Self::Mul => a * b,
            Self::Div => a / b,
            Self::Pow => pow(a, b),
        }
    }
}

/// `a^b`, with small integer exponents as multiplications (exact and fast).
#[inline]
fn pow(a: f64, b: f64) -> f64 {
    if b == 2.0 {
        a * a
    } else if b.fract() == 0.0 && b.abs() <= 16.0 {
        a.powi(b as i32)
    } else {
        a.powf(b)
    }
}

impl Node {
    fn eval(&self, x: &[f64]) -> f64 {
        match self {
            Node::Const(c) => *c,
            Node::Var(i) => x.get(*i).copied().unwrap_or(0.0),
            Node::Radius(None) => x.iter().map(|v| v * v).sum::<f64>().sqrt(),
            Node::Radius(Some(n)) => x.iter().take(*n).map(|v| v * v).sum::<f64>().sqrt(),
            Node::Theta => {
                let px = x.first().copied().unwrap_or(0.0);
                let py = x.get(1).copied().unwrap_or(0.0);
                py.atan2(px)
            }
            Node::Neg(a) => -a.eval(x),
            Node::Bin(op, a, b) => op.apply(a.eval(x), b.eval(x)),
            Node::Call1(f, a) => f.apply(a.eval(x)),
            Node::Call2(f, a, b) => f.apply(a.eval(x), b.eval(x)),
        }
    }

    fn as_const(&self) -> Option<f64> {
        match self {
            Node::Const(c) => Some(*c),
            _ => None,
        }
    }

    /// Builds the node, folding it to a constant when all its operands are constants.
    fn fold(self) -> Node {
        let all_const = match &self {
            Node::Neg(a) | Node::Call1(_, a) => a.as_const().is_some(),
            Node::Bin(_, a, b) | Node::Call2(_, a, b) => {
                a.as_const().is_some() && b.as_const().is_some()
            }
            _ => false,
        };
        if all_const {
            Node::Const(self.eval(&[]))
        } else {
            self
        }
    }

    fn uses_dims(&self, out: &mut usize) {
        match self {
            Node::Var(i) => *out = (*out).max(i.saturating_add(1)),
            Node::Theta => *out = (*out).max(2),
            Node::Neg(a) | Node::Call1(_, a) => a.uses_dims(out),
            Node::Bin(_, a, b) | Node::Call2(_, a, b) => {
                a.uses_dims(out);
                b.uses_dims(out);
            }
            Node::Radius(Some(n)) => *out = (*out).max(*n),
            Node::Const(_) | Node::Radius(None) => {}
        }
    }

    fn write_c(&self, s: &mut String) {
        match self {
            Node::Const(c) => {
                if c.is_finite() {
                    s.push_str(&format!("({c:e})"));
                } else if c.is_nan() {
                    s.push_str("(0.0/0.0)");
                } else if *c > 0.0 {
                    s.push_str("(1.0/0.0)");
                } else {
                    s.push_str("(-1.0/0.0)");
                }
            }
            Node::Var(i) => s.push_str(["x", "y", "z"].get(*i).copied().unwrap_or("0.0")),
            Node::Radius(_) => s.push('r'),
            Node::Theta => s.push_str("theta"),
            Node::Neg(a) => {
                s.push_str("(-");
                a.write_c(s);
                s.push(')');
            }
            Node::Bin(BinOp::Pow, a, b) => {
                if b.as_const() == Some(2.0) {
                    s.push_str("nabla_sq(");
                    a.write_c(s);
                    s.push(')');
                } else {
                    s.push_str("pow(");
                    a.write_c(s);
                    s.push_str(", ");
                    b.write_c(s);
                    s.push(')');
                }
            }
            Node::Bin(op, a, b) => {
                s.push('(');
                a.write_c(s);
                s.push_str(match op {
                    BinOp::Add => " + ",
                    BinOp::Sub => " - ",
                    BinOp::Mul => " * ",
                    BinOp::Div => " / ",
                    BinOp::Pow => unreachable!("handled above"),
                });
                b.write_c(s);
                s.push(')');
            }
            Node::Call1(f, a) => {
                s.push_str(f.c_name());
                s.push('(');
                a.write_c(s);
                s.push(')');
            }
            Node::Call2(f, a, b) => {
                s.push_str(f.c_name());
                s.push('(');
                a.write_c(s);
                s.push_str(", ");
                b.write_c(s);
                s.push(')');
            }
        }
    }
}

impl Expr {
    /// Parses `text`; errors name the problem and its byte position.
    pub fn parse(text: &str) -> Result<Self, CoreError> {
        Self::parse_vars(text, None)
    }

    /// Parses `text` as a function of a space–time point `(x₁, …, x_d[, t])`: the space
    /// coordinates are `x y z` (for d ≤ 3) or `x1 … xd` (any d, 1-based), the time is `t`
    /// (when `vars.time`), `r` is the norm over the space coordinates only and `theta` the polar
    /// angle of (x, y). A name outside these (e.g. `z` in 2-D, `t` in a steady problem) is an
    /// error naming it.
    ///
    /// ```
    /// use nabla_core::field::{Expr, ScalarField, Variables};
    /// let v = Variables { space_dim: 2, time: true };
    /// let f = Expr::parse_with("exp(-t) * x2 + r", &v).unwrap();
    /// assert!((f.eval(&[3.0, 4.0, 0.0]) - 9.0).abs() < 1e-12);
    /// assert!(Expr::parse_with("z", &v).unwrap_err().to_string().contains("'z'"));
    /// ```
    pub fn parse_with(text: &str, vars: &Variables) -> Result<Self, CoreError> {
        Self::parse_vars(text, Some(*vars))
    }

    fn parse_vars(text: &str, vars: Option<Variables>) -> Result<Self, CoreError> {
        let mut p = Parser {
            src: text,
            pos: 0,
            text,
            vars,
            depth: 0,
            operations: 0,
        };
        let node = p.expr()?;
        p.skip_ws();
        if p.pos < p.src.len() {
            return Err(p.error(&format!(
                "unexpected '{}'",
                p.src[p.pos..].chars().next().unwrap_or(' ')
            )));
        }
        let mut used = 0;
        node.uses_dims(&mut used);
        let c_compatible = vars.is_none_or(|v| !v.time && v.space_dim <= 3) && used <= 3;
        Ok(Self {
            text: text.trim().to_string(),
            node,
            c_compatible,
        })
    }

    /// The text the expression was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The constant value, when the expression does not depend on the point.
    pub fn as_constant(&self) -> Option<f64> {
        self.node.as_const()
    }

    /// The smallest dimension whose coordinates cover every variable used: 0 for constants and
    /// `r`, 1 for `x`, 2 for `y` or `theta`, 3 for `z`. A solver can reject `z` in 2-D with this.
    pub fn min_dim(&self) -> usize {
        let mut d = 0;
        self.node.uses_dims(&mut d);
        d
    }
}

impl FromStr for Expr {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, CoreError> {
        Expr::parse(s)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl ScalarField for Expr {
    #[inline]
    fn eval(&self, x: &[f64]) -> f64 {
        self.node.eval(x)
    }

    fn to_c_source(&self) -> Option<String> {
        if !self.c_compatible {
            return None;
        }
        let mut s = String::new();
        self.node.write_c(&mut s);
        Some(s)
    }
}

/// Deepest nesting (parentheses, unary signs, exponents, call arguments) the parser accepts.
const MAX_NESTING: usize = 256;
/// Most operators and calls in one expression: bounds the depth of the tree that evaluation,
/// cloning and dropping walk recursively.
const MAX_OPERATIONS: usize = 4096;

/// Recursive-descent parser over the bytes of the expression (all tokens are ASCII).
struct Parser<'a> {
    src: &'a str,
    pos: usize,
    text: &'a str,
    vars: Option<Variables>,
    /// Current recursion depth of [`Parser::unary`].
    depth: usize,
    /// Operators and calls read so far.
    operations: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &str) -> CoreError {
        CoreError::InvalidExpression {
            expr: self.text.to_string(),
            reason: format!("{reason} at position {}", self.pos + 1),
        }
    }

    /// Counts one operator or call, refusing expressions with more than [`MAX_OPERATIONS`].
    fn operation(&mut self) -> Result<(), CoreError> {
        self.operations += 1;
        if self.operations > MAX_OPERATIONS {
            return Err(self.error(&format!(
                "expression too long: more than {MAX_OPERATIONS} operators and calls"
            )));
        }
        Ok(())
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.src[self.pos..].chars().next() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.src[self.pos..].chars().next()
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    /// expr := term (('+' | '-') term)*
    fn expr(&mut self) -> Result<Node, CoreError> {
        let mut lhs = self.term()?;
        loop {
            let op = if self.eat('+') {
                BinOp::Add
            } else if self.eat('-') {
                BinOp::Sub
            } else {
                return Ok(lhs);
            };
            self.operation()?;
            let rhs = self.term()?;
            lhs = Node::Bin(op, Box::new(lhs), Box::new(rhs)).fold();
        }
    }

    /// term := unary (('*' | '/') unary)*
    fn term(&mut self) -> Result<Node, CoreError> {
        let mut lhs = self.unary()?;
        loop {
            let op = if self.eat('*') {
                BinOp::Mul
            } else if self.eat('/') {
                BinOp::Div
            } else {
                return Ok(lhs);
            };
            self.operation()?;
            let rhs = self.unary()?;
            lhs = Node::Bin(op, Box::new(lhs), Box::new(rhs)).fold();
        }
    }

    /// unary := ('-' | '+') unary | power
    ///
    /// Every nested construct passes through here, so this is where nesting is bounded.
    fn unary(&mut self) -> Result<Node, CoreError> {
        if self.depth >= MAX_NESTING {
            return Err(self.error(&format!(
                "expression nested more than {MAX_NESTING} levels deep"
            )));
        }
        self.depth += 1;
        let node = self.unary_inner();
        self.depth -= 1;
        node
    }

    fn unary_inner(&mut self) -> Result<Node, CoreError> {
        if self.eat('-') {
            self.operation()?;
            let a = self.unary()?;
            return Ok(Node::Neg(Box::new(a)).fold());
        }
        if self.eat('+') {
            return self.unary();
        }
        self.power()
    }

    /// power := atom ('^' unary)?   (right-associative; the exponent may carry a sign)
    fn power(&mut self) -> Result<Node, CoreError> {
        let base = self.atom()?;
        if self.eat('^') {
            self.operation()?;
            let exp = self.unary()?;
            return Ok(Node::Bin(BinOp::Pow, Box::new(base), Box::new(exp)).fold());
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<Node, CoreError> {
        let c = match self.peek() {
            Some(c) => c,
            None => return Err(self.error("unexpected end of expression")),
        };
        if c == '(' {
            self.pos += 1;
            let inner = self.expr()?;
            if !self.eat(')') {
                return Err(self.error("missing ')'"));
            }
            return Ok(inner);
        }
        if c.is_ascii_digit() || c == '.' {
            return self.number();
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let start = self.pos;
            while let Some(ch) = self.src[self.pos..].chars().next() {
                if ch.is_ascii_alphanumeric() || ch == '_' {
                    self.pos += 1;
                } else {
                    break;
                }
            }
            let name = &self.src[start..self.pos];
            if self.peek() == Some('(') {
                self.pos += 1;
                self.operation()?;
                let a = self.expr()?;
                if let Some(f) = Fn1::from_name(name) {
                    if !self.eat(')') {
                        let reason = if self.peek().is_none() {
                            format!("missing ')' after the argument of {name}()")
                        } else {
                            format!("{name}() takes one argument")
                        };
                        return Err(self.error(&reason));
                    }
                    return Ok(Node::Call1(f, Box::new(a)).fold());
                }
                if let Some(f) = Fn2::from_name(name) {
                    if !self.eat(',') {
                        return Err(self.error(&format!("{name}() takes two arguments")));
                    }
                    let b = self.expr()?;
                    if !self.eat(')') {
                        return Err(self.error(&format!("{name}() takes two arguments")));
                    }
                    return Ok(Node::Call2(f, Box::new(a), Box::new(b)).fold());
                }
                self.pos = start;
                return Err(self.error(&format!("unknown function '{name}'")));
            }
            if let Some(v) = self.vars {
                return self.space_time_name(name, start, v);
            }
            return match name {
                "x" => Ok(Node::Var(0)),
                "y" => Ok(Node::Var(1)),
                "z" => Ok(Node::Var(2)),
                "r" => Ok(Node::Radius(None)),
                "theta" => Ok(Node::Theta),
                "pi" => Ok(Node::Const(std::f64::consts::PI)),
                "e" => Ok(Node::Const(std::f64::consts::E)),
                _ => {
                    self.pos = start;
                    Err(self.error(&format!(
                        "unknown name '{name}' (variables: x, y, z, r, theta; constants: pi, e)"
                    )))
                }
            };
        }
        Err(self.error(&format!("unexpected '{c}'")))
    }

    /// A variable or constant name of a space–time expression (see [`Expr::parse_with`]).
    fn space_time_name(
        &mut self,
        name: &str,
        start: usize,
        v: Variables,
    ) -> Result<Node, CoreError> {
        let d = v.space_dim;
        let named = ["x", "y", "z"];
        if let Some(i) = named.iter().position(|n| *n == name) {
            if i < d && d <= 3 {
                return Ok(Node::Var(i));
            }
        }
        if let Some(i) = name
            .strip_prefix('x')
            .and_then(|rest| rest.parse::<usize>().ok())
        {
            if (1..=d).contains(&i) && !name[1..].starts_with('0') {
                return Ok(Node::Var(i - 1));
            }
        }
        match name {
            "t" if v.time => return Ok(Node::Var(d)),
            "r" => return Ok(Node::Radius(Some(d))),
            "theta" if d >= 2 => return Ok(Node::Theta),
            "pi" => return Ok(Node::Const(std::f64::consts::PI)),
            "e" => return Ok(Node::Const(std::f64::consts::E)),
            _ => {}
        }
        let mut names: Vec<String> = if d <= 3 {
            named[..d].iter().map(|s| s.to_string()).collect()
        } else {
            Vec::new()
        };
        names.push(if d == 1 {
            "x1".into()
        } else {
            format!("x1..x{d}")
        });
        if v.time {
            names.push("t".into());
        }
        names.push("r".into());
        if d >= 2 {
            names.push("theta".into());
        }
        self.pos = start;
        Err(self.error(&format!(
            "unknown name '{name}' in {d}-D{} (variables: {}; constants: pi, e)",
            if v.time { " space–time" } else { "" },
            names.join(", ")
        )))
    }

    fn number(&mut self) -> Result<Node, CoreError> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let mut i = self.pos;
        while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
            i += 1;
        }
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            let mut j = i + 1;
            if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                j += 1;
            }
            if j < bytes.len() && bytes[j].is_ascii_digit() {
                while j < bytes.len() && bytes[j].is_ascii_digit() {
                    j += 1;
                }
                i = j;
            }
        }
        let s = &self.src[start..i];
        match s.parse::<f64>() {
            Ok(v) => {
                self.pos = i;
                Ok(Node::Const(v))
            }
            Err(_) => Err(self.error(&format!("bad number '{s}'"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str, x: &[f64]) -> f64 {
        s.parse::<Expr>().unwrap().eval(x)
    }

    #[test]
    fn precedence_and_functions() {
        assert_eq!(ev("1 + 2*3", &[]), 7.0);
        assert_eq!(ev("2^3^2", &[]), 512.0);
        assert_eq!(ev("-x^2", &[3.0]), -9.0);
        assert_eq!(ev("2^-1", &[]), 0.5);
        assert_eq!(ev("(1+2)*3", &[]), 9.0);
        assert_eq!(ev("8/2/2", &[]), 2.0);
        assert_eq!(ev("1 - 2 - 3", &[]), -4.0);
        assert!((ev("sin(pi/2) + ln(e) + log(e)", &[]) - 3.0).abs() < 1e-15);
        assert_eq!(ev("max(x, y) - min(x, y)", &[1.0, 4.0]), 3.0);
        assert!((ev("atan2(y, x)", &[0.0, 1.0]) - std::f64::consts::FRAC_PI_2).abs() < 1e-15);
        assert!((ev("theta", &[-1.0, 0.0]) - std::f64::consts::PI).abs() < 1e-15);
        assert_eq!(ev("r", &[3.0, 4.0]), 5.0);
        assert_eq!(ev("z", &[1.0, 2.0]), 0.0);
        assert_eq!(ev("1.5e2 + .5 + 2E-1", &[]), 150.7);
        assert_eq!(ev("sign(-3) + abs(-2) + floor(1.5) + ceil(1.5)", &[]), 4.0);
    }

    #[test]
    fn folds_constants_and_reports_dims() {
        let e: Expr = "2*pi".parse().unwrap();
        assert_eq!(e.as_constant(), Some(2.0 * std::f64::consts::PI));
        assert_eq!("x*z".parse::<Expr>().unwrap().min_dim(), 3);
        assert_eq!("theta".parse::<Expr>().unwrap().min_dim(), 2);
        assert_eq!("r".parse::<Expr>().unwrap().min_dim(), 0);
    }

    #[test]
    fn errors_name_the_problem() {
        for (s, what) in [
            ("sin(x", "missing ')'"),
            ("foo(x)", "unknown function 'foo'"),
            ("w + 1", "unknown name 'w'"),
            ("1 +", "unexpected end"),
            ("1 2", "unexpected '2'"),
            ("atan2(1)", "two arguments"),
            ("", "unexpected end"),
            ("1..2", "bad number"),
            ("x $ y", "unexpected '$'"),
        ] {
            let e = s.parse::<Expr>().unwrap_err().to_string();
            assert!(e.contains(what), "{s}: {e}");
            assert!(!e.contains('\n'));
        }
    }

    #[test]
    fn c_source_round_trips_structure() {
        let e: Expr = "sin(pi*x)*y^2 - abs(z)/2".parse().unwrap();
        let c = e.to_c_source().unwrap();
        assert!(c.contains("sin(") && c.contains("nabla_sq(y)") && c.contains("fabs(z)"));
    }
}
