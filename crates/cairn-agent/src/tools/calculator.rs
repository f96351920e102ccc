//! `calculator`: arithmetic over numbers, evaluated by a small recursive-descent parser.
//! Nothing is executed: the grammar has numbers, `+ - * / % ^`, parentheses, the
//! constants `pi` and `e`, and a fixed list of functions. Input length and nesting are
//! bounded.

use super::{Tool, ToolCtx, ToolSpec, str_arg};
use crate::{Error, Result};
use cairn_types::ErrorCode;
use serde_json::{Value, json};

/// Longest expression accepted.
const MAX_LEN: usize = 2_000;
/// Deepest nesting of parentheses and calls.
const MAX_DEPTH: usize = 64;

/// The `calculator` tool.
pub struct Calculator;

impl Tool for Calculator {
    fn spec(&self) -> ToolSpec {
        ToolSpec {
            name: "calculator".into(),
            description: "Evaluates an arithmetic expression: numbers, + - * / % ^, \
                parentheses, pi, e, and abs, sqrt, round(x, digits), floor, ceil, min, max, \
                ln, log10, exp, pow(x, y). Example: (128 * 1024) / 8"
                .into(),
            parameters: json!({
                "type": "object",
                "properties": {"expression": {"type": "string", "maxLength": MAX_LEN}},
                "required": ["expression"],
                "additionalProperties": false
            }),
            side_effects: false,
        }
    }

    fn call(&self, _ctx: &ToolCtx<'_>, args: &Value) -> Result<String> {
        let expr = str_arg(args, "expression")?;
        let v = evaluate(expr)?;
        Ok(format!("{expr} = {}", format_number(v)))
    }
}

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInput, message)
}

/// Evaluates `expr`.
pub fn evaluate(expr: &str) -> Result<f64> {
    if expr.len() > MAX_LEN {
        return Err(bad(format!(
            "the expression is longer than {MAX_LEN} characters"
        )));
    }
    let mut p = Parser {
        s: expr.as_bytes(),
        at: 0,
        depth: 0,
    };
    let v = p.sum()?;
    p.skip_ws();
    if p.at < p.s.len() {
        return Err(bad(format!(
            "unexpected `{}` at position {}",
            char::from(p.s[p.at]),
            p.at + 1
        )));
    }
    if !v.is_finite() {
        return Err(bad(
            "the result is not a finite number (division by zero or overflow)",
        ));
    }
    Ok(v)
}

/// A number as people write it: integers without a fraction, others to 10 significant
/// digits.
pub fn format_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = format!("{:.*}", 10usize.saturating_sub(magnitude(v)).max(1), v);
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    };
    if s == "-0" { "0".into() } else { s }
}

