// SPDX-License-Identifier: GPL-2.0

//! `p2pmmctl transfer`: a file's bytes moved by DMA into or out of p2pmm memory, in the spirit of
//! `gdsio`.
//!
//! The file's device moves the bytes itself, in `--chunk` pieces:
//! - with a **static** provider's memory as the buffer (mapped from `/dev/p2pmm`), the file (a
//!   block device, or a file on one) is opened with `O_DIRECT` and each piece is a `pread` or
//!   `pwrite`: by P2P DMA straight into or out of the BAR, where the kernel's route allows it;
//!   where it does not, the transfer fails (`EINVAL`) and nothing is copied instead;
//! - with a **managed** provider's memory as the buffer (p2pmmctl's own memory, filled and
//!   prefetched there first), the file must be a block device (exit 2 otherwise) and each piece is
//!   a `P2PMM_IOC_BLKIO`, which leaves the pages on the provider: the device DMAs to or from the
//!   provider's BAR where its route to the provider is direct, else the bytes bounce through a
//!   system page that the CPU copies to or from the BAR. The replies say how many bytes took each
//!   path and how often a piece was set up again; `P2PMM_IOC_QUERY` after the transfer says how
//!   many pages are still on the provider.
//!
//! The result says how many bytes each way took, with the throughput of the timed transfers.

use crate::output::{human_bytes, parse_size};
use crate::placement::{Outcome, Placement};
use crate::Failure;
use p2pmm_uapi::{BlkioDone, Device, Location, Mapping, ProviderKind, Route};
use serde::Serialize;
use std::fs::{File, OpenOptions};
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
    /// The file or block device (e.g. /dev/nvme1n1) to read or write; a block device for a
    /// managed provider.
    #[arg(long, value_name = "PATH")]
    pub(crate) file: PathBuf,
    /// The provider whose memory is the buffer: a static one (mapped from /dev/p2pmm, moved by
    /// O_DIRECT) or a managed one (p2pmmctl's own memory, prefetched there first, moved by
    /// P2PMM_IOC_BLKIO).
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
    // Managed providers only (P2PMM_IOC_BLKIO): absent for static ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    retries: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pages_on_provider_before: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pages_on_provider_after: Option<u64>,
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

/// The verb of an operation, as the output says it.
fn verb(op: Op) -> &'static str {
    match op {
        Op::Read => "read",
        Op::Write => "write",
    }
}

