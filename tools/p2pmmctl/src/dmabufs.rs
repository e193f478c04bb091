// SPDX-License-Identifier: GPL-2.0

//! `p2pmmctl dmabufs`: the dma-bufs exported from p2pmm memory (`P2PMM_IOC_DMABUF`) and the devices
//! attached to each, as the kernel's dma-buf core lists every dma-buf in
//! `/sys/kernel/debug/dma_buf/bufinfo` (root; debugfs). p2pmm's are those whose exporter is
//! `p2pmm`; it names each `p2pmm provider <id>`, with ` managed` after the id for managed memory,
//! and `, in system memory` after that once p2pmm moved it there.

use crate::output::{human_bytes, Table};
use serde::Serialize;

/// The exporter name of p2pmm's dma-bufs (the module's name).
const EXPORTER: &str = "p2pmm";
/// The prefix of the name p2pmm gives each dma-buf, before the provider id.
const NAME_PREFIX: &str = "p2pmm provider ";
/// What follows the id in the name of a dma-buf of managed memory.
const MANAGED_SUFFIX: &str = " managed";
/// What follows that once the dma-buf moved to system memory.
const MOVED_SUFFIX: &str = ", in system memory";

/// One dma-buf p2pmm exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Dmabuf {
    /// The dma-buf file's inode number (as `/proc/<pid>/fdinfo/<fd>` shows it: `ino`).
    pub(crate) inode: u64,
    pub(crate) bytes: u64,
    /// The provider whose memory it is (or was: a managed dma-buf may have moved to system memory).
    pub(crate) provider: Option<u32>,
    /// `static` or `managed` memory.
    pub(crate) kind: &'static str,
    /// Where its memory is: `device` (the provider's BAR) or `system` (a managed dma-buf moved).
    pub(crate) memory: &'static str,
    /// References to the dma-buf's file (descriptors, importers' references, mappings).
    pub(crate) references: u64,
    /// The PCI (or other) names of the attached devices.
    pub(crate) importers: Vec<String>,
}

/// p2pmm's dma-bufs in the text of `bufinfo`: a header line per object (size, flags, mode, count,
/// exporter, inode, name, tab-separated), its fences, then `Attached Devices:` and a line per
/// device, then `Total <n> devices attached`.
pub(crate) fn parse_bufinfo(text: &str) -> Vec<Dmabuf> {
    let mut out = Vec::new();
    let mut current: Option<Dmabuf> = None;
    let mut in_devices = false;
    for line in text.lines() {
        let fields: Vec<&str> = line.split('\t').collect();
        if fields.len() == 7 && !line.starts_with('\t') {
            out.extend(current.take());
            in_devices = false;
            if fields[4] != EXPORTER {
                continue;
            }
            let num = |s: &str| s.trim().parse::<u64>().ok();
            let (Some(bytes), Some(references), Some(inode)) =
                (num(fields[0]), num(fields[3]), num(fields[5]))
            else {
                continue;
            };
            let name = fields[6].strip_prefix(NAME_PREFIX);
            let moved = name.and_then(|n| n.strip_suffix(MOVED_SUFFIX));
            let name = moved.or(name);
            let managed = name.and_then(|n| n.strip_suffix(MANAGED_SUFFIX));
            current = Some(Dmabuf {
                inode,
                bytes,
                provider: managed.or(name).and_then(|id| id.parse().ok()),
                kind: if managed.is_some() {
                    "managed"
                } else {
                    "static"
                },
                memory: if moved.is_some() { "system" } else { "device" },
                references,
                importers: Vec::new(),
            });
        } else if line.trim() == "Attached Devices:" {
            in_devices = true;
        } else if line.starts_with("Total ") {
            in_devices = false;
        } else if in_devices {
            if let (Some(d), Some(dev)) = (current.as_mut(), line.strip_prefix('\t')) {
                d.importers.push(dev.trim().to_string());
            }
        }
    }
    out.extend(current);
    out
}

/// `p2pmmctl dmabufs --json`.
#[derive(Debug, Serialize)]
pub(crate) struct DmabufsJson<'a> {
    pub(crate) dmabufs: &'a [Dmabuf],
}

