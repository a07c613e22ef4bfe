//! Balanced same/different pairs drawn from classes of items (characters and their drawers,
//! people and their photos).
use crate::rng::Rng;

/// One item of one class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Item {
    pub class: usize,
    pub index: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pair {
    pub a: Item,
    pub b: Item,
    pub same: bool,
}

/// `n` pairs, alternately same and different (starting with same). `sizes[c]` is how many items
/// class `c` has; a same pair takes two distinct items of a class with at least two, a different
/// pair two distinct classes.
pub fn balanced(rng: &mut Rng, sizes: &[usize], n: usize) -> Vec<Pair> {
    let multi: Vec<usize> = (0..sizes.len()).filter(|&c| sizes[c] >= 2).collect();
    let nonempty: Vec<usize> = (0..sizes.len()).filter(|&c| sizes[c] >= 1).collect();
    assert!(!multi.is_empty() && nonempty.len() >= 2, "pairs need a class with two items and two non-empty classes");
    (0..n)
        .map(|k| {
            if k % 2 == 0 {
                let c = multi[rng.below(multi.len())];
                let i = rng.below(sizes[c]);
                let j = (i + 1 + rng.below(sizes[c] - 1)) % sizes[c];
                Pair { a: Item { class: c, index: i }, b: Item { class: c, index: j }, same: true }
            } else {
                let x = rng.below(nonempty.len());
                let y = (x + 1 + rng.below(nonempty.len() - 1)) % nonempty.len();
                let (c, d) = (nonempty[x], nonempty[y]);
                Pair { a: Item { class: c, index: rng.below(sizes[c]) }, b: Item { class: d, index: rng.below(sizes[d]) }, same: false }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_balanced_and_valid() {
        let sizes = [1, 2, 5, 0, 3];
        let pairs = balanced(&mut Rng::new(4), &sizes, 1000);
        assert_eq!(pairs.iter().filter(|p| p.same).count(), 500);
        for p in &pairs {
            assert!(p.a.index < sizes[p.a.class] && p.b.index < sizes[p.b.class]);
            if p.same {
                assert!(p.a.class == p.b.class && p.a.index != p.b.index);
                assert_ne!(p.a.class, 0, "a class of one item cannot give a same pair");
            } else {
                assert_ne!(p.a.class, p.b.class);
            }
        }
    }

    /// Property: for any class sizes that allow both kinds of pair (many random ones), any `n`
    /// gives exactly `ceil(n/2)` same pairs, alternating, every item inside its class, same pairs
    /// two distinct items of one class, different pairs two classes, and every class with two
    /// items reachable.
    #[test]
    fn any_valid_sizes_give_valid_alternating_pairs() {
        for seed in 0..500u64 {
            let mut rng = Rng::new(seed);
            let classes = 2 + rng.below(12);
            let mut sizes: Vec<usize> = (0..classes).map(|_| [0, 1, 1, 2, 3, 7, 20][rng.below(7)]).collect();
            // Make the draw valid: one class of two or more and two non-empty classes.
            sizes[0] = sizes[0].max(2);
            sizes[1] = sizes[1].max(1);
            let n = rng.below(400);
            let pairs = balanced(&mut rng, &sizes, n);
            assert_eq!(pairs.len(), n, "seed {seed}");
            for (k, p) in pairs.iter().enumerate() {
                assert_eq!(p.same, k % 2 == 0, "seed {seed}: pair {k} out of turn");
                assert!(p.a.index < sizes[p.a.class] && p.b.index < sizes[p.b.class], "seed {seed}: {p:?} outside {sizes:?}");
                if p.same {
                    assert!(p.a.class == p.b.class && p.a.index != p.b.index, "seed {seed}: {p:?}");
                } else {
                    assert_ne!(p.a.class, p.b.class, "seed {seed}: {p:?}");
                }
            }
            if n >= 399 {
                for c in (0..classes).filter(|&c| sizes[c] >= 2) {
                    let reachable = pairs.iter().any(|p| p.same && p.a.class == c);
                    assert!(reachable, "seed {seed}: class {c} of {sizes:?} never drawn as a same pair");
                }
            }
        }
    }
}
