//! A confirmed web import runs as a job of the server's, not inside the request: the confirm
//! post is redirected to the job's own page, which shows its progress (phase, share done,
//! time so far) and refreshes itself (a `<meta>` refresh: no JavaScript needed) until the job
//! is done, then goes where a finished import goes. A small file is done before the first
//! answer and never shows the page.
//!
//! The import itself is the same `import_file` the CLI calls, so it runs at the same speed and
//! keeps the same guarantees (one atomic batch; a server stopped mid-import writes nothing).

use std::sync::atomic::{AtomicU64, Ordering};

use ledgerflow_import::service::Progress;

use super::*;

/// How long a confirmation waits for its import before answering with the progress page.
const WAIT_FOR_SMALL_FILES: Duration = Duration::from_millis(1500);
/// Finished jobs are shown (a reload of their page still finds them) this long.
const KEEP_FINISHED: Duration = Duration::from_secs(30 * 60);
/// At most this many jobs are kept (running ones are never dropped).
const MAX_JOBS: usize = 256;
/// Imports that run at once (each holds up to ~150 MB while it works); the others wait.
const RUNNING_AT_ONCE: usize = 2;
/// Jobs not finished (running or waiting their turn) per user, and for everyone.
const MAX_UNFINISHED_PER_USER: usize = 4;
const MAX_UNFINISHED: usize = 16;

/// The web's import jobs, by the key of the upload they import.
pub struct ImportJobs {
    jobs: Mutex<HashMap<String, Job>>,
    /// A permit per import running now.
    turns: Arc<tokio::sync::Semaphore>,
    /// The jobs' tasks, awaited when the server stops.
    tasks: Mutex<tokio::task::JoinSet<()>>,
    /// The server is stopping: a job whose turn comes now does not begin.
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl Default for ImportJobs {
    fn default() -> Self {
        ImportJobs {
            jobs: Mutex::default(),
            turns: Arc::new(tokio::sync::Semaphore::new(RUNNING_AT_ONCE)),
            tasks: Mutex::default(),
            stopping: Arc::default(),
        }
    }
}

struct Job {
    user_id: i64,
    file_name: String,
    account: String,
    started: Instant,
    progress: Arc<JobProgress>,
    outcome: Option<(Instant, Outcome)>,
    /// Woken when the outcome is set.
    done: Arc<tokio::sync::Notify>,
}

#[derive(Clone)]
enum Outcome {
    /// Where to go and the notice to show there.
    Done { to: String, notice: String },
    /// The import wrote nothing: why.
    Failed(Problem),
}

/// A running import, as the Imports page lists it.
pub(super) struct RunningJob {
    pub file_name: String,
    pub account: String,
    pub phase: &'static str,
    pub url: String,
}

/// What a job's page shows while it runs.
struct Snapshot {
    file_name: String,
    account: String,
    phase: &'static str,
    done: u64,
    total: u64,
    elapsed: Duration,
}

/// The import's progress, as `import_file` reports it (the CLI draws the same as a bar).
#[derive(Default)]
struct JobProgress {
    phase: Mutex<&'static str>,
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress for JobProgress {
    fn phase(&self, label: &'static str, total: u64) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = label;
        self.total.store(total, Ordering::Relaxed);
        self.done.store(0, Ordering::Relaxed);
    }
    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
    }
}

impl ImportJobs {
    /// Why a user cannot start another job now, if so.
    pub(super) fn refuse(&self, user_id: i64) -> Option<String> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let unfinished = jobs.values().filter(|j| j.outcome.is_none());
        let (mine, all) = unfinished.fold((0, 0), |(m, a), j| {
            (m + usize::from(j.user_id == user_id), a + 1)
        });
        if mine >= MAX_UNFINISHED_PER_USER {
            Some(format!(
                "You have {mine} imports running or waiting their turn: confirm this one when one of them has finished (the Imports page lists them). Its preview is kept."
            ))
        } else if all >= MAX_UNFINISHED {
            Some(format!(
                "{all} imports are running or waiting their turn on this server: confirm this one when some have finished. Its preview is kept."
            ))
        } else {
            None
        }
    }

