//! Where the base's bytes come from: a slice in memory, or a file read where needed.
//!
//! A base can be far larger than the memory a save or restore may use (a 1 GiB debug
//! binary). The decoder reads only the base bytes each op needs, in order; the encoder
//! holds a window of the base around where the new data aligns (see `encode.rs`).

use std::io::{self, BufReader, Read, Seek, SeekFrom};

/// A base the codec reads at any offset.
pub trait Base {
    /// Its length in bytes.
    fn size(&self) -> u64;

    /// Fills `buf` with the bytes at `pos`; `pos + buf.len()` is at most [`Base::size`].
    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> io::Result<()>;

    /// The whole base, when it is already in memory: the encoder then needs no window.
    fn as_slice(&self) -> Option<&[u8]> {
        None
    }
}

impl Base for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        let from = usize::try_from(pos).map_err(|_| past_end())?;
        let bytes = from
            .checked_add(buf.len())
            .and_then(|to| self.get(from..to))
            .ok_or_else(past_end)?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn as_slice(&self) -> Option<&[u8]> {
        Some(self)
    }
}

/// A base read from a seekable source (a file) through a small buffer: reads that follow
/// each other, or land close ahead, cost no system call.
pub struct SeekBase<R> {
    inner: BufReader<R>,
    size: u64,
    /// Where `inner` stands; `None` after a failed read, when that is unknown.
    pos: Option<u64>,
}

/// Bytes buffered by a [`SeekBase`].
const BUFFER: usize = 1 << 20;

impl<R: Read + Seek> SeekBase<R> {
    /// Wraps `inner`; its length is where it ends.
    pub fn new(mut inner: R) -> io::Result<Self> {
        let size = inner.seek(SeekFrom::End(0))?;
        inner.seek(SeekFrom::Start(0))?;
        Ok(SeekBase {
            inner: BufReader::with_capacity(BUFFER, inner),
            size,
            pos: Some(0),
        })
    }
}

impl<R: Read + Seek> Base for SeekBase<R> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = pos.checked_add(buf.len() as u64).ok_or_else(past_end)?;
        if end > self.size {
            return Err(past_end());
        }
        match self.pos {
            Some(at) if at == pos => {}
            // Keeps the buffer when the target is inside it.
            Some(at) => self.inner.seek_relative(pos as i64 - at as i64)?,
            None => {
                self.inner.seek(SeekFrom::Start(pos))?;
            }
        }
        self.pos = None;
        self.inner.read_exact(buf)?;
        self.pos = Some(end);
        Ok(())
    }
}

fn past_end() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the base",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seek_base_reads_anywhere() {
        let data: Vec<u8> = (0..3 * BUFFER as u32).map(|i| (i % 251) as u8).collect();
        let mut base = SeekBase::new(io::Cursor::new(data.clone())).unwrap();
        assert_eq!(base.size(), data.len() as u64);
        for (pos, len) in [
            (0, 10),
            (5, 100),
            (BUFFER + 7, 3 * 1000),
            (3, 2 * BUFFER),
            (1, 1),
        ] {
            let mut buf = vec![0; len];
            base.read_at(pos as u64, &mut buf).unwrap();
            assert_eq!(buf, data[pos..pos + len]);
        }
        let mut buf = [0; 2];
        assert!(base.read_at(data.len() as u64 - 1, &mut buf).is_err());
        assert!(
            (&data[..])
                .read_at(data.len() as u64 - 1, &mut buf)
                .is_err()
        );
        assert!((&data[..]).read_at(u64::MAX, &mut buf).is_err());
    }
}
