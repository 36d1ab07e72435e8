//! Sorting that keeps components small.
//!
//! Every `slice::sort_by` call site with its own closure instantiates the whole sort
//! algorithm again (several KB of Wasm each). Going through [`sort_by`] instantiates it once
//! per element type.

use std::cmp::Ordering;

/// Stable sort of `v` by `cmp`.
pub fn sort_by<T>(v: &mut [T], cmp: &dyn Fn(&T, &T) -> Ordering) {
    v.sort_by(|a, b| cmp(a, b));
}

#[cfg(test)]
mod tests {
    #[test]
    fn sorts_stably() {
        let mut v = vec![(2, 'a'), (1, 'b'), (2, 'c'), (0, 'd')];
        super::sort_by(&mut v, &|a, b| a.0.cmp(&b.0));
        assert_eq!(v, [(0, 'd'), (1, 'b'), (2, 'a'), (2, 'c')]);
    }
}