/// The human table of `p2pmmctl dmabufs`.
pub(crate) fn render(bufs: &[Dmabuf]) -> String {
    if bufs.is_empty() {
        return "no dma-buf of p2pmm memory (P2PMM_IOC_DMABUF exports one)\n".into();
    }
    let mut t = Table::new(&[
        "INODE",
        "PROVIDER",
        "KIND",
        "MEMORY",
        "SIZE",
        "REFS",
        "IMPORTERS",
    ]);
    for d in bufs {
        t.row(vec![
            d.inode.to_string(),
            d.provider.map_or("-".into(), |id| id.to_string()),
            d.kind.into(),
            d.memory.into(),
            human_bytes(d.bytes),
            d.references.to_string(),
            if d.importers.is_empty() {
                "-".into()
            } else {
                d.importers.join(",")
            },
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bufinfo` as 7.3 writes it: a udmabuf, then a p2pmm dma-buf with two importers and a fence.
    const BUFINFO: &str = "\nDma-buf Objects:\n\
        size    \tflags   \tmode    \tcount   \texp_name\tino     \tname\n\
        00016384\t00000002\t00080007\t00000003\tudmabuf\t00000012\t<none>\n\
        \tAttached Devices:\n\
        \t0000:04:00.1\n\
        Total 1 devices attached\n\n\
        00008192\t00000002\t00080007\t00000004\tp2pmm\t00000031\tp2pmm provider 3\n\
        \tshared\tfence: sample 1 signalled\n\
        \tAttached Devices:\n\
        \t0000:04:00.1\n\
        \t0000:05:00.0\n\
        Total 2 devices attached\n\n\
        00004096\t00000002\t00080007\t00000001\tp2pmm\t00000032\t<none>\n\
        \tAttached Devices:\n\
        Total 0 devices attached\n\n\
        00016384\t00000002\t00080007\t00000001\tp2pmm\t00000033\tp2pmm provider 5 managed\n\
        \tAttached Devices:\n\
        Total 0 devices attached\n\n\
        00008192\t00000002\t00080007\t00000001\tp2pmm\t00000034\tp2pmm provider 5 managed, \
        in system memory\n\
        \tAttached Devices:\n\
        Total 0 devices attached\n\n\
        \nTotal 3 objects, 28672 bytes\n";

    #[test]
    fn only_p2pmm_dma_bufs_are_listed_with_their_importers() {
        let got = parse_bufinfo(BUFINFO);
        assert_eq!(
            got,
            vec![
                Dmabuf {
                    inode: 31,
                    bytes: 8192,
                    provider: Some(3),
                    kind: "static",
                    memory: "device",
                    references: 4,
                    importers: vec!["0000:04:00.1".into(), "0000:05:00.0".into()],
                },
                Dmabuf {
                    inode: 32,
                    bytes: 4096,
                    provider: None,
                    kind: "static",
                    memory: "device",
                    references: 1,
                    importers: vec![],
                },
                Dmabuf {
                    inode: 33,
                    bytes: 16384,
                    provider: Some(5),
                    kind: "managed",
                    memory: "device",
                    references: 1,
                    importers: vec![],
                },
                Dmabuf {
                    inode: 34,
                    bytes: 8192,
                    provider: Some(5),
                    kind: "managed",
                    memory: "system",
                    references: 1,
                    importers: vec![],
                },
            ]
        );
        let table = render(&got);
        assert!(
            table.contains("0000:04:00.1,0000:05:00.0") && table.contains("8 KiB"),
            "{table}"
        );
        assert_eq!(
            crate::output::to_json(
                &DmabufsJson {
                    dmabufs: &got[1..2]
                },
                false
            ),
            "{\"dmabufs\":[{\"inode\":32,\"bytes\":4096,\"provider\":null,\"kind\":\"static\",\
             \"memory\":\"device\",\"references\":1,\"importers\":[]}]}"
        );
    }

    #[test]
    fn nothing_exported_says_so() {
        assert!(parse_bufinfo("\nDma-buf Objects:\n\nTotal 0 objects, 0 bytes\n").is_empty());
        assert!(render(&[]).contains("no dma-buf"));
    }
}
