// SPDX-License-Identifier: GPL-2.0

//! How an accelerator's BAR is split between static and managed memory (`p2pmm_vaccel.ko`'s
//! module parameters): a small static part at the start, the rest managed, so an accelerator of
//! many GiB is managed by default.

/// Managed memory comes in whole 2 MiB chunks (the unit of p2pmm's migrations and of THP).
const MANAGED_ALIGN: u64 = 2 << 20;

/// How a BAR of `bar_len` bytes is split: `static_mb` MiB of static memory at its start, then
/// `managed_mb` MiB of managed memory, or with `managed_mb` 0 the rest of the BAR in whole 2 MiB
/// chunks. A split that does not fit is refused with the reason, never shortened.
pub fn split(bar_len: u64, static_mb: u32, managed_mb: u32) -> Result<(u64, u64), &'static str> {
    let static_len = u64::from(static_mb) << 20;
    if static_len == 0 {
        return Err("static_mb is 0 (the static part cannot be empty)");
    }
    if static_len > bar_len {
        return Err("static_mb is larger than the BAR");
    }
    let rest = bar_len - static_len;
    let managed_len = match u64::from(managed_mb) << 20 {
        0 => rest & !(MANAGED_ALIGN - 1),
        len if len > rest => return Err("static_mb + managed_mb exceed the BAR"),
        len if len % MANAGED_ALIGN != 0 => return Err("managed_mb is not a multiple of 2"),
        len => len,
    };
    Ok((static_len, managed_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn the_rest_of_the_bar_is_managed_by_default() {
        assert_eq!(
            split(16 << 30, 16, 0),
            Ok((16 * MIB, (16 << 30) - 16 * MIB))
        );
        // Whole 2 MiB chunks only.
        assert_eq!(split(64 * MIB + MIB, 16, 0), Ok((16 * MIB, 48 * MIB)));
        assert_eq!(split(17 * MIB, 16, 0), Ok((16 * MIB, 0)));
    }

    #[test]
    fn overrides_are_taken_exactly_or_refused() {
        assert_eq!(split(256 * MIB, 16, 8), Ok((16 * MIB, 8 * MIB)));
        assert_eq!(split(256 * MIB, 16, 240), Ok((16 * MIB, 240 * MIB)));
        assert!(split(256 * MIB, 16, 242).is_err());
        assert!(split(256 * MIB, 16, 7).is_err());
        assert!(split(256 * MIB, 0, 8).is_err());
        assert!(split(8 * MIB, 16, 0).is_err());
        assert_eq!(split(16 << 30, 4096, 12288), Ok((4 << 30, 12 << 30)));
    }
}
