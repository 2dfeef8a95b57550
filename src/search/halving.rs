//! Successive halving's schedule (Karnin et al., "Almost optimal exploration in multi-armed
//! bandits", ICML 2013; Jamieson & Talwalkar 2016), shared by the searches that rank many
//! candidates on few inputs first: every candidate is tried on a first rung of `n0` inputs, the
//! best `1/eta` (never fewer than `keep_min`) go on to `eta` times as many, until all `n` inputs.

/// A halving schedule's shape.
#[derive(Debug, Clone, Copy)]
pub struct Halving {
    /// Each rung keeps `1/eta` of the candidates on `eta` times the inputs.
    pub eta: usize,
    /// Candidates every rung keeps at least.
    pub keep_min: usize,
    /// Fewest inputs on the first rung.
    pub min_first_rung: usize,
    /// Fewest candidates swept when even the smallest first rung does not fit the budget.
    pub min_candidates: usize,
}

impl Halving {
    /// Queries a schedule costs: `candidates` on a first rung of `n0` of `n` inputs.
    fn cost(&self, n0: usize, candidates: usize, n: usize) -> u64 {
        let (mut m, mut alive, mut total) = (n0, candidates, (candidates * n0) as u64);
        while m < n {
            alive = alive.div_ceil(self.eta).max(self.keep_min).min(alive);
            m = (m * self.eta).min(n);
            total += (alive * m) as u64;
        }
        total
    }

    /// The first rung's size and how many candidates fit `budget` queries: the largest `n0`
    /// among `n, n/eta, n/eta², …` (at least `min_first_rung`) whose schedule fits; at the
    /// smallest `n0`, as many candidates as fit (at least `min_candidates`).
    pub fn schedule(&self, candidates: usize, n: usize, budget: u64) -> (usize, usize) {
        let floor = self.min_first_rung.min(n);
        let mut n0 = n;
        loop {
            if self.cost(n0, candidates, n) <= budget {
                return (n0, candidates);
            }
            if n0 <= floor {
                break;
            }
            n0 = (n0 / self.eta).max(floor);
        }
        let (mut lo, mut hi) = (self.min_candidates, candidates);
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if self.cost(floor, mid, n) <= budget { lo = mid } else { hi = mid - 1 }
        }
        (floor, lo)
    }
}