    /// The server is stopping: waits for the jobs running now to finish; the ones waiting for
    /// their turn do not begin (they have written nothing, and say so).
    pub(crate) async fn finish_running(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        let unfinished = {
            let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
            jobs.values().filter(|j| j.outcome.is_none()).count()
        };
        if unfinished > 0 {
            tracing::info!(
                running = unfinished.min(RUNNING_AT_ONCE),
                "waiting for the imports confirmed on the web to finish (those waiting their turn will not begin)"
            );
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Runs a job's watcher; the server waits for it when it stops.
    fn watch(&self, watcher: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|e| e.into_inner());
        while tasks.try_join_next().is_some() {}
        tasks.spawn(watcher);
    }

    fn start(&self, key: &str, job: Job) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.retain(|_, j| {
            j.outcome
                .as_ref()
                .is_none_or(|(at, _)| at.elapsed() < KEEP_FINISHED)
        });
        while jobs.len() >= MAX_JOBS {
            let oldest = jobs
                .iter()
                .filter(|(_, j)| j.outcome.is_some())
                .min_by_key(|(_, j)| j.started)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => jobs.remove(&k),
                None => break,
            };
        }
        jobs.insert(key.to_string(), job);
    }

    fn finish(&self, key: &str, outcome: Outcome) {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(j) = jobs.get_mut(key)
            && j.outcome.is_none()
        {
            j.outcome = Some((Instant::now(), outcome));
            j.done.notify_waiters();
        }
    }

    /// This user's job: its outcome once finished, else what it is doing.
    fn look(&self, key: &str, user_id: i64) -> Option<Result<Outcome, Snapshot>> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let j = jobs.get(key).filter(|j| j.user_id == user_id)?;
        Some(match &j.outcome {
            Some((_, o)) => Ok(o.clone()),
            None => Err(Snapshot {
                file_name: j.file_name.clone(),
                account: j.account.clone(),
                phase: *j.progress.phase.lock().unwrap_or_else(|e| e.into_inner()),
                done: j.progress.done.load(Ordering::Relaxed),
                total: j.progress.total.load(Ordering::Relaxed),
                elapsed: j.started.elapsed(),
            }),
        })
    }

    fn waker(&self, key: &str) -> Option<Arc<tokio::sync::Notify>> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.get(key).map(|j| Arc::clone(&j.done))
    }

    /// This user's jobs still running, oldest first.
    pub(super) fn running(&self, user_id: i64) -> Vec<RunningJob> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let mut running: Vec<(Instant, RunningJob)> = jobs
            .iter()
            .filter(|(_, j)| j.user_id == user_id && j.outcome.is_none())
            .map(|(key, j)| {
                (
                    j.started,
                    RunningJob {
                        file_name: j.file_name.clone(),
                        account: j.account.clone(),
                        phase: phase_words(
                            *j.progress.phase.lock().unwrap_or_else(|e| e.into_inner()),
                        ),
                        url: job_url(key),
                    },
                )
            })
            .collect();
        running.sort_by_key(|(at, _)| *at);
        running.into_iter().map(|(_, r)| r).collect()
    }

    /// Whether this user already has a job for this upload (the confirm button pressed twice).
    pub(super) fn exists(&self, key: &str, user_id: i64) -> bool {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.get(key).is_some_and(|j| j.user_id == user_id)
    }
}

/// What the import does once it has finished: the notice and where it is shown.
pub(super) struct Finished {
    pub to: String,
    pub notice: String,
}

/// Starts importing a confirmed upload as a job and answers: where the import went, if it is
/// done within a moment, else a redirect to its progress page (a page of its own, so that the
/// browser's refresh, reload and back never post the form again).
pub(super) async fn run_import_job<F, Fut>(
    st: &AppState,
    who: &CurrentUser,
    key: String,
    account: &Account,
    file_name: String,
    job: F,
) -> Page
where
    F: FnOnce(Arc<dyn Progress>) -> Fut,
    Fut: std::future::Future<Output = Result<Finished, Problem>> + Send + 'static,
{
    let progress = Arc::new(JobProgress::default());
    progress.phase(QUEUED, 0);
    let done = Arc::new(tokio::sync::Notify::new());
    st.web.import_jobs.start(
        &key,
        Job {
            user_id: who.user.id,
            file_name,
            account: account.name.clone(),
            started: Instant::now(),
            progress: Arc::clone(&progress),
            outcome: None,
            done: Arc::clone(&done),
        },
    );
    let notified = done.notified();
    tokio::pin!(notified);
    notified.as_mut().enable();
    let turns = Arc::clone(&st.web.import_jobs.turns);
    let stopping = Arc::clone(&st.web.import_jobs.stopping);
    let run = job(progress);
    let work = tokio::spawn(async move {
        // Its turn: a few imports run at once, the others wait (each holds memory while it works).
        let _turn = turns.acquire_owned().await;
        if stopping.load(Ordering::SeqCst) {
            return Err(Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The server stopped before this import began: nothing of it was written. Upload the file again.",
            ));
        }
        run.await
    });
    // A watcher sets the outcome whatever becomes of the work (a panic included): a page never
    // waits for a job that is gone.
    let web = Arc::clone(&st.web);
    let watched = key.clone();
    st.web.import_jobs.watch(async move {
        let outcome = match work.await {
            Ok(Ok(f)) => Outcome::Done {
                to: f.to,
                notice: f.notice,
            },
            Ok(Err(p)) => Outcome::Failed(p),
            Err(e) => {
                tracing::error!("web import stopped: {e}");
                Outcome::Failed(Problem::internal(
                    "The import stopped unexpectedly; nothing was written. Try again.",
                ))
            }
        };
        web.import_jobs.finish(&watched, outcome);
    });
    let _ = tokio::time::timeout(WAIT_FOR_SMALL_FILES, notified).await;
    answer_post(st, who, &key).await
}

