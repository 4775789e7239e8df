//! `labwarp ssh HOST [CMD...]`: a command or an interactive shell on any lab host, over
//! labwarp's own pinned, key-authenticated connection.
//!
//! HOST takes the names of the rendered ssh.config (`render::ssh_config`): `<hypervisor>`,
//! `<hypervisor>-stack`, the undercloud VM's name (its cloud-init user) and `<name>-root`,
//! reached by ProxyJump through the first hypervisor at the address its NAT network reserves
//! for it, and each overcloud node whose address is known, through the undercloud. Every
//! hop's host key is pinned.
//!
//! Like OpenSSH, the words of CMD are joined with spaces and run by the remote shell (so
//! `labwarp ssh virthost 'virsh list | wc -l'` works); the exit status is the command's.
//! Without CMD a login shell opens on a PTY, the local terminal in raw mode until it ends.
//! Exit codes: the command's own; 1 for a bad lab file or host name; 255 when the connection
//! itself fails (as ssh does).

use crate::host::lab::{self as lab_hosts, chain, hypervisor_target};
use crate::host::ssh::{Backoff, SshHost, SshOptions, SshTarget, TrustPolicy};
use crate::host::{HostError, known_hosts::host_pattern};
use crate::lab::Lab;
use crate::render::{self, RenderContext, ssh_config};
use crate::tui::raw_terminal::{self as terminal, RawMode};
use russh::ChannelMsg;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use zeroize::Zeroizing;

/// Exit code when the connection (not the remote command) fails, as with ssh.
pub const EXIT_SSH: u8 = 255;

/// Parsed `labwarp ssh` arguments.
#[derive(Debug, Clone, Default)]
pub struct SshArgs {
    pub host: String,
    pub cmd: Vec<String>,
    pub config: Option<PathBuf>,
    pub trust_host_key: Option<String>,
    pub trust_on_first_use: bool,
    pub bootstrap: bool,
}

pub fn run(args: SshArgs) -> ExitCode {
    let config = args
        .config
        .clone()
        .unwrap_or_else(|| PathBuf::from("lab.yaml"));
    let lab = match crate::lab::load_path(&config) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(super::EXIT_INVALID);
        }
    };
    let workspace = std::path::absolute(&lab.workspace).unwrap_or(lab.workspace.clone());
    let mut ctx = RenderContext::for_lab(&lab, &workspace);
    // Addresses the engine learnt (the undercloud's lease) win over the predicted ones.
    match crate::engine::state::load(&crate::workspace::state_file(&workspace)) {
        Ok(st) => crate::plan::steps::undercloud::apply_addresses(&mut ctx, &lab, &st.addresses),
        Err(e) => eprintln!("labwarp ssh: {e:#} (using the lab's predicted addresses)"),
    }
    let hops = match resolve(&lab, &ctx, &args.host) {
        Ok(Route::Local) => return run_local(&args.cmd),
        Ok(Route::Hops(hops)) => hops,
        Err(ResolveError::Unknown(names)) => {
            eprintln!(
                "labwarp ssh: no host named `{}` in {}; use one of: {}",
                args.host,
                config.display(),
                names.join(", ")
            );
            return ExitCode::from(super::EXIT_INVALID);
        }
        Err(ResolveError::Unreachable(msg)) => {
            eprintln!("labwarp ssh: {msg}");
            return ExitCode::from(super::EXIT_INVALID);
        }
    };
    let is_hypervisor = lab
        .hypervisors
        .iter()
        .any(|h| h.name == args.host || ssh_config::stack_alias(&h.name) == args.host);
    if args.bootstrap && !is_hypervisor {
        eprintln!(
            "labwarp ssh: --bootstrap installs labwarp's key on a hypervisor; `{}` is a VM \
             that gets the key from cloud-init (undercloud) or the undercloud (nodes): run \
             without --bootstrap",
            args.host
        );
        return ExitCode::from(super::EXIT_INVALID);
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("labwarp ssh: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_SSH);
        }
    };
    let code = rt.block_on(session(&args, &workspace, &hops));
    // The stdin reader thread may be blocked in read(2): don't wait for it.
    rt.shutdown_background();
    match code {
        Ok(c) => c,
        Err(e) => {
            eprintln!("labwarp ssh: {e}");
            ExitCode::from(EXIT_SSH)
        }
    }
}

