//! The host part of an image URL: refused when no download could reach it.

use super::fields::{Check, bad};

/// The authority of a URL (after the scheme): `host[:port]`, a DNS name, IPv4 or `[IPv6]`.
pub fn check(rest: &str) -> Check {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = authority.rsplit('@').next().unwrap_or("");
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && (!h.starts_with('[') || h.ends_with(']')) => {
            (h, Some(p))
        }
        _ => (hostport, None),
    };
    let name_ok = host.split('.').all(|l| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    let v6_ok = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok_and(|n| n > 0));
    if (name_ok || v6_ok) && port_ok {
        Ok(())
    } else {
        bad(
            "the URL has no usable host (a DNS name, an IPv4 address or [IPv6], then an optional :port)",
            "write a URL like https://images.example.com/image.tar",
        )
    }
}