/// The timed transfers of a static provider's memory: the whole buffer in `chunk` pieces, by
/// `O_DIRECT` `pread`/`pwrite`. How long they took.
fn stream(file: &File, buf: &mut Mapping, r: &Request) -> Result<Duration, Failure> {
    let t0 = Instant::now();
    let chunk = r.chunk as usize;
    let verb = verb(r.op);
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

/// The timed transfers of a managed provider's memory: the whole buffer in `chunk` pieces, each
/// by one `P2PMM_IOC_BLKIO`, which leaves the pages where they are. How long they took, and what
/// the replies counted, summed.
fn stream_blkio(
    dev: &Device,
    file: &File,
    buf: &mut Mapping,
    r: &Request,
) -> Result<(Duration, BlkioDone), Failure> {
    let t0 = Instant::now();
    let chunk = r.chunk as usize;
    let verb = verb(r.op);
    let mut total = BlkioDone::default();
    for (i, piece) in buf.as_mut_slice().chunks_mut(chunk).enumerate() {
        let at = r.offset + (i * chunk) as u64;
        let done = match r.op {
            Op::Read => dev.blkio_read(file, piece, at),
            Op::Write => dev.blkio_write(file, piece, at),
        }
        .map_err(|e| {
            Failure::new(format!(
                "transfer: {verb} of {} at offset {at}: {e}",
                r.file.display()
            ))
        })?;
        let moved = done.p2p + done.system + done.bounce;
        if moved != piece.len() as u64 {
            return Err(Failure::new(format!(
                "transfer: {verb} of {} at offset {at}: P2PMM_IOC_BLKIO counted {moved} of {} \
                 bytes",
                r.file.display(),
                piece.len()
            )));
        }
        total.p2p += done.p2p;
        total.system += done.system;
        total.bounce += done.bounce;
        total.retries += done.retries;
    }
    Ok((t0.elapsed(), total))
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

/// Refuses a file that is not a block device for a managed provider (exit 2): its memory moves by
/// `P2PMM_IOC_BLKIO`, which takes only block devices. A file that cannot be looked at is left to
/// the open, which says why.
fn check_block_device(file: &Path, provider: u32) -> Result<(), Failure> {
    match std::fs::metadata(file) {
        Ok(m) if !m.file_type().is_block_device() => Err(Failure::usage(format!(
            "transfer: {} is not a block device: the memory of managed provider {provider} moves \
             by P2PMM_IOC_BLKIO, which needs one",
            file.display()
        ))),
        _ => Ok(()),
    }
}

/// What a managed provider's transfer adds to the report: the pages of the buffer, and how many
/// were on the provider before and after the transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stayed {
    provider: u32,
    pages: u64,
    before: u64,
    after: u64,
}

/// Everything the report says.
struct Report<'a> {
    r: &'a Request,
    kind: ProviderKind,
    provider_device: &'a str,
    device: Option<String>,
    route: Option<String>,
    took: Duration,
    /// The bytes by path; `retries` counts only for a managed provider.
    split: BlkioDone,
    /// A managed provider's pages.
    stayed: Option<Stayed>,
}

/// The pages of `buf` on provider `id`.
fn on_provider(dev: &Device, buf: &Mapping, id: u32) -> Result<u64, Failure> {
    let placement = Placement::of(&dev.query(buf.addr(), buf.len() as u64)?);
    Ok(placement.on(Location::Provider(id)))
}

/// The route as one line of text: "bus-address (distance 4), plan direct".
fn route_text(rt: &Route) -> String {
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
}

/// The report as text and as JSON.
fn render(rep: &Report<'_>) -> Outcome {
    let r = rep.r;
    // Integer arithmetic only (the workspace's lints): tenths of MiB/s and of milliseconds.
    let nanos = rep.took.as_nanos().max(1);
    let mib_s_tenths = u128::from(r.size) * 10 * 1_000_000_000 / (nanos << 20);
    let verb = verb(r.op);
    let mut text = format!(
        "transfer: {verb} {} of {}{} at offset {} {} provider {} ({}, {}) in {} pieces\n",
        human_bytes(r.size),
        r.file.display(),
        rep.device
            .as_ref()
            .map(|d| format!(" (device {d})"))
            .unwrap_or_default(),
        r.offset,
        if r.op == Op::Read { "into" } else { "from" },
        r.provider,
        rep.kind.name(),
        rep.provider_device,
        human_bytes(r.chunk)
    );
    if let Some(t) = &rep.route {
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
        human_bytes(rep.split.p2p),
        human_bytes(rep.split.system),
        human_bytes(rep.split.bounce)
    );
    if let Some(s) = rep.stayed {
        text += &format!("retries: {}\n", rep.split.retries);
        text += &format!(
            "still on provider {}: {} of {} pages ({} before the transfer)\n",
            s.provider, s.after, s.pages, s.before
        );
    }
    let json = crate::output::to_json(
        &TransferJson {
            op: verb,
            file: r.file.display().to_string(),
            device: rep.device.clone(),
            provider: r.provider,
            kind: rep.kind.name(),
            bytes: r.size,
            offset: r.offset,
            chunk: r.chunk,
            micros: rep.took.as_micros(),
            kib_per_s: u128::from(r.size) * 1_000_000_000 / (nanos << 10),
            route: rep.route.clone(),
            p2p_bytes: rep.split.p2p,
            system_dma_bytes: rep.split.system,
            bounced_bytes: rep.split.bounce,
            retries: rep.stayed.map(|_| rep.split.retries),
            pages: rep.stayed.map(|s| s.pages),
            pages_on_provider_before: rep.stayed.map(|s| s.before),
            pages_on_provider_after: rep.stayed.map(|s| s.after),
        },
        true,
    );
    Outcome {
        text,
        json,
        failed: None,
    }
}

