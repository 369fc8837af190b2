"""The operator console in a real headless Chromium, against a real ``pymk serve`` over a trained home.

Debian's ``chromium`` and ``chromium-driver`` are installed by this test when missing (``apt-get``, as
root; a minute or two); selenium drives them through ``/usr/bin/chromedriver`` and never downloads a
browser or driver of its own. Without Chromium (install failed, not root) the test is skipped on a
developer machine and fails under ``CI=true``.

Checked: the recommendations table shows exactly the items ``GET /v1/users/{id}/recommendations``
answers for that user, in order; an unknown (and hostile) user id shows the error message as text,
injecting nothing; the models panel names the active version. A screenshot is saved to
``test-artifacts/console.png`` (repo-relative, gitignored) and to the test's tmp dir.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated"),
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACT = Path(__file__).resolve().parents[1] / "test-artifacts" / "console.png"
HOSTILE = '<img src=x onerror="window.pwned=1">'


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _unavailable(why: str) -> None:
    if _in_ci():
        pytest.fail(f"{why}; CI=true requires the browser test to run", pytrace=False)
    pytest.skip(why)


def _apt_install() -> str | None:
    """Install Debian's chromium and chromium-driver; None when done, else why not."""
    if os.geteuid() != 0:
        return "chromium is not installed and this is not root (apt-get install chromium chromium-driver)"
    if shutil.which("apt-get") is None:
        return "chromium is not installed and there is no apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium", "chromium-driver"]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:  # stale or missing package lists: refresh once and retry
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        return f"apt-get install chromium chromium-driver failed: {done.stderr.strip()[-500:]}"
    return None


@pytest.fixture(scope="module")
def chromium() -> None:
    """Chromium and its driver present (installed now if missing), selenium importable."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        why = _apt_install()
        if why is not None:
            _unavailable(why)
        if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
            _unavailable(f"apt-get installed chromium but {CHROMIUM} or {CHROMEDRIVER} is missing")
    try:
        import selenium  # noqa: F401
    except ImportError:
        _unavailable("selenium is not installed (pip install -e '.[dev]')")


@dataclass(frozen=True)
class Home:
    path: Path
    version: str
    user: str  # a user with a list and friends


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Home:
    """A small simulated home, trained with the tiny pipeline, promoted and batched (a few seconds)."""
    import numpy as np

    from _tiny import TINY_PIPELINE
    from pymk.config import load_settings
    from pymk.io.importer import import_file
    from pymk.models.bundle import config_from_dict, load_bundle
    from pymk.registry import open_registry
    from pymk.serving.batch import run_batch
    from pymk.sim import SimConfig, simulate, write_jsonl
    from pymk.training.tracking import MemoryTracker
    from pymk.training.train import train_home

    root = tmp_path_factory.mktemp("console-browser")
    events = root / "events.jsonl"
    write_jsonl(simulate(SimConfig(users=200, days=30, seed=1)), events)
    settings = load_settings(home=root / "home", tracking_url="memory://")
    import_file(events, "events-jsonl", settings)
    result = train_home(settings, config=config_from_dict(TINY_PIPELINE), tracker=MemoryTracker())
    assert result.promoted
    run_batch(settings, k=50, workers=1)
    bundle = load_bundle(open_registry(settings).get(result.version).path)
    assert bundle.user_ids is not None and bundle.pipeline.featurizer is not None
    busiest = int(np.argmax(bundle.pipeline.featurizer.snap.degree))
    report = {  # what `pymk monitor` leaves (shape of its drift-latest.json), so the panel has data
        "generated_at": "2026-11-27T10:00:00Z",
        "model_version": result.version,
        "window": {"start": "2026-11-26T10:00:00Z", "end": "2026-11-27T10:00:00Z", "events": 5400},
        "drifted": True,
        "share_drifted": 0.25,
        "features": [
            {"name": "new_user_share", "kind": "categorical", "stat": "jensen_shannon", "value": 0.31,
             "threshold": 0.1, "drifted": True},
            {"name": "degree", "kind": "numeric", "stat": "wasserstein", "value": 0.04, "threshold": 0.1,
             "drifted": False},
        ],
    }  # fmt: skip
    (settings.home / "monitoring").mkdir(parents=True, exist_ok=True)
    (settings.home / "monitoring" / "drift-latest.json").write_bytes(orjson.dumps(report))
    return Home(settings.home, result.version, bundle.user_ids[busiest])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read())


@pytest.fixture(scope="module")
def server(home: Home, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``pymk serve`` (HTTP only, one worker) on a free port; its base URL once /readyz answers 200."""
    port = _free_port()
    logs = tmp_path_factory.mktemp("serve-logs") / "serve.log"
    env = {**os.environ, "PYMK_HOME": str(home.path), "PYMK_TRACKING_URL": "memory://"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [sys.executable, "-c", "from pymk.cli import main; main()", "serve", "--port", str(port)]
    with logs.open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--no-grpc"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(f"{base}/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"pymk serve did not become ready:\n{logs.read_text()[-3000:]}", pytrace=False)
            time.sleep(0.2)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)


