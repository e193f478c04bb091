// SPDX-License-Identifier: GPL-2.0

//! Decoding of `/dev/p2pmm` ioctl numbers into commands.
//!
//! The size encoded in an ioctl number is deliberately ignored: every p2pmm argument is an
//! extensible struct whose own `size` field carries its version (see `extensible.rs`), so a struct
//! can grow without its ioctl number changing. Only the magic, the command number and the direction
//! must match.

use crate::errno::Errno;

/// The ioctl "type" byte of p2pmm (unused in `Documentation/userspace-api/ioctl/ioctl-number.rst`).
pub const IOC_MAGIC: u32 = 0xB9;

// Field layout of an ioctl number (include/uapi/asm-generic/ioctl.h, valid on x86 and arm64).
const NR_SHIFT: u32 = 0;
const TYPE_SHIFT: u32 = 8;
const SIZE_SHIFT: u32 = 16;
const DIR_SHIFT: u32 = 30;
const NR_MASK: u32 = 0xff;
const TYPE_MASK: u32 = 0xff;
const SIZE_MASK: u32 = 0x3fff;
const DIR_READ_WRITE: u32 = 3;

/// A command of the `/dev/p2pmm` uAPI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `P2PMM_IOC_VERSION`: report the uAPI version and the feature bits.
    Version,
    /// `P2PMM_IOC_PROVIDERS`: list the providers.
    Providers,
    /// `P2PMM_IOC_ROUTE`: how a PCI device reaches a provider.
    Route,
    /// `P2PMM_IOC_MIGRATE`: move a range of the caller's memory to a location.
    Migrate,
    /// `P2PMM_IOC_QUERY`: where each page of a range of a process's memory is (the caller's by
    /// default).
    Query,
    /// `P2PMM_IOC_ADVISE`: madvise-like advice on a range of the caller's memory.
    Advise,
    /// `P2PMM_IOC_BLKIO`: DMA between a block device and a range of the caller's memory.
    Blkio,
    /// `P2PMM_IOC_DMABUF`: export a range of the caller's static memory as a dma-buf.
    Dmabuf,
}

impl Command {
    const ALL: [Command; 8] = [
        Command::Version,
        Command::Providers,
        Command::Route,
        Command::Migrate,
        Command::Query,
        Command::Advise,
        Command::Blkio,
        Command::Dmabuf,
    ];

    /// The command number (`_IOC_NR`) of each command.
    const fn nr(self) -> u32 {
        match self {
            Command::Version => 0x00,
            Command::Providers => 0x01,
            Command::Route => 0x02,
            Command::Migrate => 0x03,
            Command::Query => 0x04,
            Command::Advise => 0x05,
            Command::Blkio => 0x06,
            Command::Dmabuf => 0x07,
        }
    }

    /// The name of the command's ioctl number in the C header (`"P2PMM_IOC_VERSION"`), for tools
    /// and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Command::Version => "P2PMM_IOC_VERSION",
            Command::Providers => "P2PMM_IOC_PROVIDERS",
            Command::Route => "P2PMM_IOC_ROUTE",
            Command::Migrate => "P2PMM_IOC_MIGRATE",
            Command::Query => "P2PMM_IOC_QUERY",
            Command::Advise => "P2PMM_IOC_ADVISE",
            Command::Blkio => "P2PMM_IOC_BLKIO",
            Command::Dmabuf => "P2PMM_IOC_DMABUF",
        }
    }

    /// Decodes an ioctl number; anything that is not a p2pmm read-write command is `ENOTTY`.
    pub fn decode(cmd: u32) -> Result<Command, Errno> {
        let dir = cmd >> DIR_SHIFT;
        let ty = (cmd >> TYPE_SHIFT) & TYPE_MASK;
        let nr = (cmd >> NR_SHIFT) & NR_MASK;
        if ty != IOC_MAGIC || dir != DIR_READ_WRITE {
            return Err(Errno::NoTty);
        }
        Self::ALL
            .into_iter()
            .find(|c| c.nr() == nr)
            .ok_or(Errno::NoTty)
    }

    /// The ioctl number of this command for an argument of `size` bytes, as C's `_IOWR` computes
    /// it.
    pub const fn encode(self, size: usize) -> u32 {
        (DIR_READ_WRITE << DIR_SHIFT)
            | ((size as u32 & SIZE_MASK) << SIZE_SHIFT)
            | (IOC_MAGIC << TYPE_SHIFT)
            | (self.nr() << NR_SHIFT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_matches_c_iowr() {
        // _IOWR(0xB9, 0x00, struct p2pmm_version /* 24 bytes */) computed by hand: 0xC018B900.
        assert_eq!(Command::Version.encode(24), 0xC018_B900);
        assert_eq!(Command::decode(0xC018_B900), Ok(Command::Version));
    }

    #[test]
    fn encoded_size_is_ignored() {
        assert_eq!(
            Command::decode(Command::Version.encode(8)),
            Ok(Command::Version)
        );
        assert_eq!(
            Command::decode(Command::Version.encode(4096)),
            Ok(Command::Version)
        );
    }

    #[test]
    fn every_command_round_trips() {
        for c in Command::ALL {
            assert_eq!(Command::decode(c.encode(24)), Ok(c), "{}", c.name());
        }
        assert_eq!(Command::Advise.name(), "P2PMM_IOC_ADVISE");
    }

    #[test]
    fn foreign_numbers_are_enotty() {
        // TCGETS, an _IO with our magic, a read-only and a write-only variant, an unknown nr.
        for cmd in [0x5401, 0xB900, 0x8018_B900, 0x4018_B900, 0xC018_B9FF] {
            assert_eq!(Command::decode(cmd), Err(Errno::NoTty), "cmd {cmd:#x}");
        }
    }
}
