-- Events and spans: the two kinds the spine stores. ts is UTC nanoseconds since the epoch, so
-- filters and time buckets are integer arithmetic, exact and the same in every dialect.
-- No primary key: DuckDB's ART index would slow every insert; the writer deduplicates on
-- (project, id) within the batch's time range instead, which zonemaps keep cheap.
CREATE TABLE events (
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
    name         VARCHAR NOT NULL
);

CREATE TABLE spans (
    project         INTEGER NOT NULL,
    id              VARCHAR NOT NULL,
    ts              BIGINT  NOT NULL,
    service         VARCHAR NOT NULL,
    environment     VARCHAR NOT NULL,
    release         VARCHAR NOT NULL,
    trace_id        VARCHAR NOT NULL,
    span_id         VARCHAR NOT NULL,
    user_id         VARCHAR NOT NULL,
    session_id      VARCHAR NOT NULL,
    attributes      JSON    NOT NULL,
    name            VARCHAR NOT NULL,
    parent_span_id  VARCHAR,
    span_kind       VARCHAR NOT NULL,
    status          VARCHAR NOT NULL,
    status_message  VARCHAR NOT NULL,
    duration_ns     BIGINT  NOT NULL
);
