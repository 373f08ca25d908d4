//! The canonical text of a TOML float: what Rust's `Display` printed for the `f64` it
//! reads as (shortest digits that read back the same, never an exponent), with `.0` on
//! integral values, as the writer always did.
//!
//! Reading decimal text into an `f64` and finding its shortest digits are two of the
//! largest pieces of the standard library in wasm. So the host may do both with
//! [`use_host_float`] (Node's `String(Number(s))` is exactly that); core only lays the
//! digits out. Natively Rust's own `{:e}` gives the digits, through the same layout.

use std::sync::OnceLock;

/// A host's conversion: a decimal float literal (`-1.5e3`) -> the shortest decimal that
/// reads back as the same `f64`, in plain (`1500`) or exponent (`1.5e+21`) form, or a
/// text starting with `I` (JavaScript's `Infinity`) on overflow.
pub type HostFloat = fn(&str) -> String;

static HOST_FLOAT: OnceLock<HostFloat> = OnceLock::new();

/// Makes every later float conversion use `f`. The first call wins.
pub fn use_host_float(f: HostFloat) {
    let _ = HOST_FLOAT.set(f);
}

/// `literal`: a decimal float with its sign, no `_` (`inf` and `nan` are the caller's).
pub(crate) fn canonical(literal: &str) -> Result<String, &'static str> {
    let shortest = shortest(literal)?;
    let negative = literal.starts_with('-');
    let (digits, exp) = decompose(&shortest).ok_or("float overflows:")?;
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if digits.is_empty() {
        out.push_str("0.0");
    } else {
        lay_out(&mut out, &digits, exp);
    }
    Ok(out)
}

/// The host's conversion, else Rust's (left out of wasm, where the host must give one).
fn shortest(literal: &str) -> Result<String, &'static str> {
    if let Some(f) = HOST_FLOAT.get() {
        return Ok(f(literal));
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let x: f64 = literal.parse().map_err(|_| "invalid float")?;
        Ok(format!("{x:e}"))
    }
    #[cfg(target_arch = "wasm32")]
    Err("floats need the host's conversion (use_host_float):")
}

/// Significant digits (no leading or trailing zeros; empty for zero) and the exponent
/// `e` of a decimal, read as `0.DIGITS × 10^e`. `None` for infinity.
fn decompose(s: &str) -> Option<(String, i32)> {
    let s = s.trim_start_matches(['-', '+']);
    if s.starts_with(['I', 'i']) {
        return None;
    }
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].trim_start_matches('+').parse().ok()?),
        None => (s, 0i32),
    };
    let int_len = mantissa.find('.').unwrap_or(mantissa.len()) as i32;
    let mut digits = String::new();
    let mut leading = 0;
    for c in mantissa.chars().filter(char::is_ascii_digit) {
        if c == '0' && digits.is_empty() {
            leading += 1;
        } else {
            digits.push(c);
        }
    }
    let trimmed = digits.trim_end_matches('0').len();
    digits.truncate(trimmed);
    Some((digits, exp + int_len - leading))
}

/// `0.DIGITS × 10^exp` in plain notation, `.0` on integral values.
fn lay_out(out: &mut String, digits: &str, exp: i32) {
    let len = digits.len() as i32;
    if exp <= 0 {
        out.push_str("0.");
        push_zeros(out, -exp);
        out.push_str(digits);
    } else if exp < len {
        let (int, frac) = digits.split_at(exp as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else {
        out.push_str(digits);
        push_zeros(out, exp - len);
        out.push_str(".0");
    }
}

fn push_zeros(out: &mut String, n: i32) {
    for _ in 0..n {
        out.push('0');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the writer printed before: `{f}`, `.0` when integral.
    fn reference(x: f64) -> String {
        if x % 1.0 == 0.0 {
            format!("{x}.0")
        } else {
            format!("{x}")
        }
    }

    /// JavaScript's `String(x)` form, as a host gives it.
    fn js_like(x: f64) -> String {
        let e = format!("{x:e}");
        let (m, exp) = e.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        if (-7..21).contains(&exp) {
            reference(x).trim_end_matches(".0").to_string()
        } else {
            format!("{m}e{}{exp}", if exp > 0 { "+" } else { "" })
        }
    }

    fn samples() -> Vec<f64> {
        let mut xs = vec![
            1.0,
            0.5,
            0.1,
            0.3,
            1e300,
            1e-300,
            5e-324,
            1.7976931348623157e308,
            1e21,
            1e-7,
            123456.789,
            2.5e-9,
            2.5e-5,
            1e15,
            1e16,
            1e17,
            0.30000000000000004,
            100.0,
        ];
        // A fixed pseudo-random walk over bit patterns of finite, non-zero doubles.
        let mut bits: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            bits ^= bits << 13;
            bits ^= bits >> 7;
            bits ^= bits << 17;
            let x = f64::from_bits(bits);
            if x.is_finite() && x != 0.0 {
                xs.push(x);
            }
        }
        xs
    }

    #[test]
    fn lays_out_digits_as_display_does() {
        for x in samples() {
            for form in [format!("{x:e}"), js_like(x)] {
                let (digits, exp) = decompose(&form).unwrap();
                let mut out = String::from(if x < 0.0 { "-" } else { "" });
                lay_out(&mut out, &digits, exp);
                assert_eq!(out, reference(x), "{form}");
            }
        }
    }

    #[test]
    fn canonical_texts() {
        for (literal, text) in [
            ("1.0", "1.0"),
            ("-0.0", "-0.0"),
            ("+0.0", "0.0"),
            ("0e0", "0.0"),
            ("-1e-400", "-0.0"),
            ("1e300", &reference(1e300)),
            ("5e-324", &reference(5e-324)),
            ("6.02214076e23", "602214076000000000000000.0"),
            ("0.1", "0.1"),
            ("123.456e-2", "1.23456"),
        ] {
            assert_eq!(canonical(literal).unwrap(), text, "{literal}");
        }
        assert!(canonical("1e400").is_err());
        assert!(canonical("-1e400").is_err());
    }
}
