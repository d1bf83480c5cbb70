//! Streaming a CSV file: rows are read one record at a time and handed to a callback, holding
//! only the footer lines in memory. A line (or a quoted record spanning lines) over
//! [`MAX_LINE`] bytes stops the stream before it is read whole.

use super::presets::sniff_delimiter;
use super::profile::Profile;
use super::record::{Columns, DateFormat, row};
use crate::model::{MAX_LINE, ParsedTxn, RowError, too_long};

/// One item read from a CSV file.
pub enum CsvItem {
    Txn(ParsedTxn),
    Error(RowError),
}

/// What a CSV stream found besides its rows.
pub struct CsvSummary {
    pub passed: super::PassedOver,
}

/// Why a CSV stream stopped.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The file cannot be read with this profile (no header, missing column...).
    #[error("{0}")]
    Parse(String),
    /// A field is not UTF-8: the caller decodes the whole file and parses the text instead.
    #[error("a field is not UTF-8")]
    NotUtf8,
    /// The callback stopped the stream.
    #[error("the stream was stopped")]
    Stopped,
    /// The reader failed (the operating system's error, not the file's content).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// The CSV reader's buffer: how far it may read beyond the record it is reading.
const READ_AHEAD: usize = 8 * 1024;

/// Reads one line (with its `\n`) onto `buf`, refusing one of more than [`MAX_LINE`] bytes
/// (its line ending not counted) before it is read whole. Returns the bytes read.
fn read_line<R: std::io::BufRead>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    line_no: usize,
) -> Result<usize, StreamError> {
    let start = buf.len();
    loop {
        let avail = reader.fill_buf().map_err(StreamError::Io)?;
        if avail.is_empty() {
            break;
        }
        let (take, done) = match avail.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (avail.len(), false),
        };
        // Room for the text, a `\r` and the `\n`.
        if buf.len() - start + take > MAX_LINE + 2 {
            return Err(StreamError::Parse(too_long(line_no)));
        }
        buf.extend_from_slice(&avail[..take]);
        reader.consume(take);
        if done {
            break;
        }
    }
    let text = &buf[start..];
    let text = text.strip_suffix(b"\n").unwrap_or(text);
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    if text.len() > MAX_LINE {
        return Err(StreamError::Parse(too_long(line_no)));
    }
    Ok(buf.len() - start)
}

/// Hands the CSV reader its bytes, but never more than a record's limit (plus the reader's
/// read-ahead) past the start of the record being read: an over-long record is refused before
/// it is in memory. The CSV reader moves `record_start` before each record.
struct Capped<R> {
    inner: R,
    /// Bytes handed out so far.
    given: u64,
    /// Where the record being read starts.
    record_start: u64,
    /// The limit stopped the reader.
    tripped: bool,
    /// CRs that ended what was read, held back to see whether an LF follows.
    pending_cr: usize,
    /// Where the line ends handed out lie (offsets in what was handed out), until the records
    /// passed them: rows are numbered by their line, blank lines counted (the CSV reader's
    /// own count passes over blank lines).
    newlines: std::collections::VecDeque<u64>,
    /// An LF was handed out: lone CRs are no line ends.
    seen_lf: bool,
}

impl<R> Capped<R> {
    /// Hands out `out` (the first bytes of the caller's buffer): counts it and notes its line
    /// ends. Returns its length.
    fn handed(&mut self, out: &[u8]) -> usize {
        for (i, b) in out.iter().enumerate() {
            // A lone CR ends a line in a file with no LF before it (old Mac files); in any
            // other file it is a character of a quoted field.
            if *b == b'\n' || (*b == b'\r' && !self.seen_lf) {
                self.seen_lf |= *b == b'\n';
                self.newlines.push_back(self.given + i as u64);
            }
        }
        self.given += out.len() as u64;
        out.len()
    }
}

