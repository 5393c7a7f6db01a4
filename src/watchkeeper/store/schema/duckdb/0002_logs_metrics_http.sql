-- Logs and metric samples, and the HTTP fields of spans as columns: the Requests page groups
-- millions of server spans by route and status, which must not parse JSON per row. The writer
-- fills these columns from the span's attributes (store/base.py DERIVED).
CREATE TABLE logs (
    project          INTEGER NOT NULL,
    id               VARCHAR NOT NULL,
    ts               BIGINT  NOT NULL,
    service          VARCHAR NOT NULL,
    environment      VARCHAR NOT NULL,
    release          VARCHAR NOT NULL,
    trace_id         VARCHAR,
    span_id          VARCHAR,
    user_id          VARCHAR NOT NULL,
    session_id       VARCHAR NOT NULL,
    attributes       JSON    NOT NULL,
    body             VARCHAR NOT NULL,
    severity_text    VARCHAR NOT NULL,
    severity_number  TINYINT NOT NULL,
    logger           VARCHAR NOT NULL
);

CREATE TABLE metrics (
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
    name         VARCHAR NOT NULL,
    type         VARCHAR NOT NULL,
    value        DOUBLE  NOT NULL,
    unit         VARCHAR NOT NULL,
    count        BIGINT  NOT NULL,
    sum          DOUBLE  NOT NULL,
    buckets      JSON    NOT NULL
);

ALTER TABLE spans ADD COLUMN http_method VARCHAR;
ALTER TABLE spans ADD COLUMN http_route VARCHAR;
ALTER TABLE spans ADD COLUMN http_status_code INTEGER;
