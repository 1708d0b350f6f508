"""The web console (/ui) and the API docs in a real headless Chromium against a real `aiaas serve`:
a member uploads, trains while the curve grows, deploys and predicts through the forms; a predict key
sees only endpoints; another tenant's ids are not found; no page logs a browser error; every console
file carries the CSP and names no outside URL; /docs and /redoc render every operation.

Screenshots of each page at 1280 and 390 px are written to $AIAAS_TEST_ARTIFACTS (default: pytest's
tmp folder, console-screenshots/)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from browser_support import console_errors, missing_browser, screenshot, start_browser
from service_support import ADMIN_KEY, upload, wait_job, write_csv

REASON = missing_browser()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"console tests need a browser: {REASON}")
CONSOLE_DIR = Path(__file__).resolve().parents[2] / "python" / "aiaas_core" / "service" / "console"
RESOURCE_404 = "the server responded with a status of 404"


@pytest.fixture(scope="module")
def browser():
    driver = start_browser()
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("AIAAS_TEST_ARTIFACTS") or tmp_path_factory.mktemp("artifacts")) / "console-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory) -> tuple[Path, np.ndarray]:
    from sklearn.datasets import load_breast_cancer

    bc = load_breast_cancer()
    path = tmp_path_factory.mktemp("console") / "breast_cancer.csv"
    write_csv(path, bc.data, bc.target)
    return path, bc.data


def _wait(driver, css: str, timeout: float = 20, text: str | None = None):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def found(d):
        for el in d.find_elements(By.CSS_SELECTOR, css):
            if el.is_displayed() and (text is None or text in el.text):
                return el
        return False

    # The page redraws parts of itself (live curves, lists): an element may go stale between two looks.
    wait = WebDriverWait(driver, timeout, poll_frequency=0.05, ignored_exceptions=(StaleElementReferenceException,))
    return wait.until(found, f"no {css!r} showing {text!r}")


def _open(driver, server, route: str):
    driver.get(f"{server.url}/ui/#{route}")


def _sign_in(driver, server, key: str) -> None:
    driver.get(f"{server.url}/ui/")
    driver.execute_script("sessionStorage.clear()")
    _open(driver, server, "/signin")
    box = _wait(driver, "input[name=key]")
    box.send_keys(key)
    box.submit()
    _wait(driver, "#who button", text="Sign out")


def _nav(driver) -> list[str]:
    """The navigation's link texts, read in one script call once two reads 0.2 s apart agree (the
    menu is redrawn after sign-in; reading element by element can meet a link already replaced)."""
    import time

    read = "return Array.from(document.querySelectorAll('#nav a'), a => a.textContent.trim());"
    last = driver.execute_script(read)
    for _ in range(25):
        time.sleep(0.2)
        now = driver.execute_script(read)
        if now == last:
            return now
        last = now
    return last


def _points(driver, metric: str = "loss") -> int:
    """Points drawn on a job's chart of `metric` (read in the page: the chart redraws as epochs arrive)."""
    return int(driver.execute_script(
        "const f = document.querySelector(`figure.chart-box[data-metric='${arguments[0]}']`);"
        "return f ? f.dataset.points : 0;", metric))


_UNLABELLED = """
return [...document.querySelectorAll('input, select, textarea, button')].filter((el) => {
  if (el.tagName === 'BUTTON') return !el.textContent.trim() && !el.getAttribute('aria-label');
  return !el.getAttribute('aria-label') && !(el.labels && el.labels.length);
}).map((el) => el.outerHTML.slice(0, 160));
"""


def _shoot(driver, folder: Path, name: str) -> None:
    """Every control on the page has a label (or a name a screen reader reads), then the screenshots."""
    unlabelled = driver.execute_script(_UNLABELLED)
    assert not unlabelled, f"controls without a label on {name}: {unlabelled}"
    screenshot(driver, folder, name)


def _assert_clean(driver, page: str, allow: tuple[str, ...] = ()) -> None:
    errors = console_errors(driver, allow)
    assert not errors, f"browser console errors on {page}: {errors}"


