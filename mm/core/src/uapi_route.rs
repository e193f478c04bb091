// SPDX-License-Identifier: GPL-2.0

//! `P2PMM_IOC_ROUTE`: decoding the question (which provider, which client device) and encoding the
//! answer.

use crate::errno::Errno;
use crate::extensible::{get_u32, put_u32};
use crate::pci_name::PciAddr;
use crate::route::{decide, P2pVerdict, ProviderKind, RouteInput, RoutePolicy};

/// `sizeof(struct p2pmm_route)` this kernel knows, and its first published size.
pub const SIZE: usize = 72;
/// `P2PMM_ROUTE_SIZE_VER0`.
pub const SIZE_VER0: usize = 72;

/// Field offsets of `struct p2pmm_route`.
pub mod offset {
    /// `flags`.
    pub const FLAGS: usize = 4;
    /// `provider`.
    pub const PROVIDER: usize = 8;
    /// `__reserved`.
    pub const RESERVED: usize = 12;
    /// `client[32]`.
    pub const CLIENT: usize = 16;
    /// `verdict`.
    pub const VERDICT: usize = 48;
    /// `plan`.
    pub const PLAN: usize = 52;
    /// `reason`.
    pub const REASON: usize = 56;
    /// `distance`.
    pub const DISTANCE: usize = 60;
    /// `host_bridge`.
    pub const HOST_BRIDGE: usize = 64;
    /// `__reserved2`.
    pub const RESERVED2: usize = 68;
}

/// A checked `P2PMM_IOC_ROUTE` question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRequest {
    /// Provider id.
    pub provider: u32,
    /// The importing PCI device.
    pub client: PciAddr,
}

impl RouteRequest {
    /// Checks flags and reserved fields (`EINVAL`) and parses the client's name (`EINVAL` if
    /// malformed). Output fields are ignored, so one struct can be reused for many questions.
    pub fn decode(request: &[u8; SIZE]) -> Result<Self, Errno> {
        if get_u32(request, offset::FLAGS) != 0
            || get_u32(request, offset::RESERVED) != 0
            || get_u32(request, offset::RESERVED2) != 0
        {
            return Err(Errno::Inval);
        }
        Ok(Self {
            provider: get_u32(request, offset::PROVIDER),
            client: PciAddr::parse(&request[offset::CLIENT..offset::CLIENT + 32])?,
        })
    }
}

/// The answer, in uAPI numbers (`P2PMM_ROUTE_*`, `P2PMM_PLAN_*`, `P2PMM_REASON_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteAnswer {
    /// `P2PMM_ROUTE_*`.
    pub verdict: u32,
    /// `P2PMM_PLAN_*`.
    pub plan: u32,
    /// `P2PMM_REASON_*`.
    pub reason: u32,
    /// `pci_p2pdma_distance()`.
    pub distance: i32,
    /// Host bridge id.
    pub host_bridge: u32,
}

// The verdicts are the route decision's (`route.rs`, which this file builds on, not the other way).
pub use crate::route::{ROUTE_BUS_ADDR, ROUTE_HOST_BRIDGE, ROUTE_NOT_SUPPORTED};

impl RouteAnswer {
    /// p2pmm's plan (`crate::route::decide` under `policy`) for what p2pdma found about a PCI
    /// client and a provider of `kind`.
    pub fn from_facts(
        verdict: u32,
        distance: i32,
        common_bridge: bool,
        host_bridge: u32,
        kind: ProviderKind,
        policy: &RoutePolicy,
    ) -> Self {
        let input = RouteInput {
            verdict: match verdict {
                ROUTE_BUS_ADDR => P2pVerdict::BusAddress,
                ROUTE_HOST_BRIDGE => P2pVerdict::ThroughHostBridge,
                _ => P2pVerdict::NotSupported,
            },
            distance: u32::try_from(distance).unwrap_or(u32::MAX),
            common_bridge,
            importer_is_pci: true,
            kind,
        };
        let route = decide(&input, policy);
        Self {
            verdict,
            plan: route.plan(),
            reason: route.reason(),
            distance,
            host_bridge,
        }
    }

