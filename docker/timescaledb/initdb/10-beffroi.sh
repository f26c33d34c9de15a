#!/bin/bash
# First start only (empty data volume): the Beffroi database, its owner, and a read-only role for Grafana.
# Schema and policies come later from `beffroi migrate`, run by the beffroi service at every start.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres \
     -v beffroi_pw="$BEFFROI_DB_PASSWORD" -v grafana_pw="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE ROLE beffroi LOGIN PASSWORD :'beffroi_pw';
CREATE ROLE grafana_reader LOGIN PASSWORD :'grafana_pw';
CREATE DATABASE beffroi OWNER beffroi;
\connect beffroi
CREATE EXTENSION IF NOT EXISTS timescaledb;
GRANT CONNECT ON DATABASE beffroi TO grafana_reader;
GRANT USAGE ON SCHEMA public TO grafana_reader;
-- every table and view that beffroi's migrations create is readable by Grafana, and nothing more
ALTER DEFAULT PRIVILEGES FOR ROLE beffroi IN SCHEMA public GRANT SELECT ON TABLES TO grafana_reader;
ALTER DATABASE beffroi SET timezone TO 'UTC';
-- Grafana's sessions (docs/deployment.md, "The Grafana role"): sorts and hashes of a week of 250 rooms fit in
-- memory instead of spilling (at most 10 connections: maxOpenConns of the provisioned data source), and no JIT,
-- whose compilation cost short dashboard queries 250-400 ms (docs/performance.md, "Queries")
ALTER ROLE grafana_reader SET work_mem = '64MB';
ALTER ROLE grafana_reader SET jit = off;
SQL
