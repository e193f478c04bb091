// SPDX-License-Identifier: GPL-2.0

//! The route an importer device takes to a provider's memory.
//!
//! The kernel's p2pdma decides whether two PCI devices can talk directly (`pci_p2pdma_distance()`
//! and the map type it caches): through a common upstream bridge (`PCI_P2PDMA_MAP_BUS_ADDR`, also a
//! device paired with itself, at distance 0), through a host bridge on its allowlist
//! (`PCI_P2PDMA_MAP_THRU_HOST_BRIDGE`), or not at all. p2pmm adds its own policy on top and turns
//! the answer into one of three plans, which it always reports to userspace, because silent
//! fallbacks to system memory are the most common P2P complaint:
//! - direct: the importer is programmed with the provider's memory;
//! - bounce: the provider is managed, so the page can move to system RAM and the importer maps it
//!   there;
//! - refused: the provider is static (its pages cannot move), so the mapping fails instead of
//!   silently copying.
//!
//! The numeric codes are those of `include/uapi/linux/p2pmm.h` (`P2PMM_ROUTE_*`, `P2PMM_PLAN_*`,
//! `P2PMM_REASON_*`), and this file is their one Rust definition: the userspace crate
//! `tools/p2pmm-uapi` takes them from here, and its layout test checks them against the header.

/// The p2pdma map type of a (provider, importer) pair, as `pci_p2pdma_map_type()` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P2pVerdict {
    /// `PCI_P2PDMA_MAP_BUS_ADDR`: a common upstream bridge without ACS redirect; program bus
    /// addresses.
    BusAddress,
    /// `PCI_P2PDMA_MAP_THRU_HOST_BRIDGE`: the transactions cross an allowlisted host bridge (or AMD
    /// Zen root).
    ThroughHostBridge,
    /// `PCI_P2PDMA_MAP_NOT_SUPPORTED`: no usable path.
    NotSupported,
}

/// Whether a provider's pages can move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Fixed device memory (a BAR handed out as is, like p2pmem): pages never move.
    Static,
    /// Device memory p2pmm places pages in and evicts them from.
    Managed,
}

/// Everything the route decision needs to know about one (provider, importer) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInput {
    /// The p2pdma map type of the pair.
    pub verdict: P2pVerdict,
    /// The p2pdma distance (hops to the common bridge, summed over both devices); ignored unless
    /// the verdict offers a path.
    pub distance: u32,
    /// The two devices share an upstream bridge. With a `NotSupported` verdict this tells ACS
    /// redirection on that bridge (the fix is `pci=disable_acs_redir=`) from a path that must cross
    /// a host bridge not on the allowlist.
    pub common_bridge: bool,
    /// The importer is a PCI device; p2pdma can route only between PCI devices.
    pub importer_is_pci: bool,
    /// The provider's kind.
    pub kind: ProviderKind,
}

/// The administrator's routing policy (module parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoutePolicy {
    /// Allow routes through the host bridge; off when its P2P throughput is known to be poor.
    pub allow_host_bridge: bool,
    /// The longest p2pdma distance accepted for a direct route.
    pub max_distance: u32,
}

impl RoutePolicy {
    /// The default policy: whatever p2pdma accepts.
    pub const PERMISSIVE: RoutePolicy = RoutePolicy {
        allow_host_bridge: true,
        max_distance: u32::MAX,
    };
}

/// How a direct route reaches the provider's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectPath {
    /// Through a common upstream bridge (or within one device), with PCI bus addresses.
    BusAddress,
    /// Through the host bridge, with DMA addresses from the IOMMU (`DMA_ATTR_MMIO`).
    HostBridge,
}

/// Why there is no direct route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoRouteReason {
    /// No common upstream bridge, and the host bridge is not on p2pdma's allowlist.
    HostBridgeNotAllowed,
    /// A common upstream bridge redirects peer traffic upstream (ACS), and the host bridge is not
    /// allowed.
    AcsRedirect,
    /// The importer is not a PCI device.
    NotPci,
    /// The route would cross the host bridge and p2pmm's policy forbids that.
    HostBridgeDisallowed,
    /// The route is longer than the policy's maximum distance.
    TooFar,
}

/// The route of one (provider, importer) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The importer accesses the provider's memory directly.
    Direct(DirectPath),
    /// No direct route; the page moves to system RAM and the importer maps it there.
    Bounce(NoRouteReason),
    /// No direct route and the page cannot move: mapping fails.
    Refused(NoRouteReason),
}

