//! See ARCHITECTURE.md.
pub mod kvm_probe;
