//! Compression of a pack as a run of independent zstd frames, one per CHUNK of tar.
//!
//! zstd's streaming encoder copies its input into a ring buffer; once that wraps (a few
//! MiB into a pack) every later block goes through the slower "external dictionary"
//! match finder, which took about a third of a save's CPU. Compressing whole chunks in
//! one call keeps every block on the fast path. Chunks do not depend on each other, so
//! a large pack can compress several at once, and its bytes are the same however many
//! threads made them. A zstd decoder reads consecutive frames as one stream.

use std::io::{self, Write};

use zstd::bulk::Compressor;

/// Tar bytes per frame: large enough that the cut costs little in ratio, small enough to
/// keep memory flat.
const CHUNK: usize = 1 << WINDOW_LOG;

/// Each frame's window spans its whole chunk; level 3 alone would use 2 MiB. With a
/// library's `.rmeta` placed before its `.rlib` (`stash_core::layout::tar_order`), the
/// wider window finds the rlib's copy of the metadata: bat's packs 157.2 -> 141.1 MB,
/// 149.6 MB from the window alone, at the same CPU. Long-distance matching on top gave
/// 138.4 MB for a quarter more CPU, so it is off. Decoders refuse wider frames.
pub(super) const WINDOW_LOG: u32 = 23;

/// Compressors and buffers, kept from pack to pack so that memory stays flat and no
/// context is allocated twice.
pub struct Frames {
    level: i32,
    compressors: Vec<Compressor<'static>>,
    /// Chunks of tar being filled; their capacity is kept.
    chunks: Vec<Vec<u8>>,
    compressed: Vec<Vec<u8>>,
    /// The tar writer's copy buffer, kept here so packs reuse it.
    copy_buf: Vec<u8>,
}

impl Frames {
    pub fn new(level: i32) -> Frames {
        Frames {
            level,
            compressors: Vec::new(),
            chunks: Vec::new(),
            compressed: Vec::new(),
            copy_buf: Vec::new(),
        }
    }

    pub fn take_copy_buf(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.copy_buf)
    }

    pub fn put_copy_buf(&mut self, buf: Vec<u8>) {
        self.copy_buf = buf;
    }

    /// A writer compressing `threads` chunks at once (at least one).
    pub fn writer<W: Write>(&mut self, out: W, threads: usize) -> io::Result<FrameWriter<'_, W>> {
        let threads = threads.max(1);
        while self.compressors.len() < threads {
            let mut c = Compressor::new(self.level)?;
            c.set_parameter(zstd::zstd_safe::CParameter::WindowLog(WINDOW_LOG))?;
            self.compressors.push(c);
            self.chunks.push(Vec::new());
            self.compressed.push(Vec::new());
        }
        for chunk in &mut self.chunks {
            chunk.clear();
        }
        Ok(FrameWriter {
            out,
            kit: self,
            threads,
            filled: 0,
            started: false,
            broken: false,
        })
    }
}

pub struct FrameWriter<'a, W: Write> {
    out: W,
    kit: &'a mut Frames,
    threads: usize,
    /// Chunks full and waiting for a batch; `kit.chunks[filled]` is being filled.
    filled: usize,
    /// Whether a frame was written.
    started: bool,
    /// A batch failed (a full disk, say): its chunks are in an unknown state, so every
    /// later call fails too. The tar builder writes its trailer again when dropped.
    broken: bool,
}