fn trust_policy(args: &SshArgs) -> TrustPolicy {
    lab_hosts::trust_policy(args.trust_host_key.as_deref(), args.trust_on_first_use)
}

/// Where a HOST name leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The hypervisor is this machine (`address: local`): no SSH.
    Local,
    /// SSH hops: the first is reached directly, each next one through the one before.
    Hops(Vec<SshTarget>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// No such name; the valid ones.
    Unknown(Vec<String>),
    /// A lab host that cannot be reached yet (why, and how to fix it).
    Unreachable(String),
}

/// A lab host name, as ssh.config calls it.
enum Kind<'a> {
    Hypervisor(&'a crate::lab::Hypervisor, &'a str),
    Undercloud(&'a str),
    Node(String),
}

/// Every name `labwarp ssh` accepts, in ssh.config's order.
fn names<'a>(lab: &'a Lab) -> Vec<(String, Kind<'a>)> {
    let mut out = Vec::new();
    for hv in &lab.hypervisors {
        out.push((hv.name.clone(), Kind::Hypervisor(hv, &hv.ssh_user)));
        if !hv.is_local() {
            out.push((
                ssh_config::stack_alias(&hv.name),
                Kind::Hypervisor(hv, &hv.stack_user),
            ));
        }
    }
    if let (Ok(uc), Ok(root)) = (
        ssh_config::undercloud_alias(lab),
        ssh_config::undercloud_root_alias(lab),
    ) {
        out.push((uc, Kind::Undercloud(&lab.undercloud.cloud_init.user)));
        out.push((root, Kind::Undercloud("root")));
    }
    for node in lab.nodes() {
        out.push((node.name.clone(), Kind::Node(node.name)));
    }
    out
}

/// The SSH route to `host`, with the users, addresses and jumps of the rendered ssh.config.
pub fn resolve(lab: &Lab, ctx: &RenderContext, host: &str) -> Result<Route, ResolveError> {
    let all = names(lab);
    let Some((_, kind)) = all.iter().find(|(n, _)| n == host) else {
        return Err(ResolveError::Unknown(
            all.iter().map(|(n, _)| n.clone()).collect(),
        ));
    };
    let undercloud = |user: &str, name: &str| -> Result<Vec<SshTarget>, ResolveError> {
        let addr = render::undercloud_address(ctx)
            .map_err(|e| ResolveError::Unreachable(format!("{name}: {e}")))?;
        let mut hops = Vec::new();
        // As in ssh.config: through the first hypervisor unless labwarp runs on it.
        if let Some(hv) = lab.hypervisors.first()
            && !hv.is_local()
        {
            hops.push(hypervisor_target(hv, &hv.name, &hv.ssh_user));
        }
        hops.push(SshTarget {
            name: name.into(),
            host: addr.to_string(),
            port: 22,
            user: user.into(),
        });
        Ok(hops)
    };
    match kind {
        Kind::Hypervisor(hv, _) if hv.is_local() => Ok(Route::Local),
        Kind::Hypervisor(hv, user) => Ok(Route::Hops(vec![hypervisor_target(hv, host, user)])),
        Kind::Undercloud(user) => Ok(Route::Hops(undercloud(user, host)?)),
        Kind::Node(node) => {
            let Some(addr) = ctx.node_addresses.get(node) else {
                let uc = ssh_config::undercloud_alias(lab).unwrap_or_else(|_| "undercloud".into());
                return Err(ResolveError::Unreachable(format!(
                    "overcloud node `{node}` has no address: it is defined but not booted \
                     (nodes are powered on over VirtualBMC and get their ctlplane address \
                     when the overcloud is deployed), and state.yaml records none. Find it with \
                     `labwarp ssh {uc} 'source ~/stackrc && openstack server list'`, then \
                     reach the node with `labwarp ssh {uc} ssh {}@ADDRESS`",
                    ctx.overcloud_user
                )));
            };
            let uc_user = lab.undercloud.cloud_init.user.clone();
            let uc_name = ssh_config::undercloud_alias(lab)
                .map_err(|e| ResolveError::Unreachable(e.to_string()))?;
            let mut hops = undercloud(&uc_user, &uc_name)?;
            hops.push(SshTarget {
                name: node.clone(),
                host: addr.clone(),
                port: 22,
                user: ctx.overcloud_user.clone(),
            });
            Ok(Route::Hops(hops))
        }
    }
}

