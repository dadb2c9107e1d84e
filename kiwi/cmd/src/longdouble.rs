//! x87 80-bit `long double` arithmetic, emulated exactly, for INCRBYFLOAT.
//!
//! Redis (on x86-64) parses INCRBYFLOAT operands with `strtold`, adds them in
//! 80-bit extended precision (64-bit mantissa) and stores the sum printed
//! with `%.17Lf`, trailing zeros trimmed. f64 arithmetic gives visibly
//! different strings (e.g. `0.1 + 0.2`), so Kiwi reproduces the extended
//! format with big-integer arithmetic: every step is rounded to nearest-even
//! at 64 mantissa bits, exactly as the FPU does.

use num_bigint::{BigInt, BigUint, Sign};

/// `(-1)^neg * mant * 2^exp`; `mant == 0` is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongDouble {
    neg: bool,
    mant: u64,
    exp: i64,
}

/// Largest binary exponent before the value overflows the x87 format.
const MAX_EXP: i64 = 16384 - 64;
/// Decimal exponents beyond these over/underflow `long double` (strtold's ERANGE).
const MAX_DEC_EXP: i64 = 4940;
const MIN_DEC_EXP: i64 = -4960;
/// Smallest binary magnitude before a hex float underflows.
const MIN_BIN_EXP: i64 = -16445;

/// Rounds `num / den * 2^exp2` to a 64-bit mantissa, nearest-even.
fn round(neg: bool, num: BigUint, den: BigUint, exp2: i64) -> Option<LongDouble> {
    if num.bits() == 0 {
        return Some(LongDouble {
            neg: false,
            mant: 0,
            exp: 0,
        });
    }
    let mut e = num.bits() as i64 - den.bits() as i64 - 64;
    loop {
        let (n, d) = if e >= 0 {
            (num.clone(), &den << (e as usize))
        } else {
            (&num << ((-e) as usize), den.clone())
        };
        let q = &n / &d;
        let bits = q.bits();
        if bits > 64 {
            e += 1;
            continue;
        }
        if bits < 64 {
            e -= 1;
            continue;
        }
        let r = &n - &q * &d;
        let twice_r: BigUint = r << 1usize;
        let mut mant = q.to_u64_digits().first().copied().unwrap_or(0);
        let round_up = twice_r > d || (twice_r == d && mant & 1 == 1);
        let mut exp = e + exp2;
        if round_up {
            match mant.checked_add(1) {
                Some(m) => mant = m,
                None => {
                    mant = 1 << 63;
                    exp += 1;
                }
            }
        }
        if exp > MAX_EXP {
            return None;
        }
        return Some(LongDouble { neg, mant, exp });
    }
}

impl LongDouble {
    /// Parses like Redis's `string2ld` (strtold, whole string, no leading
    /// space, no NaN, no overflow). `inf` parses; callers reject infinities.
    /// Hexadecimal floats (`0x1.8p3`) are accepted, as strtold does.
    pub fn parse(s: &[u8]) -> Option<Result<LongDouble, Infinite>> {
        let text = std::str::from_utf8(s).ok()?;
        if text.is_empty()
            || text.len() >= 5 * 1024
            || text.starts_with(|c: char| c.is_ascii_whitespace())
        {
            return None;
        }
        let (neg, body) = match text.as_bytes()[0] {
            b'-' => (true, &text[1..]),
            b'+' => (false, &text[1..]),
            _ => (false, text),
        };
        let lower = body.to_ascii_lowercase();
        if lower == "inf" || lower == "infinity" {
            return Some(Err(Infinite));
        }
        if let Some(hex) = lower.strip_prefix("0x") {
            return parse_hex(neg, hex);
        }
        let lit = Literal::split(&lower, 'e', 10)?;
        let dec_exp = lit.exp - lit.frac_digits as i64;
        let digits = lit.digits.trim_start_matches('0');
        if digits.is_empty() {
            return Some(Ok(LongDouble {
                neg: false,
                mant: 0,
                exp: 0,
            }));
        }
        let magnitude = dec_exp + digits.len() as i64;
        if !(MIN_DEC_EXP..=MAX_DEC_EXP).contains(&magnitude) {
            return None; // ERANGE: overflow or underflow, rejected by string2ld
        }
        let d = BigUint::parse_bytes(digits.as_bytes(), 10)?;
        let ten = BigUint::from(10u32);
        let r = if dec_exp >= 0 {
            round(neg, d * ten.pow(dec_exp as u32), BigUint::from(1u32), 0)
        } else {
            round(neg, d, ten.pow((-dec_exp) as u32), 0)
        };
        // Overflow is ERANGE: string2ld rejects it (only a literal `inf` parses).
        r.map(Ok)
    }

    fn signed(&self) -> BigInt {
        let m = BigInt::from(self.mant);
        if self.neg {
            -m
        } else {
            m
        }
    }

    /// `self + other`, rounded once; `None` on overflow to infinity.
    pub fn plus(self, other: LongDouble) -> Option<LongDouble> {
        if self.mant == 0 {
            return Some(other);
        }
        if other.mant == 0 {
            return Some(self);
        }
        let e = self.exp.min(other.exp);
        let a = self.signed() << ((self.exp - e) as usize);
        let b = other.signed() << ((other.exp - e) as usize);
        let sum = a + b;
        let (sign, mag) = sum.into_parts();
        round(sign == Sign::Minus, mag, BigUint::from(1u32), e)
    }

