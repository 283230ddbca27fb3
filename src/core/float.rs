//! The few `f64` methods the client uses that only std has (`round`, `fract`, `powi`), written
//! with what `core` has so the WASM package can leave std out. Each gives exactly the result of
//! the std method it replaces (the tests compare them).

/// `x.round() as u64`: rounds half away from zero, then saturates (NaN and negatives give 0).
pub fn round_u64(x: f64) -> u64 {
    let whole = x as u64;
    // Exact: below 2^52 the fraction is representable; from there up to 2^64 `x` is whole and
    // the difference 0; beyond, `whole` saturated and stays so.
    if x - whole as f64 >= 0.5 {
        whole.saturating_add(1)
    } else {
        whole
    }
}

/// `x.fract() == 0.0`: `x` is finite and whole.
pub fn is_whole(x: f64) -> bool {
    // From 2^52 up every finite `f64` is whole; below, the `i64` round trip is exact.
    const WHOLE_FROM: f64 = 4_503_599_627_370_496.0;
    if x.abs() >= WHOLE_FROM {
        x.is_finite()
    } else {
        x == x as i64 as f64
    }
}

/// `x.powi(n)`: the same multiplications in the same order as the `__powidf2` it compiles to.
pub fn powi(mut x: f64, n: i32) -> f64 {
    let mut left = n.unsigned_abs();
    let mut product = 1.0;
    loop {
        if left & 1 != 0 {
            product *= x;
        }
        left >>= 1;
        if left == 0 {
            break;
        }
        x *= x;
    }
    if n < 0 {
        1.0 / product
    } else {
        product
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    fn samples() -> Vec<f64> {
        let mut xs = vec![
            0.0,
            -0.0,
            0.5,
            1.5,
            2.5,
            -0.5,
            -0.7,
            0.49999999999999994,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            9_007_199_254_740_993.0,
            1e20,
            1.8446744073709552e19,
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ];
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            xs.push(f64::from_bits(state));
            xs.push((state % 1_000_000) as f64 / 64.0);
        }
        xs
    }

    #[test]
    fn each_equals_the_std_method_it_replaces() {
        for x in samples() {
            assert_eq!(round_u64(x), x.round() as u64, "round {x:e}");
            assert_eq!(is_whole(x), x.fract() == 0.0, "fract {x:e}");
            for n in [-1_075, -3, -1, 0, 1, 2, 3, 7, 64, 1_000] {
                let (ours, std) = (powi(x, n), x.powi(n));
                assert!(
                    ours.to_bits() == std.to_bits() || (ours.is_nan() && std.is_nan()),
                    "powi {x:e} {n}"
                );
            }
        }
    }
}
