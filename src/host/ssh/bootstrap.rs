//! Password bootstrap: one password login that installs labwarp's public key, so every
//! later connection authenticates with the key.

use super::SshHost;
use super::connect::Auth;
use super::output::Sink;
use super::session::Session;
use crate::host::{Cmd, HostError, Stream};
use russh::ChannelMsg;
use std::sync::Arc;
use zeroize::Zeroizing;

/// Appends `$1` to `~/.ssh/authorized_keys` once (modes 700/600; SELinux labels restored
/// where that tool exists).
const INSTALL_KEY: &str = r#"set -e
umask 077
d="$HOME/.ssh"; f="$d/authorized_keys"
mkdir -p "$d"; touch "$f"
if ! grep -qxF -- "$1" "$f"; then
  if [ -s "$f" ] && [ -n "$(tail -c 1 "$f")" ]; then echo >> "$f"; fi
  printf '%s\n' "$1" >> "$f"
fi
chmod 700 "$d"; chmod 600 "$f"
if command -v restorecon >/dev/null 2>&1; then restorecon -R "$d" || true; fi"#;

impl SshHost {
    /// Password bootstrap: logs in once with `password` and appends labwarp's public key to
    /// the user's `~/.ssh/authorized_keys` unless it is already there. The password is only
    /// handed to the SSH authentication; it is never logged, stored or put on a command
    /// line, and the caller's copy is wiped when `password` drops.
    pub async fn install_key_with_password(
        &self,
        password: Zeroizing<String>,
    ) -> Result<(), HostError> {
        let handle = Arc::new(self.connect_once(Auth::Password(&password)).await?);
        drop(password);
        let ch = handle
            .channel_open_session()
            .await
            .map_err(|e| self.connect_err(e))?;
        let mut s = Session::new(ch, None, handle.clone());
        let line = self.opts.identity.public_line();
        let cmd = Cmd::new(["sh", "-c", INSTALL_KEY, "labwarp-bootstrap", line.as_str()]);
        let ch = s.channel();
        ch.exec(true, cmd.to_shell())
            .await
            .map_err(|e| self.connect_err(e))?;
        let _ = ch.eof().await;
        let mut sink = Sink::new(None);
        let mut code = None;
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::Data { data } => sink.push(Stream::Stdout, &data).await,
                ChannelMsg::ExtendedData { data, .. } => sink.push(Stream::Stderr, &data).await,
                ChannelMsg::ExitStatus { exit_status } => code = Some(exit_status),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        s.armed = false;
        drop(s);
        let _ = handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
        let (_, stderr) = sink.finish().await;
        if code != Some(0) {
            return Err(self.other(format!(
                "installing the key into ~/.ssh/authorized_keys failed: {}",
                String::from_utf8_lossy(&stderr).trim()
            )));
        }
        Ok(())
    }
}
