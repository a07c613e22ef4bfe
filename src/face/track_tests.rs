//! Tests of `track`, kept apart so the module itself stays readable.
use super::*;

fn rule() -> Rule {
    Rule { name_at: 0.9, min_weight: 1.5, unknown_weight: 3.0, split_at: 0.2 }
}

fn sight(x: f32, y: f32) -> Sighting {
    Sighting { rect: [x, y, 40.0, 40.0], weight: 1.0 }
}

/// Embeddings are one-hot "identities"; the same identity scores 1, another 0.
fn same(a: &[f32], b: &[f32]) -> f32 {
    let d: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt();
    (1.0 - d).max(0.0)
}

fn person(k: usize) -> Vec<f32> {
    let mut v = vec![0.0; 4];
    v[k] = 1.0;
    v
}

#[test]
fn moving_boxes_keep_their_ids() {
    let mut t = Tracker::new(Settings::default(), rule());
    let mut ids = Vec::new();
    for f in 0..30u64 {
        let x = f as f32 * 6.0;
        ids.push(t.link(f, &[sight(x, 10.0), sight(300.0 - x, 200.0)]).iter().map(|l| l.0).collect::<Vec<_>>());
    }
    assert!(ids.iter().all(|i| i == &ids[0]), "{ids:?}");
    assert_ne!(ids[0][0], ids[0][1]);
}

#[test]
fn crossing_boxes_keep_their_ids_through_the_motion_model() {
    // Two faces on one line moving towards each other at 8 px a frame: they overlap for a
    // few frames; the velocity carries each past the other.
    let mut t = Tracker::new(Settings::default(), rule());
    let first = t.link(0, &[sight(0.0, 50.0), sight(200.0, 52.0)]);
    let mut last = first.clone();
    for f in 1..25u64 {
        let x = f as f32 * 8.0;
        last = t.link(f, &[sight(x, 50.0), sight(200.0 - x, 52.0)]);
    }
    assert_eq!(first[0].0, last[0].0, "the left-starting face kept its id");
    assert_eq!(first[1].0, last[1].0);
}

#[test]
fn a_missed_frame_is_tolerated_and_a_long_absence_ends_the_track() {
    let s = Settings { max_missed: 3, ..Settings::default() };
    let mut t = Tracker::new(s, rule());
    let id = t.link(0, &[sight(10.0, 10.0)])[0].0;
    t.link(1, &[]);
    t.link(2, &[]);
    assert_eq!(t.link(3, &[sight(10.0, 10.0)])[0].0, id);
    for f in 4..9 {
        t.link(f, &[]);
    }
    assert!(t.live().is_empty());
    assert_ne!(t.link(9, &[sight(10.0, 10.0)])[0].0, id);
}

#[test]
fn a_face_that_comes_back_gets_its_track_by_its_embedding() {
    let s = Settings { max_missed: 2, ..Settings::default() };
    let mut t = Tracker::new(s, rule());
    let id = t.link(0, &[sight(10.0, 10.0)])[0].0;
    t.add(id, person(1), 1.0, &same, 0.8);
    for f in 1..10 {
        t.link(f, &[]);
    }
    // Back on the other side of the frame: a new box, then its embedding.
    let new = t.link(10, &[sight(400.0, 10.0)])[0].0;
    assert_ne!(new, id);
    assert_eq!(t.add(new, person(1), 1.0, &same, 0.8), id);
    assert_eq!(t.live()[0].id, id);
    // Someone else entering is not merged.
    let other = t.link(11, &[sight(400.0, 10.0), sight(100.0, 300.0)])[1].0;
    assert_eq!(t.add(other, person(2), 1.0, &same, 0.8), other);
}

#[test]
fn an_embedding_of_someone_else_splits_the_track() {
    let mut t = Tracker::new(Settings::default(), rule());
    let id = t.link(0, &[sight(10.0, 10.0)])[0].0;
    t.add(id, person(1), 1.0, &same, 0.8);
    t.link(1, &[sight(10.0, 10.0)]);
    t.add(id, person(1), 1.0, &same, 0.8);
    t.link(2, &[sight(10.0, 10.0)]);
    let new = t.add(id, person(2), 1.0, &same, 0.8);
    assert_ne!(new, id);
    assert_eq!(t.summary().len(), 2);
}

#[test]
fn the_budget_goes_to_the_tracks_waiting_longest() {
    let s = Settings { budget: 1, embed_every: 1, ..Settings::default() };
    let mut t = Tracker::new(s, rule());
    let l = t.link(0, &[sight(0.0, 0.0), sight(100.0, 0.0)]);
    assert_eq!(l.iter().filter(|x| x.1).count(), 1);
    let first = l.iter().find(|x| x.1).unwrap().0;
    t.add(first, person(0), 1.0, &same, 0.8);
    let l = t.link(1, &[sight(0.0, 0.0), sight(100.0, 0.0)]);
    let second = l.iter().find(|x| x.1).unwrap().0;
    assert_ne!(first, second, "the never-embedded track goes next");
}

#[test]
fn poor_sightings_are_not_embedded() {
    let mut t = Tracker::new(Settings::default(), rule());
    let l = t.link(0, &[Sighting { rect: [0.0, 0.0, 10.0, 10.0], weight: 0.01 }]);
    assert!(!l[0].1);
}

#[test]
fn a_name_needs_enough_evidence_and_is_withdrawn_when_it_turns() {
    let s = Settings { window: 3, embed_every: 1, ..Settings::default() };
    let mut t = Tracker::new(s, Rule { split_at: -1.0, ..rule() });
    // The judge knows person 0 as "Ann"; the score is the pooled embedding's first value.
    let judge = |e: &[f32]| Some(("Ann".to_string(), e[0]));
    let id = t.link(0, &[sight(0.0, 0.0)])[0].0;
    t.add(id, person(0), 1.0, &same, 2.0);
    t.decide(&judge);
    assert_eq!(t.live()[0].state, State::Identifying, "one frame is not enough");
    t.link(1, &[sight(0.0, 0.0)]);
    t.add(id, person(0), 1.0, &same, 2.0);
    t.decide(&judge);
    assert_eq!((t.live()[0].state, t.live()[0].name.as_deref()), (State::Named, Some("Ann")));
    // Three frames of someone unknown push Ann out of the window.
    for f in 2..5 {
        t.link(f, &[sight(0.0, 0.0)]);
        t.add(id, person(3), 1.0, &same, 2.0);
        t.decide(&judge);
    }
    assert_eq!((t.live()[0].state, t.live()[0].name.as_deref()), (State::Unknown, None));
    assert_eq!(t.summary()[0].names, vec![("Ann".to_string(), 1)]);
}

#[test]
fn light_evidence_stays_identifying() {
    let mut t = Tracker::new(Settings::default(), rule());
    let judge = |_: &[f32]| Some(("Ann".to_string(), 0.99));
    let id = t.link(0, &[sight(0.0, 0.0)])[0].0;
    t.add(id, person(0), 0.5, &same, 2.0);
    t.link(1, &[sight(0.0, 0.0)]);
    t.add(id, person(0), 0.5, &same, 2.0);
    t.decide(&judge);
    assert_eq!(t.live()[0].state, State::Identifying, "weight 1.0 < 1.5");
}
