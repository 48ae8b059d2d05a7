//! Where the two layers meet, and nowhere else: the one place that names
//! the Python layer on behalf of the core.
//!
//! The RPC core (every module but `python` and this one) knows nothing of
//! Python; it offers a connection's first frame to an [`Upgrade`]. Every
//! server installs the one below, so that stock Python `BaseManager`
//! clients, whose first frame is a pickle, are answered on the same port.
//! `tests/layers.rs` checks that this file names the layer's
//! `ManagerUpgrade` once and nothing else of it, and that no core file
//! names the layer at all.

use std::sync::Arc;

use crate::upgrade::Upgrade;

/// The upgrade every server installs (`Server::shared`): the Python
/// layer's `BaseManager` protocol.
pub(crate) fn default_upgrade() -> Arc<dyn Upgrade> {
    Arc::new(crate::python::ManagerUpgrade::default())
}
