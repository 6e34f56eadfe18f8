"""Drive a load with wrk (Debian's package), a C load generator: on a 2-core machine a client in
Python spends about as much processor time per request as the trivial GET it sends, so it
takes a core from the server it measures; wrk, one thread on an event loop, takes a few
percent. ``bench/load.py --client wrk`` uses it.

Each request comes from a Lua script: a fixed GET or POST, or, for answers, the next of a list
of check-ins (one answer each: a second would be "already answered") with a fresh client_id.
wrk counts every response; what is not 2xx or 3xx it reports apart, and those are taken off.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

WRK = shutil.which("wrk")

# wrk's Lua (LuaJIT): ``targets`` holds "checkin_id authorization" lines, one per answer
ANSWERS_LUA = r"""
local targets = {}
for line in io.lines(os.getenv("WRK_TARGETS")) do
  local id, authorization = line:match("^(%d+) (.+)$")
  targets[#targets + 1] = {id, authorization}
end
local sent = 0
math.randomseed(os.time())

local function uuid4()
  local function hex(n) return string.format("%0" .. n .. "x", math.random(0, 16 ^ n - 1)) end
  return hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-a" .. hex(3) .. "-" .. hex(6) .. hex(6)
end

request = function()
  sent = sent + 1
  local target = targets[(sent - 1) % #targets + 1]
  local body = '{"client_id": "' .. uuid4() .. '", "answers": ANSWER}'
  return wrk.format("POST", "/api/v1/me/checkins/" .. target[1] .. "/response",
    {["Authorization"] = target[2], ["Content-Type"] = "application/json"}, body)
end
"""

FIXED_LUA = r"""
wrk.method = "METHOD"
wrk.path = "PATH"
"""


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run reports."""

    requests: int
    failed: int  # answered, but not 2xx or 3xx, or a socket error
    duration_s: float
    p50_ms: float
    p99_ms: float


def run_wrk(
    port: int,
    *,
    clients: int,
    duration_s: float,
    script: str,
    targets: Sequence[str] = (),
) -> WrkResult:
    """One run of wrk, one thread, ``clients`` connections, for ``duration_s`` seconds."""
    if WRK is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as workdir:
        lua, listed = Path(workdir) / "load.lua", Path(workdir) / "targets"
        lua.write_text(script)
        listed.write_text("".join(f"{line}\n" for line in targets))
        output = subprocess.run(  # noqa: S603 - wrk with our own arguments
            [
                WRK,
                *("--threads", "1", "--connections", str(clients)),
                *("--duration", f"{max(1, round(duration_s))}s", "--timeout", "60s"),
                *("--latency", "--script", str(lua)),
                f"http://127.0.0.1:{port}",
            ],
            env={"WRK_TARGETS": str(listed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    return parse(output)


def answers_script(answer_json: str) -> str:
    return ANSWERS_LUA.replace("ANSWER", answer_json)


def fixed_script(method: str, path: str) -> str:
    return FIXED_LUA.replace("METHOD", method).replace("PATH", path)


def parse(output: str) -> WrkResult:
    """wrk's report: '1234 requests in 6.00s', the latency distribution, the failures."""
    found = re.search(r"(\d+) requests in ([\d.]+)(m?s)", output)
    if found is None:
        raise RuntimeError(f"wrk printed no request count:\n{output}")
    requests, duration = int(found[1]), float(found[2]) * (60 if found[3] == "m" else 1)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    failed = int(non_2xx[1]) if non_2xx else 0
    failed += sum(int(n) for n in errors.groups()) if errors else 0
    return WrkResult(
        requests, failed, duration, _percentile(output, "50%"), _percentile(output, "99%")
    )


def _percentile(output: str, which: str) -> float:
    found = re.search(rf"^\s*{re.escape(which)}\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    if found is None:
        return float("nan")
    return float(found[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found[2]]
