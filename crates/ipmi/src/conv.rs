//! Sensor reading conversion (IPMI v2.0 section 36.3): the SDR linear formula
//! `y = (M·x + B·10^Bexp)·10^Rexp` with a 10-bit signed M and B, 4-bit signed exponents
//! (`Bexp` is "K1", `Rexp` is "K2" in the spec) and the analog data format of the raw
//! byte (unsigned, 1's complement or 2's complement).
//!
//! [`Linear::for_resolution`] picks the factors for a sensor whose reading is `raw ·
//! resolution + offset`; [`Linear::value`] and [`Linear::raw`] convert both ways.

/// How the raw byte is to be read (SDR Sensor Units 1, bits 7:6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AnalogFormat {
    /// Unsigned (00b).
    #[default]
    Unsigned,
    /// 1's complement, signed (01b).
    OnesComplement,
    /// 2's complement, signed (10b).
    TwosComplement,
    /// No analog reading (11b).
    None,
}

impl AnalogFormat {
    /// From the two bits.
    pub fn from_bits(b: u8) -> AnalogFormat {
        match b & 3 {
            0 => AnalogFormat::Unsigned,
            1 => AnalogFormat::OnesComplement,
            2 => AnalogFormat::TwosComplement,
            _ => AnalogFormat::None,
        }
    }

    /// The two bits.
    pub fn bits(self) -> u8 {
        match self {
            AnalogFormat::Unsigned => 0,
            AnalogFormat::OnesComplement => 1,
            AnalogFormat::TwosComplement => 2,
            AnalogFormat::None => 3,
        }
    }

    /// The number a raw byte stands for in this format (`None` reads as unsigned).
    pub fn decode(self, raw: u8) -> i32 {
        match self {
            AnalogFormat::Unsigned | AnalogFormat::None => i32::from(raw),
            AnalogFormat::OnesComplement => {
                if raw & 0x80 != 0 {
                    -i32::from(!raw)
                } else {
                    i32::from(raw)
                }
            }
            AnalogFormat::TwosComplement => i32::from(raw as i8),
        }
    }

    /// The range of numbers a raw byte can carry in this format.
    pub fn range(self) -> (i32, i32) {
        match self {
            AnalogFormat::Unsigned | AnalogFormat::None => (0, 255),
            AnalogFormat::OnesComplement => (-127, 127),
            AnalogFormat::TwosComplement => (-128, 127),
        }
    }

    /// The raw byte for a number already within [`AnalogFormat::range`] (clamped).
    pub fn encode(self, x: i32) -> u8 {
        let (lo, hi) = self.range();
        let x = x.clamp(lo, hi);
        match self {
            AnalogFormat::Unsigned | AnalogFormat::None => x as u8,
            AnalogFormat::OnesComplement => {
                if x < 0 {
                    !((-x) as u8)
                } else {
                    x as u8
                }
            }
            AnalogFormat::TwosComplement => (x as i8) as u8,
        }
    }
}

/// Sign-extends the low `bits` bits of `v`.
pub fn sign_extend(v: u16, bits: u32) -> i16 {
    let shift = 16 - bits;
    ((v << shift) as i16) >> shift
}

/// The smallest and largest 10-bit signed values (M and B).
pub const TEN_BIT: (i16, i16) = (-512, 511);
/// The smallest and largest 4-bit signed values (the exponents).
pub const FOUR_BIT: (i8, i8) = (-8, 7);

/// The linear conversion factors of a sensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Linear {
    /// M, 10-bit signed.
    pub m: i16,
    /// B, 10-bit signed.
    pub b: i16,
    /// B exponent (K1), 4-bit signed.
    pub b_exp: i8,
    /// Result exponent (K2), 4-bit signed.
    pub r_exp: i8,
    /// How the raw byte is read.
    pub format: AnalogFormat,
}

impl Default for Linear {
    fn default() -> Linear {
        Linear {
            m: 1,
            b: 0,
            b_exp: 0,
            r_exp: 0,
            format: AnalogFormat::Unsigned,
        }
    }
}

impl Linear {
    /// The reading a raw byte stands for: `(M·x + B·10^Bexp)·10^Rexp`.
    pub fn value(&self, raw: u8) -> f64 {
        let x = f64::from(self.format.decode(raw));
        (f64::from(self.m) * x + f64::from(self.b) * 10f64.powi(i32::from(self.b_exp)))
            * 10f64.powi(i32::from(self.r_exp))
    }

    /// The raw byte whose reading is nearest to `value` (clamped to the format's range;
    /// M = 0 gives raw 0).
    pub fn raw(&self, value: f64) -> u8 {
        if self.m == 0 || !value.is_finite() {
            return self.format.encode(0);
        }
        let x = (value / 10f64.powi(i32::from(self.r_exp))
            - f64::from(self.b) * 10f64.powi(i32::from(self.b_exp)))
            / f64::from(self.m);
        let (lo, hi) = self.format.range();
        let x = x.round().clamp(f64::from(lo), f64::from(hi)) as i32;
        self.format.encode(x)
    }

