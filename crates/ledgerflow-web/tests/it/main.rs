//! The web app and the API, on real stores (SQLite, and PostgreSQL where a scenario says so).
//!
//! - `api`: the JSON API end to end, on both engines, and the OpenAPI document against the
//!   routes.
//! - `auth`: the role × endpoint matrix, sessions, CSRF, throttling, tokens, proxies.
//! - `pages`: the HTML pages in-process (forms, htmx fragments, the import preview).
//! - `browser`: a real headless Chromium against a real server on loopback.
//! - `helpers`: the test app and the request, sign-in and cookie helpers they share.

mod api;
mod auth;
mod browser;
mod hostile;
mod pages;

mod helpers;

pub use helpers::*;
