//! Topology rules of a pod group, as placement decisions need them.

use crate::types::{PodGroup, Topology};

impl PodGroup {
    /// The most pods of this group one node may take under its hostname rules: 1 with
    /// hostname anti-affinity, `max-skew` with a hostname spread (a new node starts at 0, so
    /// it never exceeds the skew), else unbounded (`u32::MAX`).
    pub fn max_per_node(&self) -> u32 {
        let mut cap = u32::MAX;
        if self.anti_affinity.contains(&Topology::Hostname) {
            cap = 1;
        }
        for s in &self.spreads {
            if s.topology == Topology::Hostname {
                cap = cap.min(s.max_skew.max(1));
            }
        }
        cap
    }

    /// Whether the group has zone rules (spread, affinity or anti-affinity over zones), so its
    /// pods must not change zone.
    pub fn zone_bound(&self) -> bool {
        self.affinity.contains(&Topology::Zone)
            || self.anti_affinity.contains(&Topology::Zone)
            || self.spreads.iter().any(|s| s.topology == Topology::Zone)
    }

    /// Whether all pods of the group must share one node.
    pub fn host_affine(&self) -> bool {
        self.affinity.contains(&Topology::Hostname)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::pod_group;
    use crate::types::{Spread, Topology};

    #[test]
    fn per_node_cap_and_zone_rules() {
        let mut g = pod_group(1, "g", 5, 100, 100);
        assert_eq!(g.max_per_node(), u32::MAX);
        assert!(!g.zone_bound());
        g.spreads.push(Spread {
            topology: Topology::Hostname,
            max_skew: 2,
            min_domains: None,
        });
        assert_eq!(g.max_per_node(), 2);
        g.anti_affinity.push(Topology::Hostname);
        assert_eq!(g.max_per_node(), 1);
        g.spreads.push(Spread {
            topology: Topology::Zone,
            max_skew: 1,
            min_domains: None,
        });
        assert!(g.zone_bound());
        assert!(!g.host_affine());
        g.affinity.push(Topology::Hostname);
        assert!(g.host_affine());
    }
}
