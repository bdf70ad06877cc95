"""The dashboard at provider size in a real browser (issue 10): every page, the line search, switching lines,
Fraude 24 h / 7 d / 30 d, Appareil and leaving each page, timed from the click until the page's script has finished.

usage: .venv/bin/python bench/dashboard/run.py [--runs 3] [--only sqlite|postgresql] [--only-device] [--only-fraud]
                                               [--sqlite-url URL] [--pg-url URL] [--password PW] [--scale 1.0]

Without a URL, each database is made and seeded here (bench/dashboard/seed.py, about 70 s each): SQLite in a
temp dir, PostgreSQL by scripts/pg-start.sh on $PGPORT (default 54380), stopped afterwards. A given URL must
hold seed.py's data with the same --password. Then `streamlit run app.py` on a free port, Debian's chromium
through Playwright, logged in as bench-provider (sees everything: 2,000 lines, 10,000 devices).

Timing: the clock starts (time.time()) just before Playwright clicks or presses Enter; a MutationObserver on
`stApp`'s `data-test-script-state` (Streamlit's own e2e signal) stamps (Date.now(), same clock) the first
running -> notRunning transition after that, i.e. the end of the script run the action started.
One warm-up pass first (module imports, first queries), then --runs measured passes; the table shows
the median and every value, in seconds.

Appareil (issue 12, pages/device.py): the view opened by its link, `/device?device=ID` as a new page load, for
bench/diagnosis's cases (a typical desk phone, the device with the most access-log rows, one on the line with the
most registration history, a DECT handset), timed from just before `page.goto` until the last script run of
the load has finished (an init script observes `stApp` from document start; a second later the count of runs
is read again, so a rerun the page asks for is included), beside the Overview loaded the same way (the floor
of any page load); then opening it from the sidebar and leaving it. A fresh `sip` heartbeat is written before
each load (not timed), so the view sees the built-in registrar up, as in production.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from playwright.sync_api import Page, sync_playwright  # noqa: E402
from playwright.sync_api import TimeoutError as PlaywrightTimeout  # noqa: E402
from sqlalchemy import Engine  # noqa: E402

from bench.dashboard.seed import PROVIDER, seed  # noqa: E402
from core import heartbeat  # noqa: E402
from core.db import make_engine  # noqa: E402
from dashboard.i18n import TEXTS  # noqa: E402
from tests.net import free_port, wait_for  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
EN = TEXTS["en"]
TIMEOUT_MS = 180_000

# Installed in every document: arm() just before an action; the first running -> notRunning transition of
# stApp's script state after it is stamped with Date.now() (the same clock as Python's time.time()).
TIMER_JS = """
() => {
  if (window.__bench) return;
  const app = document.querySelector("[data-testid='stApp']");
  const b = window.__bench = {started: false, t1: null};
  // Armed while a run is going (leaving a page mid-run), that run's end must not count: only notRunning does.
  b.arm = () => { b.started = app.getAttribute("data-test-script-state") === "running"; b.t1 = null; };
  new MutationObserver((records) => {
    const now = Date.now();
    records.forEach((r, i) => {
      const next = i + 1 < records.length ? records[i + 1].oldValue : app.getAttribute("data-test-script-state");
      if (b.t1 !== null) return;
      if (next === "running") b.started = true;
      if (next === "notRunning" && b.started) b.t1 = now;
    });
  }).observe(app, {attributes: true, attributeFilter: ["data-test-script-state"], attributeOldValue: true});
}
"""


# Installed at document start (page.add_init_script): every running -> notRunning of stApp's script state is
# counted and the last one stamped, from the first run of a page load on.
LOAD_JS = """
(() => {
  const b = window.__load = {started: false, runs: 0, t1: null};
  const attach = (app) => {
    if (app.getAttribute("data-test-script-state") === "running") b.started = true;
    new MutationObserver((records) => {
      const now = Date.now();
      records.forEach((r, i) => {
        const next = i + 1 < records.length ? records[i + 1].oldValue : app.getAttribute("data-test-script-state");
        if (next === "running") b.started = true;
        if (next === "notRunning" && b.started) { b.runs += 1; b.t1 = now; b.started = false; }
      });
    }).observe(app, {attributes: true, attributeFilter: ["data-test-script-state"], attributeOldValue: true});
  };
  const find = () => document.querySelector("[data-testid='stApp']");
  const watch = new MutationObserver(() => { const app = find(); if (app) { watch.disconnect(); attach(app); } });
  watch.observe(document, {childList: true, subtree: true});
})();
"""


def wait_idle(page: Page) -> None:
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=TIMEOUT_MS)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=TIMEOUT_MS)


SERVER: dict[str, int] = {}  # the Streamlit process's pid, for its CPU time


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def _pg_cpu(postmaster: int) -> float:
    """CPU ticks of a PostgreSQL cluster: its postmaster (with its reaped children) and its live backends."""
    ticks = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with suppress(OSError):
            fields = _stat(int(proc.name))
            if int(proc.name) == postmaster:
                ticks += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
            elif int(fields[1]) == postmaster:
                ticks += int(fields[11]) + int(fields[12])
    return ticks


def server_cpu() -> float:
    """CPU seconds the Streamlit process used so far (user + system), plus the PostgreSQL cluster's when its data
    directory is known (--pg-dir, or the one started here): the server's own cost of an action, which other work
    on a shared machine does not inflate the way it stretches wall-clock time. SQLite works inside Streamlit."""
    fields = _stat(SERVER["pid"])
    ticks = int(fields[11]) + int(fields[12])
    if SERVER.get("postmaster"):
        ticks += _pg_cpu(SERVER["postmaster"])
    return ticks / os.sysconf("SC_CLK_TCK")


def use_pg_dir(pg_dir: str | None) -> None:
    """Count that cluster's CPU in server_cpu() (None: no PostgreSQL, or its processes are not visible)."""
    SERVER.pop("postmaster", None)
    if pg_dir and (Path(pg_dir) / "postmaster.pid").exists():
        SERVER["postmaster"] = int((Path(pg_dir) / "postmaster.pid").read_text().split()[0])