    /// `%.17Lf` with trailing zeros (and a trailing '.') removed, `-0` as `0`:
    /// Redis's `ld2string(..., LD_STR_HUMAN)`.
    pub fn to_human_string(self) -> String {
        let scale = BigUint::from(10u32).pow(17);
        let m = BigUint::from(self.mant);
        let n = if self.exp >= 0 {
            (m << (self.exp as usize)) * scale
        } else {
            let num = m * scale;
            let den = BigUint::from(1u32) << ((-self.exp) as usize);
            let q = &num / &den;
            let r = &num - &q * &den;
            let twice_r: BigUint = r << 1usize;
            let odd = q.bit(0);
            if twice_r > den || (twice_r == den && odd) {
                q + 1u32
            } else {
                q
            }
        };
        let mut digits = n.to_str_radix(10);
        if digits.len() < 18 {
            digits = format!("{}{digits}", "0".repeat(18 - digits.len()));
        }
        let (int_part, frac) = digits.split_at(digits.len() - 17);
        let frac = frac.trim_end_matches('0');
        let mut out = String::new();
        if self.neg && (int_part != "0" || !frac.is_empty()) {
            out.push('-');
        }
        out.push_str(int_part);
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
        out
    }
}

/// A C float literal's body split the way strtold reads it: the mantissa
/// digits with the point removed, how many of them followed the point, and
/// the signed exponent after `exp_letter` (decimal digits, capped in size).
struct Literal {
    digits: String,
    frac_digits: usize,
    exp: i64,
}

impl Literal {
    fn split(body: &str, exp_letter: char, radix: u32) -> Option<Literal> {
        let (mantissa, exp_part) = match body.find(exp_letter) {
            Some(i) => (&body[..i], Some(&body[i + 1..])),
            None => (body, None),
        };
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        if !int_part
            .chars()
            .chain(frac_part.chars())
            .all(|c| c.is_digit(radix))
        {
            return None;
        }
        let mut exp = 0;
        if let Some(e) = exp_part {
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let v: i64 = digits.parse::<i64>().unwrap_or(i64::MAX / 4).min(1_000_000);
            exp = if e.starts_with('-') { -v } else { v };
        }
        Some(Literal {
            digits: format!("{int_part}{frac_part}"),
            frac_digits: frac_part.len(),
            exp,
        })
    }
}

/// The part of a C hexadecimal float after `0x`: hex digits with an optional
/// point, then an optional binary exponent `p[+-]digits`.
fn parse_hex(neg: bool, hex: &str) -> Option<Result<LongDouble, Infinite>> {
    let lit = Literal::split(hex, 'p', 16)?;
    // Each hex digit after the point is 4 bits; the exponent is binary.
    let exp2 = lit.exp - 4 * lit.frac_digits as i64;
    let m = BigUint::parse_bytes(lit.digits.as_bytes(), 16)?;
    if m.bits() == 0 {
        return Some(Ok(LongDouble {
            neg: false,
            mant: 0,
            exp: 0,
        }));
    }
    if exp2 + (m.bits() as i64) < MIN_BIN_EXP {
        return None; // underflow: ERANGE, rejected by string2ld
    }
    // Overflow is ERANGE too: string2ld rejects it (only a literal `inf` parses).
    round(neg, m, BigUint::from(1u32), exp2).map(Ok)
}

/// The value is (or became) infinite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Infinite;

#[cfg(test)]
mod tests {
    use super::*;

    fn incr(a: &str, b: &str) -> String {
        let x = LongDouble::parse(a.as_bytes()).unwrap().unwrap();
        let y = LongDouble::parse(b.as_bytes()).unwrap().unwrap();
        x.plus(y).unwrap().to_human_string()
    }

    #[test]
    fn matches_redis_on_x86() {
        // Expected strings are what redis-server 7.0 (x86-64) replies.
        assert_eq!(incr("10.5", "0.1"), "10.6");
        assert_eq!(incr("0.1", "0.2"), "0.3");
        assert_eq!(
            incr("-9223372036854775807", "1.5"),
            "-9223372036854775805.5"
        );
        assert_eq!(incr("5.0e3", "2.0e2"), "5200");
        assert_eq!(incr("3", "-3"), "0");
        assert_eq!(incr("-0", "0"), "0");
        assert_eq!(incr("1", "1e-20"), "1");
        assert_eq!(incr("0", "1e-17"), "0.00000000000000001");
        assert_eq!(incr("0x10", "1"), "17");
        assert_eq!(incr("0x1.8p1", "0"), "3");
        assert_eq!(incr("-0X.8", "0"), "-0.5");
    }

    #[test]
    fn parse_rejects_what_string2ld_rejects() {
        for bad in [
            "",
            " 1",
            "1 ",
            "abc",
            "nan",
            "1e",
            "1e99999",
            "--1",
            ".",
            "0x",
            "0xg",
            "0x1p",
            "0x1p99999",
        ] {
            assert!(LongDouble::parse(bad.as_bytes()).is_none(), "{bad:?}");
        }
        assert!(matches!(LongDouble::parse(b"inf"), Some(Err(Infinite))));
        assert!(matches!(LongDouble::parse(b".5"), Some(Ok(_))));
        assert!(matches!(LongDouble::parse(b"5."), Some(Ok(_))));
    }
}
