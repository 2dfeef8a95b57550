//! `--shard I/N`: which of a suite's items shard `I` (0-based, as Kubernetes'
//! `JOB_COMPLETION_INDEX` counts) of `N` runs.
//!
//! The partition is longest-processing-time-first greedy scheduling (Graham, "Bounds on
//! multiprocessing timing anomalies", SIAM J. Appl. Math. 17(2), 1969): items by decreasing
//! model size go each to the shard with the least bytes so far. Model size stands in for scan
//! time. Ties break by position (items by their index, shards by theirs), so every shard of a
//! job computes the same partition from the same files without talking to the others.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One part of a sharded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// 0-based.
    pub index: usize,
    pub count: usize,
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `I/N` with `0 <= I < N`.
    fn from_str(text: &str) -> Result<Self, String> {
        let usage = || format!("'{text}' is not a shard: write I/N with 0 <= I < N, e.g. 0/3 for the first of three");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let index: usize = index.trim().parse().map_err(|_| usage())?;
        let count: usize = count.trim().parse().map_err(|_| usage())?;
        if count == 0 || index >= count {
            return Err(usage());
        }
        Ok(Self { index, count })
    }
}

/// The shard (0-based) each item goes to, given each item's size.
pub fn partition(sizes: &[u64], count: usize) -> Vec<usize> {
    let count = count.max(1);
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    let mut load = vec![0u64; count];
    let mut shard_of = vec![0; sizes.len()];
    for item in order {
        // The least loaded shard; `min_by_key` keeps the first of equals.
        let lightest = (0..count).min_by_key(|&s| load[s]).unwrap_or(0);
        load[lightest] += sizes[item];
        shard_of[item] = lightest;
    }
    shard_of
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_written_i_of_n_from_zero() {
        assert_eq!("0/3".parse::<Shard>(), Ok(Shard { index: 0, count: 3 }));
        assert_eq!("2/3".parse::<Shard>().unwrap().to_string(), "2/3");
        for bad in ["3/3", "1/0", "1", "a/3", "-1/3"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_largest_models_spread_first() {
        // Worked by hand, largest first (equal sizes by position), loads after each step:
        // 7→s0 (7,0); 5→s1 (7,5); 4→s1 (7,9); 3 (item 0)→s0 (10,9); 3 (item 4)→s1 (10,12);
        // 2→s0 (12,12).
        let sizes = [3, 7, 2, 5, 3, 4];
        assert_eq!(partition(&sizes, 2), [0, 0, 0, 1, 1, 1]);
    }

    #[test]
    fn every_item_lands_in_exactly_one_shard_and_loads_stay_close() {
        let sizes: Vec<u64> = (0..40u64).map(|i| (i * 7919) % 1000 + 1).collect();
        for count in 1..6 {
            let shard_of = partition(&sizes, count);
            assert!(shard_of.iter().all(|&s| s < count));
            let mut load = vec![0u64; count];
            for (i, &s) in shard_of.iter().enumerate() {
                load[s] += sizes[i];
            }
            let (lo, hi) = (load.iter().min().unwrap(), load.iter().max().unwrap());
            // LPT leaves at most one item's size between the loads (the largest is 1000).
            assert!(hi - lo <= 1000, "{count}: {load:?}");
            assert_eq!(partition(&sizes, count), shard_of, "deterministic");
        }
        assert_eq!(partition(&[5, 5, 5], 3), [0, 1, 2], "ties go by position");
    }
}
