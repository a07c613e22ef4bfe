//! Calibration of the verification rule the app uses for a claimed identity: a face is accepted
//! when the fraction of the claimed person's enrolment images that score it at or above
//! `detection` reaches `verification` (`gallery::verify_rule`). Both thresholds are fitted on
//! claims from held-out people and then reported on other held-out people.
use serde::Serialize;

use crate::gallery::verify_rule;

/// One claim: the query's scores against each enrolment image of the claimed person.
#[derive(Clone, Debug)]
pub struct Claim {
    pub scores: Vec<f32>,
    /// The query really shows the claimed person.
    pub genuine: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RuleResult {
    pub detection: f32,
    pub verification: f32,
    /// Mean of the genuine acceptance rate and the impostor rejection rate.
    pub accuracy: f64,
    /// Impostor claims accepted.
    pub false_accept: f64,
    /// Genuine claims refused.
    pub false_reject: f64,
}

/// The rule at fixed thresholds over `claims`.
pub fn evaluate(claims: &[Claim], detection: f32, verification: f32) -> RuleResult {
    let (mut ga, mut gn, mut ia, mut inn) = (0usize, 0usize, 0usize, 0usize);
    for c in claims {
        let ok = verify_rule(&c.scores, detection, verification).0;
        if c.genuine {
            gn += 1;
            ga += ok as usize;
        } else {
            inn += 1;
            ia += ok as usize;
        }
    }
    let frac = |a: usize, n: usize| if n == 0 { 0.0 } else { a as f64 / n as f64 };
    let (tar, far) = (frac(ga, gn), frac(ia, inn));
    RuleResult { detection, verification, accuracy: 0.5 * (tar + 1.0 - far), false_accept: far, false_reject: 1.0 - tar }
}

/// The thresholds with the best balanced accuracy: every fraction `k / n` a claim can reach as
/// the verification threshold, and either the given detection threshold or every score in the
/// claims as a candidate. Ties go to the first found (lowest detection, then lowest fraction).
///
/// Held-out people with several photos are few (LFW's last two people.txt folds have 54-65 with
/// four or more), so fitting both thresholds on them is noisy; fixing the per-image threshold at
/// one calibrated on thousands of pairs leaves a single, well-determined choice.
pub fn fit(claims: &[Claim], detection: Option<f32>) -> RuleResult {
    let mut detections: Vec<f32> = match detection {
        Some(d) => vec![d],
        None => claims.iter().flat_map(|c| c.scores.iter().copied()).collect(),
    };
    detections.sort_by(|a, b| a.total_cmp(b));
    detections.dedup();
    let mut fractions: Vec<f32> = claims.iter().flat_map(|c| (1..=c.scores.len()).map(move |k| k as f32 / c.scores.len() as f32)).collect();
    fractions.sort_by(|a, b| a.total_cmp(b));
    fractions.dedup();
    // Thousands of distinct scores are more than the fit needs: keep about 400 quantiles.
    let step = (detections.len() / 400).max(1);
    let mut best = RuleResult { detection: 0.5, verification: 0.5, accuracy: f64::NEG_INFINITY, false_accept: 0.0, false_reject: 0.0 };
    for &d in detections.iter().step_by(step) {
        for &v in &fractions {
            let r = evaluate(claims, d, v);
            if r.accuracy > best.accuracy {
                best = r;
            }
        }
    }
    if best.accuracy.is_finite() { best } else { evaluate(claims, 0.5, 0.5) }
}

/// Which people.txt fold a set of claims came from, and how many.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ClaimFold {
    pub fold: usize,
    pub people: usize,
    pub genuine_claims: usize,
    pub impostor_claims: usize,
}

