"""Following a replay through the API until it ends, as a client polling it would."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tracereplay.replay.lifecycle import ReplayStatus

FINISHED = {status for status in ReplayStatus if status.finished}


def wait_for(client: httpx.Client, replay_id: str, timeout: float = 20.0) -> dict[str, Any]:
    """The replay once it has finished (`client` may be a TestClient: it is an httpx.Client)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replay: dict[str, Any] = client.get(f"/api/v1/replays/{replay_id}").json()
        if replay["status"] in FINISHED:
            return replay
        time.sleep(0.05)
    raise AssertionError(f"replay {replay_id} did not finish in {timeout} s: {replay}")
