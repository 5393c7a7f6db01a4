from __future__ import annotations

import json
import subprocess
import sys
import tempfile

SERVER_ONLY = [
    "duckdb",
    "fastapi",
    "starlette",
    "sqlalchemy",
    "jinja2",
    "uvicorn",
    "pyarrow",
    "httpx",
]

SCRIPT = """
import json, sys
import watchkeeper
watchkeeper.init(endpoint="http://127.0.0.1:9", spool_dir=sys.argv[1], max_retries=0)
watchkeeper.track("signup", properties={"plan": "pro"})
with watchkeeper.span("work"):
    pass
watchkeeper.flush(5)
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in sys.argv[2:])))
"""


def test_the_sdk_loads_no_server_dependency() -> None:
    """import + init + track + span + flush never import a server-side library."""
    with tempfile.TemporaryDirectory() as spool_dir:
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, spool_dir, *SERVER_ONLY],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
    assert json.loads(done.stdout) == []
