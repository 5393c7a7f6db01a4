-- LLM calls: the GenAI fields of spans as columns (R-LLM2, R-LLM4). The LLM page groups millions
-- of calls by provider, model, user and feature and sums their tokens and cost, which must not
-- parse JSON per row. The pipeline first normalises the attributes other instrumentations send
-- (llm/usage.py) and prices the call (llm/prices.py); the writer then fills these columns from
-- the current OpenTelemetry names (store/base.py DERIVED). Cost is NULL when no price is known:
-- gen_ai_cost_source says 'unpriced' then, never a silent $0.
ALTER TABLE spans ADD COLUMN gen_ai_operation VARCHAR;
ALTER TABLE spans ADD COLUMN gen_ai_provider VARCHAR;
ALTER TABLE spans ADD COLUMN gen_ai_request_model VARCHAR;
ALTER TABLE spans ADD COLUMN gen_ai_response_model VARCHAR;
ALTER TABLE spans ADD COLUMN gen_ai_input_tokens BIGINT;
ALTER TABLE spans ADD COLUMN gen_ai_output_tokens BIGINT;
ALTER TABLE spans ADD COLUMN gen_ai_cache_read_tokens BIGINT;
ALTER TABLE spans ADD COLUMN gen_ai_cache_write_tokens BIGINT;
ALTER TABLE spans ADD COLUMN gen_ai_reasoning_tokens BIGINT;
ALTER TABLE spans ADD COLUMN gen_ai_ttft_s DOUBLE;
ALTER TABLE spans ADD COLUMN gen_ai_error_type VARCHAR;
ALTER TABLE spans ADD COLUMN gen_ai_cost_usd DOUBLE;
ALTER TABLE spans ADD COLUMN gen_ai_cost_source VARCHAR;
ALTER TABLE spans ADD COLUMN feature VARCHAR;
