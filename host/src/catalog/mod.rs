//! The flavor catalog: OVH flavors with prices, families and categories, zone availability, unavailable offerings and the allocatable model.
