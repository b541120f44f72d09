"""Bring up what `bench/load/run.py` runs the freight day against, for the k6 script: a fresh
database with production settings and secrets made for this run, a population seeded for the k6
script's VUs (each VU needs its own shipper and four operators, see freight_day.js), the SMS sink,
`rodistaa serve` and `rodistaa worker`. It prints the `k6 run` command and serves until Ctrl-C,
then drops the database and the run's Redis keys.

    .venv/bin/python bench/load/k6/stack.py [--multiple 1] [--load-seconds 60]

The population is for one k6 run: the run rotates its refresh tokens. Not run in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import secrets
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import model  # noqa: E402 - bench/load, beside this folder
import redis  # noqa: E402
import run  # noqa: E402


def population_size(multiple: float, load_seconds: float) -> tuple[int, int]:
    """Shippers and operators for the VUs freight_day.js wants (its `sizeVus`: loads in flight
    x 1.5 + 2, each VU with one shipper and four operators of its own)."""
    loads_per_hour = math.floor(multiple * model.peak_loads_per_second() * 3600 + 0.5)  # JS Math.round
    in_flight = loads_per_hour / 3600 * load_seconds
    vus = math.ceil(in_flight * 1.5) + 2
    return vus, model.BIDDERS * vus


def _stop(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--multiple", type=float, default=1.0, help="the peak multiple k6 will run")
    parser.add_argument("--load-seconds", type=float, default=60, help="LOAD_SECONDS k6 will use")
    parser.add_argument("--port", type=int, default=run.API_PORT)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="server worker processes")
    args = parser.parse_args()

    out = run.ROOT / "var" / "load" / f"k6-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True, exist_ok=True)
    database, prefix = f"rodistaa_k6_{secrets.token_hex(4)}", f"k6-{secrets.token_hex(4)}-"
    api = f"http://127.0.0.1:{args.port}"
    asyncio.run(run._recreate_database(database))
    signal.signal(signal.SIGTERM, _stop)
    try:
        with run.sms_sink() as sms_url:
            env = dict(run.server_environment(database, sms_url, out, prefix), API_BASE_URL=api)
            upgrade = [run.venv_bin("rodistaa"), "db", "upgrade"]
            subprocess.run(upgrade, env=env, check=True, cwd=run.ROOT, capture_output=True)
            shippers, operators = population_size(args.multiple, args.load_seconds)
            population = out / "population.json"
            run.log(f"seeding {shippers} shippers, {operators} operators with 2 drivers and trucks each")
            subprocess.run(
                [run.venv_bin("python"), str(HERE.parent / "seed.py"), "--out", str(population),
                 "--shippers", str(shippers), "--operators", str(operators), "--drivers-per-operator", "2"],
                env=env, check=True, cwd=run.ROOT,
            )  # fmt: skip
            serve = [run.venv_bin("rodistaa"), "serve", "--port", str(args.port)]
            serve += ["--workers", str(args.workers)]
            with (
                run.running(serve, env, out / "server.log", f"{api}/health"),
                run.running([run.venv_bin("rodistaa"), "worker"], env, out / "worker.log", None),
            ):
                print(
                    f"k6 run -e BASE_URL={api} -e POPULATION={population} -e SMS_SINK={sms_url} "
                    f"-e MULTIPLE={args.multiple:g} -e LOAD_SECONDS={args.load_seconds:g} "
                    f"-e SUMMARY={out / 'k6-summary.json'} {HERE / 'freight_day.js'}",
                    flush=True,
                )
                run.log("serving; Ctrl-C to stop and drop the database")
                while True:
                    time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        asyncio.run(run._drop_database(database))
        client = redis.Redis.from_url(run.REDIS_URL)
        keys = client.keys(f"{prefix}*")
        if keys:
            client.delete(*keys)
        run.log(f"stopped; logs in {out.relative_to(run.ROOT)}")


if __name__ == "__main__":
    main()
