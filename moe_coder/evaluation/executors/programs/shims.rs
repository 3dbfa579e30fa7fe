#[allow(dead_code)]
mod rand {
    use std::cell::Cell;
    thread_local!(static STATE: Cell<u64> = Cell::new(0x9E37_79B9_7F4A_7C15));
    fn next_u64() -> u64 {
        STATE.with(|s| {
            let mut x = s.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.set(x);
            x
        })
    }
    pub trait Random { fn from_bits(bits: u64) -> Self; }
    pub trait SampleRange: Copy { fn pick(low: Self, high: Self, bits: u64) -> Self; }
    macro_rules! integers { ($($t:ty),*) => { $(
        impl Random for $t { fn from_bits(bits: u64) -> Self { bits as $t } }
        impl SampleRange for $t {
            fn pick(low: Self, high: Self, bits: u64) -> Self {
                let span = (high as i128 - low as i128) as u128;
                (low as i128 + (bits as u128 % span) as i128) as $t
            }
        }
    )* } }
    integers!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);
    impl Random for f64 { fn from_bits(bits: u64) -> Self { (bits >> 11) as f64 / (1u64 << 53) as f64 } }
    impl Random for bool { fn from_bits(bits: u64) -> Self { bits & 1 == 1 } }
    pub fn random<T: Random>() -> T { T::from_bits(next_u64()) }
    pub struct ThreadRng;
    pub fn thread_rng() -> ThreadRng { ThreadRng }
    pub trait Rng {
        fn gen<T: Random>(&mut self) -> T { T::from_bits(next_u64()) }
        fn gen_range<T: SampleRange>(&mut self, low: T, high: T) -> T { T::pick(low, high, next_u64()) }
    }
    impl Rng for ThreadRng {}
}

#[allow(dead_code)]
mod md5 {
    pub struct Digest(pub [u8; 16]);
    impl std::fmt::LowerHex for Digest {
        fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            for byte in self.0.iter() { write!(f, "{:02x}", byte)?; }
            Ok(())
        }
    }
    impl std::fmt::Debug for Digest {
        fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result { std::fmt::LowerHex::fmt(self, f) }
    }
    pub fn compute<T: AsRef<[u8]>>(data: T) -> Digest {
        const SHIFTS: [u32; 16] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
        let k: Vec<u32> = (0..64).map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32).collect();
        let mut message = data.as_ref().to_vec();
        let bit_len = (message.len() as u64).wrapping_mul(8);
        message.push(0x80);
        while message.len() % 64 != 56 { message.push(0); }
        message.extend_from_slice(&bit_len.to_le_bytes());
        let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
        for chunk in message.chunks(64) {
            let m: Vec<u32> = chunk.chunks(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
            let (mut a, mut b, mut c, mut d) = (state[0], state[1], state[2], state[3]);
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
                a = d;
                d = c;
                c = b;
                b = b.wrapping_add(f.rotate_left(SHIFTS[(i / 16) * 4 + i % 4]));
            }
            state[0] = state[0].wrapping_add(a);
            state[1] = state[1].wrapping_add(b);
            state[2] = state[2].wrapping_add(c);
            state[3] = state[3].wrapping_add(d);
        }
        let mut out = [0u8; 16];
        for (i, word) in state.iter().enumerate() { out[4 * i..4 * i + 4].copy_from_slice(&word.to_le_bytes()); }
        Digest(out)
    }
}