/// What a form post that started (or found) a job answers: its outcome when done, else a
/// redirect to the job's page.
async fn answer_post(st: &AppState, who: &CurrentUser, key: &str) -> Page {
    match st.web.import_jobs.look(key, who.user.id) {
        Some(Err(_)) => Ok(Redirect::to(&job_url(key)).into_response()),
        _ => show_job(st, who, key).await,
    }
}

/// The page of the job importing upload `key`.
pub(super) fn job_url(key: &str) -> String {
    format!("/imports/jobs/{}", url_encode(key))
}

#[derive(Template)]
#[template(path = "import_job.html")]
struct JobPage {
    nav: Nav,
    file_name: String,
    account: String,
    phase: String,
    percent: Option<u64>,
    elapsed: String,
    /// This page's own address: the refresh asks for it again.
    url: String,
}

/// The phase of a job waiting for one of the imports running now to finish.
const QUEUED: &str = "queued";

/// What a phase is called on the page.
fn phase_words(phase: &str) -> &'static str {
    match phase {
        QUEUED => "Waiting for other imports on this server to finish",
        "checking" => "Step 1 of 4: checking the file",
        "reading" => "Step 2 of 4: reading the rows",
        "matching" => "Step 2 of 4: looking for duplicates",
        "importing" => "Step 3 of 4: writing the new rows",
        "saving" => "Step 4 of 4: saving (the text index and the journal)",
        p if p.starts_with("waiting") => "Waiting for another import into this account",
        _ => "Starting",
    }
}

/// The job's page: its progress while it runs, else where its outcome is shown.
async fn show_job(st: &AppState, who: &CurrentUser, key: &str) -> Page {
    match st.web.import_jobs.look(key, who.user.id) {
        None => imports_page(st, who, GONE.into()).await,
        Some(Ok(Outcome::Done { to, notice })) => {
            st.web.set_flash(who.credential_id, notice);
            Ok(Redirect::to(&to).into_response())
        }
        Some(Ok(Outcome::Failed(p))) if p.status.is_client_error() => {
            imports_page(st, who, p.message).await
        }
        Some(Ok(Outcome::Failed(p))) => Err(p),
        Some(Err(s)) => {
            let percent = (s.total > 0).then(|| (s.done.min(s.total) * 100) / s.total);
            render(JobPage {
                nav: nav(st, who, "imports").await?,
                file_name: s.file_name,
                account: s.account,
                phase: phase_words(s.phase).to_string(),
                percent,
                elapsed: format!("{}", s.elapsed.as_secs()),
                url: job_url(key),
            })
        }
    }
}

const GONE: &str = "That import is no longer shown here (finished long ago, or the server restarted: an import that did not finish wrote nothing). The Imports page lists every batch.";

/// `GET /imports/jobs/{key}`: an import job's progress, or where it ended.
pub(super) async fn import_job(
    Viewer(who): Viewer,
    State(st): Shared,
    Path(key): Path<String>,
) -> Page {
    show_job(&st, &who, &key).await
}

/// Waits (briefly) for a job that is already running, then shows its page: the confirmation
/// posted twice lands on the first one's job.
pub(super) async fn show_running_job(st: &AppState, who: &CurrentUser, key: &str) -> Page {
    if let Some(w) = st.web.import_jobs.waker(key) {
        let notified = w.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if st
            .web
            .import_jobs
            .look(key, who.user.id)
            .is_some_and(|l| l.is_err())
        {
            let _ = tokio::time::timeout(WAIT_FOR_SMALL_FILES, notified).await;
        }
    }
    answer_post(st, who, key).await
}
