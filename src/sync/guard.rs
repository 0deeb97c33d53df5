//! The SSRF guard: which IP addresses an upstream connection may reach.
//!
//! The decision is a pure function of the address ([`check`]), applied to
//! every address a host name resolves to, to IP-literal URLs, and to every
//! redirect target. Refused unless `--allow-private-upstreams`: loopback,
//! private (RFC 1918, IPv6 unique-local), link-local, shared address space
//! (CGNAT, RFC 6598). Refused always: cloud metadata endpoints, unspecified,
//! multicast, broadcast and reserved ranges, which no upstream MCP server
//! legitimately uses. IPv4 addresses embedded in IPv6 (mapped, compatible,
//! NAT64, 6to4) are judged as the IPv4 address they carry.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Loopback,
    Private,
    LinkLocal,
    SharedAddressSpace,
    CloudMetadata,
    Unspecified,
    Multicast,
    Broadcast,
    Reserved,
}

impl Refusal {
    /// Whether `--allow-private-upstreams` lifts this refusal.
    pub fn is_private_network(self) -> bool {
        matches!(
            self,
            Self::Loopback | Self::Private | Self::LinkLocal | Self::SharedAddressSpace
        )
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Loopback => "a loopback address",
            Self::Private => "a private-network address",
            Self::LinkLocal => "a link-local address",
            Self::SharedAddressSpace => "a shared (carrier-grade NAT) address",
            Self::CloudMetadata => "a cloud metadata endpoint",
            Self::Unspecified => "the unspecified address",
            Self::Multicast => "a multicast address",
            Self::Broadcast => "the broadcast address",
            Self::Reserved => "a reserved address",
        })
    }
}

/// Which addresses the guard lets through. Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuardPolicy {
    /// `--allow-private-upstreams`: loopback, private, link-local and shared
    /// addresses are allowed (never metadata, multicast or reserved ones).
    pub allow_private: bool,
    /// `--allow-upstream-address`: exactly these private-network addresses
    /// are allowed even when `allow_private` is off (an internal MCP server).
    pub allowed: Arc<[IpAddr]>,
}

impl GuardPolicy {
    /// Returns `Ok` when a connection to `ip` is allowed.
    pub fn permits(&self, ip: IpAddr) -> Result<(), Refusal> {
        match check(ip) {
            Err(refusal)
                if refusal.is_private_network()
                    && (self.allow_private || self.allowed.contains(&ip)) =>
            {
                Ok(())
            }
            other => other,
        }
    }
}

/// Classifies `ip`: `Ok` for a public unicast address, else why it is refused.
pub fn check(ip: IpAddr) -> Result<(), Refusal> {
    match ip {
        IpAddr::V4(v4) => check_v4(v4),
        IpAddr::V6(v6) => check_v6(v6),
    }
}

fn check_v4(ip: Ipv4Addr) -> Result<(), Refusal> {
    let [a, b, c, d] = ip.octets();
    // Metadata first: 169.254.169.254 is also link-local, but it must stay
    // refused even when private networks are allowed.
    if (a, b, c, d) == (169, 254, 169, 254) || (a, b, c, d) == (169, 254, 170, 2) {
        return Err(Refusal::CloudMetadata);
    }
    // Alibaba Cloud's metadata service.
    if (a, b, c, d) == (100, 100, 100, 200) {
        return Err(Refusal::CloudMetadata);
    }
    match (a, b) {
        (0, _) => Err(if ip.is_unspecified() {
            Refusal::Unspecified
        } else {
            Refusal::Reserved
        }),
        (127, _) => Err(Refusal::Loopback),
        (10, _) => Err(Refusal::Private),
        (172, 16..=31) => Err(Refusal::Private),
        (192, 168) => Err(Refusal::Private),
        (169, 254) => Err(Refusal::LinkLocal),
        (100, 64..=127) => Err(Refusal::SharedAddressSpace),
        (224..=239, _) => Err(Refusal::Multicast),
        (255, 255) if c == 255 && d == 255 => Err(Refusal::Broadcast),
        (240..=255, _) => Err(Refusal::Reserved),
        // IETF protocol assignments, documentation and benchmarking ranges.
        (192, 0) if c == 0 || c == 2 => Err(Refusal::Reserved),
        (198, 18..=19) => Err(Refusal::Reserved),
        (198, 51) if c == 100 => Err(Refusal::Reserved),
        (203, 0) if c == 113 => Err(Refusal::Reserved),
        _ => Ok(()),
    }
}