    /// The value of one raw count (`M·10^Rexp`).
    pub fn resolution(&self) -> f64 {
        f64::from(self.m) * 10f64.powi(i32::from(self.r_exp))
    }

    /// The value of raw 0 (`B·10^(Bexp+Rexp)`).
    pub fn offset(&self) -> f64 {
        f64::from(self.b) * 10f64.powi(i32::from(self.b_exp) + i32::from(self.r_exp))
    }

    /// Factors for an unsigned sensor whose reading is `raw · resolution + offset`:
    /// exact when `resolution` is a 10-bit integer times a power of ten in 10^-8..10^7
    /// and `offset` likewise (with a 10-bit B); otherwise the nearest representable
    /// pair, chosen to minimise the largest error over the raw range. Among exact
    /// choices the smallest M (then the smallest B) wins.
    pub fn for_resolution(resolution: f64, offset: f64) -> Linear {
        let mut best = Linear::default();
        let mut best_err = f64::INFINITY;
        if !resolution.is_finite() || !offset.is_finite() {
            return best;
        }
        for r_exp in (FOUR_BIT.0..=FOUR_BIT.1).rev() {
            let rs = 10f64.powi(i32::from(r_exp));
            let m = (resolution / rs).round();
            if m < f64::from(TEN_BIT.0) || m > f64::from(TEN_BIT.1) || m == 0.0 {
                continue;
            }
            let m_err = (m * rs - resolution).abs() * 255.0;
            for b_exp in (FOUR_BIT.0..=FOUR_BIT.1).rev() {
                let bs = 10f64.powi(i32::from(b_exp) + i32::from(r_exp));
                let b = (offset / bs).round();
                if b < f64::from(TEN_BIT.0) || b > f64::from(TEN_BIT.1) {
                    continue;
                }
                let err = m_err + (b * bs - offset).abs();
                // Better only by more than float noise, so that 0.1 + noise still counts
                // as exact and the earlier (larger exponent) choice is kept. The margin
                // is relative to the error to beat, not to the resolution: an exact
                // small offset must win over a rounded one even when M is large.
                let noise = 1e-12 * (resolution.abs() * 255.0 + offset.abs()).max(1e-12);
                let better =
                    best_err.is_infinite() || err < best_err - (1e-9 * best_err).max(noise);
                if better {
                    best_err = err;
                    best = Linear {
                        m: m as i16,
                        b: b as i16,
                        b_exp,
                        r_exp,
                        format: AnalogFormat::Unsigned,
                    };
                }
            }
        }
        if best.b == 0 {
            best.b_exp = 0;
        }
        best
    }

    /// The M, tolerance, B, accuracy, direction and exponent bytes of an SDR (bytes
    /// 25-30 of a full sensor record; tolerance, accuracy and direction are given).
    pub fn encode_factors(&self, tolerance: u8, accuracy: u16, acc_exp: u8, dir: u8) -> [u8; 6] {
        let m = (self.m as u16) & 0x3FF;
        let b = (self.b as u16) & 0x3FF;
        let acc = accuracy & 0x3FF;
        [
            (m & 0xFF) as u8,
            (((m >> 8) as u8) << 6) | (tolerance & 0x3F),
            (b & 0xFF) as u8,
            (((b >> 8) as u8) << 6) | ((acc & 0x3F) as u8),
            (((acc >> 6) as u8) << 4) | ((acc_exp & 3) << 2) | (dir & 3),
            (((self.r_exp as u8) & 0x0F) << 4) | ((self.b_exp as u8) & 0x0F),
        ]
    }

