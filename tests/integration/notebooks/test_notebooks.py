"""Every notebook in notebooks/ runs against the test stack after an ingestion, with
the kernel start-up of the local Jupyter service, and its results are checked; the
service itself refuses requests without its token, and JupyterLab shows the notebook
list in headless Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
import requests
from nbclient import NotebookClient

from lakehouse.local.services.jupyter_server import JupyterService
from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
    return "".join(parts)


def test_jupyter_refuses_requests_without_the_token(jupyter: JupyterService) -> None:
    token = jupyter.token()
    assert token and (jupyter.token_file.stat().st_mode & 0o777) == 0o600
    assert requests.get(f"{jupyter.base_url}/api/contents", timeout=10).status_code == 403
    assert (
        requests.get(
            f"{jupyter.base_url}/api/contents", headers={"Authorization": "token wrong"}, timeout=10
        ).status_code
        == 403
    )
    listing = requests.get(f"{jupyter.base_url}/api/contents", headers={"Authorization": f"token {token}"}, timeout=10)
    assert listing.status_code == 200
    assert {"quickstart.ipynb"} <= {item["name"] for item in listing.json()["content"]}
    # Loopback only, and the token is on no command line.
    assert jupyter.settings.local.bind_host == "127.0.0.1"
    assert all(token not in arg for arg in jupyter.command())


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_against_the_stack(
    path: Path, ingested, jupyter: JupyterService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel starts as the service's kernels do (its IPYTHONDIR start-up file,
    # the stack's LAKEHOUSE_* settings), reading the ingested endpoint.
    for key, value in jupyter.env().items():
        if key != "JUPYTER_TOKEN":
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("LAKEHOUSE_ENDPOINTS_DIR", str(ingested.endpoints_dir))
    monkeypatch.setenv("LAKEHOUSE_NOTEBOOK_ENDPOINT", ingested.endpoint)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    nbformat.write(nb, tmp_path / path.name)  # the executed copy, for a look after a failure

    outputs = [out for cell in nb.cells for out in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "a plot in the outputs"
    text = _text(nb)
    if path.name == "quickstart.ipynb":
        for line in (
            f"spark rows: {ingested.rows}",
            f"duckdb rows: {ingested.rows}",
            f"quarantined: {ingested.quarantined}",
            f"first snapshot rows: {ingested.first_rows}",
            f"slots: {ingested.slots}",
            "rows at commit",
            ingested.table.split(".")[1],
        ):
            assert line in text, f"{line!r} not in the notebook's output:\n{text}"
        assert "first misfit: " in text and "decimal places" in text, text


@pytest.mark.skipif(
    not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)),
    reason="Debian's chromium and chromium-driver are not installed",
)
def test_jupyterlab_in_a_browser_lists_the_notebooks(jupyter: JupyterService, tmp_path: Path) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager downloads nothing
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    # Kept as a test artifact: pytest's tmp dir, or $LAKEHOUSE_TEST_ARTIFACTS (CI points it
    # at test-artifacts/, which git ignores).
    artifacts = Path(os.environ.get("LAKEHOUSE_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "jupyterlab-notebook-list.png"
    try:
        driver.get(jupyter.url)  # no token: the login page asks for one, nothing is listed
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=password]"))
        assert "quickstart.ipynb" not in driver.page_source
        driver.get(f"{jupyter.url}?token={jupyter.token()}")
        listed = WebDriverWait(driver, 90).until(
            lambda d: [
                e for e in d.find_elements(By.CSS_SELECTOR, ".jp-DirListing-item") if "quickstart.ipynb" in e.text
            ]
        )
        assert listed
        driver.save_screenshot(str(shot))
    except BaseException:
        driver.save_screenshot(str(shot))
        raise
    finally:
        driver.quit()
    assert shot.stat().st_size > 0
    print(f"screenshot: {shot}")