    /// The reply: the request with the answer filled in.
    pub fn reply(&self, request: &[u8; SIZE]) -> [u8; SIZE] {
        let mut r = *request;
        put_u32(&mut r, offset::VERDICT, self.verdict);
        put_u32(&mut r, offset::PLAN, self.plan);
        put_u32(&mut r, offset::REASON, self.reason);
        put_u32(&mut r, offset::DISTANCE, self.distance as u32);
        put_u32(&mut r, offset::HOST_BRIDGE, self.host_bridge);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci_name::put_name;

    fn req(flags: u32, reserved: u32, client: &str) -> [u8; SIZE] {
        let mut r = [0u8; SIZE];
        put_u32(&mut r, 0, SIZE as u32);
        put_u32(&mut r, offset::FLAGS, flags);
        put_u32(&mut r, offset::PROVIDER, 3);
        put_u32(&mut r, offset::RESERVED, reserved);
        put_name(
            &mut r[offset::CLIENT..offset::CLIENT + 32],
            client.as_bytes(),
        );
        r
    }

    #[test]
    fn decodes_provider_and_client() {
        let q = RouteRequest::decode(&req(0, 0, "0000:05:00.0")).unwrap();
        assert_eq!(q.provider, 3);
        assert_eq!(
            q.client,
            PciAddr {
                domain: 0,
                bus: 5,
                devfn: 0
            }
        );
    }

    #[test]
    fn rejects_flags_reserved_and_bad_names() {
        assert_eq!(
            RouteRequest::decode(&req(1, 0, "0000:05:00.0")),
            Err(Errno::Inval)
        );
        assert_eq!(
            RouteRequest::decode(&req(0, 1, "0000:05:00.0")),
            Err(Errno::Inval)
        );
        assert_eq!(
            RouteRequest::decode(&req(0, 0, "05:00.0")),
            Err(Errno::Inval)
        );
    }

    #[test]
    fn plans_follow_the_verdict_and_kind() {
        use crate::route::{PLAN_BOUNCE, PLAN_DIRECT, PLAN_REFUSED, REASON_NONE};
        let a = RouteAnswer::from_facts(
            ROUTE_BUS_ADDR,
            4,
            true,
            0,
            ProviderKind::Static,
            &RoutePolicy::PERMISSIVE,
        );
        assert_eq!((a.plan, a.reason), (PLAN_DIRECT, REASON_NONE));
        let a = RouteAnswer::from_facts(
            ROUTE_HOST_BRIDGE,
            6,
            false,
            0,
            ProviderKind::Managed,
            &RoutePolicy::PERMISSIVE,
        );
        assert_eq!((a.plan, a.reason), (PLAN_DIRECT, REASON_NONE));
        // Host bridge not allowed (1): managed memory bounces, static memory is refused.
        let a = RouteAnswer::from_facts(
            ROUTE_NOT_SUPPORTED,
            -1,
            false,
            0,
            ProviderKind::Managed,
            &RoutePolicy::PERMISSIVE,
        );
        assert_eq!((a.plan, a.reason), (PLAN_BOUNCE, 1));
        let a = RouteAnswer::from_facts(
            ROUTE_NOT_SUPPORTED,
            -1,
            false,
            0,
            ProviderKind::Static,
            &RoutePolicy::PERMISSIVE,
        );
        assert_eq!((a.plan, a.reason), (PLAN_REFUSED, 1));
        // ACS redirect (2).
        let a = RouteAnswer::from_facts(
            ROUTE_NOT_SUPPORTED,
            -1,
            true,
            0,
            ProviderKind::Managed,
            &RoutePolicy::PERMISSIVE,
        );
        assert_eq!((a.plan, a.reason), (PLAN_BOUNCE, 2));
    }

    #[test]
    fn the_administrators_policy_narrows_direct_routes() {
        use crate::route::{PLAN_BOUNCE, PLAN_DIRECT, PLAN_REFUSED, REASON_NONE};
        let strict = RoutePolicy {
            allow_host_bridge: false,
            max_distance: 3,
        };
        // Below a switch at distance 4: too far for this policy (5); p2pdma's verdict is reported
        // unchanged.
        let a = RouteAnswer::from_facts(ROUTE_BUS_ADDR, 4, true, 0, ProviderKind::Managed, &strict);
        assert_eq!(
            (a.verdict, a.plan, a.reason, a.distance),
            (ROUTE_BUS_ADDR, PLAN_BOUNCE, 5, 4)
        );
        let a = RouteAnswer::from_facts(ROUTE_BUS_ADDR, 4, true, 0, ProviderKind::Static, &strict);
        assert_eq!((a.plan, a.reason), (PLAN_REFUSED, 5));
        let a = RouteAnswer::from_facts(ROUTE_BUS_ADDR, 2, true, 0, ProviderKind::Static, &strict);
        assert_eq!((a.plan, a.reason), (PLAN_DIRECT, REASON_NONE));
        // Through the host bridge, which this policy forbids (4).
        let a = RouteAnswer::from_facts(
            ROUTE_HOST_BRIDGE,
            2,
            false,
            0,
            ProviderKind::Managed,
            &strict,
        );
        assert_eq!((a.plan, a.reason), (PLAN_BOUNCE, 4));
    }

    #[test]
    fn reply_fills_answer() {
        let a = RouteAnswer {
            verdict: 3,
            plan: 2,
            reason: 1,
            distance: -1,
            host_bridge: 0x8086_29c0,
        };
        let r = a.reply(&req(0, 0, "0000:05:00.0"));
        assert_eq!(get_u32(&r, offset::VERDICT), 3);
        assert_eq!(get_u32(&r, offset::DISTANCE) as i32, -1);
        assert_eq!(get_u32(&r, offset::HOST_BRIDGE), 0x8086_29c0);
    }
}