def timed(page: Page, action: Callable[[], None]) -> tuple[float, float]:
    """(seconds from the action's click/Enter until the run it started has finished, server CPU seconds)."""
    page.evaluate(TIMER_JS)
    page.evaluate("() => window.__bench.arm()")
    # The clock starts before Playwright's click, not in the page's click handler: a page whose main thread
    # is busy (big charts going away) would otherwise hide the wait from the count.
    cpu0, t0 = server_cpu(), time.time()
    action()
    page.wait_for_function("() => window.__bench.t1 !== null", timeout=TIMEOUT_MS, polling=20)
    seconds = page.evaluate("() => window.__bench.t1") / 1000 - t0
    cpu = server_cpu() - cpu0
    wait_idle(page)
    if page.get_by_test_id("stException").count():
        raise RuntimeError(f"the page raised: {page.get_by_test_id('stException').first.inner_text()[:300]}")
    return float(seconds), cpu


def nav(page: Page, title: str) -> Callable[[], None]:
    return lambda: page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()


def one_pass(page: Page) -> dict[str, tuple[float, float]]:
    got: dict[str, tuple[float, float]] = {}
    for key in ("phones", "keys", "status"):
        got[f"open {EN[key]}"] = timed(page, nav(page, EN[key]))
        got[f"leave {EN[key]} (-> Overview)"] = timed(page, nav(page, EN["home"]))
    got[f"open {EN['phones']} again"] = timed(page, nav(page, EN["phones"]))
    search = page.locator(".st-key-line_pick_q input")

    def type_and_enter() -> None:
        search.fill("Emma")
        search.press("Enter")

    if search.count():  # a tree from before the search picker (for a before/after) has none
        got["line search (type, Enter)"] = timed(page, type_and_enter)
        hits = page.locator("[class*='st-key-line_pick_hit_'] button:not([disabled])")
        got["switch line (click a result)"] = timed(page, lambda: hits.nth(1).click())
    got[f"leave {EN['phones']} (-> Overview)"] = timed(page, nav(page, EN["home"]))
    got[f"open {EN['fraud']} (7 d)"] = timed(page, nav(page, EN["fraud"]))
    periods = page.locator(".st-key-fraud_days")
    for days in (1, 30, 7):
        got[f"{EN['fraud']} {EN[f'period_{days}']}"] = timed(page, lambda d=days: periods.get_by_text(
            EN[f"period_{d}"], exact=True).click())  # fmt: skip
    got[f"leave {EN['fraud']} (-> Overview)"] = timed(page, nav(page, EN["home"]))
    # Leaving while the page's script still runs: Streamlit stops a run only at its next st.* call.
    timed(page, nav(page, EN["fraud"]))
    periods.get_by_text(EN["period_30"], exact=True).click()
    # Its run shows as running within a few seconds; if it is already over, this is a plain leave.
    with suppress(PlaywrightTimeout):
        page.wait_for_selector("[data-testid='stApp'][data-test-script-state='running']", timeout=5_000)
    got[f"leave {EN['fraud']} during its 30 d run"] = timed(page, nav(page, EN["home"]))
    return got


COLD_SECONDS = 35  # between --only-fraud passes: the page's and the section's caches (REPORT_SECONDS, 30 s) expire


