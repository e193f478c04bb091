// SPDX-License-Identifier: GPL-2.0

//! `p2pmmctl transfer`: a file's bytes moved by DMA into or out of p2pmm memory, in the spirit of
//! `gdsio`.
//!
//! The file (a block device, or a file on one) is opened with `O_DIRECT`, so its device moves the
//! bytes itself:
//! - with a **static** provider's memory as the buffer (mapped from `/dev/p2pmm`), by P2P DMA
//!   straight into or out of the BAR, where the kernel's route allows it; where it does not, the
//!   transfer fails (`EINVAL`) and nothing is copied instead;
//! - with a **managed** provider's memory as the buffer (p2pmmctl's own memory, prefetched there
//!   first), the kernel first moves every page on the provider back to system memory (a CPU copy:
//!   the bounce), and the device's DMA goes to system memory.
//!
//! The result says how many bytes each way took, with the throughput of the timed transfers.

use crate::output::{human_bytes, parse_size};
use crate::placement::{Outcome, Placement};
use crate::Failure;
use p2pmm_uapi::{Device, Location, Mapping, ProviderKind};
use serde::Serialize;
use std::fs::File;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Which way the bytes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Op {
    /// From the file into p2pmm memory (the device writes the memory).
    Read,
    /// From p2pmm memory to the file (the device reads the memory).
    Write,
}

/// What `p2pmmctl transfer` was asked to do.
#[derive(Debug, clap::Args)]
pub(crate) struct Request {
    /// The file or block device (e.g. /dev/nvme1n1) to read or write.
    #[arg(long, value_name = "PATH")]
    pub(crate) file: PathBuf,
    /// The provider whose memory is the buffer: a static one (mapped from /dev/p2pmm) or a managed
    /// one (p2pmmctl's own memory, prefetched there first).
    #[arg(long, value_name = "ID")]
    pub(crate) provider: u32,
    /// read: from the file into the memory; write: from the memory to the file.
    #[arg(long, value_enum, default_value = "read")]
    pub(crate) op: Op,
    /// How much to move, in whole pages.
    #[arg(long, value_name = "SIZE", default_value = "4M", value_parser = parse_size)]
    pub(crate) size: u64,
    /// Where in the file, in whole pages.
    #[arg(long, value_name = "SIZE", default_value = "0", value_parser = parse_offset)]
    pub(crate) offset: u64,
    /// The size of each read or write, in whole pages.
    #[arg(long, value_name = "SIZE", default_value = "1M", value_parser = parse_size)]
    pub(crate) chunk: u64,
    /// Where sysfs is mounted (for tests).
    #[arg(long, value_name = "DIR", default_value = "/sys", hide = true)]
    pub(crate) sysfs: PathBuf,
}

#[derive(Serialize)]
struct TransferJson {
    op: &'static str,
    file: String,
    device: Option<String>,
    provider: u32,
    kind: String,
    bytes: u64,
    offset: u64,
    chunk: u64,
    micros: u128,
    kib_per_s: u128,
    route: Option<String>,
    p2p_bytes: u64,
    system_dma_bytes: u64,
    bounced_bytes: u64,
}

/// Refuses a `--size`, `--offset` or `--chunk` (`name`) that is not whole pages, as `O_DIRECT`
/// would, with a line that says which (exit 2). (`--size` and `--chunk` of 0 are refused while
/// parsing.)
pub(crate) fn check_aligned(name: &str, v: u64, page: u64) -> Result<(), Failure> {
    // Pages are a power of two.
    if v & (page - 1) != 0 {
        return Err(Failure::usage(format!(
            "transfer: --{name} {v} is not a multiple of the page size ({page}): \
             O_DIRECT needs aligned I/O"
        )));
    }
    Ok(())
}

/// `--offset`: 0, or a size as `--size` takes it.
pub(crate) fn parse_offset(s: &str) -> Result<u64, String> {
    if s == "0" {
        return Ok(0);
    }
    parse_size(s)
}

/// [`check_aligned`] for each of the request's sizes.
pub(crate) fn check_request(r: &Request, page: u64) -> Result<(), Failure> {
    for (name, v) in [("size", r.size), ("offset", r.offset), ("chunk", r.chunk)] {
        check_aligned(name, v, page)?;
    }
    Ok(())
}

