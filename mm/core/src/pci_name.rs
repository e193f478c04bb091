// SPDX-License-Identifier: GPL-2.0

//! PCI device names as userspace writes them (`"0000:04:00.0"`, the name `lspci -D` and sysfs use).

use crate::errno::Errno;

/// A PCI function's address: domain, bus and `devfn` (`device << 3 | function`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciAddr {
    /// PCI domain (segment).
    pub domain: u32,
    /// Bus number.
    pub bus: u8,
    /// `PCI_DEVFN(device, function)`.
    pub devfn: u8,
}

fn hex(s: &[u8], max_digits: usize) -> Result<u32, Errno> {
    if s.is_empty() || s.len() > max_digits {
        return Err(Errno::Inval);
    }
    let mut v = 0u32;
    for &c in s {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return Err(Errno::Inval),
        };
        v = (v << 4) | u32::from(d);
    }
    Ok(v)
}

impl PciAddr {
    /// Parses a NUL-terminated (or full) byte field holding `"DDDD:BB:DD.F"`; `EINVAL` for anything
    /// else, so a typo never silently names another device.
    pub fn parse(field: &[u8]) -> Result<Self, Errno> {
        let len = field.iter().position(|&c| c == 0).ok_or(Errno::Inval)?;
        let name = &field[..len];
        let mut parts = name.split(|&c| c == b':');
        let (Some(dom), Some(bus), Some(slot_fn), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Errno::Inval);
        };
        let mut sf = slot_fn.split(|&c| c == b'.');
        let (Some(slot), Some(func), None) = (sf.next(), sf.next(), sf.next()) else {
            return Err(Errno::Inval);
        };
        let (slot, func) = (hex(slot, 2)?, hex(func, 1)?);
        if slot > 31 || func > 7 || dom.len() != 4 || bus.len() != 2 || slot_fn.len() != 4 {
            return Err(Errno::Inval);
        }
        Ok(PciAddr {
            domain: hex(dom, 4)?,
            bus: hex(bus, 2)? as u8,
            devfn: ((slot << 3) | func) as u8,
        })
    }
}

/// Copies `name` into a fixed uAPI name field, NUL-terminated (truncated if it would not fit).
pub fn put_name(field: &mut [u8], name: &[u8]) {
    field.fill(0);
    let n = name.len().min(field.len().saturating_sub(1));
    field[..n].copy_from_slice(&name[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(s: &str) -> [u8; 32] {
        let mut f = [0u8; 32];
        put_name(&mut f, s.as_bytes());
        f
    }

    #[test]
    fn parses_sysfs_names() {
        assert_eq!(
            PciAddr::parse(&field("0000:04:00.0")),
            Ok(PciAddr {
                domain: 0,
                bus: 4,
                devfn: 0
            })
        );
        assert_eq!(
            PciAddr::parse(&field("0001:ff:1f.7")),
            Ok(PciAddr {
                domain: 1,
                bus: 0xff,
                devfn: 0xff
            })
        );
    }

    #[test]
    fn rejects_malformed_names() {
        for bad in [
            "",
            "04:00.0",
            "0000:04:00",
            "0000:04:20.0",
            "0000:04:00.8",
            "0000:4:00.0",
            "0000:04:00.0.1",
            "000g:04:00.0",
            "0000:04:00.0 ",
            "00000:04:00.0",
        ] {
            assert_eq!(PciAddr::parse(&field(bad)), Err(Errno::Inval), "{bad:?}");
        }
        // No terminating NUL within the field.
        assert_eq!(PciAddr::parse(&[b'0'; 32]), Err(Errno::Inval));
    }

    #[test]
    fn put_name_truncates_and_terminates() {
        let mut f = [0xffu8; 4];
        put_name(&mut f, b"abcdef");
        assert_eq!(&f, b"abc\0");
    }
}
