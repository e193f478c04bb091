// SPDX-License-Identifier: GPL-2.0

//! `p2pmmctl topo`: the P2P route matrix, every client device against every provider, as
//! `P2PMM_IOC_ROUTE` answers for each pair: which path a mapping takes (bus addresses, host
//! bridge), or why it does not (bounce through system memory, refused), with the reason spelled
//! out.

use crate::output::Table;
use crate::providers::ProviderJson;
use crate::sysfs::PciDevice;
use p2pmm_uapi::{Plan, Provider, Route, Verdict};
use serde::Serialize;

/// One (provider, client) pair and what the kernel answered.
#[derive(Debug)]
pub(crate) struct Pair {
    pub(crate) provider: u32,
    pub(crate) client: String,
    pub(crate) route: Result<Route, String>,
}

/// The whole matrix.
#[derive(Debug)]
pub(crate) struct Topo {
    pub(crate) providers: Vec<Provider>,
    pub(crate) clients: Vec<PciDevice>,
    pub(crate) pairs: Vec<Pair>,
}

impl Topo {
    /// Asks `route` for every (provider, client) pair; a failed query is kept as that pair's error.
    pub(crate) fn build(
        providers: Vec<Provider>,
        clients: Vec<PciDevice>,
        mut route: impl FnMut(u32, &str) -> Result<Route, p2pmm_uapi::Error>,
    ) -> Topo {
        let mut pairs = Vec::new();
        for c in &clients {
            for p in &providers {
                pairs.push(Pair {
                    provider: p.info.id,
                    client: c.device.clone(),
                    route: route(p.info.id, &c.device).map_err(|e| e.to_string()),
                });
            }
        }
        Topo {
            providers,
            clients,
            pairs,
        }
    }

    fn pair(&self, provider: u32, client: &str) -> Option<&Pair> {
        self.pairs
            .iter()
            .find(|p| p.provider == provider && p.client == client)
    }

    fn provider(&self, id: u32) -> Option<&Provider> {
        self.providers.iter().find(|p| p.info.id == id)
    }
}

/// The matrix cell of a route: `SELF`, `BUS`, `HB`, `BNC`, `X`, or `?` for codes this tool does not
/// know.
pub(crate) fn cell(route: &Route, provider_device: &str) -> &'static str {
    match (route.plan, route.verdict) {
        (Plan::Direct, _) if route.client == provider_device && route.distance == Some(0) => "SELF",
        (Plan::Direct, Verdict::BusAddress) => "BUS",
        (Plan::Direct, Verdict::HostBridge) => "HB",
        (Plan::Bounce, _) => "BNC",
        (Plan::Refused, _) => "X",
        _ => "?",
    }
}

const LEGEND: &str = "\
Legend:
  SELF  the provider's own device
  BUS   direct: PCI bus addresses through a common upstream bridge
  HB    direct: through a host bridge on p2pdma's allowlist
  BNC   bounce: managed memory; its pages move to system memory when this device maps them
  X     refused: static memory this device cannot reach; mapping it fails (never a silent copy)
  ERR   the route query failed
";

/// The PCI name without the common domain: "0000:03:00.0" -> "03:00.0".
fn short(device: &str) -> &str {
    device.strip_prefix("0000:").unwrap_or(device)
}

/// The human output of `p2pmmctl topo`.
pub(crate) fn render(t: &Topo) -> String {
    if t.providers.is_empty() {
        return "no providers: nothing to route to\n".into();
    }
    let mut header = vec!["CLIENT \\ PROVIDER".to_string(), String::new()];
    header.extend(t.providers.iter().map(|p| p.info.id.to_string()));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut table = Table::new(&header);
    let mut kinds = vec![String::new(), String::new()];
    kinds.extend(t.providers.iter().map(|p| p.kind.name()));
    table.row(kinds);
    let mut devices = vec![String::new(), String::new()];
    devices.extend(t.providers.iter().map(|p| short(&p.device).to_string()));
    table.row(devices);
    for c in &t.clients {
        let mut row = vec![c.device.clone(), c.label().to_string()];
        for p in &t.providers {
            row.push(match t.pair(p.info.id, &c.device).map(|x| &x.route) {
                Some(Ok(r)) => cell(r, &p.device).to_string(),
                Some(Err(_)) => "ERR".into(),
                None => "-".into(),
            });
        }
        table.row(row);
    }
    let mut out = String::from(
        "P2P routes: rows are client devices, columns are providers (id, kind, device)\n\n",
    );
    out.push_str(&table.render());
    out.push('\n');
    out.push_str(LEGEND);
    let mut notes = Table::new(&["  CLIENT", "PROVIDER", "PLAN", "REASON", "HOST BRIDGE"]);
    let (mut n, mut reasons, mut errors) = (0, Vec::new(), Vec::new());
    for pair in &t.pairs {
        let Some(p) = t.provider(pair.provider) else {
            continue;
        };
        let provider = format!("{} {} {}", p.info.id, p.kind.name(), short(&p.device));
        match &pair.route {
            Ok(r) if r.plan == Plan::Direct => continue,
            Ok(r) => {
                notes.row(vec![
                    format!("  {}", pair.client),
                    provider,
                    format!("{} {}", cell(r, &p.device), r.plan.name()),
                    r.reason.name(),
                    r.host_bridge
                        .map_or("-".into(), |(v, d)| format!("{v:04x}:{d:04x}")),
                ]);
                if !reasons.contains(&r.reason) {
                    reasons.push(r.reason);
                }
            }
            Err(e) => {
                notes.row(vec![
                    format!("  {}", pair.client),
                    provider,
                    "ERR".into(),
                    "-".into(),
                    "-".into(),
                ]);
                errors.push(format!("  {} -> provider {}: {e}", pair.client, p.info.id));
            }
        }
        n += 1;
    }
    if n == 0 {
        out.push_str("\nEvery pair is direct.\n");
        return out;
    }
    out.push_str(&format!(
        "\nNot direct ({n} pair{}):\n",
        if n == 1 { "" } else { "s" }
    ));
    out.push_str(&notes.render());
    if !reasons.is_empty() {
        out.push_str("Reasons:\n");
        let mut t = Table::new(&["", ""]);
        for r in reasons {
            t.row(vec![format!("  {}", r.name()), r.text().into()]);
        }
        out.extend(t.render().lines().skip(1).map(|l| format!("{l}\n")));
    }
    if !errors.is_empty() {
        out.push_str("Errors:\n");
        out.extend(errors.into_iter().map(|e| format!("{e}\n")));
    }
    out
}