/// Genuine and impostor claims among the people of LFW people.txt fold `fold` who have more
/// than `enrol` images: each of a person's next `queries` images claims its own person (the
/// first `enrol` images are their enrolment), and each of the others.
pub fn lfw_claims(
    net: &crate::model::Siamese,
    lfw_root: &std::path::Path,
    folds: &[Vec<(String, usize)>],
    fold: usize,
    enrol: usize,
    queries: usize,
) -> crate::error::Result<(Vec<Claim>, ClaimFold)> {
    use crate::error::Error;
    if fold == 0 || fold > folds.len() {
        return Err(Error::input("fold", format!("{fold}: people.txt has folds 1 to {}", folds.len())));
    }
    let people: Vec<(String, usize)> = folds[fold - 1].iter().filter(|(_, n)| *n > enrol).map(|(p, n)| (p.clone(), (*n).min(enrol + queries))).collect();
    if people.len() < 2 {
        return Err(Error::input("fold", format!("{fold}: fewer than two people with more than {enrol} images")));
    }
    let faces = crate::data::lfw::people_faces(&people);
    let emb = super::lfw_folds::embed_frames(net, &lfw_root.join("images_deepfunneled"), &faces)?;
    let d = net.embedding_len();
    // Row of each person's first image in `faces` (people_faces lists them person by person).
    let mut start = Vec::with_capacity(people.len());
    let mut at = 0;
    for (_, n) in &people {
        start.push(at);
        at += n;
    }
    let row = |i: usize| &emb[i * d..(i + 1) * d];
    let scores = |q: usize, p: usize| (0..enrol).map(|k| net.score(row(q), row(start[p] + k))).collect::<Vec<f32>>();
    let mut claims = Vec::new();
    for (p, (_, n)) in people.iter().enumerate() {
        for q in start[p] + enrol..start[p] + n {
            claims.push(Claim { scores: scores(q, p), genuine: true });
            for other in (0..people.len()).filter(|&o| o != p) {
                claims.push(Claim { scores: scores(q, other), genuine: false });
            }
        }
    }
    let genuine = claims.iter().filter(|c| c.genuine).count();
    let impostor = claims.len() - genuine;
    Ok((claims, ClaimFold { fold, people: people.len(), genuine_claims: genuine, impostor_claims: impostor }))
}

/// The rule fitted on one fold's claims.
#[derive(Serialize)]
pub struct Fitted {
    pub on: ClaimFold,
    pub rule: RuleResult,
}

/// The fitted rule on another fold, and the same per-image threshold with half the images
/// (the original app's choice) for comparison.
#[derive(Serialize)]
pub struct Tested {
    pub half_the_images: RuleResult,
    pub on: ClaimFold,
    pub rule: RuleResult,
}

/// `siamface eval rule`: the rule fitted on LFW people.txt fold `fit_fold`, reported on
/// `test_fold`.
#[derive(Serialize)]
pub struct OnLfw {
    pub enrol: usize,
    pub fit: Fitted,
    pub test: Tested,
}

/// Fits the rule for the model at `model` (on `threads`) on the claims of LFW people.txt fold
/// `fit_fold` (1-based) and reports it on `test_fold`, each person enrolled with `enrol` images
/// and claiming with at most `queries` more. The per-image threshold is fixed at `detection`,
/// else at the model card's, and only the fraction fitted, unless `fit_detection`; the
/// half-the-images comparison is made at `detection`, else at the card's.
#[allow(clippy::too_many_arguments)]
pub fn on_lfw(
    model: &std::path::Path,
    threads: usize,
    lfw: &std::path::Path,
    fit_fold: usize,
    test_fold: usize,
    enrol: usize,
    queries: usize,
    detection: Option<f32>,
    fit_detection: bool,
) -> crate::error::Result<OnLfw> {
    if enrol == 0 || queries == 0 {
        return Err(crate::error::Error::input("--enrol and --queries", "must be at least 1"));
    }
    let ck = crate::model::io::load(model)?;
    let net = crate::model::Siamese::new(ck.config, ck.params, threads)?;
    let card = crate::model::card::Card::read(model)?.same_at();
    let fixed = if fit_detection { None } else { Some(detection.unwrap_or(card)) };
    let folds = crate::data::lfw::people(&lfw.join("people.txt"))?;
    let (fit_claims, fit_on) = lfw_claims(&net, lfw, &folds, fit_fold, enrol, queries)?;
    let (test_claims, test_on) = lfw_claims(&net, lfw, &folds, test_fold, enrol, queries)?;
    let fitted = fit(&fit_claims, fixed);
    let test = evaluate(&test_claims, fitted.detection, fitted.verification);
    let before = evaluate(&test_claims, fixed.unwrap_or(card), 0.5);
    Ok(OnLfw { enrol, fit: Fitted { on: fit_on, rule: fitted }, test: Tested { half_the_images: before, on: test_on, rule: test } })
}

