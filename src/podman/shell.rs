//! The command line for an interactive shell in a container. The TUI suspends itself, runs
//! this argv with the terminal attached, and takes the terminal back when it exits.

use super::{PodmanError, check_name};
use crate::host::Cmd;

/// Which shell to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellKind {
    Sh,
    Bash,
    /// bash when the image has it, else sh (TripleO images have bash; minimal ones do not).
    Auto,
}

/// Where the container runs, as seen from the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellVia {
    /// On this machine; `root` says whether labwarp runs as root (else `sudo` is used).
    Local { root: bool },
    /// On a remote host: `ssh_prefix` is the ssh program with its options (e.g.
    /// `["ssh", "-F", "/ws/ssh.config"]`), `destination` the host alias or `user@host`,
    /// `root` whether that login is root (else `sudo` is used there).
    Ssh {
        ssh_prefix: Vec<String>,
        destination: String,
        root: bool,
    },
}

fn podman_exec_argv(name: &str, kind: ShellKind, root: bool) -> Vec<String> {
    let mut argv: Vec<String> = Vec::new();
    if !root {
        // Interactive: sudo may ask for a password on the terminal the user now holds.
        argv.extend(["sudo", "--"].map(String::from));
    }
    argv.extend(["podman", "exec", "-it", name].map(String::from));
    match kind {
        ShellKind::Sh => argv.push("sh".into()),
        ShellKind::Bash => argv.push("bash".into()),
        ShellKind::Auto => argv.extend(
            [
                "sh",
                "-c",
                "if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi",
            ]
            .map(String::from),
        ),
    }
    argv
}

/// The argv to run for `podman exec -it NAME <shell>` locally or through `ssh -t`.
pub fn shell_argv(name: &str, kind: ShellKind, via: &ShellVia) -> Result<Vec<String>, PodmanError> {
    check_name(name)?;
    Ok(match via {
        ShellVia::Local { root } => podman_exec_argv(name, kind, *root),
        ShellVia::Ssh {
            ssh_prefix,
            destination,
            root,
        } => {
            if ssh_prefix.is_empty() || destination.is_empty() || destination.starts_with('-') {
                return Err(PodmanError::BadInput {
                    field: "ssh destination".into(),
                    message: "give the ssh program and a host alias or user@host".into(),
                });
            }
            // ssh sends one string to the remote shell: quote every word.
            let remote = Cmd::new(podman_exec_argv(name, kind, *root)).to_shell();
            let mut argv = ssh_prefix.clone();
            argv.extend(["-t".to_string(), destination.clone(), "--".into(), remote]);
            argv
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_root_and_sudo() {
        assert_eq!(
            shell_argv("keystone", ShellKind::Bash, &ShellVia::Local { root: true }).unwrap(),
            ["podman", "exec", "-it", "keystone", "bash"]
        );
        assert_eq!(
            shell_argv("keystone", ShellKind::Sh, &ShellVia::Local { root: false }).unwrap(),
            ["sudo", "--", "podman", "exec", "-it", "keystone", "sh"]
        );
    }

    #[test]
    fn over_ssh_with_a_tty_and_quoted_remote_command() {
        let via = ShellVia::Ssh {
            ssh_prefix: vec!["ssh".into(), "-F".into(), "/ws/ssh.config".into()],
            destination: "undercloud".into(),
            root: false,
        };
        let argv = shell_argv("ironic_conductor", ShellKind::Auto, &via).unwrap();
        assert_eq!(
            &argv[..6],
            ["ssh", "-F", "/ws/ssh.config", "-t", "undercloud", "--"]
        );
        assert_eq!(
            argv[6],
            "sudo -- podman exec -it ironic_conductor sh -c 'if command -v bash >/dev/null 2>&1; then exec bash; else exec sh; fi'"
        );
        assert_eq!(argv.len(), 7);
    }

    #[test]
    fn bad_names_are_refused() {
        let local = ShellVia::Local { root: true };
        for bad in ["", "-it", "a b", "x;reboot", "$(id)"] {
            let e = shell_argv(bad, ShellKind::Sh, &local).unwrap_err();
            assert!(e.to_string().contains("container name"), "{bad}: {e}");
        }
    }
}
