//! Checks of single values. Each returns the parsed value or `Bad { message, fix }`; the
//! callers add the field path and the value.

use ipnet::IpNet;
use std::net::IpAddr;

/// Why a value is wrong and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bad {
    pub message: String,
    pub fix: String,
}

pub type Check<T = ()> = Result<T, Bad>;

pub fn bad<T>(message: impl Into<String>, fix: impl Into<String>) -> Check<T> {
    Err(Bad {
        message: message.into(),
        fix: fix.into(),
    })
}

/// How a value is shown in a problem: as written, or `""` when empty.
pub fn show(value: &str) -> String {
    if value.is_empty() {
        "\"\"".to_string()
    } else {
        value.to_string()
    }
}

pub fn ip(value: &str) -> Check<IpAddr> {
    match value.trim().parse::<IpAddr>() {
        Ok(ip) if value.trim() == value => Ok(ip),
        _ if value.is_empty() => bad(
            "an IP address is required",
            "write an address like 192.168.24.1",
        ),
        _ => bad("not an IP address", "write an address like 192.168.24.1"),
    }
}

/// A network in CIDR notation with no host bits set and room for at least two hosts.
pub fn cidr(value: &str) -> Check<IpNet> {
    let net: IpNet = match value.parse() {
        Ok(n) => n,
        Err(_) if !value.contains('/') && value.parse::<IpAddr>().is_ok() => {
            return bad(
                "a network needs a prefix length",
                format!("add it, e.g. {value}/24"),
            );
        }
        Err(_) => {
            return bad(
                "not a network in CIDR notation",
                "write it like 192.168.24.0/24",
            );
        }
    };
    if net.trunc() != net {
        return bad(
            "the address has host bits set",
            format!("use `{}` (the network address)", net.trunc()),
        );
    }
    let max = match net {
        IpNet::V4(_) => 30,
        IpNet::V6(_) => 126,
    };
    if net.prefix_len() > max {
        return bad(
            format!(
                "a /{} network is too small for a gateway and hosts",
                net.prefix_len()
            ),
            format!("use a prefix length of at most /{max}, e.g. /24"),
        );
    }
    Ok(net)
}

/// `192.168.24.1/24`: an interface address with its prefix (undercloud.conf's local_ip).
pub fn ip_with_prefix(value: &str) -> Check<IpNet> {
    match value.parse::<IpNet>() {
        Ok(n) => Ok(n),
        Err(_) if value.parse::<IpAddr>().is_ok() => bad(
            "the prefix length is missing",
            format!("write it with the subnet's prefix, e.g. {value}/24"),
        ),
        Err(_) => bad(
            "not an address with prefix",
            "write it like 192.168.24.1/24",
        ),
    }
}

/// An address usable by a host in `net`: inside it, not its network or broadcast address.
pub fn host_in(addr: IpAddr, net: &IpNet, what: &str) -> Check {
    if !net.contains(&addr) {
        return bad(
            format!("{what} is outside the network {net}"),
            format!(
                "use an address inside {net} (between {} and {})",
                first_host(net),
                last_host(net)
            ),
        );
    }
    if let IpNet::V4(v4) = net
        && (addr == IpAddr::V4(v4.network()) || addr == IpAddr::V4(v4.broadcast()))
    {
        return bad(
            format!(
                "{what} is the network's {} address",
                if addr == IpAddr::V4(v4.network()) {
                    "network"
                } else {
                    "broadcast"
                }
            ),
            format!(
                "use an address between {} and {}",
                first_host(net),
                last_host(net)
            ),
        );
    }
    Ok(())
}

pub fn first_host(net: &IpNet) -> IpAddr {
    net.hosts().next().unwrap_or(net.addr())
}

pub fn last_host(net: &IpNet) -> IpAddr {
    match net {
        IpNet::V4(v4) => IpAddr::V4(u32::from(v4.broadcast()).saturating_sub(1).into()),
        IpNet::V6(v6) => IpAddr::V6(v6.broadcast()),
    }
}

