// SPDX-License-Identifier: GPL-2.0

//! `p2pmmctl providers` and `p2pmmctl stats`: what device memory p2pmm manages, and its counters.

use crate::output::{human_bytes, percent, Table};
use p2pmm_uapi::{Provider, ProviderKind};
use serde::Serialize;

/// A provider in JSON.
#[derive(Debug, Serialize)]
pub(crate) struct ProviderJson {
    id: u32,
    kind: String,
    device: String,
    capacity: u64,
    used: u64,
    adopted: bool,
    flags: u32,
    evictions: u64,
    migrated_in: u64,
    migrated_out: u64,
    invalidations: u64,
}

impl From<&Provider> for ProviderJson {
    fn from(p: &Provider) -> ProviderJson {
        ProviderJson {
            id: p.info.id,
            kind: p.kind.name(),
            device: p.device.clone(),
            capacity: p.info.capacity,
            used: p.info.used,
            adopted: p.adopted(),
            flags: p.info.flags,
            evictions: p.info.evictions,
            migrated_in: p.info.migrated_in,
            migrated_out: p.info.migrated_out,
            invalidations: p.info.invalidations,
        }
    }
}

/// `p2pmmctl providers --json`.
#[derive(Debug, Serialize)]
pub(crate) struct ProvidersJson {
    providers: Vec<ProviderJson>,
}

/// `{"providers": [...]}`.
pub(crate) fn providers_json(providers: &[Provider]) -> ProvidersJson {
    ProvidersJson {
        providers: providers.iter().map(ProviderJson::from).collect(),
    }
}

/// "5 providers (3 static, 2 managed)".
pub(crate) fn summary(providers: &[Provider]) -> String {
    let count = |k: ProviderKind| providers.iter().filter(|p| p.kind == k).count();
    let other = providers.len() - count(ProviderKind::Static) - count(ProviderKind::Managed);
    format!(
        "{} provider{} ({} static, {} managed{})",
        providers.len(),
        if providers.len() == 1 { "" } else { "s" },
        count(ProviderKind::Static),
        count(ProviderKind::Managed),
        if other > 0 {
            format!(", {other} of unknown kind")
        } else {
            String::new()
        }
    )
}

/// The human table of `p2pmmctl providers`.
pub(crate) fn render_providers(providers: &[Provider]) -> String {
    if providers.is_empty() {
        return "no providers: no device offers P2P memory to p2pmm (no vaccel device, no \
        published p2pdma memory)\n"
            .into();
    }
    let mut t = Table::new(&[
        "ID", "KIND", "DEVICE", "CAPACITY", "USED", "USE%", "ADOPTED",
    ]);
    for p in providers {
        t.row(vec![
            p.info.id.to_string(),
            p.kind.name(),
            p.device.clone(),
            human_bytes(p.info.capacity),
            human_bytes(p.info.used),
            percent(p.info.used, p.info.capacity),
            if p.adopted() { "yes" } else { "no" }.into(),
        ]);
    }
    format!("{}{}\n", t.render(), summary(providers))
}

/// A counter, with its change since the previous sample when there is one ("12 (+3)").
fn counter(now: u64, before: Option<u64>) -> String {
    match before {
        Some(b) if now > b => format!("{now} (+{})", now - b),
        _ => now.to_string(),
    }
}

/// The human table of `p2pmmctl stats`; with the previous sample, counters show what changed since.
pub(crate) fn render_stats(providers: &[Provider], previous: Option<&[Provider]>) -> String {
    if providers.is_empty() {
        return "no providers\n".into();
    }
    let mut t = Table::new(&[
        "ID",
        "KIND",
        "DEVICE",
        "USED",
        "CAPACITY",
        "EVICTIONS",
        "MIGRATED-IN",
        "MIGRATED-OUT",
        "INVALIDATIONS",
    ]);
    for p in providers {
        let prev = previous.and_then(|ps| ps.iter().find(|q| q.info.id == p.info.id));
        t.row(vec![
            p.info.id.to_string(),
            p.kind.name(),
            p.device.clone(),
            human_bytes(p.info.used),
            human_bytes(p.info.capacity),
            counter(p.info.evictions, prev.map(|q| q.info.evictions)),
            counter(p.info.migrated_in, prev.map(|q| q.info.migrated_in)),
            counter(p.info.migrated_out, prev.map(|q| q.info.migrated_out)),
            counter(p.info.invalidations, prev.map(|q| q.info.invalidations)),
        ]);
    }
    t.render()
}

