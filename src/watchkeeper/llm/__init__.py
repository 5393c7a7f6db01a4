"""LLM calls on the server: attribute names mapped onto the OpenTelemetry GenAI ones
(:mod:`~watchkeeper.llm.usage`), prices and cost (:mod:`~watchkeeper.llm.prices`, local
overrides in :mod:`~watchkeeper.llm.overrides`) and repricing stored calls
(:mod:`~watchkeeper.llm.reprice`)."""