/// Decides the route of a (provider, importer) pair.
pub fn decide(input: &RouteInput, policy: &RoutePolicy) -> Route {
    match direct_path(input, policy) {
        Ok(path) => Route::Direct(path),
        Err(reason) => match input.kind {
            ProviderKind::Managed => Route::Bounce(reason),
            ProviderKind::Static => Route::Refused(reason),
        },
    }
}

fn direct_path(input: &RouteInput, policy: &RoutePolicy) -> Result<DirectPath, NoRouteReason> {
    if !input.importer_is_pci {
        return Err(NoRouteReason::NotPci);
    }
    let path = match input.verdict {
        P2pVerdict::BusAddress => DirectPath::BusAddress,
        P2pVerdict::ThroughHostBridge if policy.allow_host_bridge => DirectPath::HostBridge,
        P2pVerdict::ThroughHostBridge => return Err(NoRouteReason::HostBridgeDisallowed),
        P2pVerdict::NotSupported if input.common_bridge => return Err(NoRouteReason::AcsRedirect),
        P2pVerdict::NotSupported => return Err(NoRouteReason::HostBridgeNotAllowed),
    };
    if input.distance > policy.max_distance {
        return Err(NoRouteReason::TooFar);
    }
    Ok(path)
}

/// `P2PMM_ROUTE_BUS_ADDR`.
pub const ROUTE_BUS_ADDR: u32 = 1;
/// `P2PMM_ROUTE_HOST_BRIDGE`.
pub const ROUTE_HOST_BRIDGE: u32 = 2;
/// `P2PMM_ROUTE_NOT_SUPPORTED`.
pub const ROUTE_NOT_SUPPORTED: u32 = 3;
/// `P2PMM_PLAN_DIRECT`.
pub const PLAN_DIRECT: u32 = 1;
/// `P2PMM_PLAN_BOUNCE`.
pub const PLAN_BOUNCE: u32 = 2;
/// `P2PMM_PLAN_REFUSED`.
pub const PLAN_REFUSED: u32 = 3;
/// `P2PMM_REASON_NONE`.
pub const REASON_NONE: u32 = 0;

impl DirectPath {
    const ALL: [DirectPath; 2] = [DirectPath::BusAddress, DirectPath::HostBridge];

    /// The uAPI code: the `P2PMM_ROUTE_*` verdict this path comes from.
    pub const fn code(self) -> u32 {
        match self {
            DirectPath::BusAddress => ROUTE_BUS_ADDR,
            DirectPath::HostBridge => ROUTE_HOST_BRIDGE,
        }
    }

    /// A short name for tools and logs.
    pub const fn name(self) -> &'static str {
        match self {
            DirectPath::BusAddress => "bus-addr",
            DirectPath::HostBridge => "host-bridge",
        }
    }
}

impl NoRouteReason {
    const ALL: [NoRouteReason; 5] = [
        NoRouteReason::HostBridgeNotAllowed,
        NoRouteReason::AcsRedirect,
        NoRouteReason::NotPci,
        NoRouteReason::HostBridgeDisallowed,
        NoRouteReason::TooFar,
    ];

    /// The uAPI code (`P2PMM_REASON_*`, never [`REASON_NONE`]).
    pub const fn code(self) -> u32 {
        match self {
            NoRouteReason::HostBridgeNotAllowed => 1,
            NoRouteReason::AcsRedirect => 2,
            NoRouteReason::NotPci => 3,
            NoRouteReason::HostBridgeDisallowed => 4,
            NoRouteReason::TooFar => 5,
        }
    }

    /// The reason of a uAPI code; `None` for [`REASON_NONE`] and for codes this build does not
    /// know.
    pub fn from_code(code: u32) -> Option<NoRouteReason> {
        NoRouteReason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// A short name for tools and logs: the header's `P2PMM_REASON_*` suffix in lower case, `-` for
    /// `_`.
    pub const fn name(self) -> &'static str {
        match self {
            NoRouteReason::HostBridgeNotAllowed => "host-bridge-not-allowed",
            NoRouteReason::AcsRedirect => "acs-redirect",
            NoRouteReason::NotPci => "not-pci",
            NoRouteReason::HostBridgeDisallowed => "host-bridge-disallowed",
            NoRouteReason::TooFar => "too-far",
        }
    }
}