async fn session(
    args: &SshArgs,
    workspace: &Path,
    hops: &[SshTarget],
) -> Result<ExitCode, HostError> {
    let mut opts = SshOptions::for_workspace(workspace, trust_policy(args))?;
    // A person is waiting: fail fast rather than retrying for long.
    opts.backoff = Backoff {
        attempts: 2,
        first: Duration::from_millis(300),
        max: Duration::from_secs(1),
    };
    let mut host = chain(hops, &opts)?;
    let target = host.target().clone();
    // Each hop whose key is not pinned yet is confirmed in turn (on a terminal).
    let mut confirmed = 0;
    loop {
        match host.connect().await {
            Ok(()) => break,
            Err(HostError::HostKeyUnknown {
                fingerprint, addr, ..
            }) if confirmed < hops.len() && std::io::stdin().is_terminal() => {
                if !confirm_host_key(&addr, &fingerprint)? {
                    return Err(HostError::Other {
                        host: target.name.clone(),
                        msg: "host key not confirmed; nothing was pinned".into(),
                    });
                }
                // Pins exactly the key that was shown; a different one is refused.
                opts.trust = TrustPolicy::Fingerprint(fingerprint);
                host = chain(hops, &opts)?;
                confirmed += 1;
            }
            Err(HostError::Auth { .. }) if args.bootstrap => break,
            Err(e) => return Err(with_bootstrap_hint(e)),
        }
    }
    if args.bootstrap {
        let prompt = format!(
            "{}@{}'s password (used once to install labwarp's key, not stored): ",
            target.user,
            host_pattern(&target.host, target.port)
        );
        let password = read_password(&prompt)?;
        host.install_key_with_password(password).await?;
        eprintln!(
            "labwarp: key {} installed for {}@{}",
            opts.identity.fingerprint(),
            target.user,
            target.host
        );
        host.connect().await?;
    }
    if args.cmd.is_empty() {
        interactive(&host).await
    } else {
        let line = args.cmd.join(" ");
        let stdin = (!std::io::stdin().is_terminal()).then(tokio::io::stdin);
        let code = host
            .exec_raw(
                &line,
                stdin,
                &mut tokio::io::stdout(),
                &mut tokio::io::stderr(),
            )
            .await?;
        host.disconnect().await;
        Ok(exit_code(code))
    }
}

fn with_bootstrap_hint(e: HostError) -> HostError {
    match e {
        HostError::Auth { host, user } => HostError::Other {
            host,
            msg: format!(
                "authentication failed for user {user}: labwarp's key is not authorized there; \
                 run again with --bootstrap to install it using the password once"
            ),
        },
        other => other,
    }
}

fn exit_code(code: Option<i32>) -> ExitCode {
    match code {
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        // Killed by a signal: what ssh reports too.
        None => ExitCode::from(EXIT_SSH),
    }
}

