//! Objects of a history walk read straight from the mirror's packs, keeping every object of a delta
//! chain that had to be decoded.
//!
//! A pack stores most trees as deltas against another version of the same tree, in chains of up to 50.
//! gix's object database keeps only the object asked for in its delta cache, not the chain links it
//! decoded on the way. When the deltas point to *older* versions (packs written by `git fast-import` or
//! received by incremental fetches), a walk from the newest commit backwards therefore decodes the chain
//! from its base again for every commit — on average half the chain length of inflations per tree.
//! [`PackReader`] decodes a chain from its base (or its first cached link) towards the object asked
//! for, caching each link, as git's delta base cache does: the next older version is then one delta
//! away. With deltas against newer versions the first link is already cached and nothing changes.
//!
//! Anything it cannot read (loose objects, objects of packs written after it was opened, damaged
//! entries) it leaves to the caller, which reads through the object database as before.

use std::path::Path;

use gix::odb::pack::cache::DecodeEntry;
use gix::odb::pack::cache::lru::MemoryCappedHashmap;
use gix::odb::pack::data::decode::entry::ResolvedBase;
use gix::odb::pack::data::entry::Header;
use gix::odb::pack::{Bundle, data};

/// Longest delta chain followed (git's default `pack.depth` is 50; deeper chains are decoded as gix
/// does, from the cut onwards).
const MAX_CHAIN: usize = 4_096;

/// The packs of one repository, with a delta cache and an inflate state of their own (one per thread).
pub(crate) struct PackReader {
    bundles: Vec<Bundle>,
    cache: MemoryCappedHashmap,
    inflate: gix::zlib::Inflate,
    chain: Vec<data::Entry>,
    scratch: Vec<u8>,
}

impl PackReader {
    /// The packs of `objects` (the object directory) as they are now; none when it cannot be listed.
    /// The cache holds up to `cache_bytes` of decoded objects.
    pub(crate) fn open(objects: &Path, hash: gix::hash::Kind, cache_bytes: usize) -> PackReader {
        let mut bundles = Vec::new();
        if let Ok(dir) = std::fs::read_dir(objects.join("pack")) {
            for entry in dir.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "idx")
                    && let Ok(bundle) = Bundle::at(&path, hash)
                {
                    bundles.push(bundle);
                }
            }
        }
        PackReader {
            bundles,
            cache: MemoryCappedHashmap::new(cache_bytes),
            inflate: gix::zlib::Inflate::default(),
            chain: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Reads object `id` into `out`: its kind, or `None` when no pack of this reader holds it (or its
    /// entry cannot be decoded here).
    pub(crate) fn read(&mut self, id: &gix::oid, out: &mut Vec<u8>) -> Option<gix::objs::Kind> {
        let PackReader { bundles, cache, inflate, chain, scratch } = self;
        let (bundle, offset) = bundles.iter().find_map(|b| {
            let index = b.index.lookup(id)?;
            Some((b, b.index.pack_offset_at_index(index)))
        })?;
        let pack = &bundle.pack;
        // The links from the object to its base, up to the first one already decoded.
        chain.clear();
        let mut entry = pack.entry(offset).ok()?;
        loop {
            let cached = cache.get(pack.id, entry.data_offset, scratch).is_some();
            let base = match entry.header {
                Header::OfsDelta { base_distance } if !cached => Some(entry.checked_base_pack_offset(base_distance)?),
                _ => None,
            };
            chain.push(entry);
            match base {
                Some(base) if chain.len() < MAX_CHAIN => entry = pack.entry(base).ok()?,
                _ => break,
            }
        }
        // A base that is no delta is read by the first delta on it: decoding it alone would not keep it.
        if chain.len() > 1 && chain.last().is_some_and(|e| !e.header.is_delta()) {
            chain.pop();
        }
        let resolve = |base: &gix::oid, _: &mut Vec<u8>| {
            bundle
                .index
                .lookup(base)
                .map(|i| pack.entry(bundle.index.pack_offset_at_index(i)).map(ResolvedBase::InPack))
                .transpose()
        };
        let mut kind = None;
        // Oldest link first: each one is then a single delta on the link decoded (and cached) before it.
        while let Some(link) = chain.pop() {
            kind = Some(pack.decode_entry(link, out, inflate, &resolve, cache).ok()?.kind);
        }
        kind
    }
}