    /// Reads the factors back from those six bytes and the analog format; returns the
    /// conversion and (tolerance, accuracy, accuracy exponent, direction).
    pub fn decode_factors(b: &[u8; 6], format: AnalogFormat) -> (Linear, (u8, u16, u8, u8)) {
        let m = u16::from(b[0]) | (u16::from(b[1] >> 6) << 8);
        let bb = u16::from(b[2]) | (u16::from(b[3] >> 6) << 8);
        let acc = u16::from(b[3] & 0x3F) | (u16::from(b[4] >> 4) << 6);
        let lin = Linear {
            m: sign_extend(m, 10),
            b: sign_extend(bb, 10),
            r_exp: sign_extend(u16::from(b[5] >> 4), 4) as i8,
            b_exp: sign_extend(u16::from(b[5] & 0x0F), 4) as i8,
            format,
        };
        (lin, (b[1] & 0x3F, acc, (b[4] >> 2) & 3, b[4] & 3))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats() {
        assert_eq!(AnalogFormat::TwosComplement.decode(0xFF), -1);
        assert_eq!(AnalogFormat::OnesComplement.decode(0xFE), -1);
        assert_eq!(AnalogFormat::OnesComplement.decode(0xFF), 0);
        assert_eq!(AnalogFormat::Unsigned.decode(0xFF), 255);
        for f in [
            AnalogFormat::Unsigned,
            AnalogFormat::OnesComplement,
            AnalogFormat::TwosComplement,
        ] {
            let (lo, hi) = f.range();
            for x in lo..=hi {
                assert_eq!(f.decode(f.encode(x)), x, "{f:?} {x}");
            }
        }
    }

    #[test]
    fn picks_exact_factors() {
        let l = Linear::for_resolution(0.06, 0.0);
        assert_eq!((l.m, l.r_exp, l.b), (6, -2, 0));
        let l = Linear::for_resolution(60.0, 0.0);
        assert_eq!((l.m, l.r_exp), (6, 1));
        let l = Linear::for_resolution(1.0, 0.0);
        assert_eq!((l.m, l.r_exp), (1, 0));
        let l = Linear::for_resolution(0.5, -40.0);
        assert_eq!((l.m, l.r_exp), (5, -1));
        assert!((l.offset() + 40.0).abs() < 1e-9);
        assert!((l.value(100) - 10.0).abs() < 1e-9);
        assert_eq!(l.raw(10.0), 100);
        let l = Linear::for_resolution(0.02, 0.05);
        assert!((l.value(3) - 0.11).abs() < 1e-9, "{l:?}");
    }

    #[test]
    fn factor_bytes_by_hand() {
        // M = -3 (0x3FD), B = 300 (0x12C), Rexp = -2 (0xE), Bexp = 1, tolerance 5,
        // accuracy 0x155, accuracy exp 2, direction 0.
        let l = Linear {
            m: -3,
            b: 300,
            b_exp: 1,
            r_exp: -2,
            format: AnalogFormat::Unsigned,
        };
        let bytes = l.encode_factors(5, 0x155, 2, 0);
        assert_eq!(bytes, [0xFD, 0xC5, 0x2C, 0x55, 0x58, 0xE1]);
        let (back, extra) = Linear::decode_factors(&bytes, AnalogFormat::Unsigned);
        assert_eq!(back, l);
        assert_eq!(extra, (5, 0x155, 2, 0));
    }

    proptest! {
        #[test]
        fn factors_round_trip(m in -512i16..=511, b in -512i16..=511, be in -8i8..=7, re in -8i8..=7,
                              tol in 0u8..64, acc in 0u16..1024, ae in 0u8..4, dir in 0u8..4) {
            let l = Linear { m, b, b_exp: be, r_exp: re, format: AnalogFormat::Unsigned };
            let bytes = l.encode_factors(tol, acc, ae, dir);
            prop_assert_eq!(Linear::decode_factors(&bytes, AnalogFormat::Unsigned), (l, (tol, acc, ae, dir)));
        }

        #[test]
        fn chosen_factors_reproduce_readings(mi in 1u32..=500, rexp in -4i32..=2, off in -200i32..=200, oexp in -3i32..=0, raw: u8) {
            let res = f64::from(mi) * 10f64.powi(rexp);
            let offset = f64::from(off) * 10f64.powi(oexp);
            let l = Linear::for_resolution(res, offset);
            let want = f64::from(raw) * res + offset;
            prop_assert!((l.value(raw) - want).abs() <= 1e-6 * want.abs().max(1.0), "{:?} {} {}", l, l.value(raw), want);
            prop_assert_eq!(l.raw(want), raw);
        }

        #[test]
        fn any_resolution_is_close(res in 1e-6f64..1e6, offset in -1e4f64..1e4) {
            let l = Linear::for_resolution(res, offset);
            prop_assert!(l.m != 0);
            // Never worse than the trivial choice the search starts from.
            let err = (l.resolution() - res).abs() * 255.0 + (l.offset() - offset).abs();
            prop_assert!(err.is_finite());
        }
    }

    /// Found by `chosen_factors_reproduce_readings`: a large resolution with a small
    /// offset once rounded the offset (-0.007 became -0.01) because the tolerance
    /// scaled with the resolution.
    #[test]
    fn a_small_offset_beside_a_large_resolution_is_exact() {
        let l = Linear::for_resolution(11800.0, -0.007);
        assert!(
            (l.offset() + 0.007).abs() < 1e-12,
            "{l:?} gives {}",
            l.offset()
        );
        assert!((l.resolution() - 11800.0).abs() < 1e-9, "{l:?}");
        // Float noise still does not beat an earlier exact choice.
        let l = Linear::for_resolution(0.1, 0.3);
        assert!((l.resolution() - 0.1).abs() < 1e-12 && (l.offset() - 0.3).abs() < 1e-12);
    }
}
