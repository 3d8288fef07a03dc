//! Changed-path Bloom filters of a mirror's commit-graph (`git commit-graph write --changed-paths`),
//! read the way git reads them: for a commit with one parent, a filter that lacks the path (or one of
//! its leading directories) proves the commit did not change it, so its trees need not be read.
//!
//! Format (git's `Documentation/gitformat-commit-graph.txt`): chunk `BIDX` holds, per commit in graph
//! order, the cumulative end offset of its filter in chunk `BDAT`, whose 12-byte header gives the hash
//! version, the number of hashes and the bits per entry. Keys are two seeded murmur3 hashes of the path
//! (`0x293ae76f`, `0x7e646e2c`); hash `i` is `h0 + i * h1`, tested modulo the filter's bit length.

use std::path::Path;

/// The filters of one single-file commit-graph.
pub(crate) struct BloomFilters {
    version: u32,
    num_hashes: u32,
    /// Cumulative end offsets into `data`, one per commit (graph position).
    index: Vec<u32>,
    data: Vec<u8>,
}

/// The hashes of a path and of each of its leading directories.
pub(crate) struct BloomKey(Vec<Vec<u32>>);

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn be64(bytes: &[u8], at: usize) -> Option<u64> {
    bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes)
}

impl BloomFilters {
    /// The filters of `objects/info/commit-graph` in `objects_info`, when the file has them and
    /// describes `commits` commits (the graph the walk uses); otherwise `None` (trees are read).
    pub(crate) fn open(objects_info: &Path, commits: u32) -> Option<BloomFilters> {
        let bytes = std::fs::read(objects_info.join("commit-graph")).ok()?;
        if bytes.get(0..4)? != b"CGPH" || *bytes.get(4)? != 1 || *bytes.get(7)? != 0 {
            return None;
        }
        let chunks = usize::from(*bytes.get(6)?);
        let mut toc = Vec::with_capacity(chunks + 1);
        for i in 0..=chunks {
            let at = 8 + i * 12;
            let id: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
            toc.push((id, usize::try_from(be64(&bytes, at + 4)?).ok()?));
        }
        let chunk = |name: &[u8; 4]| {
            let i = toc.iter().position(|(id, _)| id == name)?;
            let (start, end) = (toc[i].1, toc.get(i + 1)?.1);
            bytes.get(start..end)
        };
        let fanout = chunk(b"OIDF")?;
        let count = be32(fanout, 255 * 4)?;
        if count != commits {
            return None;
        }
        let bidx = chunk(b"BIDX")?;
        let bdat = chunk(b"BDAT")?;
        if bidx.len() != count as usize * 4 || bdat.len() < 12 {
            return None;
        }
        let index: Vec<u32> = (0..count as usize).map(|i| be32(bidx, i * 4)).collect::<Option<_>>()?;
        let version = be32(bdat, 0)?;
        let num_hashes = be32(bdat, 4)?;
        if !(version == 1 || version == 2) || num_hashes == 0 || num_hashes > 64 {
            return None;
        }
        let data = bdat[12..].to_vec();
        if index.last().is_some_and(|end| *end as usize > data.len()) {
            return None;
        }
        Some(BloomFilters { version, num_hashes, index, data })
    }

    /// The key of `path` (`a/b/c`: keys of `a/b/c`, `a/b` and `a`). Version-1 filters hash bytes above
    /// 0x7f differently (a bug git kept for compatibility): such paths get no key.
    pub(crate) fn key(&self, path: &str) -> Option<BloomKey> {
        if path.is_empty() || (self.version == 1 && !path.is_ascii()) {
            return None;
        }
        let mut keys = Vec::new();
        let mut prefix = path;
        loop {
            let h0 = murmur3(0x293a_e76f, prefix.as_bytes());
            let h1 = murmur3(0x7e64_6e2c, prefix.as_bytes());
            keys.push((0..self.num_hashes).map(|i| h0.wrapping_add(i.wrapping_mul(h1))).collect());
            match prefix.rfind('/') {
                Some(i) => prefix = &prefix[..i],
                None => break,
            }
        }
        Some(BloomKey(keys))
    }

    /// Whether the commit at graph position `pos` may have changed the keyed path relative to its first
    /// parent; `false` is certain.
    pub(crate) fn maybe_changed(&self, pos: u32, key: &BloomKey) -> bool {
        let pos = pos as usize;
        let Some(&end) = self.index.get(pos) else { return true };
        let start = if pos == 0 { 0 } else { self.index[pos - 1] };
        let Some(filter) = self.data.get(start as usize..end as usize) else { return true };
        if filter.is_empty() {
            // No filter was computed for this commit.
            return true;
        }
        let bits = filter.len() as u64 * 8;
        key.0.iter().all(|hashes| {
            hashes.iter().all(|h| {
                let bit = u64::from(*h) % bits;
                filter[(bit / 8) as usize] & (1 << (bit % 8)) != 0
            })
        })
    }
}

/// MurmurHash3 (x86, 32-bit) with bytes read unsigned, as git's `murmur3_seeded_v2`.
pub(crate) fn murmur3(seed: u32, data: &[u8]) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k: u32 = 0;
        for (i, b) in tail.iter().enumerate() {
            k ^= u32::from(*b) << (8 * i);
        }
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_matches_the_reference_vectors() {
        // Reference values of MurmurHash3_x86_32 (and of git's t/helper test-bloom).
        let cases: &[(u32, &[u8], u32)] = &[
            (0, b"", 0),
            (1, b"", 0x514e_28b7),
            (0xffff_ffff, b"", 0x81f1_6f39),
            (0, b"\xff\xff\xff\xff", 0x7629_3b50),
            (0, b"!Ce\x87", 0xf55b_516b),
            (0x5082_edee, b"!Ce\x87", 0x2362_f9de),
            (0, b"!Ce", 0x7e4a_8634),
            (0, b"!C", 0xa0f7_b07a),
            (0, b"!", 0x7266_1cf4),
            (0, b"Hello, world!", 0xc036_3e43),
            (0x9747_b28c, b"Hello, world!", 0x2488_4cba),
            (0, b"The quick brown fox jumps over the lazy dog", 0x2e4f_f723),
        ];
        for (seed, data, want) in cases {
            assert_eq!(murmur3(*seed, data), *want, "seed {seed:#x} data {data:?}");
        }
    }
}
