//! Provisioning: the batcher, the scheduling simulation, the flavor-selection call and its validation, NodeClaim specs.