def test_console_files_carry_the_csp_and_no_outside_url(server):
    files = sorted(p for p in CONSOLE_DIR.rglob("*") if p.is_file())
    assert any(p.name == "index.html" for p in files) and len(files) > 10
    for path in ["/ui/", *(f"/ui/{p.relative_to(CONSOLE_DIR).as_posix()}" for p in files)]:
        r = httpx.get(server.url + path)
        assert r.status_code == 200, path
        csp = r.headers.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp, (path, csp)
        assert r.headers.get("x-content-type-options") == "nosniff"
        text = r.text
        # The only URL-looking string allowed is the SVG namespace name (an identifier, never fetched).
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s'\"]*", text)) - {"http://www.w3.org/2000/svg"}
        assert not urls, (path, urls)
        if path.endswith(".html") or path == "/ui/":
            assert "<script>" not in text and " style=" not in text and "onclick=" not in text  # nothing inline
    for entry in ("/", "/ui"):
        r = httpx.get(server.url + entry, follow_redirects=False)
        assert r.status_code == 307 and r.headers["location"] == "/ui/"


def test_the_whole_flow_in_the_browser(server, browser, shots, make_tenant, admin, cancer_csv):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    csv_path, features = cancer_csv
    tid, clients = make_tenant("console")
    member_key, predict_key = clients["keys"]["member"]["key"], clients["keys"]["predict"]["key"]
    d = browser
    d.get_log("browser")  # start from a clean log

    # Sign in: the role decides the navigation.
    _open(d, server, "/signin")
    _wait(d, "input[name=key]")
    _shoot(d, shots, "signin")
    _sign_in(d, server, member_key)
    assert _nav(d) == ["Datasets", "Train", "Jobs", "Models", "Endpoints"]
    assert d.execute_script("return document.cookie") == "" and member_key not in d.current_url

    # Upload the CSV with the API's options; the dataset page previews rows and columns.
    _open(d, server, "/datasets")
    _wait(d, "input[name=file]").send_keys(str(csv_path))
    name = d.find_element(By.CSS_SELECTOR, "input[name=name]")
    name.clear()
    name.send_keys("cancer")
    d.find_element(By.CSS_SELECTOR, "input[name=label_column]").send_keys("target")
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait(d, "h1", text="Dataset cancer")
    _wait(d, "caption", text="Per-column summary")
    assert len(d.find_elements(By.XPATH, "//caption[text()='Per-column summary']/../tbody/tr")) == 30
    dataset_id = d.current_url.rsplit("/", 1)[1]
    _shoot(d, shots, "dataset")
    _open(d, server, "/datasets")
    _wait(d, "td a", text="cancer")
    _shoot(d, shots, "datasets")
    _assert_clean(d, "datasets")

    # Train an mlp from the generated form; the field errors come from the schema.
    _open(d, server, f"/train?dataset={dataset_id}")
    epochs = _wait(d, "input[name=epochs]")
    assert epochs.get_attribute("value") == "10"  # the schema's default
    epochs.clear()
    epochs.send_keys("0")
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    assert "at least 1" in _wait(d, ".field-error", text="at least").text
    _shoot(d, shots, "train")
    for field, value in (("epochs", "60"), ("batch_size", "4"), ("validation_split", "0.2"), ("units", "64, 32")):
        box = d.find_element(By.CSS_SELECTOR, f"input[name={field}]")
        box.clear()
        box.send_keys(value)
    d.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    _wait(d, "h1", text="Job ")
    job_id = d.current_url.rsplit("/", 1)[1]

    # The curve grows while the job runs (two reads of the chart's point count), then stays.
    deadline = time.monotonic() + 60
    first = 0
    while first == 0 and time.monotonic() < deadline:
        first = _points(d)
        time.sleep(0.05)
    assert first > 0, "no epoch reached the chart"
    state_then = d.execute_script("return document.getElementById('job-state').textContent")
    grown = first
    while grown <= first and time.monotonic() < deadline:
        time.sleep(0.1)
        grown = _points(d)
    assert grown > first, (first, grown, state_then)
    _shoot(d, shots, "job-running")
    _wait(d, "#job-state", timeout=90, text="succeeded")
    _wait(d, "a", text="model version")
    # Loss and accuracy, training and validation, one point per epoch each.
    assert _points(d, "loss") == 2 * 60 and _points(d, "accuracy") == 2 * 60
    assert "epoch 60/60" in d.find_element(By.CSS_SELECTOR, "pre.log").text
    job = clients["member"].get(f"/v1/jobs/{job_id}").json()
    version_id = job["model_version_id"]
    # A finished job keeps its curves when opened again.
    d.refresh()
    _wait(d, "#job-state", text="succeeded")
    _wait(d, "figure.chart-box[data-metric=loss]")
    deadline = time.monotonic() + 10
    while _points(d) < 120 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _points(d) == 120
    _shoot(d, shots, "job-finished")
    _assert_clean(d, "job")

    # Two jobs on one chart.
    second = clients["member"].post("/v1/jobs", json={"dataset_id": dataset_id, "architecture": "logistic",
                                                       "hyperparameters": {"epochs": 5, "learning_rate": 0.01}}).json()
    second = wait_job(clients["member"], second["id"])
    assert second["state"] == "succeeded"
    _open(d, server, "/jobs")
    _wait(d, "td input[type=checkbox]")
    boxes = d.find_elements(By.CSS_SELECTOR, "td input[type=checkbox]")
    for box in boxes[:2]:
        box.click()
    _shoot(d, shots, "jobs")
    d.find_element(By.XPATH, "//button[text()='Compare selected jobs']").click()
    _wait(d, "h1", text="Compare 2 jobs")
    chart = _wait(d, "figure.chart-box")
    deadline = time.monotonic() + 10
    while int(chart.get_attribute("data-points") or 0) < 65 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(chart.get_attribute("data-points")) == 65  # 60 + 5 epochs of loss
    assert len(d.find_elements(By.CSS_SELECTOR, "figure.chart-box g.series")) == 2
    assert Select(d.find_element(By.CSS_SELECTOR, "select")).first_selected_option.text == "loss"
    _shoot(d, shots, "compare")

    # The model version: metrics, lineage, downloads; deploy it.
    _open(d, server, f"/models/{version_id}")
    _wait(d, "h2", text="Lineage")
    assert dataset_id in d.find_element(By.CSS_SELECTOR, "dl.facts").text
    # Downloads carry the key in a header, so the page fetches the bytes and saves them.
    downloads = shots.parent / "downloads"
    downloads.mkdir(exist_ok=True)
    d.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    d.find_element(By.XPATH, "//button[text()='Download safetensors (.zip)']").click()
    saved = downloads / f"{version_id}.zip"
    deadline = time.monotonic() + 20
    while not (saved.exists() and saved.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert saved.read_bytes()[:2] == b"PK"  # the model.save zip
    d.find_element(By.XPATH, "//button[text()='Evaluate']").click()
    assert "accuracy" in _wait(d, ".table-wrap", text="On 569 rows").text
    _shoot(d, shots, "model")
    _open(d, server, "/models")
    _wait(d, "caption", text="Model versions")
    _shoot(d, shots, "models")
    _open(d, server, f"/models/{version_id}")
    _wait(d, "input[name=endpoint]").send_keys("cancer")
    d.find_element(By.XPATH, "//button[text()='Deploy']").click()
    _wait(d, "h1", text="Endpoint cancer")

    # Predict through the form generated from the signature: one field per feature, named by column.
    fields = d.find_elements(By.CSS_SELECTOR, ".features input[type=number]")
    assert len(fields) == 30 and d.find_element(By.CSS_SELECTOR, ".features label").text == "f0"
    d.find_element(By.CSS_SELECTOR, ".paste textarea").send_keys(", ".join(repr(float(v)) for v in features[0]))
    d.find_element(By.XPATH, "//button[text()='Fill the fields']").click()
    d.find_element(By.XPATH, "//button[text()='Predict']").click()
    label = _wait(d, "#predicted-label").text
    assert label == "Predicted class: 0"  # the first sample of the data set is malignant (0)
    assert len(d.find_elements(By.CSS_SELECTOR, ".result figure.bars-box")[0].find_elements(By.CSS_SELECTOR, "rect")) == 2
    _wait(d, ".explanation figcaption", text="integrated-gradients")
    assert len(d.find_elements(By.CSS_SELECTOR, ".explanation rect")) == 15
    _wait(d, "#traffic-facts", timeout=10, text="requests since the server started")
    time.sleep(2.2)  # one more traffic sample: the prediction and explanation show in it
    assert "2 requests since" in d.find_element(By.ID, "traffic-facts").text
    _shoot(d, shots, "endpoint")
    _open(d, server, "/endpoints")
    _wait(d, "td a", text="cancer")
    _shoot(d, shots, "endpoints")
    _assert_clean(d, "endpoints")

    # Canary weight through the slider, then remove it.
    _open(d, server, "/endpoints/cancer")
    canary = Select(_wait(d, "h2", text="Manage") and d.find_elements(By.CSS_SELECTOR, "section select")[1])
    canary.select_by_value(second["model_version_id"])
    d.find_element(By.CSS_SELECTOR, "input[type=range]").send_keys(*["\ue013"] * 5)  # arrow keys: 10 -> 15
    d.find_element(By.XPATH, "//button[text()='Apply canary']").click()
    _wait(d, "p", text="15% of requests going to")
    assert clients["member"].get("/v1/endpoints/cancer").json()["canary"]["percent"] == 15
    # Promote the other version, then roll back.
    for target in (second["model_version_id"], version_id):
        Select(_wait(d, "h2", text="Manage") and d.find_elements(By.CSS_SELECTOR, "section select")[0]).select_by_value(target)
        d.find_element(By.XPATH, "//button[text()='Serve this version']").click()
        _wait(d, "p", text=f"Serving model version {target[:8]}")
        assert clients["member"].get("/v1/endpoints/cancer").json()["model_version_id"] == target

    # A predict key: only endpoints and the predict form; the train pages are refused.
    _sign_in(d, server, predict_key)
    assert _nav(d) == ["Endpoints"]
    _open(d, server, "/train")
    assert "needs the member role" in _wait(d, ".error").text
    assert not d.find_elements(By.CSS_SELECTOR, "input[name=epochs]")
    _shoot(d, shots, "predict-key-train-refused")
    _open(d, server, "/endpoints/cancer")
    _wait(d, "h2", text="Predict")
    assert not [h for h in d.find_elements(By.CSS_SELECTOR, "h2") if h.text == "Manage"]
    _shoot(d, shots, "predict-key-endpoint")
    _assert_clean(d, "predict key pages")

    # Another tenant's ids look like missing ones.
    _, others = make_tenant("console-other")
    _sign_in(d, server, others["keys"]["member"]["key"])
    for route, kind in ((f"/datasets/{dataset_id}", "dataset"), (f"/jobs/{job_id}", "job"),
                        (f"/models/{version_id}", "model version"), ("/endpoints/cancer", "endpoint")):
        _open(d, server, route)
        assert "not found" in _wait(d, ".error", text="not found").text, route
        assert kind in d.find_element(By.CSS_SELECTOR, ".error").text
    _shoot(d, shots, "other-tenant-not-found")
    _assert_clean(d, "other tenant's ids", allow=(RESOURCE_404,))

    # Admin: tenants, keys (shown once, revocable), audit log with filters.
    _sign_in(d, server, ADMIN_KEY)
    assert _nav(d)[-2:] == ["Tenants & keys", "Audit log"]
    _open(d, server, "/admin/tenants")
    _wait(d, "td a", text="console-")
    _shoot(d, shots, "tenants")
    _open(d, server, f"/admin/tenants/{tid}")
    _wait(d, "caption", text="Keys")
    Select(d.find_element(By.CSS_SELECTOR, "form select")).select_by_value("predict")
    d.find_element(By.XPATH, "//button[text()='Create key']").click()
    new_key = _wait(d, "#new-key-value").get_attribute("value")
    assert new_key.startswith("aiaas_") and httpx.get(f"{server.url}/v1/endpoints", headers={"Authorization": f"Bearer {new_key}"}).status_code == 200
    _shoot(d, shots, "tenant-keys")
    d.find_element(By.XPATH, "//button[text()='Done, refresh the list']").click()
    _wait(d, "td", text=new_key[:10])
    revoke = [b for b in d.find_elements(By.CSS_SELECTOR, "td button") if b.text == "Revoke"][0]
    revoke.click()
    revoke.click()  # the second press confirms
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/v1/endpoints", headers={"Authorization": f"Bearer {new_key}"}).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works"
        time.sleep(0.1)
    _open(d, server, "/admin/audit")
    _wait(d, "caption", text="Audit log")
    d.find_element(By.CSS_SELECTOR, "input[type=search]").send_keys("DELETE /v1/keys")
    rows = d.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(rows) >= 1 and all("DELETE /v1/keys" in r.text for r in rows)
    _shoot(d, shots, "audit")
    _assert_clean(d, "admin pages", allow=(RESOURCE_404,))  # the 401 check above is httpx's, not the page's

    # Sign out forgets the key.
    d.find_element(By.XPATH, "//button[text()='Sign out']").click()
    _wait(d, "h1", text="Sign in")
    assert d.execute_script("return sessionStorage.getItem('aiaas.key')") is None
    # Every resource the browser fetched came from this server.
    outside = d.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"
                               ".filter(n => !n.startsWith(location.origin))")
    assert outside == []
    _assert_clean(d, "sign out")


