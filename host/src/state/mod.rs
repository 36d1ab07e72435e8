//! The cluster model: nodes, pods, in-flight NodeClaims, DaemonSet overhead and PDBs, kept up to date from watch events.
