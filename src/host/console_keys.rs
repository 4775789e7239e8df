//! SSH host keys a VM prints on its serial console, in cloud-init's format:
//!
//! ```text
//! -----BEGIN SSH HOST KEY KEYS-----
//! ssh-ed25519 AAAAC3Nza... root@undercloud
//! -----END SSH HOST KEY KEYS-----
//! ```
//!
//! The console log is read from the hypervisor (libvirt writes it), a channel the VM's
//! network cannot forge, so the keys found there can be pinned before the first SSH
//! connection: no trust on first use. The log may hold several boots (it is appended to):
//! the last complete block is the current one.

use russh::keys::PublicKey;

pub const BEGIN: &str = "-----BEGIN SSH HOST KEY KEYS-----";
pub const END: &str = "-----END SSH HOST KEY KEYS-----";

/// The keys of the last complete block in `log` (`None` when there is no complete block).
/// Lines may carry a prefix (a timestamp, `ci-info:`, carriage returns): each key is taken
/// from its key type on. Lines that are not keys are skipped.
pub fn last_block(log: &str) -> Option<Vec<PublicKey>> {
    let mut current: Option<Vec<PublicKey>> = None;
    let mut last = None;
    for line in log.lines() {
        let line = line.trim_end_matches('\r');
        if line.contains(BEGIN) {
            current = Some(Vec::new());
        } else if line.contains(END) {
            if let Some(keys) = current.take() {
                last = Some(keys);
            }
        } else if let Some(keys) = current.as_mut()
            && let Some(k) = key_in(line)
        {
            keys.push(k);
        }
    }
    last
}

fn key_in(line: &str) -> Option<PublicKey> {
    let start = ["ssh-ed25519 ", "ecdsa-sha2-", "ssh-rsa ", "sk-"]
        .iter()
        .filter_map(|t| line.find(t))
        .min()?;
    let mut words = line[start..].split_whitespace();
    let (kind, b64) = (words.next()?, words.next()?);
    PublicKey::from_openssh(&format!("{kind} {b64}")).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBj4VXGZn3XmqbnKqyrsd0eTlOKhSkF0wtLDZxqMyY3o";

    fn k2() -> String {
        use russh::keys::PrivateKey;
        use russh::keys::ssh_key::private::Ed25519Keypair;
        let k = PrivateKey::from(Ed25519Keypair::from_seed(&[7; 32]));
        k.public_key().to_openssh().unwrap()
    }

    #[test]
    fn the_last_complete_block_wins_and_prefixes_are_ignored() {
        let log = format!(
            "boot 1\n{BEGIN}\n{K1} root@old\n{END}\nboot 2\r\n[  5.1] {BEGIN}\r\nci-info: {} root@uc\r\nnot a key\n{END}\n{BEGIN}\n{K1}\n",
            k2()
        );
        let keys = last_block(&log).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].to_openssh().unwrap(), k2());
        assert!(last_block("no keys here").is_none());
        assert!(
            last_block(&format!("{BEGIN}\n{K1}\n")).is_none(),
            "incomplete"
        );
    }
}
