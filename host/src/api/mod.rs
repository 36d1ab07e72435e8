//! Kubernetes API types: karpenter.sh/v1 NodePool and NodeClaim, karpenter.ovhcloud.sh/v1alpha1 OVHNodeClass, and the CRD generator.
