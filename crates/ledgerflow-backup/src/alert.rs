//! Alerts: a failed backup, verification or off-site copy, and a store with no verified backup
//! for two scheduled intervals. Each goes to the log at error level and, when
//! `backup.alert_webhook` is set, is POSTed there as one JSON object. A webhook that cannot be
//! reached is logged; it never changes the outcome of the backup itself.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tracing::{error, warn};

use crate::Settings;

/// One alert, as POSTed to the webhook.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// `backup_failed`, `verify_failed`, `copy_failed` or `no_recent_verified_backup`.
    pub event: &'static str,
    /// One sentence saying what happened.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub host: String,
    pub at: DateTime<Utc>,
    pub app: &'static str,
}

impl Alert {
    pub fn new(event: &'static str, message: String) -> Alert {
        Alert {
            event,
            message,
            file: None,
            host: crate::manifest::host_name(),
            at: Utc::now(),
            app: "ledgerflow",
        }
    }

    pub fn file(mut self, path: &Path) -> Alert {
        self.file = path
            .file_name()
            .map(|n| n.to_string_lossy().trim_end_matches(".failed").to_string());
        self
    }
}

/// Logs the alert and POSTs it to the webhook, if one is configured.
pub async fn send(settings: &Settings, alert: Alert) {
    error!(event = alert.event, file = ?alert.file, "ALERT: {}", alert.message);
    let Some(url) = settings.alert_webhook.as_deref().filter(|u| !u.is_empty()) else {
        return;
    };
    install_tls();
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "the alert webhook client could not be built");
            return;
        }
    };
    match client.post(url).json(&alert).send().await {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => warn!(status = %r.status(), "the alert webhook refused the alert"),
        Err(e) => warn!(error = %e, "the alert webhook could not be reached"),
    }
}

/// rustls needs one process-wide crypto provider (ring) before the first HTTPS connection.
pub fn install_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
