"""Error tracking on the server: grouping errors into issues (grouping.py) and the issues'
lifecycle and severity (issues.py). The ingest pipeline (server/pipeline.py) applies both."""