impl<W: Write> FrameWriter<'_, W> {
    /// Compresses what is left and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.usable()?;
        let pending = self.filled + usize::from(!self.kit.chunks[self.filled].is_empty());
        if pending > 0 {
            self.compress_batch(pending)?;
        } else if !self.started {
            // Even no input is one (empty) frame: a decoder refuses zero frames.
            let kit = &mut *self.kit;
            compress(&mut kit.compressors[0], &[], &mut kit.compressed[0])?;
            self.out.write_all(&kit.compressed[0])?;
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Compresses the first `n` chunks (in parallel when there are several) and writes
    /// their frames in order.
    fn compress_batch(&mut self, n: usize) -> io::Result<()> {
        self.broken = true;
        let kit = &mut *self.kit;
        let jobs = kit
            .compressors
            .iter_mut()
            .zip(kit.compressed.iter_mut())
            .zip(&kit.chunks)
            .take(n);
        if n == 1 {
            for ((c, out), chunk) in jobs {
                compress(c, chunk, out)?;
            }
        } else {
            std::thread::scope(|s| {
                let handles: Vec<_> = jobs
                    .map(|((c, out), chunk)| s.spawn(move || compress(c, chunk, out)))
                    .collect();
                handles
                    .into_iter()
                    .try_for_each(|h| h.join().expect("zstd thread panicked"))
            })?;
        }
        for frame in &kit.compressed[..n] {
            self.out.write_all(frame)?;
        }
        for chunk in &mut kit.chunks[..n] {
            chunk.clear();
        }
        self.filled = 0;
        self.started = true;
        self.broken = false;
        Ok(())
    }

    fn usable(&self) -> io::Result<()> {
        if self.broken {
            return Err(io::Error::other("the pack's output failed earlier"));
        }
        Ok(())
    }
}

fn compress(c: &mut Compressor<'static>, chunk: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
    out.clear();
    out.reserve(zstd::zstd_safe::compress_bound(chunk.len()));
    c.compress_to_buffer(chunk, out)?;
    Ok(())
}

impl<W: Write> Write for FrameWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.usable()?;
        let current = &mut self.kit.chunks[self.filled];
        let n = buf.len().min(CHUNK - current.len());
        current.extend_from_slice(&buf[..n]);
        if current.len() == CHUNK {
            self.filled += 1;
            if self.filled == self.threads {
                self.compress_batch(self.threads)?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        // Frames are cut by size only, so that the bytes never depend on when the
        // caller flushed.
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(len: usize) -> Vec<u8> {
        // Compressible but not trivial: a counter's text with some noise.
        let mut v = Vec::with_capacity(len);
        let mut x: u32 = 1;
        while v.len() < len {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            v.extend_from_slice(format!("{} {}\n", v.len(), x >> 28).as_bytes());
        }
        v.truncate(len);
        v
    }

    fn frames(kit: &mut Frames, data: &[u8], threads: usize) -> Vec<u8> {
        let mut w = kit.writer(Vec::new(), threads).unwrap();
        for piece in data.chunks(100_003) {
            w.write_all(piece).unwrap();
        }
        w.finish().unwrap()
    }

    /// A disk that fills up after `room` bytes.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::from_raw_os_error(28)); // ENOSPC
            }
            let n = buf.len().min(self.room);
            self.room -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Issue 14 item 15: after a failed write the tar builder's Drop wrote again and
    /// indexed past the chunks: a panic instead of an error.
    #[test]
    fn a_full_disk_is_an_error_every_time_never_a_panic() {
        let mut kit = Frames::new(3);
        let data = sample(3 * CHUNK);
        for threads in [1, 2] {
            let mut w = kit.writer(Full { room: 1000 }, threads).unwrap();
            let err = w.write_all(&data).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(28), "{err}");
            // What tar::Builder's Drop does: write the trailer again.
            assert!(w.write_all(&[0; 1024]).is_err());
            assert!(w.finish().is_err());
        }
        // The kit is still good for the next pack.
        let data = sample(CHUNK + 5);
        assert_eq!(
            zstd::decode_all(&frames(&mut kit, &data, 2)[..]).unwrap(),
            data
        );
    }

    #[test]
    fn frames_decode_as_one_stream_and_do_not_depend_on_threads() {
        // One kit for all: what a pack leaves in the buffers must not leak into the next.
        let mut kit = Frames::new(3);
        for len in [3 * CHUNK + 77, 0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK] {
            let data = sample(len);
            let one = frames(&mut kit, &data, 1);
            assert_eq!(zstd::decode_all(&one[..]).unwrap(), data, "len {len}");
            assert_eq!(frames(&mut kit, &data, 3), one, "len {len}");
            assert_eq!(frames(&mut kit, &data, 2), one, "len {len}");
        }
    }
}
