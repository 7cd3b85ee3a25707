//! Slices of a C3 sweep: `scaling --shard i/n` runs slice `i` (breadth job
//! `j`, in the order widths × seeds, belongs to slice `j mod n`; slice 0 also
//! runs the severity sweeps) and [`merge_shards`] puts slices back together,
//! checking every slice file as untrusted input.

use super::{finish, ScalingConfig, ScalingResult};
use crate::error::{Error, Result};
use crate::experiments::scaling::breadth::{BreadthPoint, BreadthSetup, BreadthTry};
use crate::experiments::scaling::severity::{run_severity, SeverityRecord};
use crate::progress::Progress;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One slice `i/n` (`0 ≤ i < n`) of a sweep: breadth job `j` (in the order
/// widths × seeds) belongs to slice `j mod n`; slice 0 also runs the severity
/// sweeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole sweep as one slice.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parse `i/n`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::Parse {
            what: "shard",
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| bad("expected i/n, e.g. 0/4"))?;
        let index: usize = i.trim().parse().map_err(|_| bad("i is not a number"))?;
        let count: usize = n.trim().parse().map_err(|_| bad("n is not a number"))?;
        if count == 0 || index >= count {
            return Err(bad("need 0 ≤ i < n"));
        }
        Ok(Self { index, count })
    }
}

/// What one slice computed: its breadth points (with every attempt) by job
/// index, and the severity records (slice 0 only). Written as
/// `shard-i-of-n.json`; [`merge_shards`] puts slices back together.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardOutput {
    /// The sweep's settings ([`ScalingConfig::settings`]): slices of
    /// different sweeps do not merge.
    pub settings: serde_json::Value,
    pub shard: Shard,
    pub jobs: usize,
    pub points: Vec<(usize, BreadthPoint)>,
    pub tries: Vec<(usize, Vec<BreadthTry>)>,
    pub severity: Vec<SeverityRecord>,
}

/// Run slice `shard` of the sweep (parallel over its breadth points, largest
/// widths first); `bar` advances once per breadth point.
pub fn run_shard(cfg: &ScalingConfig, shard: Shard, bar: &dyn Progress) -> Result<ShardOutput> {
    let setup = BreadthSetup::new(cfg.breadth.clone())?;
    let jobs = cfg.jobs();
    let mut mine: Vec<usize> = (0..jobs.len())
        .filter(|j| j % shard.count == shard.index)
        .collect();
    mine.sort_by_key(|&j| std::cmp::Reverse(jobs[j].0));
    let mut done: Vec<(usize, BreadthPoint)> = mine
        .par_iter()
        .map(|&j| {
            let (m, s) = jobs[j];
            let p = setup.search(m, s);
            bar.inc(1);
            p.map(|p| (j, p))
        })
        .collect::<Result<_>>()?;
    done.sort_by_key(|(j, _)| *j);
    let tries = done.iter().map(|(j, p)| (*j, p.tries.clone())).collect();
    let severity = if shard.index == 0 {
        run_severity(&cfg.severity)?
    } else {
        Vec::new()
    };
    Ok(ShardOutput {
        settings: cfg.settings(),
        shard,
        jobs: jobs.len(),
        points: done,
        tries,
        severity,
    })
}

/// Put slices back together: every slice of one sweep (same settings, same
/// `n`, each index once), every job exactly once. The result equals a single
/// run's, bit for bit.
pub fn merge_shards(cfg: &ScalingConfig, shards: Vec<ShardOutput>) -> Result<ScalingResult> {
    let n = shards.first().map_or(0, |s| s.shard.count);
    let mismatch = |reason: String| Error::Parse {
        what: "shard set",
        input: format!("{} slice(s)", shards.len()),
        reason,
    };
    if shards.len() != n {
        return Err(mismatch(format!(
            "expected {n} slices, got {}",
            shards.len()
        )));
    }
    let mut seen = vec![false; n];
    let job_list = cfg.jobs();
    let jobs = job_list.len();
    let mut points: Vec<Option<BreadthPoint>> = vec![None; jobs];
    let mut severity = Vec::new();
    for s in &shards {
        // A shard file is user input: its slice identity is checked here, not
        // trusted from the file (`Shard::parse` never saw it).
        if s.shard.count != n || s.shard.index >= n {
            return Err(mismatch(format!(
                "slice {}/{} is not one of {n} slices 0/{n} … {}/{n}",
                s.shard.index,
                s.shard.count,
                n.saturating_sub(1)
            )));
        }
        if s.settings != cfg.settings() || s.jobs != jobs {
            return Err(mismatch(format!(
                "slice {}/{} belongs to a different sweep",
                s.shard.index, s.shard.count
            )));
        }
        for (j, p) in &s.points {
            let Some(&(m, seed)) = job_list.get(*j) else {
                return Err(mismatch(format!("job {j} out of range (0..{jobs})")));
            };
            if j % n != s.shard.index {
                return Err(mismatch(format!(
                    "job {j} belongs to slice {}/{n}, not to slice {}/{n} that holds it",
                    j % n,
                    s.shard.index
                )));
            }
            if (p.redundant, p.seed) != (m, seed) {
                return Err(mismatch(format!(
                    "job {j} is (m = {m}, seed {seed}) but its point is (m = {}, seed {})",
                    p.redundant, p.seed
                )));
            }
        }
        if let Some((j, _)) = s
            .tries
            .iter()
            .find(|(j, _)| !s.points.iter().any(|(k, _)| k == j))
        {
            return Err(mismatch(format!(
                "slice {}/{n} has attempts for job {j} but no point for it",
                s.shard.index
            )));
        }
        if std::mem::replace(&mut seen[s.shard.index], true) {
            return Err(mismatch(format!(
                "slice {}/{n} appears twice",
                s.shard.index
            )));
        }
        let tries: std::collections::BTreeMap<usize, &Vec<BreadthTry>> =
            s.tries.iter().map(|(j, t)| (*j, t)).collect();
        for (j, p) in &s.points {
            let mut p = p.clone();
            p.tries = tries.get(j).map(|t| (*t).clone()).unwrap_or_default();
            let slot = points
                .get_mut(*j)
                .ok_or_else(|| mismatch(format!("job {j} out of range")))?;
            if slot.replace(p).is_some() {
                return Err(mismatch(format!("job {j} appears twice")));
            }
        }
        if s.shard.index == 0 {
            severity = s.severity.clone();
        }
    }
    let breadth = points
        .into_iter()
        .enumerate()
        .map(|(j, p)| p.ok_or_else(|| mismatch(format!("job {j} is missing"))))
        .collect::<Result<Vec<_>>>()?;
    finish(breadth, severity)
}

/// Read a `shard-i-of-n.json` written by `hairtrigger scaling --shard i/n`.
pub fn read_shard(path: &Path) -> Result<ShardOutput> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_shard(&text, &path.display().to_string())
}

/// [`read_shard`] on text already in memory; `origin` names it in errors.
/// The slice's identity and jobs are checked by [`merge_shards`], not here.
pub fn parse_shard(text: &str, origin: &str) -> Result<ShardOutput> {
    serde_json::from_str(text).map_err(|e| Error::Parse {
        what: "shard file",
        input: origin.to_string(),
        reason: e.to_string(),
    })
}