/// The short name of a `P2PMM_REASON_*` code (`"none"` for [`REASON_NONE`], `"unknown"` for
/// others).
pub fn reason_name(code: u32) -> &'static str {
    if code == REASON_NONE {
        return "none";
    }
    NoRouteReason::from_code(code).map_or("unknown", NoRouteReason::name)
}

/// The short name of a `P2PMM_PLAN_*` code: the header's suffix in lower case (`"direct"`,
/// `"bounce"`, `"refused"`), `"unknown"` for others.
pub const fn plan_name(code: u32) -> &'static str {
    match code {
        PLAN_DIRECT => "direct",
        PLAN_BOUNCE => "bounce",
        PLAN_REFUSED => "refused",
        _ => "unknown",
    }
}

// One-word encoding of a route for tools and per-mapping reports: the plan in bits 8..16, the path
// (direct) or reason (otherwise) in bits 0..8. Zero means "no route decided". These values are ABI:
// never renumber, only add.
const PLAN_SHIFT: u32 = 8;
const CODE_MASK: u32 = 0xff;

impl Route {
    /// The uAPI plan code (`P2PMM_PLAN_*`).
    pub const fn plan(self) -> u32 {
        match self {
            Route::Direct(_) => PLAN_DIRECT,
            Route::Bounce(_) => PLAN_BOUNCE,
            Route::Refused(_) => PLAN_REFUSED,
        }
    }

    /// The uAPI reason code (`P2PMM_REASON_*`; [`REASON_NONE`] for a direct route).
    pub const fn reason(self) -> u32 {
        match self {
            Route::Direct(_) => REASON_NONE,
            Route::Bounce(r) | Route::Refused(r) => r.code(),
        }
    }

    /// The route in one word (never 0).
    pub const fn to_raw(self) -> u32 {
        let code = match self {
            Route::Direct(p) => p.code(),
            Route::Bounce(r) | Route::Refused(r) => r.code(),
        };
        (self.plan() << PLAN_SHIFT) | code
    }

    /// Decodes [`Route::to_raw`]; `None` for 0 (undecided) and for values this build does not know.
    pub fn from_raw(raw: u32) -> Option<Route> {
        let code = raw & CODE_MASK;
        let reason = || NoRouteReason::from_code(code);
        match raw >> PLAN_SHIFT {
            PLAN_DIRECT => DirectPath::ALL
                .into_iter()
                .find(|p| p.code() == code)
                .map(Route::Direct),
            PLAN_BOUNCE => reason().map(Route::Bounce),
            PLAN_REFUSED => reason().map(Route::Refused),
            _ => None,
        }
    }

