"""10,000 phones each fetching their file once, each on a new TLS connection.

usage: storm.py URL KEYS_FILE [CONCURRENCY]   -> prints JSON {requests, errors, seconds, rate}
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx


async def main(url: str, keys_file: str, concurrency: int) -> dict[str, float]:
    keys = [k for k in open(keys_file).read().split() if k]
    errors = 0
    sem = asyncio.Semaphore(concurrency)
    # No keep-alive: every phone opens its own connection and does a full handshake.
    limits = httpx.Limits(max_keepalive_connections=0, max_connections=concurrency)
    async with httpx.AsyncClient(verify=False, limits=limits, timeout=60) as client:

        async def fetch(key: str) -> None:
            nonlocal errors
            async with sem:
                try:
                    r = await client.get(f"{url}/{key}.cfg", headers={"connection": "close"})
                    if r.status_code != 200 or not r.content:
                        errors += 1
                except httpx.HTTPError:
                    errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(fetch(k) for k in keys))
        seconds = time.perf_counter() - start
    return {"requests": len(keys), "errors": errors, "seconds": round(seconds, 2), "rate": round(len(keys) / seconds)}


if __name__ == "__main__":
    conc = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2], conc))))