def fraud_pass(page: Page) -> dict[str, tuple[float, float]]:
    """Fraude alone (issue 13 point 5), every period and every tab of « where the sources are », each kind over
    30 days: the first click on each (period, kind, tab) of a pass reads the database (the caches are cold)."""
    got: dict[str, tuple[float, float]] = {}
    periods, kinds = page.locator(".st-key-fraud_days"), page.locator(".st-key-fraud_geo_kind")

    def period(days: int) -> Callable[[], None]:
        return lambda: periods.get_by_text(EN[f"period_{days}"], exact=True).click()

    def tab(text: str) -> Callable[[], None]:
        return lambda: page.get_by_role("tab", name=EN[text], exact=True).click()

    def kind(text: str) -> Callable[[], None]:
        return lambda: kinds.get_by_text(EN[text], exact=True).click()

    got[f"open {EN['fraud']} (7 d)"] = timed(page, nav(page, EN["fraud"]))
    got[f"{EN['fraud']} {EN['period_1']}"] = timed(page, period(1))
    got[f"{EN['fraud']} {EN['period_30']}"] = timed(page, period(30))
    for name, action in (
        ("30 d: tab by country (downloads)", tab("fg_by_country")),
        ("30 d: tab by network (downloads)", tab("fg_by_network")),
        ("30 d: kind key probes (by network)", kind("fg_kind_probe")),
        ("30 d: tab by country (key probes)", tab("fg_by_country")),
        ("30 d: kind SIP failures (by country)", kind("fg_kind_sip_failed")),
        ("30 d: tab by network (SIP failures)", tab("fg_by_network")),
        ("30 d: tab sources by country (SIP failures)", tab("fg_tab_countries")),
        ("30 d: kind key probes (sources by country)", kind("fg_kind_probe")),
        ("30 d: kind downloads (sources by country)", kind("fg_kind_download")),
        ("30 d: tab by country (downloads, again)", tab("fg_by_country")),
        ("7 d, tab by country open", period(7)),
        ("24 h, tab by country open", period(1)),
        ("24 h: tab by network", tab("fg_by_network")),
        ("24 h: tab sources by country", tab("fg_tab_countries")),
    ):
        got[name] = timed(page, action)
    got[f"leave {EN['fraud']} (-> Overview)"] = timed(page, nav(page, EN["home"]))
    return got


def loaded(page: Page, url: str) -> tuple[float, float]:
    """(seconds from just before page.goto(url) until the last script run of the load has ended, server CPU)."""
    cpu0, t0 = server_cpu(), time.time()
    page.goto(url)
    page.wait_for_function("() => window.__load && window.__load.runs > 0", timeout=TIMEOUT_MS, polling=20)
    wait_idle(page)
    page.wait_for_timeout(1_000)  # a rerun the page asks for starts within this; its end then counts
    wait_idle(page)
    seconds = page.evaluate("() => window.__load.t1") / 1000 - t0
    cpu = server_cpu() - cpu0  # includes the second of waiting: an idle server spends ~nothing in it
    if page.get_by_test_id("stException").count():
        raise RuntimeError(f"the page raised: {page.get_by_test_id('stException').first.inner_text()[:300]}")
    return float(seconds), cpu


def device_cases(db_url: str) -> list[tuple[str, int]]:
    """(name, device id) of bench/diagnosis's cases the device view is opened on."""
    from bench.diagnosis.run import find_cases

    engine = make_engine(db_url)
    try:
        wanted = ("typical desk phone", "most access-log rows", "line with most registration history", "DECT handset")
        return [(c.name, c.device_id) for c in find_cases(engine) if c.name in wanted]
    finally:
        engine.dispose()


def device_pass(page: Page, base: str, cases: list[tuple[str, int]], engine: Engine) -> dict[str, tuple[float, float]]:
    # The floor of any page load (frontend, websocket, login check, frame): the Overview loaded the same way.
    got: dict[str, tuple[float, float]] = {f"open {EN['home']} (page load, reference)": loaded(page, f"{base}/")}
    for name, device_id in cases:
        heartbeat.beat(engine, "sip", "bench/dashboard")  # the registrar is up, as in production (not timed)
        got[f"open {EN['device']} ?device= (page load): {name}"] = loaded(page, f"{base}/device?device={device_id}")
        # The view keeps ?device= of the device it drew and starts with its verdict (an alert).
        if f"device={device_id}" not in page.url or not page.get_by_test_id("stAlert").count():
            raise RuntimeError(f"the device view did not show device {device_id}: {page.url}")
    got[f"leave {EN['device']} (-> Overview)"] = timed(page, nav(page, EN["home"]))
    got[f"open {EN['device']} (sidebar)"] = timed(page, nav(page, EN["device"]))
    got[f"leave {EN['device']} (-> Overview) again"] = timed(page, nav(page, EN["home"]))
    return got


