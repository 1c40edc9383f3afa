//! The two random generators the network's dataset code draws from, reimplemented so that the
//! same seed picks the same files, entries and rows:
//!
//! - [`PyRandom`]: CPython's `random.Random(seed)` (MT19937 seeded with `init_by_array` over the
//!   seed's 32-bit words), with `getrandbits`, `_randbelow`, `sample` and `shuffle` as CPython
//!   writes them (set-based or pool-based `sample` depending on the sizes).
//! - [`NumpyRandomState`]: numpy's legacy `RandomState(seed)` (MT19937 seeded with
//!   `init_genrand`), with `permutation(n)`, which is what pandas' `DataFrame.sample(n,
//!   random_state=seed)` draws from (`choice(len, n, replace=False)` = first n of a permutation).
//!
//! Both are plain MT19937 underneath; only seeding and the bounded-integer rules differ.

const N: usize = 624;
const M: usize = 397;

#[derive(Clone)]
struct Mt19937 {
    mt: [u32; N],
    index: usize,
}

impl Mt19937 {
    fn init_genrand(seed: u32) -> Self {
        let mut mt = [0u32; N];
        mt[0] = seed;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { mt, index: N }
    }

    fn init_by_array(key: &[u32]) -> Self {
        let mut s = Self::init_genrand(19_650_218);
        let mt = &mut s.mt;
        let (mut i, mut j) = (1usize, 0usize);
        let len = key.len().max(1);
        for _ in 0..N.max(len) {
            let k = key.get(j).copied().unwrap_or(0);
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(k)
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= len {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        s
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            const UPPER: u32 = 0x8000_0000;
            const LOWER: u32 = 0x7fff_ffff;
            const MATRIX_A: u32 = 0x9908_b0df;
            for k in 0..N {
                let y = (self.mt[k] & UPPER) | (self.mt[(k + 1) % N] & LOWER);
                let mag = if y & 1 == 1 { MATRIX_A } else { 0 };
                self.mt[k] = self.mt[(k + M) % N] ^ (y >> 1) ^ mag;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }
}

/// CPython's `random.Random`, seeded with a non-negative integer.
#[derive(Clone)]
pub struct PyRandom {
    mt: Mt19937,
}

impl PyRandom {
    /// `random.Random(seed)` for an integer seed (its absolute value's 32-bit words, least
    /// significant first, as CPython's `random_seed` does).
    pub fn new(seed: u64) -> Self {
        let n = seed;
        let lo = n as u32;
        let hi = (n >> 32) as u32;
        let key: Vec<u32> = if hi == 0 { vec![lo] } else { vec![lo, hi] };
        PyRandom {
            mt: Mt19937::init_by_array(&key),
        }
    }

    /// `getrandbits(k)` for `k ≤ 64`.
    pub fn getrandbits(&mut self, k: u32) -> u64 {
        assert!(k <= 64, "getrandbits is only needed up to 64 bits");
        if k == 0 {
            return 0;
        }
        if k <= 32 {
            return u64::from(self.mt.next_u32() >> (32 - k));
        }
        let lo = u64::from(self.mt.next_u32());
        let hi = u64::from(self.mt.next_u32() >> (64 - k));
        lo | (hi << 32)
    }

    /// `_randbelow(n)` (rejection sampling over `n.bit_length()` bits), `n > 0`.
    pub fn randbelow(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let k = 64 - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// Indices `random.sample(range(n), k)` returns, in its order; `k` is clamped to `n` (callers
    /// in the network always pass `min(k, n)`).
    pub fn sample_indices(&mut self, n: usize, k: usize) -> Vec<usize> {
        let k = k.min(n);
        let mut setsize = 21usize;
        if k > 5 {
            // 4 ** ceil(log(k * 3, 4)), computed in floating point as CPython does
            let e = ((k * 3) as f64).ln() / 4f64.ln();
            setsize += 4usize.pow(e.ceil() as u32);
        }
        let mut out = Vec::with_capacity(k);
        if n <= setsize {
            let mut pool: Vec<usize> = (0..n).collect();
            for i in 0..k {
                let j = self.randbelow((n - i) as u64) as usize;
                out.push(pool[j]);
                pool[j] = pool[n - i - 1];
            }
        } else {
            let mut selected = std::collections::HashSet::with_capacity(k);
            for _ in 0..k {
                let mut j = self.randbelow(n as u64) as usize;
                while selected.contains(&j) {
                    j = self.randbelow(n as u64) as usize;
                }
                selected.insert(j);
                out.push(j);
            }
        }
        out
    }

    /// `random.sample(items, min(k, len))`, cloned in the drawn order.
    pub fn sample<T: Clone>(&mut self, items: &[T], k: usize) -> Vec<T> {
        self.sample_indices(items.len(), k)
            .into_iter()
            .map(|i| items[i].clone())
            .collect()
    }

    /// `random.shuffle(items)` in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.randbelow((i + 1) as u64) as usize;
            items.swap(i, j);
        }
    }
}

/// numpy's legacy `RandomState(seed)` (seed in `0..2**32`).
#[derive(Clone)]
pub struct NumpyRandomState {
    mt: Mt19937,
}

impl NumpyRandomState {
    pub fn new(seed: u32) -> Self {
        NumpyRandomState {
            mt: Mt19937::init_genrand(seed),
        }
    }

    /// numpy's `random_interval(max)`: uniform in `0..=max` by masked rejection.
    fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mut mask = max;
        for s in [1, 2, 4, 8, 16, 32] {
            mask |= mask >> s;
        }
        if max <= 0xffff_ffff {
            loop {
                let v = u64::from(self.mt.next_u32()) & mask;
                if v <= max {
                    return v;
                }
            }
        }
        loop {
            let hi = u64::from(self.mt.next_u32());
            let lo = u64::from(self.mt.next_u32());
            let v = ((hi << 32) | lo) & mask;
            if v <= max {
                return v;
            }
        }
    }

    /// `permutation(n)`: `arange(n)` shuffled by the legacy Fisher–Yates.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut v: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.interval(i as u64) as usize;
            v.swap(i, j);
        }
        v
    }

    /// The row positions `DataFrame.sample(n=min(k, len), random_state=seed)` takes, in order.
    pub fn pandas_sample(&mut self, len: usize, k: usize) -> Vec<usize> {
        let mut p = self.permutation(len);
        p.truncate(k.min(len));
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_matches_the_reference_outputs() {
        // The first outputs of init_by_array({0x123, 0x234, 0x345, 0x456}) published with the
        // original MT19937 code (mt19937ar.out).
        let mut mt = Mt19937::init_by_array(&[0x123, 0x234, 0x345, 0x456]);
        let first: Vec<u32> = (0..5).map(|_| mt.next_u32()).collect();
        assert_eq!(
            first,
            [1067595299, 955945823, 477289528, 4107218783, 4228976476]
        );
    }

    #[test]
    fn sample_and_shuffle_are_permutations() {
        let mut r = PyRandom::new(7);
        let s = r.sample_indices(1000, 30);
        let set: std::collections::HashSet<_> = s.iter().collect();
        assert_eq!(set.len(), 30);
        assert!(s.iter().all(|&i| i < 1000));
        let mut v: Vec<usize> = (0..50).collect();
        r.shuffle(&mut v);
        let mut w = v.clone();
        w.sort_unstable();
        assert_eq!(w, (0..50).collect::<Vec<_>>());
        let p = NumpyRandomState::new(3).permutation(40);
        let mut q = p.clone();
        q.sort_unstable();
        assert_eq!(q, (0..40).collect::<Vec<_>>());
    }
}
