//! The connection: transport (direct or through the jump host), host key check,
//! authentication, and re-establishing it with backoff when it dropped.

use super::SshHost;
use super::host_key::Client;
use crate::host::HostError;
use russh::client::{self, Handle};
use russh::keys::PrivateKeyWithHashAlg;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The shared, authenticated connection of one host.
pub(super) type Conn = Arc<Handle<Client>>;

/// How a connection authenticates.
pub(super) enum Auth<'a> {
    Key,
    Password(&'a Zeroizing<String>),
}

impl SshHost {
    fn config(&self) -> Arc<client::Config> {
        Arc::new(client::Config {
            nodelay: true,
            keepalive_interval: self.opts.keepalive,
            keepalive_max: 3,
            ..client::Config::default()
        })
    }

    /// One attempt: transport (direct or through the jump host), host key, authentication.
    pub(super) async fn connect_once(&self, auth: Auth<'_>) -> Result<Handle<Client>, HostError> {
        let (handler, refusal) = Client::new(&self.target, &self.opts);
        let t = &self.target;
        let handshake = async {
            match &self.via {
                None => client::connect(self.config(), (t.host.as_str(), t.port), handler).await,
                Some(jump) => {
                    // Boxed: the jump's connection may itself go through a jump.
                    let jc = Box::pin(jump.connection()).await?;
                    let ch = jc
                        .channel_open_direct_tcpip(
                            t.host.clone(),
                            u32::from(t.port),
                            "127.0.0.1",
                            0,
                        )
                        .await
                        .map_err(|e| {
                            self.connect_err(format!(
                                "jump through {} failed: {e}",
                                jump.target.name
                            ))
                        })?;
                    client::connect_stream(self.config(), ch.into_stream(), handler).await
                }
            }
            .map_err(|e| {
                let refused = refusal.lock().unwrap_or_else(|p| p.into_inner()).take();
                refused.unwrap_or_else(|| self.connect_err(e))
            })
        };
        let mut handle = tokio::time::timeout(self.opts.connect_timeout, handshake)
            .await
            .map_err(|_| self.connect_err("timed out"))??;
        let authenticated = tokio::time::timeout(self.opts.connect_timeout, async {
            match auth {
                Auth::Key => {
                    let key = PrivateKeyWithHashAlg::new(self.opts.identity.private.clone(), None);
                    handle.authenticate_publickey(t.user.clone(), key).await
                }
                // russh copies the password into its auth message and wipes it on drop.
                Auth::Password(pw) => {
                    handle
                        .authenticate_password(t.user.clone(), pw.as_str())
                        .await
                }
            }
        })
        .await
        .map_err(|_| self.connect_err("authentication timed out"))?
        .map_err(|e| self.connect_err(e))?;
        if !authenticated.success() {
            return Err(HostError::Auth {
                host: t.name.clone(),
                user: t.user.clone(),
            });
        }
        Ok(handle)
    }

    /// The shared connection, (re)established when missing or dropped.
    pub(super) async fn connection(&self) -> Result<Conn, HostError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        *slot = None;
        let b = self.opts.backoff;
        let mut delay = b.first;
        let mut attempt = 1;
        loop {
            match self.connect_once(Auth::Key).await {
                Ok(h) => {
                    let c = Arc::new(h);
                    *slot = Some(c.clone());
                    return Ok(c);
                }
                Err(e @ HostError::Connect { .. }) if attempt < b.attempts => {
                    tracing::debug!(host = %self.target.name, attempt, "connect failed: {e}");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(b.max);
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Forgets `dead` (if it is still the current connection) so the next call reconnects.
    pub(super) async fn forget(&self, dead: &Conn) {
        let mut slot = self.conn.lock().await;
        if slot.as_ref().is_some_and(|c| Arc::ptr_eq(c, dead)) {
            *slot = None;
        }
    }

    /// Connects now (useful to surface host key and auth problems before any work).
    pub async fn connect(&self) -> Result<(), HostError> {
        self.connection().await.map(drop)
    }

    /// Closes the connection politely; the next command reconnects.
    pub async fn disconnect(&self) {
        if let Some(c) = self.conn.lock().await.take() {
            let _ = c
                .disconnect(russh::Disconnect::ByApplication, "", "en")
                .await;
        }
    }
}