/// One sample of `p2pmmctl stats --json`.
#[derive(Debug, Serialize)]
pub(crate) struct StatsJson {
    sample: u64,
    elapsed_ms: u128,
    providers: Vec<ProviderJson>,
}

/// One sample of `p2pmmctl stats --json` (one line per sample when watching).
pub(crate) fn stats_json(providers: &[Provider], sample: u64, elapsed_ms: u128) -> StatsJson {
    StatsJson {
        sample,
        elapsed_ms,
        providers: providers.iter().map(ProviderJson::from).collect(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::output::{parse_json, to_json};
    use p2pmm_uapi::raw;

    /// The default VM topology's providers (ids as p2pmm hands them out there).
    pub(crate) fn fake_providers() -> Vec<Provider> {
        let p = |id, kind, flags, device: &str, capacity, used| {
            let mut info = raw::ProviderInfo {
                id,
                kind,
                flags,
                capacity,
                used,
                ..Default::default()
            };
            info.device[..device.len()].copy_from_slice(device.as_bytes());
            Provider::from_raw(&info)
        };
        vec![
            p(
                1,
                raw::P2PMM_PROVIDER_STATIC,
                raw::P2PMM_PROVIDER_F_ADOPTED,
                "0000:03:00.0",
                64 << 20,
                0,
            ),
            p(
                2,
                raw::P2PMM_PROVIDER_STATIC,
                0,
                "0000:04:00.0",
                248 << 20,
                1 << 20,
            ),
            p(
                3,
                raw::P2PMM_PROVIDER_MANAGED,
                0,
                "0000:04:00.0",
                8 << 20,
                2 << 20,
            ),
            p(
                4,
                raw::P2PMM_PROVIDER_STATIC,
                0,
                "0000:07:00.0",
                120 << 20,
                0,
            ),
            p(
                5,
                raw::P2PMM_PROVIDER_MANAGED,
                0,
                "0000:07:00.0",
                8 << 20,
                0,
            ),
        ]
    }

    #[test]
    fn providers_table() {
        let text = render_providers(&fake_providers());
        let expected = "\
ID  KIND     DEVICE        CAPACITY  USED   USE%  ADOPTED
 1  static   0000:03:00.0  64 MiB    0 B      0%  yes
 2  static   0000:04:00.0  248 MiB   1 MiB    0%  no
 3  managed  0000:04:00.0  8 MiB     2 MiB   25%  no
 4  static   0000:07:00.0  120 MiB   0 B      0%  no
 5  managed  0000:07:00.0  8 MiB     0 B      0%  no
5 providers (3 static, 2 managed)
";
        assert_eq!(text, expected);
        assert!(render_providers(&[]).starts_with("no providers"));
    }

    #[test]
    fn providers_json_fields() {
        let v = parse_json(&providers_json(&fake_providers()));
        let list = v["providers"].as_array().unwrap();
        assert_eq!(list.len(), 5);
        assert_eq!(list[0]["id"], 1);
        assert_eq!(list[0]["kind"], "static");
        assert_eq!(list[0]["adopted"], true);
        assert_eq!(list[0]["capacity"], 64u64 << 20);
        assert_eq!(list[2]["kind"], "managed");
        assert_eq!(list[2]["used"], 2u64 << 20);
        assert_eq!(list[4]["device"], "0000:07:00.0");
    }

    #[test]
    fn stats_show_changes() {
        let before = fake_providers();
        let mut after = before.clone();
        after[2].info.migrated_in = 512;
        after[2].info.evictions = 3;
        let first = render_stats(&after, None);
        assert!(first.lines().nth(3).unwrap().contains(" 512 "), "{first}");
        let second = render_stats(&after, Some(&before));
        let row = second.lines().nth(3).unwrap();
        assert!(
            row.contains("512 (+512)") && row.contains("3 (+3)"),
            "{second}"
        );
        let v = parse_json(&stats_json(&after, 2, 1500));
        assert!(to_json(&stats_json(&after, 2, 1500), false)
            .starts_with(r#"{"sample":2,"elapsed_ms":1500,"providers":[{"id":1,"kind":"static","#));
        assert_eq!(v["sample"], 2);
        assert_eq!(v["providers"][2]["evictions"], 3);
    }

    #[test]
    fn summary_counts_kinds() {
        let mut p = fake_providers();
        p[0].kind = ProviderKind::Unknown(9);
        assert_eq!(
            summary(&p),
            "5 providers (2 static, 2 managed, 1 of unknown kind)"
        );
        assert_eq!(
            summary(&p[..1]),
            "1 provider (0 static, 0 managed, 1 of unknown kind)"
        );
    }
}
