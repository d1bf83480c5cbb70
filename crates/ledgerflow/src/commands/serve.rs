//! `ledgerflow serve`: run the web server. On first run with the embedded engine it creates and
//! initialises the store in the data directory.

use anyhow::Context as _;
use ledgerflow_core::model::Engine;
use ledgerflow_db::OpenMode;
use tracing::info;

use crate::context::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address and port to listen on [default: 127.0.0.1:9001].
    #[arg(long, value_name = "ADDR:PORT")]
    pub bind: Option<String>,
}

pub async fn run(ctx: &Ctx) -> anyhow::Result<()> {
    let location = ctx.location()?;
    let mode = if location.engine() == Engine::Sqlite {
        OpenMode::Create
    } else {
        OpenMode::Existing
    };
    let store = ctx.open(mode).await?;
    let meta = match store.meta().await? {
        Some(m) => m,
        None => {
            let m = store.initialize(&ctx.actor, ctx.settings.env).await?;
            ctx.initialized(&m)?;
            crate::out!(
                "Created a new {} store (lineage {}) at {}",
                m.environment,
                m.lineage_id,
                store.location()
            );
            m
        }
    };
    let bind = &ctx.settings.server.bind;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    crate::out!(
        "LedgerFlow {} listening on http://{addr}",
        ledgerflow_core::VERSION
    );
    crate::out!(
        "Data: {} ({}, {} environment)",
        store.location(),
        store.engine(),
        meta.environment
    );
    crate::out!(
        "Backups: {} (db \"{}\", full \"{}\")",
        ctx.settings.backup_dir.display(),
        ctx.settings.backup.schedule_db,
        ctx.settings.backup.schedule_full
    );
    info!(%addr, engine = %store.engine(), "serving");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let scheduler = tokio::spawn(crate::backups::schedule(ctx, store.clone(), stop_rx)?);
    let web = ledgerflow_web::WebState {
        trusted_proxies: ctx
            .settings
            .server
            .proxies()
            .map_err(crate::exit::BadInput)?,
        secure_cookies: ctx.settings.server.secure_cookies,
        pdf_templates: {
            let (found, problems) =
                ledgerflow_import::pdf::load_dir(&ctx.settings.data_dir.join("import-templates"));
            for p in problems {
                tracing::warn!("PDF template not used: {p}");
                crate::out!("PDF template not used: {p}");
            }
            found
        },
        csv_profiles: Some(ledgerflow_import::csv::SavedProfiles::in_data_dir(
            &ctx.settings.data_dir,
        )),
        ..Default::default()
    };
    if store.list_users().await?.is_empty() {
        let secret = web.new_setup_secret();
        let host = if addr.ip().is_unspecified() {
            std::net::SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        } else {
            addr
        };
        crate::out!(
            "No users yet. Create the first admin with this one-time link (or `ledgerflow user add NAME --role admin --password-stdin`):"
        );
        crate::out!("  http://{host}/setup?token={secret}");
    }
    let state =
        ledgerflow_web::AppState::new(store.clone(), Some(crate::backups::monitor(ctx)?), web);
    let served = ledgerflow_web::serve(listener, state, shutdown_signal()).await;
    info!("shutting down");
    let _ = stop_tx.send(true);
    let _ = scheduler.await;
    store.close().await;
    served?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