impl<R: std::io::Read> std::io::Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let allowed = (MAX_LINE + 2 + READ_AHEAD) as u64;
        let room = allowed.saturating_sub(self.given - self.record_start);
        if room == 0 && !buf.is_empty() {
            self.tripped = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "a CSV record is too long",
            ));
        }
        let cap = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        // CRLF (and CRCRLF) is handed on as LF: the CSV reader counts the lines of CRLF files
        // one short. CRs at the end of what was read wait for the next byte.
        loop {
            let held = self.pending_cr;
            if held > 0 && cap <= held {
                buf[..cap].fill(b'\r');
                self.pending_cr -= cap;
                return Ok(self.handed(&buf[..cap]));
            }
            buf[..held].fill(b'\r');
            let n = self.inner.read(&mut buf[held..cap])?;
            let total = held + n;
            // The common case, LF files: nothing to change.
            if held == 0 && n > 0 && !buf[..n].contains(&b'\r') {
                return Ok(self.handed(&buf[..n]));
            }
            if n == 0 {
                // The end: lone CRs are handed on as they are.
                self.pending_cr = 0;
                return Ok(self.handed(&buf[..total]));
            }
            let mut w = 0;
            let mut i = 0;
            self.pending_cr = 0;
            while i < total {
                if buf[i] == b'\r' {
                    let run_end = buf[i..total]
                        .iter()
                        .position(|b| *b != b'\r')
                        .map_or(total, |k| i + k);
                    if run_end == total {
                        self.pending_cr = total - i;
                        break;
                    }
                    if buf[run_end] != b'\n' {
                        for _ in i..run_end {
                            buf[w] = b'\r';
                            w += 1;
                        }
                    }
                    i = run_end;
                    continue;
                }
                buf[w] = buf[i];
                w += 1;
                i += 1;
            }
            if w > 0 {
                return Ok(self.handed(&buf[..w]));
            }
        }
    }
}

/// Reads CSV rows from `reader` (UTF-8, BOM already skipped) with `profile`, calling `f` with
/// each transaction or row error in file order, holding only the footer lines in memory. `f`
/// returns `false` to stop. A line or record over [`MAX_LINE`] bytes stops it with an error.
pub fn stream<R: std::io::BufRead>(
    mut reader: R,
    profile: &Profile,
    f: &mut dyn FnMut(CsvItem) -> bool,
) -> Result<CsvSummary, StreamError> {
    let (start, delimiter) = body_start(&mut reader, profile)?;
    let mut records = Records::new(
        std::io::Read::chain(std::io::Cursor::new(start), reader),
        delimiter,
        profile.skip_lines,
    );
    let mut rec = ::csv::StringRecord::new();
    let header: Option<Vec<String>> = if profile.has_header {
        match records.next(&mut rec)? {
            Some(_) => Some(rec.iter().map(str::to_string).collect()),
            None => return Err(StreamError::Parse("the file has no header row".into())),
        }
    } else {
        None
    };
    let cols = Columns::resolve(profile, header.as_deref()).map_err(StreamError::Parse)?;
    let dates = DateFormat::new(&profile.date_format);
    let mut summary = CsvSummary {
        passed: super::PassedOver::default(),
    };
    let mut held: std::collections::VecDeque<(usize, ::csv::StringRecord)> =
        std::collections::VecDeque::new();
    while let Some(line) = records.next(&mut rec)? {
        let (at, item) = if profile.skip_footer > 0 {
            held.push_back((line, rec.clone()));
            if held.len() <= profile.skip_footer {
                continue;
            }
            match held.pop_front() {
                Some((line, r)) => (line, row(profile, &cols, &dates, line, &r)),
                None => continue,
            }
        } else {
            (line, row(profile, &cols, &dates, line, &rec))
        };
        let Some(item) = item else {
            summary.passed.add(at);
            continue;
        };
        if !f(item) {
            return Err(StreamError::Stopped);
        }
    }
    Ok(summary)
}

