-- Errors: one row per captured exception or error message. issue_id is assigned by the grouping
-- pipeline (server/pipeline.py) before the write, so issue pages filter on an integer column;
-- frames, fingerprint and breadcrumbs stay JSON (shown on one event, never grouped by in SQL).
CREATE TABLE errors (
    project      INTEGER NOT NULL,
    id           VARCHAR NOT NULL,
    ts           BIGINT  NOT NULL,
    service      VARCHAR NOT NULL,
    environment  VARCHAR NOT NULL,
    release      VARCHAR NOT NULL,
    trace_id     VARCHAR,
    span_id      VARCHAR,
    user_id      VARCHAR NOT NULL,
    session_id   VARCHAR NOT NULL,
    attributes   JSON    NOT NULL,
    type         VARCHAR NOT NULL,
    message      VARCHAR NOT NULL,
    level        VARCHAR NOT NULL,
    handled      BOOLEAN NOT NULL,
    frames       JSON    NOT NULL,
    fingerprint  JSON    NOT NULL,
    breadcrumbs  JSON    NOT NULL,
    issue_id     BIGINT  NOT NULL
);
