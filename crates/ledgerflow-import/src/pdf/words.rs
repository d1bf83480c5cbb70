//! Positioned words: the text layer of a PDF as poppler's `pdftotext -tsv` gives it (one row per
//! word, with its page and box). poppler runs as a subprocess fed on stdin, bounded in time and
//! in output; LedgerFlow never links a PDF library. Why poppler: ARCHITECTURE.md ("PDF").

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The largest PDF read (bank statements are well under 5 MB).
pub const MAX_PDF_BYTES: usize = 50 << 20;
/// The most pages read.
pub const MAX_PAGES: usize = 500;
/// The most text (`pdftotext -tsv` output) read from one PDF.
const MAX_TSV_BYTES: u64 = 64 << 20;
/// How long pdftotext may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// The address space pdftotext may use, in KiB (a statement needs well under 300 MB; a
/// crafted PDF of compressed streams could otherwise take the machine's memory).
const MEMORY_KIB: u64 = 2 << 20;
/// The shell's exit code for a command it cannot find.
const NOT_FOUND: i32 = 127;
const NOT_INSTALLED: &str = "reading PDF statements needs poppler's pdftotext, which is not installed \
     (Debian/Ubuntu: apt install poppler-utils; macOS: brew install poppler)";

/// One word and its box, in points from the page's top-left corner.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub x0: f64,
    pub x1: f64,
    pub top: f64,
    pub bottom: f64,
    pub text: String,
}

/// One page's words, in the order poppler read them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// 1-based.
    pub number: u32,
    pub width: f64,
    pub words: Vec<Word>,
}

/// How many pdftotext may run at once in this process: each may take up to `MEMORY_KIB`, so
/// many uploads at once must not add up to the machine's memory.
const MAX_RUNNING: usize = 2;
/// How long a PDF waits for its turn before it is refused as "busy".
const WAIT_FOR_TURN: Duration = Duration::from_secs(60);

static RUNNING: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
static TURN: std::sync::Condvar = std::sync::Condvar::new();

/// A turn to run pdftotext, given back when dropped.
struct Turn;

impl Turn {
    fn take() -> Result<Turn, String> {
        let deadline = Instant::now() + WAIT_FOR_TURN;
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *running >= MAX_RUNNING {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("too many PDFs are being read at once: try again in a minute".into());
            }
            running = TURN
                .wait_timeout(running, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        *running += 1;
        Ok(Turn)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        *running = running.saturating_sub(1);
        TURN.notify_one();
    }
}

/// Runs `pdftotext -tsv` on `bytes` and returns the pages, or why the PDF cannot be read.
pub fn extract(bytes: &[u8]) -> Result<Vec<Page>, String> {
    if bytes.len() > MAX_PDF_BYTES {
        return Err(format!(
            "the PDF is larger than {} MB; no bank statement is",
            MAX_PDF_BYTES >> 20
        ));
    }
    let _turn = Turn::take()?;
    // Through the shell for its memory limit (no unsafe code for setrlimit); `exec` leaves
    // pdftotext as the child that the timeout kills.
    let mut child = Command::new("sh")
        .args([
            "-c",
            &format!("ulimit -v {MEMORY_KIB} 2>/dev/null; exec pdftotext -tsv -enc UTF-8 - -"),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run pdftotext: {e}"))?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        return Err("cannot talk to pdftotext".into());
    };
    let input = bytes.to_vec();
    // pdftotext may stop reading early (a broken file): the write error is not ours to report.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    // Reading stops past the limit; closing the pipe then ends pdftotext.
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let r = stdout.take(MAX_TSV_BYTES + 1).read_to_end(&mut out);
        r.map(|_| out)
    });
    let errors = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stderr.take(64 << 10).read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    });
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "pdftotext did not finish reading the PDF within {} s",
                    TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("cannot wait for pdftotext: {e}")),
        }
    };
    let _ = writer.join();
    let out = reader
        .join()
        .map_err(|_| "cannot read pdftotext's output".to_string())?
        .map_err(|e| format!("cannot read pdftotext's output: {e}"))?;
    let stderr = errors.join().unwrap_or_default();
    if out.len() as u64 > MAX_TSV_BYTES {
        return Err(format!(
            "the PDF holds more than {} MB of text; no bank statement does",
            MAX_TSV_BYTES >> 20
        ));
    }
    if !status.success() {
        if status.code() == Some(NOT_FOUND) {
            return Err(NOT_INSTALLED.into());
        }
        if stderr.contains("Incorrect password") {
            return Err("the PDF is password-protected: open it with its password and save an \
                        unprotected copy (for example `qpdf --decrypt --password=PASSWORD in.pdf out.pdf`), \
                        then import that"
                .into());
        }
        let why = stderr
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("no reason given");
        return Err(format!(
            "this is not a PDF that can be read (pdftotext: {})",
            crate::model::shown(why)
        ));
    }
    parse_tsv(&String::from_utf8_lossy(&out))
}

/// Reads `pdftotext -tsv` output: a `level 1` row starts a page, `level 5` rows are words.
pub fn parse_tsv(tsv: &str) -> Result<Vec<Page>, String> {
    let mut pages: Vec<Page> = Vec::new();
    for line in tsv.lines().skip(1) {
        let f: Vec<&str> = line.splitn(12, '\t').collect();
        if f.len() < 12 {
            continue;
        }
        let num = |i: usize| f[i].trim().parse::<f64>().ok().filter(|v| v.is_finite());
        match f[0] {
            "1" => {
                if pages.len() >= MAX_PAGES {
                    return Err(format!(
                        "the PDF has more than {MAX_PAGES} pages; no bank statement has"
                    ));
                }
                pages.push(Page {
                    number: pages.len() as u32 + 1,
                    width: num(8).unwrap_or(0.0),
                    words: Vec::new(),
                });
            }
            "5" => {
                let (Some(x), Some(y), Some(w), Some(h), Some(page)) =
                    (num(6), num(7), num(8), num(9), pages.last_mut())
                else {
                    continue;
                };
                let text = f[11].trim();
                if text.is_empty() {
                    continue;
                }
                page.words.push(Word {
                    x0: x,
                    x1: x + w.max(0.0),
                    top: y,
                    bottom: y + h.max(0.0),
                    text: text.to_string(),
                });
            }
            _ => {}
        }
    }
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_rows_become_pages_of_words() {
        let tsv = "level\tpage_num\tpar_num\tblock_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n\
                   1\t1\t0\t0\t0\t0\t0\t0\t595\t842\t-1\t###PAGE###\n\
                   5\t1\t0\t0\t0\t0\t10.5\t20\t30\t8\t100\t09/02\n\
                   5\t1\t0\t0\t0\t1\tNaN\t20\t30\t8\t100\tbad\n\
                   1\t2\t0\t0\t0\t0\t0\t0\t595\t842\t-1\t###PAGE###\n\
                   5\t2\t0\t0\t0\t0\t50\t60\t20\t8\t100\t12.00\n";
        let pages = parse_tsv(tsv).expect("pages");
        assert_eq!(pages.len(), 2);
        assert_eq!(
            pages[0].words.len(),
            1,
            "a word without a position is dropped"
        );
        assert_eq!(pages[0].words[0].x1, 40.5);
        assert_eq!(pages[1].words[0].text, "12.00");
    }
}