    /// A short name of the plan for tools: `direct`, `bounce` or `refused` ([`plan_name`]).
    pub const fn name(self) -> &'static str {
        plan_name(self.plan())
    }

    /// The short name of the path (direct) or of the reason (bounce, refused).
    pub const fn detail(self) -> &'static str {
        match self {
            Route::Direct(p) => p.name(),
            Route::Bounce(r) | Route::Refused(r) => r.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(verdict: P2pVerdict, distance: u32, kind: ProviderKind) -> RouteInput {
        RouteInput {
            verdict,
            distance,
            common_bridge: verdict == P2pVerdict::BusAddress,
            importer_is_pci: true,
            kind,
        }
    }

    #[test]
    fn p2pdma_verdicts_become_routes() {
        let p = RoutePolicy::PERMISSIVE;
        let m = ProviderKind::Managed;
        assert_eq!(
            decide(&input(P2pVerdict::BusAddress, 0, m), &p),
            Route::Direct(DirectPath::BusAddress)
        );
        assert_eq!(
            decide(&input(P2pVerdict::ThroughHostBridge, 6, m), &p),
            Route::Direct(DirectPath::HostBridge)
        );
        assert_eq!(
            decide(&input(P2pVerdict::NotSupported, 0, m), &p),
            Route::Bounce(NoRouteReason::HostBridgeNotAllowed)
        );
        let mut acs = input(P2pVerdict::NotSupported, 0, m);
        acs.common_bridge = true;
        assert_eq!(decide(&acs, &p), Route::Bounce(NoRouteReason::AcsRedirect));
    }

    #[test]
    fn static_providers_refuse_instead_of_bouncing() {
        let r = decide(
            &input(P2pVerdict::NotSupported, 0, ProviderKind::Static),
            &RoutePolicy::PERMISSIVE,
        );
        assert_eq!(r, Route::Refused(NoRouteReason::HostBridgeNotAllowed));
        assert_eq!((r.plan(), r.reason()), (PLAN_REFUSED, 1));
    }

    #[test]
    fn non_pci_importers_have_no_p2p_route() {
        let mut i = input(P2pVerdict::BusAddress, 2, ProviderKind::Managed);
        i.importer_is_pci = false;
        assert_eq!(
            decide(&i, &RoutePolicy::PERMISSIVE),
            Route::Bounce(NoRouteReason::NotPci)
        );
    }

    #[test]
    fn policy_can_forbid_host_bridge_and_long_routes() {
        let strict = RoutePolicy {
            allow_host_bridge: false,
            max_distance: 4,
        };
        let m = ProviderKind::Managed;
        assert_eq!(
            decide(&input(P2pVerdict::ThroughHostBridge, 2, m), &strict),
            Route::Bounce(NoRouteReason::HostBridgeDisallowed)
        );
        assert_eq!(
            decide(&input(P2pVerdict::BusAddress, 4, m), &strict),
            Route::Direct(DirectPath::BusAddress)
        );
        assert_eq!(
            decide(&input(P2pVerdict::BusAddress, 5, m), &strict),
            Route::Bounce(NoRouteReason::TooFar)
        );
    }

    #[test]
    fn codes_match_the_uapi_header() {
        // P2PMM_ROUTE_BUS_ADDR, P2PMM_ROUTE_HOST_BRIDGE.
        assert_eq!(DirectPath::BusAddress.code(), 1);
        assert_eq!(DirectPath::HostBridge.code(), 2);
        // P2PMM_PLAN_*, P2PMM_REASON_*.
        let d = Route::Direct(DirectPath::HostBridge);
        assert_eq!((d.plan(), d.reason()), (1, 0));
        let b = Route::Bounce(NoRouteReason::AcsRedirect);
        assert_eq!((b.plan(), b.reason()), (2, 2));
        assert_eq!(
            Route::Bounce(NoRouteReason::HostBridgeNotAllowed).reason(),
            1
        );
    }

    #[test]
    fn one_word_encoding_is_stable_and_round_trips() {
        assert_eq!(Route::Direct(DirectPath::BusAddress).to_raw(), 0x101);
        assert_eq!(Route::Direct(DirectPath::HostBridge).to_raw(), 0x102);
        assert_eq!(
            Route::Bounce(NoRouteReason::HostBridgeNotAllowed).to_raw(),
            0x201
        );
        assert_eq!(Route::Refused(NoRouteReason::TooFar).to_raw(), 0x305);
        let mut all = 0;
        for raw in 0..0x1000 {
            if let Some(r) = Route::from_raw(raw) {
                assert_eq!(r.to_raw(), raw);
                all += 1;
            }
        }
        assert_eq!(all, DirectPath::ALL.len() + 2 * NoRouteReason::ALL.len());
        assert_eq!(Route::from_raw(0), None);
    }

    #[test]
    fn names_are_short_and_distinct() {
        let r = Route::Bounce(NoRouteReason::AcsRedirect);
        assert_eq!((r.name(), r.detail()), ("bounce", "acs-redirect"));
        let mut names: [&str; 7] = [""; 7];
        for (i, p) in DirectPath::ALL.iter().enumerate() {
            names[i] = p.name();
        }
        for (i, r) in NoRouteReason::ALL.iter().enumerate() {
            names[2 + i] = r.name();
        }
        names.sort_unstable();
        assert!(names.windows(2).all(|w| w[0] != w[1]));
    }

    #[test]
    fn reason_names() {
        assert_eq!(reason_name(REASON_NONE), "none");
        assert_eq!(reason_name(1), "host-bridge-not-allowed");
        assert_eq!(reason_name(99), "unknown");
        for r in NoRouteReason::ALL {
            assert_eq!(NoRouteReason::from_code(r.code()), Some(r));
        }
        assert_eq!(NoRouteReason::from_code(REASON_NONE), None);
    }

    #[test]
    fn plan_names() {
        assert_eq!(
            [1, 2, 3, 0, 4].map(plan_name),
            ["direct", "bounce", "refused", "unknown", "unknown"]
        );
        let r = Route::Refused(NoRouteReason::TooFar);
        assert_eq!(r.name(), plan_name(r.plan()));
    }
}
