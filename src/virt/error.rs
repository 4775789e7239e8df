//! Errors and idempotent outcomes of libvirt operations.

use virt::error::{Error as LvError, ErrorNumber};

/// What kind of libvirt object an error or outcome is about (used in messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Domain,
    Network,
    Pool,
    Volume,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Domain => "domain",
            Kind::Network => "network",
            Kind::Pool => "storage pool",
            Kind::Volume => "storage volume",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VirtError {
    /// A libvirt call failed; `op` names what labwarp was doing.
    #[error("libvirt ({uri}): {op}: {message}")]
    Libvirt {
        uri: String,
        op: String,
        code: Option<ErrorNumber>,
        message: String,
    },
    #[error("libvirt ({uri}): {kind} '{name}' not found")]
    NotFound {
        uri: String,
        kind: Kind,
        name: String,
    },
    #[error("libvirt: cannot connect to {uri}: {message}")]
    Connect { uri: String, message: String },
    /// A URI or option refused before any connection (e.g. host key checking disabled).
    #[error("libvirt URI {uri}: {message}")]
    BadUri { uri: String, message: String },
    #[error("libvirt ({uri}): cannot parse {what} XML: {message}")]
    Xml {
        uri: String,
        what: String,
        message: String,
    },
    /// The daemon closed the connection (libvirtd stopped or restarted) and either did not
    /// come back in time or the call was not safe to repeat; the message says which.
    #[error("libvirt ({uri}): libvirtd went away (stopped or restarted) {message}")]
    DaemonGone { uri: String, message: String },
    #[error("libvirt ({uri}): blocking task failed: {0}", uri = .1)]
    Join(String, String),
}

impl VirtError {
    /// The libvirt error number, when the error came from libvirt.
    pub fn code(&self) -> Option<ErrorNumber> {
        match self {
            VirtError::Libvirt { code, .. } => *code,
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, VirtError::NotFound { .. })
    }

    /// Whether libvirtd went away under this call (see [`VirtError::DaemonGone`]).
    pub fn is_daemon_gone(&self) -> bool {
        matches!(self, VirtError::DaemonGone { .. })
    }
}

/// The result of an idempotent operation: whether it changed anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The call changed the object's state.
    Done,
    /// The object was already in the wanted state (e.g. destroying a shut-off domain).
    AlreadyInState,
    /// The object does not exist (e.g. undefining a missing domain): nothing to do.
    AlreadyAbsent,
}

impl Outcome {
    pub fn changed(self) -> bool {
        self == Outcome::Done
    }
}

/// The libvirt error number of an error, if libvirt knows it.
pub(crate) fn code_of(e: &LvError) -> Option<ErrorNumber> {
    match e.code() {
        virt::enumutil::Enum::Known(k) => Some(k),
        virt::enumutil::Enum::Unknown(_) => None,
    }
}

/// Whether a libvirt error says the object does not exist.
pub(crate) fn is_missing(e: &LvError) -> bool {
    matches!(
        code_of(e),
        Some(
            ErrorNumber::NoDomain
                | ErrorNumber::NoNetwork
                | ErrorNumber::NoStoragePool
                | ErrorNumber::NoStorageVolume
                | ErrorNumber::NoDomainSnapshot
        )
    )
}

/// Whether a libvirt error says the operation does not fit the object's current state
/// (e.g. "domain is not running", "network is already active").
pub(crate) fn is_invalid_state(e: &LvError) -> bool {
    matches!(code_of(e), Some(ErrorNumber::OperationInvalid))
}

/// Whether a libvirt error says the driver does not implement the call or a flag.
pub(crate) fn is_unsupported(e: &LvError) -> bool {
    matches!(
        code_of(e),
        Some(ErrorNumber::NoSupport | ErrorNumber::ArgumentUnsupported | ErrorNumber::InvalidArg)
    )
}