@pytest.fixture
def browser(chromium: None) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # selenium-manager must never download anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1440,1300",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _look_up(driver: Any, user_id: str, k: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    box = driver.find_element(By.ID, "user-id")
    box.clear()
    box.send_keys(user_id)
    Select(driver.find_element(By.ID, "k")).select_by_visible_text(k)
    driver.find_element(By.ID, "lookup").click()


def _settled(driver: Any, user_id: str) -> None:
    """Wait until the user panel shows ``user_id``'s answer (loaded or error)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def done(d: Any) -> bool:
        box = d.find_element(By.ID, "user-result")
        return (
            box.get_attribute("data-state") in ("loaded", "error")
            and box.get_attribute("data-for") == user_id
        )

    WebDriverWait(driver, 15).until(done)


def test_console_in_chromium(server: str, home: Home, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    status, api = _get(f"{server}/v1/users/{urllib.parse.quote(home.user, safe='')}/recommendations?k=10")
    assert status == 200 and api["items"], api
    browser.get(f"{server}/console")
    assert "operator console" in browser.title

    # Unknown, hostile id: the API's message, shown as text; no element or script injected.
    _look_up(browser, HOSTILE, "10")
    _settled(browser, HOSTILE)
    error = browser.find_element(By.ID, "user-error")
    assert error.text.startswith("No such user:") and f"unknown user {HOSTILE!r}" in error.text
    assert browser.find_elements(By.CSS_SELECTOR, "#user-result img") == []
    assert browser.execute_script("return window.pwned === undefined")

    # A known user: the table is the API's list, item for item.
    _look_up(browser, home.user, "10")
    _settled(browser, home.user)
    rows = browser.find_elements(By.CSS_SELECTOR, "#recs tbody tr")
    shown = [row.get_attribute("data-user-id") for row in rows]
    assert shown == [item["user_id"] for item in api["items"]]
    scores = [row.find_element(By.CSS_SELECTOR, "td.score").text for row in rows]
    assert [float(s) for s in scores] == pytest.approx([item["score"] for item in api["items"]], abs=1e-3)
    meta = browser.find_element(By.ID, "list-meta").text
    assert api["source"] in meta and api["model_version"] in meta
    assert browser.find_elements(By.CSS_SELECTOR, "#friends tbody tr button")  # the neighbourhood
    assert browser.find_elements(By.CSS_SELECTOR, "svg.ego g.node.me")

    # Models and health panels (loaded on page open).
    WebDriverWait(browser, 15).until(
        lambda d: (
            d.find_element(By.ID, "models").get_attribute("data-state") == "loaded"
            and d.find_element(By.ID, "health").get_attribute("data-state") == "loaded"
        )
    )
    assert browser.find_element(By.ID, "active-version").text == home.version
    assert "drift" in browser.find_element(By.ID, "drift-status").text
    assert "new_user_share" in browser.find_element(By.ID, "drift-features").text

    # The whole page in one picture: a window as tall as the document.
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1440, min(int(height) + 160, 4000))
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(ARTIFACT))
    shutil.copyfile(ARTIFACT, tmp_path / "console.png")
    assert ARTIFACT.stat().st_size > 10_000