/// Number of addresses from `start` to `end` inclusive (0 when reversed or mixed families).
pub fn range_len(start: IpAddr, end: IpAddr) -> u128 {
    match (start, end) {
        (IpAddr::V4(s), IpAddr::V4(e)) if s <= e => u128::from(u32::from(e) - u32::from(s)) + 1,
        (IpAddr::V6(s), IpAddr::V6(e)) if s <= e => {
            (u128::from(e) - u128::from(s)).saturating_add(1)
        }
        _ => 0,
    }
}

fn is_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// A name labwarp turns into libvirt domain names and host names: one DNS label.
pub fn name(value: &str, max: usize) -> Check {
    if value.is_empty() {
        return bad("a name is required", "write a short name like `lab1`");
    }
    if value.len() > max {
        return bad(
            format!("the name is longer than {max} characters"),
            format!("shorten it to at most {max} characters"),
        );
    }
    if !is_label(value) {
        return bad(
            "names may hold only letters, digits and inner hyphens",
            "use letters, digits and `-` (not at the start or end)",
        );
    }
    Ok(())
}

/// RFC 1123 host name (labels of letters, digits, hyphens; at most 253 characters).
pub fn hostname(value: &str) -> Check {
    if value.is_empty() {
        return bad(
            "a host name is required",
            "write a name like undercloud.localdomain",
        );
    }
    let trimmed = value.strip_suffix('.').unwrap_or(value);
    if value.len() > 253 || !trimmed.split('.').all(is_label) {
        return bad(
            "not a valid host name",
            "use dot-separated labels of letters, digits and inner hyphens",
        );
    }
    Ok(())
}

/// A host name or an IP address.
pub fn host(value: &str) -> Check {
    if ip(value).is_ok() {
        return Ok(());
    }
    hostname(value).map_err(|_| Bad {
        message: "not a host name or IP address".into(),
        fix: "write a host name like virthost.example.com or an address like 192.0.2.10".into(),
    })
}

/// Linux interface name (bridges, NICs): 1 to 15 bytes (IFNAMSIZ 16 with the NUL).
pub fn ifname(value: &str) -> Check {
    if value.is_empty() {
        return bad("an interface name is required", "write a name like brext");
    }
    if value.len() > 15 {
        return bad(
            format!(
                "{} characters; Linux interface names are at most 15",
                value.len()
            ),
            format!(
                "shorten it to 15 characters or fewer, e.g. `{}`",
                truncate(value, 15)
            ),
        );
    }
    // Stricter than the kernel (which takes anything but `/`, `:` and spaces): the name goes
    // to `ip`, libvirt and NetworkManager, where globs, quotes or `$` only ever mean trouble.
    if value == "."
        || value == ".."
        || !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return bad(
            "interface names may only hold letters, digits, `-`, `_` and `.`",
            "use letters, digits, `-` and `_`",
        );
    }
    Ok(())
}

fn truncate(value: &str, n: usize) -> String {
    value.chars().take(n).collect()
}

/// A Unix account name (useradd's default rules).
pub fn unix_user(value: &str) -> Check {
    let mut chars = value.chars();
    let ok = match chars.next() {
        Some(c) if c.is_ascii_lowercase() || c == '_' => {
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        }
        _ => false,
    };
    if !ok || value.len() > 32 {
        return bad(
            "not a valid user name",
            "use lowercase letters, digits, `_` and `-`, starting with a letter (at most 32)",
        );
    }
    Ok(())
}

/// `52:54:00:12:34:56`: six hex octets, unicast.
pub fn mac(value: &str) -> Check {
    let octets: Vec<&str> = value.split(':').collect();
    let well_formed = octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.chars().all(|c| c.is_ascii_hexdigit()));
    if !well_formed {
        return bad(
            "not a MAC address",
            "write six hex pairs separated by colons, e.g. 52:54:00:aa:bb:01",
        );
    }
    let first = u8::from_str_radix(octets[0], 16).unwrap_or(0);
    if first & 1 == 1 {
        return bad(
            "a multicast MAC address cannot be given to a NIC",
            "use a unicast address; libvirt's prefix 52:54:00 is safe",
        );
    }
    if octets.iter().all(|o| *o == "00") {
        return bad(
            "the all-zero MAC address is not valid",
            "use e.g. 52:54:00:aa:bb:01",
        );
    }
    Ok(())
}

