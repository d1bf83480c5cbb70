//! Progress bars on the terminal (stderr), nothing otherwise: piped output and CI logs stay
//! clean.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ledgerflow_import::service::{Progress, Quiet};

/// A byte-count bar per phase ("checking", "reading", "importing").
struct Bar {
    bar: ProgressBar,
    file: String,
}

impl Progress for Bar {
    /// A phase of known size is a bar; one of unknown size (`total` 0: waiting for another
    /// import, saving) a spinner with the time it has taken, so it never looks stuck at 100%.
    fn phase(&self, label: &'static str, total: u64) {
        self.bar.set_position(0);
        self.bar.set_length(total);
        if total == 0 {
            self.bar.set_style(spinner_style());
            self.bar
                .enable_steady_tick(std::time::Duration::from_millis(120));
        } else {
            self.bar.disable_steady_tick();
            self.bar.set_style(bar_style());
        }
        self.bar.set_message(format!("{label} {}", self.file));
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// A progress reporter for importing `file`: a bar when stderr is a terminal, else nothing.
pub fn for_import(file: &str) -> Arc<dyn Progress> {
    if !std::io::stderr().is_terminal() {
        return Arc::new(Quiet);
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(bar_style());
    Arc::new(Bar {
        bar,
        file: file.to_string(),
    })
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg:40!} [{bar:30}] {percent:>3}% {bytes_per_sec} eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn spinner_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// A spinner with the elapsed time for work without a known size (a backup: snapshot, test
/// restore, compression and checks); `None` when stderr is not a terminal.
pub fn spinner(msg: String) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(spinner_style());
    bar.set_message(msg);
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}