/// Shows the fingerprint on the terminal and asks for a yes.
fn confirm_host_key(addr: &str, fingerprint: &str) -> Result<bool, HostError> {
    eprint!(
        "The host key of {addr} is not pinned yet.\nED25519 key fingerprint is {fingerprint}.\n\
         Compare it with `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on that host.\n\
         Trust and pin it? [y/N] "
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// Reads a password from the controlling terminal without echo. The buffer is wiped when
/// the returned value drops.
pub fn read_password(prompt: &str) -> Result<Zeroizing<String>, HostError> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .map_err(|e| HostError::Other {
            host: "local".into(),
            msg: format!("--bootstrap needs a terminal to ask for the password: {e}"),
        })?;
    let saved = tcgetattr(&tty).map_err(std::io::Error::from)?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    (&tty).write_all(prompt.as_bytes())?;
    tcsetattr(&tty, SetArg::TCSAFLUSH, &quiet).map_err(std::io::Error::from)?;
    let read = read_secret_line(&tty);
    let restored = tcsetattr(&tty, SetArg::TCSAFLUSH, &saved);
    let line = read?;
    restored.map_err(std::io::Error::from)?;
    if line.is_empty() {
        return Err(HostError::Other {
            host: "local".into(),
            msg: "empty password; nothing was sent".into(),
        });
    }
    Ok(line)
}

/// Reads one line byte by byte (no buffered reader whose buffer would keep a copy) into
/// memory that is wiped on drop; the terminator is not kept.
fn read_secret_line(mut tty: &std::fs::File) -> std::io::Result<Zeroizing<String>> {
    use std::io::Read;
    // Reserved up front so the buffer is never reallocated (no stray copies to wipe).
    let mut bytes = Zeroizing::new(Vec::with_capacity(1024));
    let mut b = Zeroizing::new([0u8; 1]);
    loop {
        match tty.read(&mut b[..])? {
            0 => break,
            _ if b[0] == b'\n' || b[0] == b'\r' => break,
            _ => bytes.push(b[0]),
        }
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "the password is not UTF-8")
    })?;
    let mut line = Zeroizing::new(String::with_capacity(text.len()));
    line.push_str(text);
    Ok(line)
}

enum Event {
    Remote(Option<ChannelMsg>),
    Input(Option<Vec<u8>>),
    Resize,
}

async fn interactive(host: &SshHost) -> Result<ExitCode, HostError> {
    let (cols, rows) = terminal::size().unwrap_or((80, 24));
    let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".into());
    let mut pty = host
        .open_pty(&term, u32::from(cols), u32::from(rows), None)
        .await?;
    let raw = if std::io::stdin().is_terminal() {
        Some(RawMode::enable()?)
    } else {
        None
    };
    // stdin on its own task: a blocking read must not hold up the channel loop.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(16);
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut stdin = tokio::io::stdin();
        let mut buf = vec![0u8; 4096];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(buf[..n].to_vec()).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut winch = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())?;
    let mut stdout = tokio::io::stdout();
    let mut code = None;
    let mut input_open = true;
    let ch = pty.channel();
    loop {
        let ev = tokio::select! {
            m = ch.wait() => Event::Remote(m),
            i = rx.recv(), if input_open => Event::Input(i),
            _ = winch.recv() => Event::Resize,
        };
        match ev {
            Event::Remote(Some(ChannelMsg::Data { data }))
            | Event::Remote(Some(ChannelMsg::ExtendedData { data, .. })) => {
                stdout.write_all(&data).await?;
                stdout.flush().await?;
            }
            Event::Remote(Some(ChannelMsg::ExitStatus { exit_status })) => {
                code = i32::try_from(exit_status).ok();
            }
            Event::Remote(Some(ChannelMsg::Close)) | Event::Remote(None) => break,
            Event::Remote(Some(_)) => {}
            Event::Input(Some(bytes)) => {
                let _ = ch.data(&bytes[..]).await;
            }
            Event::Input(None) => {
                input_open = false;
                let _ = ch.eof().await;
            }
            Event::Resize => {
                if let Ok((c, r)) = terminal::size() {
                    let _ = ch.window_change(u32::from(c), u32::from(r), 0, 0).await;
                }
            }
        }
    }
    pty.finished();
    drop(raw);
    Ok(exit_code(code))
}