/// The PCI device (e.g. `0000:06:00.0`) behind the block device that holds `file`: the last PCI
/// component of `/sys/dev/block/MAJ:MIN`'s path. `None` for memory that no PCI device holds.
pub(crate) fn pci_device_of(sysfs: &Path, file: &Path) -> Option<String> {
    let meta = std::fs::metadata(file).ok()?;
    let dev = if meta.file_type().is_block_device() {
        meta.rdev()
    } else {
        meta.dev()
    };
    let (major, minor) = p2pmm_uapi::major_minor(dev);
    let path = std::fs::canonicalize(sysfs.join(format!("dev/block/{major}:{minor}"))).ok()?;
    path.components()
        .rev()
        .filter_map(|c| c.as_os_str().to_str())
        .find(|c| is_pci_name(c))
        .map(str::to_string)
}

/// `DDDD:BB:DD.F`.
fn is_pci_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10) || c.is_ascii_hexdigit())
}

/// The timed transfers: the whole buffer in `chunk` pieces. How long they took.
fn stream(file: &File, buf: &mut Mapping, r: &Request) -> Result<Duration, Failure> {
    let t0 = Instant::now();
    let chunk = r.chunk as usize;
    let verb = match r.op {
        Op::Read => "read",
        Op::Write => "write",
    };
    for (i, piece) in buf.as_mut_slice().chunks_mut(chunk).enumerate() {
        let at = r.offset + (i * chunk) as u64;
        let done = match r.op {
            Op::Read => file.read_at(piece, at),
            Op::Write => file.write_at(piece, at),
        }
        .map_err(|e| {
            Failure::new(format!(
                "transfer: {verb} of {} at offset {at}: {e}{}",
                r.file.display(),
                errno_hint(e.raw_os_error())
            ))
        })?;
        if done != piece.len() {
            return Err(Failure::new(format!(
                "transfer: {verb} of {} at offset {at}: {done} of {} bytes (end of the file?)",
                r.file.display(),
                piece.len()
            )));
        }
    }
    Ok(t0.elapsed())
}

/// `tenths` as a number with one decimal ("1234.5").
fn one_decimal(tenths: u128) -> String {
    format!("{}.{}", tenths / 10, tenths % 10)
}

fn errno_hint(errno: Option<i32>) -> &'static str {
    match errno.and_then(p2pmm_uapi::errno_name) {
        Some("EINVAL") => {
            " (the device cannot DMA to this memory: see the route; \
             or the file system has no O_DIRECT)"
        }
        Some("EREMOTEIO") => " (the device's queue does not take P2P memory)",
        _ => "",
    }
}