pub fn md5(value: &str) -> Check {
    if value.len() != 32 || !value.chars().all(|c| c.is_ascii_hexdigit()) {
        return bad(
            "an md5 sum is 32 hexadecimal digits",
            "paste the sum from `md5sum FILE`, or use md5_url instead",
        );
    }
    Ok(())
}

/// An http(s) URL with a host.
pub fn url(value: &str) -> Check {
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"));
    match rest {
        // RFC 3986 characters only: a quote, a blank, `<>`, `{}`, `|`, `\` or `^` must be
        // percent-encoded in a URL, and refusing them keeps every URL one plain argv word.
        Some(r)
            if !r.is_empty()
                && !r.starts_with('/')
                && value.chars().all(|c| {
                    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
                }) =>
        {
            super::url_host::check(r)
        }
        _ => bad(
            "not an http(s) URL (blanks, quotes and `<>{}|\\^` must be percent-encoded)",
            "write a URL like https://example.com/image.qcow2",
        ),
    }
}

/// A local path or an http(s) URL (image sources).
pub fn path_or_url(value: &str) -> Check {
    if value.is_empty() {
        return bad(
            "an image source is required",
            "write a local path or an http(s) URL of the image",
        );
    }
    if value.contains("://") {
        return url(value);
    }
    path(value)
}

/// Any usable path: not empty, one line.
pub fn path(value: &str) -> Check {
    if value.is_empty() {
        return bad(
            "a path is required",
            "write a path like /var/lib/libvirt/images",
        );
    }
    if value.chars().any(|c| c.is_control()) {
        return bad(
            "the path holds a control character",
            "remove line breaks and tabs from the path",
        );
    }
    Ok(())
}

/// A path on a remote machine: must be absolute (there is no working directory to be
/// relative to).
pub fn abs_path(value: &str) -> Check {
    path(value)?;
    if !value.starts_with('/') {
        return bad(
            "the path must be absolute",
            format!(
                "start it with `/`, e.g. /{}",
                value.trim_start_matches("./")
            ),
        );
    }
    Ok(())
}

/// A libvirt connection URI labwarp can drive.
pub fn libvirt_uri(value: &str) -> Check {
    let fix = "use qemu:///system, qemu:///session, qemu+ssh://root@HOST/system or test:///default";
    // One word everywhere it goes (virsh argv, VirtualBMC's config, qemu+ssh wrappers): the
    // query part is not parsed below, so blanks, quotes and control characters are refused here.
    if value
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"'`".contains(c))
    {
        return bad(
            "a libvirt URI is one word, without blanks, quotes or control characters",
            fix,
        );
    }
    let Some((scheme, rest)) = value.split_once("://") else {
        return bad("not a libvirt URI", fix);
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let path = path.split('?').next().unwrap_or_default();
    match scheme {
        "test" => {
            if path.is_empty() || path == "/" {
                return bad("a test URI needs a path", "use test:///default");
            }
            Ok(())
        }
        "qemu" | "qemu+unix" => {
            if !authority.is_empty() {
                return bad(
                    "a local qemu URI has no host part",
                    "use `qemu:///system`, or qemu+ssh://USER@HOST/system for a remote host",
                );
            }
            qemu_path(path)
        }
        "qemu+ssh" | "qemu+tcp" | "qemu+tls" | "qemu+libssh" | "qemu+libssh2" => {
            let host = authority.rsplit('@').next().unwrap_or_default();
            let host = host.split(':').next().unwrap_or_default();
            if host.is_empty() {
                return bad(
                    "a remote libvirt URI needs a host",
                    "use qemu+ssh://root@HOST/system",
                );
            }
            qemu_path(path)
        }
        other => bad(
            format!("libvirt URI scheme `{other}` is not supported"),
            fix,
        ),
    }
}

