//! East-west wiring across pods (BEHAVIOUR §6.3) without HTTP: a top
//! router over two podsim pods reached through the in-memory transport,
//! its `router_sync` job run, and each pod's own state read through its
//! own API — bottom routers, the bridge network's segment and CIDR, bridge
//! ports, interfaces, extra routes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod env;
mod failures;
mod teardown;
mod wiring;
