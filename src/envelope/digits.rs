//! Reading ASCII digits: one at a time, and eight at a time as one `u64` word.

/// A decimal number of one to nine ASCII digits.
#[inline]
pub(super) fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v: u32 = 0;
    for &c in b {
        v = v * 10 + digit(c)?;
    }
    Some(v)
}

/// One ASCII digit.
#[inline]
pub(super) fn digit(c: u8) -> Option<u32> {
    let d = c.wrapping_sub(b'0');
    if d < 10 { Some(u32::from(d)) } else { None }
}

/// Two ASCII digits.
#[inline]
pub(super) fn two_digits(a: u8, b: u8) -> Option<u32> {
    Some(digit(a)? * 10 + digit(b)?)
}

/// The number written by the `n` bytes of `b` that end at `end`: one to nine ASCII digits.
#[inline(always)]
pub(super) fn digits_ending_at(b: &[u8], end: usize, n: usize) -> Option<u32> {
    // Up to eight digits at once: the eight bytes that end at `end`, the ones before the
    // number turned into leading zeros.
    if (1..=8).contains(&n) && end >= 8 {
        let word = u64::from_le_bytes(b[end - 8..end].try_into().unwrap_or_default());
        let before = u64::MAX.checked_shr(8 * n as u32).unwrap_or(0);
        let word = word & !before | THREES & before;
        return if all_digits(word) {
            Some(eight_digits(word))
        } else {
            None
        };
    }
    digits(&b[end - n..end])
}

/// Eight ASCII `0`s.
pub(super) const THREES: u64 = 0x3030_3030_3030_3030;

/// Whether all eight bytes of `word` are ASCII digits.
#[inline(always)]
pub(super) fn all_digits(word: u64) -> bool {
    // Each byte is 0x30..=0x39: high nibble 3, and adding 6 leaves it 3 (no byte carries out,
    // as 0x3F + 6 < 0x100).
    const NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    word & NIBBLES == THREES && word.wrapping_add(0x0606_0606_0606_0606) & NIBBLES == THREES
}

/// The number written by eight ASCII digits (the first in the lowest byte).
#[inline(always)]
pub(super) fn eight_digits(word: u64) -> u32 {
    let v = word & 0x0F0F_0F0F_0F0F_0F0F;
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    let v = (v.wrapping_mul(10_000) + (v >> 32)) & 0xFFFF_FFFF;
    v as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time readers agree with reading one digit at a time, for every byte in
    /// every place and every length.
    #[test]
    fn words_read_as_digits_do() {
        let base = *b"x12345678";
        for at in 0..base.len() {
            for byte in 0..=255u8 {
                let mut b = base;
                b[at] = byte;
                let word = u64::from_le_bytes(b[1..].try_into().unwrap());
                let one_by_one = digits(&b[1..]);
                assert_eq!(all_digits(word), one_by_one.is_some(), "{b:?}");
                if let Some(v) = one_by_one {
                    assert_eq!(eight_digits(word), v, "{b:?}");
                }
                for n in 1..=9 {
                    let end = b.len();
                    assert_eq!(
                        digits_ending_at(&b, end, n),
                        digits(&b[end - n..]),
                        "{b:?} {n}"
                    );
                }
            }
        }
    }
}