/// Runs the transfer.
pub(crate) fn transfer(dev: &Device, r: &Request) -> Result<Outcome, Failure> {
    let page = p2pmm_uapi::page_size() as u64;
    check_request(r, page)?;
    let provider = dev.provider(r.provider)?.ok_or_else(|| {
        Failure::usage(format!(
            "transfer: no provider {} (see 'p2pmmctl providers')",
            r.provider
        ))
    })?;
    let kind = provider.kind;
    match kind {
        ProviderKind::Static => {}
        ProviderKind::Managed => check_block_device(&r.file, r.provider)?,
        ProviderKind::Unknown(k) => {
            return Err(Failure::new(format!(
                "transfer: provider {} is of a kind this p2pmmctl does not know ({k})",
                r.provider
            )))
        }
    }
    let size = usize::try_from(r.size)
        .map_err(|_| Failure::new("transfer: the size does not fit this machine".into()))?;
    let write = r.op == Op::Write;
    let file = if kind == ProviderKind::Static {
        p2pmm_uapi::open_direct(&r.file, write)
    } else {
        // P2PMM_IOC_BLKIO needs no O_DIRECT: it writes back and drops the device's page cache of
        // the range itself.
        OpenOptions::new().read(true).write(write).open(&r.file)
    }
    .map_err(|e| Failure::new(format!("transfer: {}: {e}", r.file.display())))?;
    let device = pci_device_of(&r.sysfs, &r.file);
    let route = match &device {
        Some(d) => Some(dev.route(r.provider, d)?),
        None => None,
    };
    let (took, split, stayed) = if kind == ProviderKind::Static {
        let mut buf = dev.map_static(r.provider, size)?;
        let took = stream(&file, &mut buf, r)?;
        // Static memory never moves: the device's DMA went to the BAR, or the transfer failed
        // above.
        let split = BlkioDone {
            p2p: r.size,
            ..BlkioDone::default()
        };
        (took, split, None)
    } else {
        let mut buf = p2pmm_uapi::anonymous(size)?;
        // Populated, so that there is something to move; then on the provider, as a device would
        // leave it.
        buf.as_mut_slice().fill(0x5a);
        dev.migrate(buf.addr(), buf.len() as u64, Location::Provider(r.provider))?;
        let before = on_provider(dev, &buf, r.provider)?;
        let (took, split) = stream_blkio(dev, &file, &mut buf, r)?;
        let stayed = Stayed {
            provider: r.provider,
            pages: buf.len() as u64 / page,
            before,
            after: on_provider(dev, &buf, r.provider)?,
        };
        (took, split, Some(stayed))
    };
    Ok(render(&Report {
        r,
        kind,
        provider_device: &provider.device,
        device,
        route: route.as_ref().map(route_text),
        took,
        split,
        stayed,
    }))
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
    fn managed_transfers_need_a_block_device() {
        let f = check_block_device(Path::new("/dev/null"), 7).unwrap_err();
        assert_eq!(f.code, 2);
        assert_eq!(
            f.msg,
            "transfer: /dev/null is not a block device: the memory of managed provider 7 moves by \
             P2PMM_IOC_BLKIO, which needs one"
        );
        let dir = std::env::temp_dir();
        assert_eq!(check_block_device(&dir, 7).unwrap_err().code, 2);
        // A path that is not there is the open's to report.
        assert!(check_block_device(Path::new("/nonexistent/nvme0n1"), 7).is_ok());
    }

    fn report(
        r: &Request,
        kind: ProviderKind,
        split: BlkioDone,
        stayed: Option<Stayed>,
    ) -> Outcome {
        render(&Report {
            r,
            kind,
            provider_device: "0000:04:00.0",
            device: Some("0000:05:00.0".into()),
            route: Some("bus-address (distance 2), plan direct".into()),
            took: Duration::from_millis(4),
            split,
            stayed,
        })
    }

    #[test]
    fn managed_report_has_the_split_and_the_pages() {
        let mut r = request(1 << 20, 40 << 20, 256 << 10);
        r.file = "/dev/nvme2n1".into();
        r.provider = 2;
        r.op = Op::Write;
        let split = BlkioDone {
            p2p: 1 << 20,
            system: 0,
            bounce: 0,
            retries: 1,
        };
        let stayed = Stayed {
            provider: 2,
            pages: 256,
            before: 256,
            after: 255,
        };
        let o = report(&r, ProviderKind::Managed, split, Some(stayed));
        assert_eq!(
            o.text,
            "transfer: write 1 MiB of /dev/nvme2n1 (device 0000:05:00.0) at offset 41943040 from \
             provider 2 (managed, 0000:04:00.0) in 256 KiB pieces\n\
             route: bus-address (distance 2), plan direct\n\
             time: 4.0 ms, 250.0 MiB/s\n\
             by P2P DMA: 1 MiB; by DMA to system memory: 0 B; bounced through system memory by a \
             CPU copy: 0 B\n\
             retries: 1\n\
             still on provider 2: 255 of 256 pages (256 before the transfer)\n"
        );
        let v: serde_json::Value = serde_json::from_str(&o.json).unwrap();
        assert_eq!(v["kind"], "managed");
        assert_eq!(v["p2p_bytes"], 1 << 20);
        assert_eq!(v["system_dma_bytes"], 0);
        assert_eq!(v["bounced_bytes"], 0);
        assert_eq!(v["retries"], 1);
        assert_eq!(v["pages"], 256);
        assert_eq!(v["pages_on_provider_before"], 256);
        assert_eq!(v["pages_on_provider_after"], 255);
        // The pretty-printed lines the guest test greps for.
        for line in [
            "  \"p2p_bytes\": 1048576,",
            "  \"bounced_bytes\": 0,",
            "  \"pages_on_provider_after\": 255",
        ] {
            assert!(o.json.lines().any(|l| l == line), "{line} in\n{}", o.json);
        }
    }

    #[test]
    fn static_report_is_unchanged() {
        let r = request(1 << 20, 0, 1 << 20);
        let split = BlkioDone {
            p2p: 1 << 20,
            ..BlkioDone::default()
        };
        let o = report(&r, ProviderKind::Static, split, None);
        assert!(o.text.ends_with(
            "by P2P DMA: 1 MiB; by DMA to system memory: 0 B; bounced through system memory by a \
             CPU copy: 0 B\n"
        ));
        assert!(!o.text.contains("retries") && !o.text.contains("still on"));
        // JSON ends with the byte split, as before P2PMM_IOC_BLKIO.
        assert!(o.json.ends_with("  \"bounced_bytes\": 0\n}"), "{}", o.json);
        let v: serde_json::Value = serde_json::from_str(&o.json).unwrap();
        assert_eq!(v["p2p_bytes"], 1 << 20);
        // The fields, in their order.
        let keys: Vec<&str> = o
            .json
            .lines()
            .filter_map(|l| l.strip_prefix("  \"")?.split('"').next())
            .collect();
        assert_eq!(
            keys,
            [
                "op",
                "file",
                "device",
                "provider",
                "kind",
                "bytes",
                "offset",
                "chunk",
                "micros",
                "kib_per_s",
                "route",
                "p2p_bytes",
                "system_dma_bytes",
                "bounced_bytes"
            ]
        );
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