def _operations(server) -> int:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    return sum(1 for item in spec["paths"].values() for m in item if m in ("get", "post", "put", "patch", "delete"))


def test_docs_and_redoc_render_every_operation(server, browser, shots):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    expected = _operations(server)
    browser.get_log("browser")
    browser.get(f"{server.url}/docs")
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= expected)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".opblock")) == expected
    assert not browser.find_elements(By.XPATH, "//*[contains(text(), 'Unable to render this definition')]")
    screenshot(browser, shots, "docs", widths=(1280,))
    browser.get(f"{server.url}/redoc")
    sel = "[data-section-id^='operation/']"
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, sel)) >= expected)
    assert len(browser.find_elements(By.CSS_SELECTOR, sel)) == expected
    screenshot(browser, shots, "redoc", widths=(1280,))
    _assert_clean(browser, "/docs and /redoc")


def test_images_preview_and_the_drawing_pad(server, browser, shots, make_tenant, data_files):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _, clients = make_tenant("console-img")
    member = clients["member"]
    images = upload(member, data_files["mnist_images"], "digits", labels=data_files["mnist_labels"]).json()
    job = member.post("/v1/jobs", json={"dataset_id": images["id"], "architecture": "cnn", "hyperparameters": {
        "epochs": 2, "filters": [8], "dense_units": 32, "learning_rate": 0.005}}).json()
    job = wait_job(member, job["id"])
    assert job["state"] == "succeeded", job
    assert member.post("/v1/endpoints", json={"name": "digits", "model_version_id": job["model_version_id"]}).status_code == 201
    d = browser
    _sign_in(d, server, clients["keys"]["member"]["key"])
    d.get_log("browser")

    _open(d, server, f"/datasets/{images['id']}")
    _wait(d, "canvas.thumb")
    assert len(d.find_elements(By.CSS_SELECTOR, "canvas.thumb")) == 8
    _shoot(d, shots, "dataset-images")

    # Draw a vertical stroke (a "1") on the pad, predict, and see ten probabilities and a heat map.
    _open(d, server, "/endpoints/digits")
    pad = _wait(d, "canvas.pad")
    ActionChains(d).move_to_element_with_offset(pad, 0, -90).click_and_hold() \
        .move_by_offset(0, 60).move_by_offset(0, 60).move_by_offset(0, 60).release().perform()
    drawn = d.execute_script("const c = arguments[0].getContext('2d').getImageData(0, 0, 280, 280).data;"
                             "let n = 0; for (let i = 0; i < c.length; i += 4) n += c[i] > 128; return n;", pad)
    assert drawn > 1000, "the stroke did not reach the pad"
    d.find_element(By.XPATH, "//button[text()='Predict']").click()
    assert _wait(d, "#predicted-label").text.startswith("Predicted class: ")
    assert len(d.find_elements(By.CSS_SELECTOR, ".result figure.bars-box rect")) == 10
    _wait(d, "canvas.heatmap")
    _shoot(d, shots, "endpoint-image")
    undeploy = d.find_element(By.XPATH, "//button[text()='Undeploy']")
    undeploy.click()
    undeploy.click()  # the second press confirms
    _wait(d, "h1", text="Endpoints")
    assert member.get("/v1/endpoints/digits").status_code == 404
    _assert_clean(d, "image pages")


