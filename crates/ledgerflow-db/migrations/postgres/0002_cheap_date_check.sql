-- Schema version 2. The change is SQLite's alone (a cheaper posted_date CHECK; PostgreSQL
-- stores dates as DATE): this migration keeps both engines at the same schema version.
SELECT 1;