impl std::fmt::Display for OnLfw {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let (fit, fitted, test) = (&self.fit.on, &self.fit.rule, &self.test.on);
        writeln!(
            f,
            "fitted on fold {} ({} people, {} claims): accept when {:.0}% of {} enrolment images score >= {:.3} (balanced accuracy {:.1}%)",
            fit.fold, fit.people, fit.genuine_claims + fit.impostor_claims, 100.0 * fitted.verification, self.enrol, fitted.detection, 100.0 * fitted.accuracy
        )?;
        for (what, r) in [("fitted rule", &self.test.rule), ("same threshold, 50% of the images", &self.test.half_the_images)] {
            writeln!(
                f,
                "fold {} ({} people, {} claims), {what}: balanced accuracy {:.1}%, false accepts {:.1}%, false rejects {:.1}%",
                test.fold, test.people, test.genuine_claims + test.impostor_claims, 100.0 * r.accuracy, 100.0 * r.false_accept, 100.0 * r.false_reject
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(scores: &[f32], genuine: bool) -> Claim {
        Claim { scores: scores.to_vec(), genuine }
    }

    #[test]
    fn rule_rates_by_hand() {
        let claims = [claim(&[0.9, 0.8, 0.2], true), claim(&[0.9, 0.1, 0.1], true), claim(&[0.7, 0.1, 0.1], false), claim(&[0.3, 0.2, 0.1], false)];
        // At 0.5 and half the images: the first genuine claim passes (2/3), the second does not
        // (1/3); no impostor passes. Balanced accuracy (1/2 + 1) / 2.
        let r = evaluate(&claims, 0.5, 0.5);
        assert_eq!((r.false_reject, r.false_accept, r.accuracy), (0.5, 0.0, 0.75));
        // One image is enough: both genuine pass, and so does the first impostor (0.7).
        let r = evaluate(&claims, 0.5, 0.3);
        assert_eq!((r.false_reject, r.false_accept, r.accuracy), (0.0, 0.5, 0.75));
    }

    #[test]
    fn fit_finds_the_separating_thresholds() {
        // One impostor has a single 0.95, so one image is never enough; "two of three at or above
        // a threshold in (0.4, 0.7]" separates them all, and 0.5 is the lowest such score.
        let claims = [claim(&[0.9, 0.8, 0.1], true), claim(&[0.85, 0.7, 0.65], true), claim(&[0.95, 0.2, 0.1], false), claim(&[0.5, 0.4, 0.3], false)];
        let r = fit(&claims, None);
        assert_eq!(r.accuracy, 1.0, "{r:?}");
        assert!((r.verification - 2.0 / 3.0).abs() < 1e-6 && r.detection == 0.5, "{r:?}");
        // With the per-image threshold fixed at 0.75, only the first genuine claim has two
        // images above it, the second has one, as does the 0.95 impostor: the best is "one of
        // three" (all genuine in, one impostor in: 0.75) over "two of three" (one genuine
        // in, no impostor: 0.75), and the tie goes to the lower fraction.
        let r = fit(&claims, Some(0.75));
        assert_eq!((r.detection, r.accuracy), (0.75, 0.75), "{r:?}");
        assert!((r.verification - 1.0 / 3.0).abs() < 1e-6, "{r:?}");
    }
}