def test_cancel_a_running_job_and_delete_a_dataset(server, browser, make_tenant, data_files):
    from selenium.webdriver.common.by import By

    _, clients = make_tenant("console-cancel")
    member = clients["member"]
    ds = upload(member, data_files["breast_cancer_csv"], "bc", label_column="target").json()
    job = member.post("/v1/jobs", json={"dataset_id": ds["id"], "architecture": "mlp",
                                        "hyperparameters": {"epochs": 200, "batch_size": 1}}).json()
    assert "id" in job, job
    d = browser
    _sign_in(d, server, clients["keys"]["member"]["key"])
    d.get_log("browser")
    _open(d, server, f"/jobs/{job['id']}")
    _wait(d, "#job-state", timeout=30, text="running")
    d.find_element(By.XPATH, "//button[text()='Cancel job']").click()
    _wait(d, "#job-state", timeout=30, text="canceled")
    assert member.get(f"/v1/jobs/{job['id']}").json()["state"] == "canceled"

    _open(d, server, "/datasets")
    delete = _wait(d, "td button", text="Delete")
    delete.click()
    assert delete.text.startswith("Really delete")  # a first press only asks
    delete.click()
    _wait(d, "td.empty", text="Nothing yet")
    assert member.get(f"/v1/datasets/{ds['id']}").status_code == 404
    _assert_clean(d, "cancel and delete")