fn magnitude(v: f64) -> usize {
    let m = v.abs().log10().floor();
    if m.is_finite() && m > 0.0 {
        // Bounded above: only finite values get here.
        m.min(20.0) as usize + 1
    } else {
        0
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(bad(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn sum(&mut self) -> Result<f64> {
        let mut v = self.product()?;
        loop {
            if self.eat(b'+') {
                v += self.product()?;
            } else if self.eat(b'-') {
                v -= self.product()?;
            } else {
                return Ok(v);
            }
        }
    }

    fn product(&mut self) -> Result<f64> {
        let mut v = self.unary()?;
        loop {
            if self.eat(b'*') {
                v *= self.unary()?;
            } else if self.eat(b'/') {
                let d = self.unary()?;
                if d == 0.0 {
                    return Err(bad("division by zero"));
                }
                v /= d;
            } else if self.eat(b'%') {
                let d = self.unary()?;
                if d == 0.0 {
                    return Err(bad("remainder of a division by zero"));
                }
                v %= d;
            } else {
                return Ok(v);
            }
        }
    }

    fn unary(&mut self) -> Result<f64> {
        if self.eat(b'-') {
            self.enter()?;
            let v = -self.unary()?;
            self.depth -= 1;
            return Ok(v);
        }
        if self.eat(b'+') {
            return self.unary();
        }
        self.power()
    }

    fn power(&mut self) -> Result<f64> {
        let base = self.atom()?;
        if self.eat(b'^') {
            self.enter()?;
            // Right-associative, and binds tighter than a unary minus on its right.
            let exp = self.unary()?;
            self.depth -= 1;
            return Ok(base.powf(exp));
        }
        Ok(base)
    }

    fn atom(&mut self) -> Result<f64> {
        match self.peek() {
            Some(b'(') => {
                self.at += 1;
                self.enter()?;
                let v = self.sum()?;
                self.depth -= 1;
                if !self.eat(b')') {
                    return Err(bad("a `(` is not closed"));
                }
                Ok(v)
            }
            Some(c) if c.is_ascii_digit() || c == b'.' => self.number(),
            Some(c) if c.is_ascii_alphabetic() => self.name(),
            Some(c) => Err(bad(format!(
                "unexpected `{}` at position {}",
                char::from(c),
                self.at + 1
            ))),
            None => Err(bad("the expression ends too early")),
        }
    }

    fn number(&mut self) -> Result<f64> {
        let start = self.at;
        let mut end = self.at;
        while end < self.s.len()
            && (self.s[end].is_ascii_digit() || matches!(self.s[end], b'.' | b'_' | b','))
        {
            // A comma is a thousands separator only between digits followed by 3 digits.
            if self.s[end] == b',' {
                let group = self.s.get(end + 1..end + 4);
                let after = self.s.get(end + 4).copied();
                let is_group = group.is_some_and(|g| g.iter().all(u8::is_ascii_digit))
                    && !after.is_some_and(|a| a.is_ascii_digit());
                if !is_group {
                    break;
                }
            }
            end += 1;
        }
        if end < self.s.len() && matches!(self.s[end], b'e' | b'E') {
            let mut k = end + 1;
            if k < self.s.len() && matches!(self.s[k], b'+' | b'-') {
                k += 1;
            }
            if k < self.s.len() && self.s[k].is_ascii_digit() {
                end = k;
                while end < self.s.len() && self.s[end].is_ascii_digit() {
                    end += 1;
                }
            }
        }
        let text: String = String::from_utf8_lossy(&self.s[start..end])
            .chars()
            .filter(|c| *c != '_' && *c != ',')
            .collect();
        self.at = end;
        text.parse::<f64>()
            .map_err(|_| bad(format!("`{text}` is not a number")))
    }

    fn name(&mut self) -> Result<f64> {
        let start = self.at;
        while self.at < self.s.len()
            && (self.s[self.at].is_ascii_alphanumeric() || self.s[self.at] == b'_')
        {
            self.at += 1;
        }
        let name = String::from_utf8_lossy(&self.s[start..self.at]).to_ascii_lowercase();
        match name.as_str() {
            "pi" => return Ok(std::f64::consts::PI),
            "e" => return Ok(std::f64::consts::E),
            _ => {}
        }
        if !self.eat(b'(') {
            return Err(bad(format!("unknown name `{name}`")));
        }
        self.enter()?;
        let mut args = Vec::new();
        if !self.eat(b')') {
            loop {
                args.push(self.sum()?);
                if self.eat(b')') {
                    break;
                }
                if !self.eat(b',') {
                    return Err(bad(format!("expected `,` or `)` in the call of `{name}`")));
                }
            }
        }
        self.depth -= 1;
        apply(&name, &args)
    }
}

fn apply(name: &str, args: &[f64]) -> Result<f64> {
    let one = |f: fn(f64) -> f64| -> Result<f64> {
        match args {
            [x] => Ok(f(*x)),
            _ => Err(bad(format!(
                "`{name}` takes one argument, not {}",
                args.len()
            ))),
        }
    };
    match name {
        "abs" => one(f64::abs),
        "sqrt" => match args {
            [x] if *x < 0.0 => Err(bad("square root of a negative number")),
            _ => one(f64::sqrt),
        },
        "floor" => one(f64::floor),
        "ceil" => one(f64::ceil),
        "ln" => one(f64::ln),
        "log10" => one(f64::log10),
        "exp" => one(f64::exp),
        "round" => match args {
            [x] => Ok(x.round()),
            [x, d] if (0.0..=15.0).contains(d) => {
                let f = 10f64.powi(d.round() as i32);
                Ok((x * f).round() / f)
            }
            _ => Err(bad(
                "`round` takes (x) or (x, digits) with 0 <= digits <= 15",
            )),
        },
        "pow" => match args {
            [x, y] => Ok(x.powf(*y)),
            _ => Err(bad("`pow` takes two arguments")),
        },
        "min" | "max" if args.is_empty() => Err(bad(format!("`{name}` needs arguments"))),
        "min" => Ok(args.iter().copied().fold(f64::INFINITY, f64::min)),
        "max" => Ok(args.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        _ => Err(bad(format!("unknown function `{name}`"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn arithmetic_follows_the_usual_precedence() {
        let cases = [
            ("1 + 2 * 3", 7.0),
            ("(1 + 2) * 3", 9.0),
            ("2 ^ 3 ^ 2", 512.0),
            ("-2 ^ 2", -4.0),
            ("10 % 4", 2.0),
            ("128 * 1024 / 8", 16384.0),
            ("max(1, 7, 3) - min(4, 2)", 5.0),
            ("round(2 / 3, 2)", 0.67),
            ("sqrt(16) + abs(-1.5)", 5.5),
            ("1,024 * 2", 2048.0),
            ("1.5e3", 1500.0),
            ("pow(2, 10)", 1024.0),
        ];
        for (expr, want) in cases {
            let got = evaluate(expr).unwrap();
            assert!((got - want).abs() < 1e-9, "{expr} = {got}, want {want}");
        }
        assert_eq!(format_number(16384.0), "16384");
        assert_eq!(format_number(2.0 / 3.0), "0.6666666667");
        assert_eq!(format_number(-0.25), "-0.25");
    }

    #[test]
    fn anything_else_is_refused_with_a_reason() {
        for (expr, why) in [
            ("1 / 0", "division by zero"),
            ("__import__('os')", "unexpected `_`"),
            ("system(1)", "unknown function `system`"),
            ("x + 1", "unknown name `x`"),
            ("(1 + 2", "not closed"),
            ("1 +", "ends too early"),
            ("sqrt(-1)", "negative"),
            ("1 2", "unexpected `2`"),
        ] {
            let e = evaluate(expr).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidInput);
            assert!(e.message.contains(why), "{expr}: {}", e.message);
        }
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(
            evaluate(&deep)
                .unwrap_err()
                .message
                .contains("nested deeper")
        );
        assert!(
            evaluate(&"1+".repeat(1_500))
                .unwrap_err()
                .message
                .contains("longer")
        );
    }
}