@contextmanager
def dashboard(db_url: str, work: Path) -> Iterator[str]:
    port = free_port()
    (work / "home").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOIPADMIN_")}
    env.update(HOME=str(work / "home"), VOIPADMIN_DB_URL=db_url, VOIPADMIN_DATA_DIR=str(work / "data"),
               VOIPADMIN_PUBLIC_URL="https://prov.example.net:8448", PYTHONPATH=str(ROOT))  # fmt: skip
    log = open(work / "streamlit.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
         "--global.developmentMode", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    SERVER["pid"] = proc.pid

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited; see {work / 'streamlit.log'}")
        try:
            return httpx.get(f"{base}/_stcore/health", timeout=1).text == "ok"
        except httpx.HTTPError:
            return False

    try:
        wait_for(healthy, timeout=120, what="streamlit to listen")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def measure(db_url: str, password: str, runs: int, work: Path, only_device: bool = False, only_fraud: bool = False
            ) -> dict[str, list[tuple[float, float]]]:  # fmt: skip
    results: dict[str, list[tuple[float, float]]] = {}
    cases = device_cases(db_url)
    engine = make_engine(db_url)
    with dashboard(db_url, work) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        context = browser.new_context(locale="en-US", viewport={"width": 1400, "height": 1000})
        context.add_init_script(LOAD_JS)

        def one(page: Page) -> dict[str, tuple[float, float]]:
            if only_fraud:
                time.sleep(COLD_SECONDS)  # the caches expire: every pass reads the database
                return fraud_pass(page)
            got = {} if only_device else one_pass(page)
            return {**got, **device_pass(page, base, cases, engine)}

        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{base}/session/login?lang=en&next=/")
        page.get_by_label("User name").fill(PROVIDER)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.get_by_test_id("stSidebarNav").wait_for()
        wait_idle(page)
        one(page)  # warm-up, not counted
        for n in range(runs):
            for name, seconds in one(page).items():
                results.setdefault(name, []).append(seconds)
            print(f"  pass {n + 1}/{runs} done", file=sys.stderr)
        browser.close()
    heartbeat.stop(engine, "sip")
    engine.dispose()
    return results


@contextmanager
def postgres(work: Path) -> Iterator[str]:
    env = dict(os.environ, PGPORT=os.environ.get("PGPORT", "54380"))
    url = subprocess.run(["bash", "scripts/pg-start.sh", str(work / "pg")], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout.strip()  # fmt: skip
    try:
        yield url
    finally:
        subprocess.run(["bash", "scripts/pg-stop.sh", str(work / "pg")], cwd=ROOT, env=env, check=False)


def table(columns: dict[str, dict[str, list[tuple[float, float]]]]) -> str:
    """Per database: the median wall time (every run's), and the median server CPU of the action."""
    names = list(next(iter(columns.values())))
    head = "| action | " + " | ".join(f"{db}: s, median (runs) | {db}: server CPU s" for db in columns) + " |"
    lines = [head, "|---|" + "---|---|" * len(columns)]
    for name in names:
        cells = []
        for got in columns.values():
            runs = got.get(name, [])
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            cells.append(f"**{statistics.median(walls):.2f}** ({' '.join(f'{v:.2f}' for v in walls)}) | "
                         f"{statistics.median(cpus):.2f}" if runs else "— | —")  # fmt: skip
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--sqlite-url")
    parser.add_argument("--pg-url")
    parser.add_argument("--password", default="bench-password-10")
    parser.add_argument("--scale", type=float, default=1.0, help="for seeding here (1.0 = provider size)")
    parser.add_argument("--only-device", action="store_true", help="only the Appareil actions")
    parser.add_argument("--only-fraud", action="store_true", help="only Fraude: every period, tab and kind")
    parser.add_argument("--pg-dir", help="the data directory of --pg-url's cluster: its CPU is counted too")
    args = parser.parse_args()
    only = args.only_device
    columns: dict[str, dict[str, list[tuple[float, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="voipadmin-dash-bench.") as tmp:
        work = Path(tmp)
        if args.only != "postgresql":
            url = args.sqlite_url
            if url is None:
                url = f"sqlite:///{work / 'bench.sqlite3'}"
                print(seed(url, args.scale, args.password)["seconds"], "s to seed SQLite", file=sys.stderr)
            columns["SQLite"] = measure(url, args.password, args.runs, work / "sqlite", only, args.only_fraud)
        if args.only != "sqlite":
            if args.pg_url:
                use_pg_dir(args.pg_dir)
                columns["PostgreSQL"] = measure(
                    args.pg_url, args.password, args.runs, work / "postgresql", only, args.only_fraud
                )
            else:
                with postgres(work) as url:
                    use_pg_dir(str(work / "pg"))
                    print(seed(url, args.scale, args.password)["seconds"], "s to seed PostgreSQL", file=sys.stderr)
                    columns["PostgreSQL"] = measure(
                        url, args.password, args.runs, work / "postgresql", only, args.only_fraud
                    )
    print(table(columns))


if __name__ == "__main__":
    main()