/// Runs the transfer.
pub(crate) fn transfer(dev: &Device, r: &Request) -> Result<Outcome, Failure> {
    check_request(r, p2pmm_uapi::page_size() as u64)?;
    let provider = dev.provider(r.provider)?.ok_or_else(|| {
        Failure::usage(format!(
            "transfer: no provider {} (see 'p2pmmctl providers')",
            r.provider
        ))
    })?;
    let size = usize::try_from(r.size)
        .map_err(|_| Failure::new("transfer: the size does not fit this machine".into()))?;
    let file = p2pmm_uapi::open_direct(&r.file, r.op == Op::Write)
        .map_err(|e| Failure::new(format!("transfer: {}: {e}", r.file.display())))?;
    let device = pci_device_of(&r.sysfs, &r.file);
    let route = match &device {
        Some(d) => Some(dev.route(r.provider, d)?),
        None => None,
    };
    let kind = provider.kind;
    let (mut buf, on_provider_before) = match kind {
        ProviderKind::Static => (dev.map_static(r.provider, size)?, 0),
        ProviderKind::Managed => {
            let mut buf = p2pmm_uapi::anonymous(size)?;
            // Populated, so that there is something to move; then on the provider, as a device
            // would leave it.
            buf.as_mut_slice().fill(0x5a);
            dev.migrate(buf.addr(), buf.len() as u64, Location::Provider(r.provider))?;
            let on = Placement::of(&dev.query(buf.addr(), buf.len() as u64)?);
            let pages = on.providers.get(&r.provider).copied().unwrap_or(0);
            (buf, pages)
        }
        ProviderKind::Unknown(k) => {
            return Err(Failure::new(format!(
                "transfer: provider {} is of a kind this p2pmmctl does not know ({k})",
                r.provider
            )))
        }
    };
    let took = stream(&file, &mut buf, r)?;
    let page = p2pmm_uapi::page_size() as u64;
    let (p2p, system, bounced) = match kind {
        // Static memory never moves: the device's DMA went to the BAR, or the transfer failed
        // above.
        ProviderKind::Static => (r.size, 0, 0),
        _ => {
            let after = Placement::of(&dev.query(buf.addr(), buf.len() as u64)?);
            let still = after.providers.get(&r.provider).copied().unwrap_or(0);
            (0, r.size, on_provider_before.saturating_sub(still) * page)
        }
    };
    // Integer arithmetic only (the workspace's lints): tenths of MiB/s and of milliseconds.
    let nanos = took.as_nanos().max(1);
    let mib_s_tenths = u128::from(r.size) * 10 * 1_000_000_000 / (nanos << 20);
    let verb = match r.op {
        Op::Read => "read",
        Op::Write => "write",
    };
    let route_text = route.as_ref().map(|rt| {
        format!(
            "{} (distance {}), plan {}{}",
            rt.verdict.name(),
            rt.distance.map_or("none".to_string(), |d| d.to_string()),
            rt.plan.name(),
            if rt.reason.to_raw() != 0 {
                format!(", {}", rt.reason.name())
            } else {
                String::new()
            }
        )
    });
    let mut text = format!(
        "transfer: {verb} {} of {}{} at offset {} {} provider {} ({}, {}) in {} pieces\n",
        human_bytes(r.size),
        r.file.display(),
        device
            .as_ref()
            .map(|d| format!(" (device {d})"))
            .unwrap_or_default(),
        r.offset,
        if r.op == Op::Read { "into" } else { "from" },
        r.provider,
        kind.name(),
        provider.device,
        human_bytes(r.chunk)
    );
    if let Some(t) = &route_text {
        text += &format!("route: {t}\n");
    }
    text += &format!(
        "time: {} ms, {} MiB/s\n",
        one_decimal(nanos / 100_000),
        one_decimal(mib_s_tenths)
    );
    text += &format!(
        "by P2P DMA: {}; by DMA to system memory: {}; \
         bounced through system memory by a CPU copy: {}\n",
        human_bytes(p2p),
        human_bytes(system),
        human_bytes(bounced)
    );
    let json = crate::output::to_json(
        &TransferJson {
            op: verb,
            file: r.file.display().to_string(),
            device,
            provider: r.provider,
            kind: kind.name(),
            bytes: r.size,
            offset: r.offset,
            chunk: r.chunk,
            micros: took.as_micros(),
            kib_per_s: u128::from(r.size) * 1_000_000_000 / (nanos << 10),
            route: route_text,
            p2p_bytes: p2p,
            system_dma_bytes: system,
            bounced_bytes: bounced,
        },
        true,
    );
    Ok(Outcome {
        text,
        json,
        failed: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(size: u64, offset: u64, chunk: u64) -> Request {
        Request {
            file: "/dev/null".into(),
            provider: 1,
            op: Op::Read,
            size,
            offset,
            chunk,
            sysfs: "/sys".into(),
        }
    }

    #[test]
    fn unaligned_sizes_are_usage_errors() {
        assert!(check_request(&request(8192, 4096, 4096), 4096).is_ok());
        for (r, word) in [
            (request(100, 0, 4096), "--size 100"),
            (request(8192, 1, 4096), "--offset 1"),
            (request(8192, 0, 5000), "--chunk 5000"),
        ] {
            let f = check_request(&r, 4096).unwrap_err();
            assert_eq!(f.code, 2);
            assert!(f.msg.contains(word), "{}", f.msg);
        }
        assert_eq!(parse_offset("0"), Ok(0));
        assert_eq!(parse_offset("8K"), Ok(8192));
    }

    #[test]
    fn pci_names() {
        assert!(is_pci_name("0000:06:00.0"));
        assert!(is_pci_name("0000:0a:1f.7"));
        assert!(!is_pci_name("pci0000:00"));
        assert!(!is_pci_name("nvme0n1"));
        assert!(!is_pci_name("0000:06:00:0"));
    }

    #[test]
    fn device_of_a_block_device_in_a_fake_sysfs() {
        let root = std::env::temp_dir().join(format!("p2pmmctl-transfer-{}", std::process::id()));
        let real = root.join("devices/pci0000:00/0000:00:01.0/0000:03:00.0/nvme/nvme0/nvme0n1");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::create_dir_all(root.join("dev/block")).unwrap();
        // /dev/null is a character device: its own st_dev is the file system's, so fake that one.
        let meta = std::fs::metadata("/dev/null").unwrap();
        let dev = meta.dev();
        let (major, minor) = p2pmm_uapi::major_minor(dev);
        let link = root.join(format!("dev/block/{major}:{minor}"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert_eq!(
            pci_device_of(&root, Path::new("/dev/null")).as_deref(),
            Some("0000:03:00.0")
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