/// `address: local`: the hypervisor is this machine; no SSH involved.
fn run_local(cmd: &[String]) -> ExitCode {
    let status = if cmd.is_empty() {
        let shell = std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into());
        std::process::Command::new(shell).status()
    } else {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(cmd.join(" "))
            .status()
    };
    match status {
        Ok(s) => exit_code(s.code()),
        Err(e) => {
            eprintln!("labwarp ssh: cannot start a local shell: {e}");
            ExitCode::from(EXIT_SSH)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab() -> (Lab, RenderContext) {
        let mut lab = Lab::default();
        lab.hypervisors[0].address = "198.18.0.1".into();
        let ctx = RenderContext::for_lab(&lab, Path::new("/ws"));
        (lab, ctx)
    }

    fn hops(route: Result<Route, ResolveError>) -> Vec<(String, String, String)> {
        match route {
            Ok(Route::Hops(h)) => h.into_iter().map(|t| (t.name, t.user, t.host)).collect(),
            other => panic!("not a route: {other:?}"),
        }
    }

    #[test]
    fn names_follow_ssh_config() {
        let (lab, ctx) = lab();
        let t = |n: &str, u: &str, h: &str| (n.to_string(), u.to_string(), h.to_string());
        assert_eq!(
            hops(resolve(&lab, &ctx, "virthost")),
            [t("virthost", "root", "198.18.0.1")]
        );
        assert_eq!(
            hops(resolve(&lab, &ctx, "virthost-stack")),
            [t("virthost-stack", "stack", "198.18.0.1")]
        );
        // The undercloud: the first address of its NAT network's DHCP range, via virthost.
        let uc = ctx.undercloud_ip.unwrap().to_string();
        assert_eq!(uc, "192.168.23.10");
        assert_eq!(
            hops(resolve(&lab, &ctx, "undercloud")),
            [
                t("virthost", "root", "198.18.0.1"),
                t("undercloud", "stack", &uc)
            ]
        );
        assert_eq!(
            hops(resolve(&lab, &ctx, "undercloud-root")),
            [
                t("virthost", "root", "198.18.0.1"),
                t("undercloud-root", "root", &uc)
            ]
        );
    }

    #[test]
    fn nodes_go_through_the_undercloud_once_their_address_is_known() {
        let (lab, mut ctx) = lab();
        let node = lab.nodes()[0].name.clone();
        match resolve(&lab, &ctx, &node) {
            Err(ResolveError::Unreachable(msg)) => {
                assert!(msg.contains("not booted"), "{msg}");
                assert!(msg.contains("openstack server list"), "{msg}");
            }
            other => panic!("{other:?}"),
        }
        ctx.node_addresses
            .insert(node.clone(), "192.168.24.15".into());
        let h = hops(resolve(&lab, &ctx, &node));
        assert_eq!(h.len(), 3);
        assert_eq!(h[1].0, "undercloud");
        assert_eq!(h[1].1, "stack");
        assert_eq!(
            h[2],
            (
                node,
                "tripleo-admin".to_string(),
                "192.168.24.15".to_string()
            )
        );
    }

    #[test]
    fn unknown_names_list_every_valid_one_and_local_stays_local() {
        let (mut lab, ctx) = lab();
        match resolve(&lab, &ctx, "nope") {
            Err(ResolveError::Unknown(names)) => {
                assert_eq!(
                    names[..4],
                    [
                        "virthost",
                        "virthost-stack",
                        "undercloud",
                        "undercloud-root"
                    ]
                );
                assert_eq!(names.len(), 4 + lab.nodes().len());
            }
            other => panic!("{other:?}"),
        }
        lab.hypervisors[0].address = "local".into();
        assert_eq!(resolve(&lab, &ctx, "virthost"), Ok(Route::Local));
        // No jump when labwarp runs on the hypervisor, as in ssh.config.
        assert_eq!(hops(resolve(&lab, &ctx, "undercloud")).len(), 1);
    }

    #[test]
    fn an_undercloud_without_nat_network_says_how_to_fix_it() {
        let (mut lab, _) = lab();
        lab.networks.retain(|n| n.name != "external");
        lab.undercloud.vm.nics.retain(|n| n.network != "external");
        let ctx = RenderContext::for_lab(&lab, Path::new("/ws"));
        match resolve(&lab, &ctx, "undercloud") {
            Err(ResolveError::Unreachable(msg)) => assert!(msg.contains("NAT network"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
}