fn check_v6(ip: Ipv6Addr) -> Result<(), Refusal> {
    if ip.is_unspecified() {
        return Err(Refusal::Unspecified);
    }
    if ip.is_loopback() {
        return Err(Refusal::Loopback);
    }
    let segments = ip.segments();
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d).
    if let Some(v4) = ip.to_ipv4() {
        return check_v4(v4);
    }
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return check_v4(embedded_v4(segments[6], segments[7]));
    }
    // 6to4 (2002::/16) carries one in bits 16..48.
    if segments[0] == 0x2002 {
        return check_v4(embedded_v4(segments[1], segments[2]));
    }
    // AWS's IPv6 metadata endpoint (inside the unique-local range).
    if ip == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) {
        return Err(Refusal::CloudMetadata);
    }
    match segments[0] {
        s if s & 0xfe00 == 0xfc00 => Err(Refusal::Private),
        s if s & 0xffc0 == 0xfe80 => Err(Refusal::LinkLocal),
        // Deprecated site-local.
        s if s & 0xffc0 == 0xfec0 => Err(Refusal::Private),
        s if s & 0xff00 == 0xff00 => Err(Refusal::Multicast),
        // Documentation (2001:db8::/32).
        0x2001 if segments[1] == 0x0db8 => Err(Refusal::Reserved),
        // Discard-only (100::/64).
        0x0100 if segments[1..4] == [0, 0, 0] => Err(Refusal::Reserved),
        _ => Ok(()),
    }
}

fn embedded_v4(high: u16, low: u16) -> Ipv4Addr {
    let [a, b] = high.to_be_bytes();
    let [c, d] = low.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn internal_and_special_addresses_are_refused() {
        for (address, why) in [
            ("127.0.0.1", Refusal::Loopback),
            ("127.0.0.2", Refusal::Loopback),
            ("10.0.0.1", Refusal::Private),
            ("172.16.0.1", Refusal::Private),
            ("172.31.255.254", Refusal::Private),
            ("192.168.1.1", Refusal::Private),
            ("100.64.0.1", Refusal::SharedAddressSpace),
            ("169.254.169.254", Refusal::CloudMetadata),
            ("169.254.1.1", Refusal::LinkLocal),
            ("224.0.0.1", Refusal::Multicast),
            ("0.0.0.0", Refusal::Unspecified),
            ("255.255.255.255", Refusal::Broadcast),
            ("240.0.0.1", Refusal::Reserved),
            ("::1", Refusal::Loopback),
            ("::", Refusal::Unspecified),
            ("fd00::1", Refusal::Private),
            ("fe80::1", Refusal::LinkLocal),
            ("ff02::1", Refusal::Multicast),
            ("::ffff:10.0.0.1", Refusal::Private),
            ("::ffff:127.0.0.1", Refusal::Loopback),
            ("::ffff:169.254.169.254", Refusal::CloudMetadata),
            ("64:ff9b::a00:1", Refusal::Private),
            ("2002:c0a8:101::1", Refusal::Private),
            ("fd00:ec2::254", Refusal::CloudMetadata),
            ("2001:db8::1", Refusal::Reserved),
        ] {
            assert_eq!(check(ip(address)), Err(why), "{address}");
        }
    }

    #[test]
    fn public_addresses_are_allowed() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:82a::200e",
            "::ffff:8.8.8.8",
        ] {
            assert_eq!(check(ip(address)), Ok(()), "{address}");
        }
    }

    #[test]
    fn allowing_private_networks_never_allows_metadata_or_multicast() {
        let lax = GuardPolicy {
            allow_private: true,
            ..GuardPolicy::default()
        };
        for address in [
            "127.0.0.1",
            "::1",
            "10.0.0.1",
            "fd00::1",
            "100.64.0.1",
            "169.254.1.1",
        ] {
            assert_eq!(lax.permits(ip(address)), Ok(()), "{address}");
        }
        for address in [
            "169.254.169.254",
            "fd00:ec2::254",
            "224.0.0.1",
            "0.0.0.0",
            "::ffff:169.254.169.254",
        ] {
            assert!(lax.permits(ip(address)).is_err(), "{address}");
        }
        let strict = GuardPolicy::default();
        assert_eq!(strict.permits(ip("127.0.0.1")), Err(Refusal::Loopback));
        assert_eq!(strict.permits(ip("8.8.8.8")), Ok(()));
    }

    #[test]
    fn an_allowed_address_is_permitted_and_nothing_beside_it() {
        let one = GuardPolicy {
            allow_private: false,
            allowed: vec![ip("127.0.0.1"), ip("169.254.169.254")].into(),
        };
        assert_eq!(one.permits(ip("127.0.0.1")), Ok(()));
        assert_eq!(one.permits(ip("127.0.0.2")), Err(Refusal::Loopback));
        assert_eq!(one.permits(ip("10.0.0.1")), Err(Refusal::Private));
        // Listing a metadata endpoint never allows it.
        assert_eq!(
            one.permits(ip("169.254.169.254")),
            Err(Refusal::CloudMetadata)
        );
    }
}
