//! podman fixtures (filled in with the podman module).