#[derive(Serialize)]
struct RouteJson {
    provider: u32,
    client: String,
    cell: String,
    verdict: Option<String>,
    plan: Option<String>,
    reason: Option<String>,
    reason_text: Option<String>,
    distance: Option<u32>,
    host_bridge: Option<String>,
    error: Option<String>,
}

/// `p2pmmctl topo --json`.
#[derive(Serialize)]
pub(crate) struct TopoJson<'a> {
    providers: Vec<ProviderJson>,
    clients: &'a [PciDevice],
    routes: Vec<RouteJson>,
}

/// `{"providers": [...], "clients": [...], "routes": [...]}`.
pub(crate) fn json(t: &Topo) -> TopoJson<'_> {
    let routes: Vec<RouteJson> = t
        .pairs
        .iter()
        .map(|pair| {
            let device = t.provider(pair.provider).map_or("", |p| p.device.as_str());
            match &pair.route {
                Ok(r) => RouteJson {
                    provider: pair.provider,
                    client: pair.client.clone(),
                    cell: cell(r, device).into(),
                    verdict: Some(r.verdict.name()),
                    plan: Some(r.plan.name()),
                    reason: Some(r.reason.name()),
                    reason_text: Some(r.reason.text().into()),
                    distance: r.distance,
                    host_bridge: r.host_bridge.map(|(v, d)| format!("{v:04x}:{d:04x}")),
                    error: None,
                },
                Err(e) => RouteJson {
                    provider: pair.provider,
                    client: pair.client.clone(),
                    cell: "ERR".into(),
                    verdict: None,
                    plan: None,
                    reason: None,
                    reason_text: None,
                    distance: None,
                    host_bridge: None,
                    error: Some(e.clone()),
                },
            }
        })
        .collect();
    TopoJson {
        providers: t.providers.iter().map(ProviderJson::from).collect(),
        clients: &t.clients,
        routes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::parse_json;
    use crate::providers::tests::fake_providers;
    use p2pmm_uapi::{Call, Command, Error, NoRouteReason, Reason};

    fn dev(name: &str, driver: &str) -> PciDevice {
        PciDevice {
            device: name.into(),
            driver: Some(driver.into()),
            class: "?".into(),
        }
    }

    /// The default VM topology: 03:00.0 (NVMe CMB) and 04:00.0 (vaccel) below one switch, 07:00.0
    /// (vaccel) on its own root port; q35's host bridge is not on p2pdma's allowlist.
    fn fake_route(providers: &[Provider], id: u32, client: &str) -> Result<Route, Error> {
        let Some(p) = providers.iter().find(|p| p.info.id == id) else {
            return Err(Error {
                call: Call::Ioctl(Command::Route),
                errno: libc_enodev(),
            });
        };
        let switch = |d: &str| d == "0000:03:00.0" || d == "0000:04:00.0";
        let (verdict, plan, reason, distance, host_bridge) = if p.device == client {
            (
                Verdict::BusAddress,
                Plan::Direct,
                Reason::None,
                Some(0),
                None,
            )
        } else if switch(&p.device) && switch(client) {
            (
                Verdict::BusAddress,
                Plan::Direct,
                Reason::None,
                Some(4),
                None,
            )
        } else {
            let plan = if p.kind == p2pmm_uapi::ProviderKind::Managed {
                Plan::Bounce
            } else {
                Plan::Refused
            };
            (
                Verdict::NotSupported,
                plan,
                Reason::NoRoute(NoRouteReason::HostBridgeNotAllowed),
                None,
                Some((0x8086, 0x29c0)),
            )
        };
        Ok(Route {
            provider: id,
            client: client.into(),
            verdict,
            plan,
            reason,
            distance,
            host_bridge,
        })
    }

    fn libc_enodev() -> i32 {
        19
    }

    fn fake_topo() -> Topo {
        let providers = fake_providers();
        let clients = vec![
            dev("0000:03:00.0", "nvme"),
            dev("0000:04:00.0", "p2pmm_vaccel"),
            dev("0000:07:00.0", "p2pmm_vaccel"),
        ];
        let ps = providers.clone();
        Topo::build(providers, clients, |id, c| fake_route(&ps, id, c))
    }

    #[test]
    fn matrix_cells() {
        let text = render(&fake_topo());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[2],
            "CLIENT \\ PROVIDER                1        2        3        4        5"
        );
        assert_eq!(
            lines[3],
            "                                 static   static   managed  static   managed"
        );
        assert_eq!(
            lines[4],
            "                                 03:00.0  04:00.0  04:00.0  07:00.0  07:00.0"
        );
        assert_eq!(
            lines[5],
            "0000:03:00.0       nvme          SELF     BUS      BUS      X        BNC"
        );
        assert_eq!(
            lines[6],
            "0000:04:00.0       p2pmm_vaccel  BUS      SELF     SELF     X        BNC"
        );
        assert_eq!(
            lines[7],
            "0000:07:00.0       p2pmm_vaccel  X        X        BNC      SELF     SELF"
        );
        assert!(text.contains("Legend:\n  SELF"));
        assert!(text.contains("\nNot direct (7 pairs):\n"), "{text}");
        assert!(text.contains(
            "  0000:03:00.0  4 static 07:00.0   X refused   HOST_BRIDGE_NOT_ALLOWED  8086:29c0\n\
             \x20 0000:03:00.0  5 managed 07:00.0  BNC bounce  HOST_BRIDGE_NOT_ALLOWED  8086:29c0\n"
        ));
        assert!(text.ends_with(
            "Reasons:\n  HOST_BRIDGE_NOT_ALLOWED  no common upstream bridge, and the host bridge \
            is not on p2pdma's \
             allowlist\n"
        ));
    }

    #[test]
    fn failed_queries_and_unknown_codes() {
        let providers = fake_providers();
        let t = Topo::build(
            providers[..2].to_vec(),
            vec![dev("0000:09:00.0", "x")],
            |id, c| {
                if id == 1 {
                    Err(Error {
                        call: Call::Ioctl(Command::Route),
                        errno: libc_enodev(),
                    })
                } else {
                    Ok(Route {
                        provider: id,
                        client: c.into(),
                        verdict: Verdict::Unknown(7),
                        plan: Plan::Unknown(9),
                        reason: Reason::Unknown(42),
                        distance: None,
                        host_bridge: None,
                    })
                }
            },
        );
        let text = render(&t);
        assert!(text.contains("0000:09:00.0       x  ERR      ?"), "{text}");
        assert!(
            text.contains("  0000:09:00.0  1 static 03:00.0  ERR      -          -\n"),
            "{text}"
        );
        assert!(
            text.contains("  0000:09:00.0  2 static 04:00.0  ? plan9  REASON_42  -\n"),
            "{text}"
        );
        assert!(
            text.contains("  REASON_42  a reason this p2pmmctl does not know (newer kernel)\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "Errors:\n  0000:09:00.0 -> provider 1: P2PMM_IOC_ROUTE: no such device (ENODEV)"
            ),
            "{text}"
        );
        let v = parse_json(&json(&t));
        assert_eq!(v["routes"][0]["cell"], "ERR");
        assert!(v["routes"][0]["error"].as_str().unwrap().contains("ENODEV"));
        assert_eq!(v["routes"][1]["reason"], "REASON_42");
    }

    #[test]
    fn json_routes() {
        let v = parse_json(&json(&fake_topo()));
        let routes = v["routes"].as_array().unwrap();
        assert_eq!(routes.len(), 15);
        let find = |p: u32, c: &str| {
            routes
                .iter()
                .find(|r| r["provider"] == p && r["client"] == c)
                .unwrap()
        };
        let r = find(1, "0000:04:00.0");
        assert_eq!(
            (
                r["cell"].as_str(),
                r["verdict"].as_str(),
                r["distance"].as_u64()
            ),
            (Some("BUS"), Some("bus-address"), Some(4))
        );
        let r = find(4, "0000:03:00.0");
        assert_eq!(r["cell"], "X");
        assert_eq!(r["plan"], "refused");
        assert_eq!(r["reason"], "HOST_BRIDGE_NOT_ALLOWED");
        assert_eq!(r["host_bridge"], "8086:29c0");
        assert!(r["distance"].is_null());
        assert_eq!(find(5, "0000:03:00.0")["cell"], "BNC");
        assert_eq!(v["clients"][0]["driver"], "nvme");
        assert_eq!(v["providers"].as_array().unwrap().len(), 5);
    }

    #[test]
    fn no_providers() {
        let t = Topo::build(
            Vec::new(),
            vec![dev("0000:03:00.0", "nvme")],
            |_, _| unreachable!(),
        );
        assert_eq!(render(&t), "no providers: nothing to route to\n");
    }
}
