//! The top Neutron: networks, subnets, ports and security groups stored at
//! the top with top IPAM, created in a pod only when a server there needs
//! them (BEHAVIOUR §6).
#![forbid(unsafe_code)]
