//! OVH pool bookkeeping, the pure part: from the NodeClaims and what OVH reports, the writes
//! that bring OVH in line and the bindings of new OVH nodes to NodeClaims ([`plan`]). The pass
//! that reads OVH and carries the plan out is the host's (`karpenter_ovhcloud::pools`).

pub mod plan;