/// Skips the profile's preamble lines and reads up to the first line of the body that is not
/// blank: those lines (to be read again as records) and the delimiter (the profile's, or the
/// one that line uses most).
fn body_start<R: std::io::BufRead>(
    reader: &mut R,
    profile: &Profile,
) -> Result<(Vec<u8>, u8), StreamError> {
    let mut line = Vec::new();
    for i in 0..profile.skip_lines {
        line.clear();
        if read_line(reader, &mut line, i + 1)? == 0 {
            break;
        }
    }
    // The first line of the body decides the delimiter when the profile does not.
    line.clear();
    let mut first = Vec::new();
    let mut line_no = profile.skip_lines;
    loop {
        first.clear();
        line_no += 1;
        if read_line(reader, &mut first, line_no)? == 0 {
            break;
        }
        line.extend_from_slice(&first);
        if !first.iter().all(|b| b.is_ascii_whitespace()) {
            break;
        }
    }
    let delimiter = profile.delimiter_byte().unwrap_or_else(|| {
        sniff_delimiter(
            std::str::from_utf8(&line)
                .unwrap_or("")
                .lines()
                .last()
                .unwrap_or(""),
        )
    });
    Ok((line, delimiter))
}

/// The body's records, read through [`Capped`]: blank records skipped, malformed ones too (as
/// the whole-file reader always did), an over-long one refused.
struct Records<R> {
    rdr: ::csv::Reader<Capped<R>>,
    /// Lines before the body, added to the reader's line numbers.
    skip_lines: usize,
    /// Line ends of the body passed so far.
    lines_passed: usize,
}

impl<R: std::io::Read> Records<R> {
    fn new(inner: R, delimiter: u8, skip_lines: usize) -> Self {
        let rdr = ::csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(delimiter)
            .buffer_capacity(READ_AHEAD)
            .from_reader(Capped {
                inner,
                given: 0,
                record_start: 0,
                tripped: false,
                pending_cr: 0,
                newlines: std::collections::VecDeque::new(),
                seen_lf: false,
            });
        Records {
            rdr,
            skip_lines,
            lines_passed: 0,
        }
    }

    /// Reads the next non-blank record into `rec`; returns its line in the file.
    fn next(&mut self, rec: &mut ::csv::StringRecord) -> Result<Option<usize>, StreamError> {
        let rdr = &mut self.rdr;
        loop {
            let (start, start_line) = (rdr.position().byte(), rdr.position().line());
            rdr.get_mut().record_start = start;
            // The record's first line (blank lines before it are counted with it).
            let refuse = || StreamError::Parse(too_long(start_line as usize + self.skip_lines));
            match rdr.read_record(rec) {
                Ok(false) => return Ok(None),
                Ok(true) => {}
                Err(_) if rdr.get_ref().tripped => return Err(refuse()),
                Err(e) if matches!(e.kind(), ::csv::ErrorKind::Utf8 { .. }) => {
                    return Err(StreamError::NotUtf8);
                }
                Err(e) => match e.into_kind() {
                    // The reader failed: the machine's error, not the file's.
                    ::csv::ErrorKind::Io(io) => return Err(StreamError::Io(io)),
                    // A malformed record is skipped, as the whole-file reader always did.
                    _ => continue,
                },
            }
            // The record and its line ending.
            if rdr.position().byte() - start > (MAX_LINE + 2) as u64 {
                return Err(refuse());
            }
            if rec.iter().all(|f| f.trim().is_empty()) {
                continue;
            }
            // The record's line: the body's line ends before its first byte (the reader's
            // position is where it began reading, blank lines before the record included).
            let at = rec.position().map_or(start, |p| p.byte());
            let ends = &mut rdr.get_mut().newlines;
            let mut content = at;
            while let Some(&e) = ends.front() {
                if e == content {
                    content += 1;
                } else if e > at {
                    break;
                }
                ends.pop_front();
                self.lines_passed += 1;
            }
            return Ok(Some(self.skip_lines + self.lines_passed + 1));
        }
    }
}