fn qemu_path(path: &str) -> Check {
    match path {
        "/system" | "/session" => Ok(()),
        _ => bad(
            "a qemu URI ends in /system or /session",
            "use /system (root's libvirt) or /session (the user's own)",
        ),
    }
}

/// An IANA time zone name like `UTC` or `Europe/Paris`.
pub fn timezone(value: &str) -> Check {
    let ok = !value.is_empty()
        && value.split('/').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
        });
    if !ok {
        return bad(
            "not a time zone name",
            "use a name like UTC or Europe/Paris",
        );
    }
    Ok(())
}

/// One `authorized_keys` line: type, base64 body, optional comment.
pub fn ssh_public_key(value: &str) -> Check {
    const TYPES: &[&str] = &[
        "ssh-ed25519",
        "ssh-rsa",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
        "sk-ssh-ed25519@openssh.com",
        "sk-ecdsa-sha2-nistp256@openssh.com",
    ];
    let mut parts = value.split_whitespace();
    let kind = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let base64 = !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c));
    if !TYPES.contains(&kind) || !base64 || value.contains('\n') {
        return bad(
            "not an SSH public key",
            "paste one line of a .pub file: `ssh-ed25519 AAAA... comment`",
        );
    }
    Ok(())
}

/// A distribution package name (optionally pinned with `=version`).
pub fn package(value: &str) -> Check {
    let ok = value
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-._:=~".contains(c));
    if !ok {
        return bad(
            "not a package name",
            "use the distribution's package name, e.g. vim-enhanced",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_rules() {
        assert!(cidr("192.168.24.0/24").is_ok());
        assert_eq!(
            cidr("192.168.24.1/24").unwrap_err().fix,
            "use `192.168.24.0/24` (the network address)"
        );
        assert!(
            cidr("192.168.24.0")
                .unwrap_err()
                .fix
                .contains("192.168.24.0/24")
        );
        assert!(cidr("192.168.24.0/31").is_err());
        assert!(cidr("nonsense").is_err());
        assert!(cidr("fd00::/64").is_ok());
    }

    #[test]
    fn uris() {
        for ok in [
            "qemu:///system",
            "qemu:///session",
            "test:///default",
            "qemu+ssh://root@h/system",
            "qemu:///session?socket=/run/x",
        ] {
            assert!(libvirt_uri(ok).is_ok(), "{ok}");
        }
        for no in [
            "",
            "qemu://system",
            "xen:///system",
            "qemu+ssh:///system",
            "qemu:///system?x\ny",
            "qemu:///system?socket=/a b",
            "qemu:///foo",
            "test:///",
        ] {
            assert!(libvirt_uri(no).is_err(), "{no}");
        }
    }

    #[test]
    fn macs_and_names() {
        assert!(mac("52:54:00:aa:bb:01").is_ok());
        assert!(mac("01:00:5e:00:00:01").is_err());
        assert!(mac("52:54:00:aa:bb").is_err());
        assert!(ifname("a-bridge-name-16").is_err());
        assert!(ifname("brovc").is_ok());
        assert!(name("ha", 32).is_ok());
        assert!(name("-x", 32).is_err());
        assert!(hostname("undercloud.localdomain").is_ok());
        assert!(hostname("under_cloud").is_err());
    }

    #[test]
    fn ranges() {
        let net: IpNet = "192.168.24.0/24".parse().unwrap();
        assert!(host_in("192.168.24.1".parse().unwrap(), &net, "x").is_ok());
        assert!(host_in("192.168.24.255".parse().unwrap(), &net, "x").is_err());
        assert!(host_in("192.168.25.1".parse().unwrap(), &net, "x").is_err());
        assert_eq!(
            range_len(
                "192.168.24.5".parse().unwrap(),
                "192.168.24.30".parse().unwrap()
            ),
            26
        );
    }
}
