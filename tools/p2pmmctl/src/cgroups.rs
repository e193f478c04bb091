// SPDX-License-Identifier: GPL-2.0

//! `p2pmmctl cgroups`: how much of each provider each cgroup holds, as the kernel's dmem cgroup
//! controller accounts it (`dmem.current`, with `dmem.max`, `dmem.min` and `dmem.low`), for p2pmm's
//! regions: `p2pmm/<pci name>/static` and `p2pmm/<pci name>/managed`
//! (Documentation/p2pmm/admin.rst).

use crate::output::{human_bytes, Table};
use p2pmm_uapi::{Provider, ProviderKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// The prefix of p2pmm's dmem regions.
const PREFIX: &str = "p2pmm/";

/// A dmem value: bytes, or no limit ("max").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub(crate) enum Value {
    Bytes(u64),
    #[serde(serialize_with = "max")]
    Max,
}

fn max<S: serde::Serializer>(s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("max")
}

impl Value {
    fn parse(s: &str) -> Option<Value> {
        match s {
            "max" => Some(Value::Max),
            n => n.parse().ok().map(Value::Bytes),
        }
    }

    fn show(self) -> String {
        match self {
            Value::Bytes(0) => "-".into(),
            Value::Bytes(n) => human_bytes(n),
            Value::Max => "max".into(),
        }
    }
}

/// `(region, value)` of each p2pmm line of a dmem file (`<region> <value>` per line).
pub(crate) fn parse_dmem(text: &str) -> Vec<(String, Value)> {
    text.lines()
        .filter_map(|l| {
            let (region, v) = l.trim().rsplit_once(' ')?;
            if !region.starts_with(PREFIX) {
                return None;
            }
            Some((region.to_string(), Value::parse(v)?))
        })
        .collect()
}

/// One cgroup's use of one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Usage {
    /// The cgroup's path below the cgroup root ("/" for the root).
    pub(crate) cgroup: String,
    pub(crate) region: String,
    /// The provider of the region, if p2pmm lists one with that device and kind.
    pub(crate) provider: Option<u32>,
    pub(crate) current: u64,
    pub(crate) max: Value,
    pub(crate) min: Value,
    pub(crate) low: Value,
}

/// The region of provider `p`.
pub(crate) fn region_of(p: &Provider) -> Option<String> {
    let kind = match p.kind {
        ProviderKind::Static => "static",
        ProviderKind::Managed => "managed",
        _ => return None,
    };
    Some(format!("{PREFIX}{}/{kind}", p.device))
}

/// Every cgroup below `root` (the root itself included) that holds memory of a p2pmm region, or
/// has a limit or protection on one (with `all`: every cgroup and region).
pub(crate) fn scan(root: &Path, providers: &[Provider], all: bool) -> std::io::Result<Vec<Usage>> {
    let ids: BTreeMap<String, u32> = providers
        .iter()
        .filter_map(|p| Some((region_of(p)?, p.info.id)))
        .collect();
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
        let name = match dir.strip_prefix(root) {
            Ok(rel) if rel.as_os_str().is_empty() => "/".to_string(),
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => dir.display().to_string(),
        };
        let limits = |f: &str| parse_dmem(&read(f)).into_iter().collect::<BTreeMap<_, _>>();
        let (max, min, low) = (limits("dmem.max"), limits("dmem.min"), limits("dmem.low"));
        for (region, v) in parse_dmem(&read("dmem.current")) {
            let current = match v {
                Value::Bytes(n) => n,
                Value::Max => continue,
            };
            let u = Usage {
                provider: ids.get(&region).copied(),
                max: max.get(&region).copied().unwrap_or(Value::Max),
                min: min.get(&region).copied().unwrap_or(Value::Bytes(0)),
                low: low.get(&region).copied().unwrap_or(Value::Bytes(0)),
                cgroup: name.clone(),
                region,
                current,
            };
            let set = u.current > 0
                || u.max != Value::Max
                || u.min != Value::Bytes(0)
                || u.low != Value::Bytes(0);
            if all || set {
                out.push(u);
            }
        }
        let mut children: Vec<_> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        // Visited in name order (the stack takes the last first).
        children.sort_by(|a, b| b.cmp(a));
        dirs.extend(children);
    }
    Ok(out)
}

/// `p2pmmctl cgroups --json`.
#[derive(Debug, Serialize)]
pub(crate) struct CgroupsJson<'a> {
    pub(crate) cgroups: &'a [Usage],
}

/// The human table of `p2pmmctl cgroups`.
pub(crate) fn render(usage: &[Usage]) -> String {
    if usage.is_empty() {
        return "no cgroup holds p2pmm memory or has a dmem limit on it (dmem.current, \
        dmem.max, dmem.min, dmem.low)\n"
            .into();
    }
    let mut t = Table::new(&[
        "CGROUP", "PROVIDER", "REGION", "CURRENT", "MAX", "MIN", "LOW",
    ]);
    for u in usage {
        t.row(vec![
            u.cgroup.clone(),
            u.provider.map_or("-".into(), |id| id.to_string()),
            u.region.clone(),
            Value::Bytes(u.current).show(),
            u.max.show(),
            u.min.show(),
            u.low.show(),
        ]);
    }
    t.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmem_files_parse_to_p2pmm_regions_only() {
        let text = "drm/0000:00:02.0/vram0 1048576\np2pmm/0000:04:00.0/static 4096\n\
                    p2pmm/0000:04:00.0/managed max\np2pmm/bad notanumber\n";
        assert_eq!(
            parse_dmem(text),
            vec![
                ("p2pmm/0000:04:00.0/static".into(), Value::Bytes(4096)),
                ("p2pmm/0000:04:00.0/managed".into(), Value::Max),
            ]
        );
    }

    #[test]
    fn a_cgroup_tree_is_scanned_for_use_and_limits() {
        let root = std::env::temp_dir().join(format!("p2pmmctl-cg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let a = root.join("a");
        let b = root.join("a/b");
        std::fs::create_dir_all(&b).unwrap();
        let region = "p2pmm/0000:04:00.0/managed";
        let w = |dir: &Path, f: &str, s: &str| std::fs::write(dir.join(f), s).unwrap();
        w(&a, "dmem.current", &format!("{region} 8192\n"));
        w(&a, "dmem.max", &format!("{region} 1048576\n"));
        w(&b, "dmem.current", &format!("{region} 0\n"));
        w(&b, "dmem.min", &format!("{region} max\n"));
        let got = scan(&root, &[], false).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(
            (got[0].cgroup.as_str(), got[0].current, got[0].max),
            ("/a", 8192, Value::Bytes(1 << 20))
        );
        assert_eq!((got[1].cgroup.as_str(), got[1].min), ("/a/b", Value::Max));
        let table = render(&got);
        assert!(table.contains("/a/b") && table.contains("8 KiB"), "{table}");
        assert_eq!(
            crate::output::to_json(&CgroupsJson { cgroups: &got[..1] }, false),
            format!(
                "{{\"cgroups\":[{{\"cgroup\":\"/a\",\"region\":\"{region}\",\"provider\":null,\
                 \"current\":8192,\"max\":1048576,\"min\":0,\"low\":0}}]}}"
            )
        );
    }
}
