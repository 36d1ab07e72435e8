//! karpenter-ovhcloud host library.
