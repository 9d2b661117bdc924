"""docs/api.md cannot rot: every ```sh block is run with curl against a live server, in order."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from cases.models import Customer, DecisionChangeEvent
from cases.roles import INTEGRATION
from cases.services.tokens import token_create

from .conftest import make_user, postgres_only

DOC = Path(settings.BASE_DIR) / "docs" / "api.md"
BLOCK = re.compile(r"```sh\n(.*?)```", re.DOTALL)


def sh_blocks() -> list[str]:
    return BLOCK.findall(DOC.read_text())


def test_docs_have_curl_examples():
    blocks = sh_blocks()
    assert len(blocks) >= 7 and all("curl" in block for block in blocks)


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl command")
@postgres_only  # live_server needs committed data; on SQLite its flush interferes with later live-server tests
@pytest.mark.django_db(transaction=True)
def test_docs_curl_examples_run(baseline, live_server):
    _, token = token_create(user=make_user(INTEGRATION), name="docs", scopes="read,write")
    env = {"API": live_server.url, "TOKEN": token, "PATH": "/usr/bin:/bin"}
    outputs = []
    for block in sh_blocks():
        result = subprocess.run(
            ["bash", "-c", "set -euo pipefail\n" + block], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, f"{block}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
        outputs.append(result.stdout)
    assert Customer.objects.filter(customer_reference__in=["CRM-1001", "CRM-1002"]).count() == 2
    blocks = sh_blocks()
    decision = outputs[next(i for i, b in enumerate(blocks) if "decisions/GB-COH-01234567/" in b)]
    assert '"outcome":"block"' in decision and '"source":"automatic"' in decision
    assert outputs[next(i for i, b in enumerate(blocks) if "If-None-Match" in b)].strip() == "304"
    assert '"next_cursor"' in outputs[-1]
    assert DecisionChangeEvent.objects.exists()
