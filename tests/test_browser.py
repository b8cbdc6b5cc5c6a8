"""A real browser: JupyterLab in headless Chromium (Playwright), fast mode.

Notebook 01, in English and in the Korean edition (notebooks/ko, COURSE_LANG=ko, where the check and
the hint read in Korean): run all cells, wait for the kernel to be idle, move the γ slider with the keyboard and
see the figure's image change; the discounted_returns check shows "not attempted yet", then, after a
wrong answer is typed into the stub and run, its specific hint. Notebooks 04 and 08: the cells up to
their first slider, then the same slider assertion. Notebook 11: the run doctor's panel, live beside a
training run (a widget redrawn while it trains) and final (a plain PNG in the cell's own output, what a
notebook read without a kernel shows). No JavaScript errors in the console.

Uses the system's Chromium (Debian package ``chromium``; ``.ci/run`` installs it); nothing is
downloaded. Skipped, with the reason, when Playwright or a Chromium is missing.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = next((p for p in (os.environ.get("COURSE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                             shutil.which("chromium-browser")) if p and Path(p).exists()), None)
try:
    from playwright import sync_api as playwright_api
except ImportError:  # pragma: no cover - the test extra installs it
    playwright_api = None
needs_browser = pytest.mark.skipif(
    playwright_api is None or CHROMIUM is None,
    reason="Playwright is not installed (pip install -e .[test])" if playwright_api is None
    else "no Chromium found (apt-get install chromium, as .ci/run does; or set COURSE_CHROMIUM to its path)")

WRONG_ANSWER = (  # the registered mistake "single_sweep": one Bellman backup from V = 0, no loop
    "def my_policy_evaluation(P, R, policy, gamma, tol):\n"
    "    V = np.zeros(P.shape[0])\n"
    "    return (policy * (P * (R + gamma * V[None, None, :])).sum(axis=2)).sum(axis=1)\n"
)
# Console messages of JupyterLab itself that are not errors of the course (none are expected; add one
# here only with the reason).
IGNORED_CONSOLE: tuple[str, ...] = ()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_lab(tmp_path_factory, folder: Path, names: tuple[str, ...], lang: str):
    """JupyterLab serving copies of ``folder``'s notebooks ``names``, kernels in language ``lang``."""
    root = tmp_path_factory.mktemp(f"lab-{lang}")
    for name in names:
        shutil.copy(folder / f"{name}.ipynb", root)
    home = tmp_path_factory.mktemp("home")
    # Every cell attached to the page (JupyterLab 4 renders only the visible ones by default).
    settings = home / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    port = _free_port()
    env = dict(os.environ, COURSE_FAST="1", COURSE_LANG=lang, PYTHONPATH=str(ROOT), HOME=str(home),
               JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
               JUPYTER_DATA_DIR=str(Path(sys.prefix) / "share" / "jupyter"))
    env.pop("MPLBACKEND", None)  # the test session's Agg would make kernels print figures as text
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           "--allow-root", f"--ServerApp.root_dir={root}", "--IdentityProvider.token=", "--ServerApp.password=",
           "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
           "jupyterlab.NeverCheckForUpdate", f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    log = open(home / "lab.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not start: {(home / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    try:
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


@pytest.fixture(scope="module")
def chromium():
    """One headless Chromium for every lab of the module (Playwright's sync API allows one at a time)."""
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory, chromium):
    for url in _serve_lab(tmp_path_factory, ROOT / "notebooks",
                          ("01_mdp_and_discounted_return", "04_ppo_cartpole", "08_grpo", "11_why_isnt_it_learning"), "en"):
        yield url, chromium


@pytest.fixture(scope="module")
def lab_ko(tmp_path_factory, chromium):
    """The Korean edition as `course.py lab --lang ko` opens it: notebooks/ko, COURSE_LANG=ko."""
    for url in _serve_lab(tmp_path_factory, ROOT / "notebooks" / "ko", ("01_mdp_and_discounted_return",), "ko"):
        yield url, chromium


class Lab:
    """One notebook open in JupyterLab, driven through the page and ``window.jupyterapp``."""

    def __init__(self, browser, url: str, notebook: str):
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.goto(f"{url}/lab/tree/{notebook}.ipynb?reset")  # a fresh workspace: only this notebook
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget "
                                    "&& window.jupyterapp.shell.currentWidget.context "
                                    "&& window.jupyterapp.shell.currentWidget.context.isReady", timeout=60_000)
        self.page.wait_for_function(  # every cell's widget made (large notebooks render in batches)
            "() => { const c = window.jupyterapp.shell.currentWidget.content;"
            " return c.model && c.model.cells.length > 0 && c.widgets.length === c.model.cells.length; }",
            timeout=60_000)
        self.root = "#" + self.js("return nb.id;")  # the DOM of this notebook only
        self.wait_idle(120)

    def js(self, body: str, arg=None):
        return self.page.evaluate(f"(arg) => {{ const nb = window.jupyterapp.shell.currentWidget; {body} }}", arg)

    def wait_idle(self, seconds: float) -> None:
        """Until the kernel is idle and no cell is queued or running."""
        self.page.wait_for_function(
            "() => { const nb = window.jupyterapp.shell.currentWidget;"
            " const k = nb.sessionContext.session && nb.sessionContext.session.kernel;"
            " if (!k || k.status !== 'idle') return false;"
            " return ![...nb.node.querySelectorAll('.jp-InputArea-prompt')].some(p => p.textContent.includes('*')); }",
            timeout=seconds * 1000, polling=500)

    def index(self, cell_id: str) -> int:
        i = self.js("return nb.content.widgets.findIndex(w => w.model.id === arg);", cell_id)
        assert i >= 0, f"no cell {cell_id}"
        return i

    def run(self, command: str, seconds: float) -> None:
        self.js(f"return window.jupyterapp.commands.execute('{command}');")
        time.sleep(1.0)  # the cells are queued before the kernel turns busy
        self.wait_idle(seconds)

    def select(self, i: int) -> None:
        self.js("nb.content.activeCellIndex = arg; nb.content.deselectAll();", i)

    def output_text(self, i: int) -> str:
        return self.js("return nb.content.widgets[arg].outputArea.node.innerText;", i)

    def slider_moves_figure(self, cell_id: str) -> None:
        i = self.index(cell_id)
        cell = self.page.locator(f"{self.root} .jp-Cell").nth(i)
        cell.scroll_into_view_if_needed()
        img = cell.locator(".widget-output img").first
        try:
            img.wait_for(timeout=30_000)
        except Exception:
            self.page.screenshot(path=str(Path(os.environ.get("COURSE_BROWSER_SHOTS", "/tmp")) / f"lab-{cell_id}.png"))
            raise
        before = img.get_attribute("src")
        handle = cell.locator(".widget-slider .noUi-handle, .widget-hslider .noUi-handle").first
        handle.scroll_into_view_if_needed()
        handle.focus()
        for _ in range(3):
            self.page.keyboard.press("ArrowRight")
        self.page.wait_for_function(
            "([i, before]) => { const nb = window.jupyterapp.shell.currentWidget;"
            " const img = nb.content.widgets[i].node.querySelector('.widget-output img');"
            " return img && img.src !== before; }", arg=[i, before], timeout=30_000)
        assert img.get_attribute("src") != before

    def assert_no_errors(self) -> None:
        real = [e for e in self.errors if not any(s in e for s in IGNORED_CONSOLE)]
        assert not real, "JavaScript errors in the console:\n" + "\n".join(real)


# What the learner reads, by language: the check before an attempt, and the registered mistake's hint.
READS = {"en": ("not attempted yet", "You applied the backup once"),
         "ko": ("아직 풀지 않았습니다", "백업을 한 번만 적용했습니다")}


@needs_browser
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_notebook_01_slider_and_exercise_check_in_a_real_browser(lang, request):
    url, browser = request.getfixturevalue("lab" if lang == "en" else "lab_ko")
    not_attempted, hint = READS[lang]
    nb = Lab(browser, url, "01_mdp_and_discounted_return")
    nb.run("notebook:run-all-cells", 150)
    nb.slider_moves_figure("cell-10")
    check = nb.index("pe-check")
    assert not_attempted in nb.output_text(check)
    stub = nb.index("pe-stub")
    nb.select(stub)
    editor = nb.page.locator(f"{nb.root} .jp-Cell").nth(stub).locator(".cm-content")
    editor.click()
    nb.page.keyboard.press("Control+a")
    nb.page.keyboard.press("Delete")
    nb.page.keyboard.insert_text(WRONG_ANSWER)
    assert "V = np.zeros(P.shape[0])" in nb.js("return nb.content.widgets[arg].model.sharedModel.getSource();", stub)
    nb.page.keyboard.press("Shift+Enter")  # runs the stub, selects the check cell
    nb.page.keyboard.press("Shift+Enter")  # runs the check
    time.sleep(1.0)
    nb.wait_idle(60)
    text = nb.output_text(check)
    assert hint in text, text
    nb.assert_no_errors()
    nb.page.close()


# The slider's cell and the cells it needs (imports, the cached sweep it selects from), in order.
SLIDERS = {
    "04_ppo_cartpole": ["ppo04-01", "ppo04-03"],
    "08_grpo": ["baeca6a9", "c2936150", "43683c92", "89ffb520"],
}


@needs_browser
@pytest.mark.parametrize("notebook", sorted(SLIDERS))
def test_slider_redraws_the_figure(lab, notebook):
    url, browser = lab
    nb = Lab(browser, url, notebook)
    for cell_id in SLIDERS[notebook]:
        nb.select(nb.index(cell_id))
        nb.run("notebook:run-cell", 120)
    slider = SLIDERS[notebook][-1]
    nb.slider_moves_figure(slider)
    nb.assert_no_errors()
    nb.page.close()


# A short PPO run with the panel redrawing at every second update: the live widget, as a learner sees it.
LIVE_PANEL = (
    "live = DiagnosePanel(every=2, min_seconds=0, max_overhead=None)\n"
    "live_run = dr.train('ppo', 1, total_steps=4096, run=RunOptions(log=live))\n"
    "print(f'live redraws: {live.redraws}')\n"
)


@needs_browser
def test_run_doctor_panel_is_drawn_live_and_final(lab):
    url, browser = lab
    nb = Lab(browser, url, "11_why_isnt_it_learning")
    for cell_id in ("nb11-setup", "nb11-healthy"):
        nb.select(nb.index(cell_id))
        nb.run("notebook:run-cell", 180)
    # finish(): the whole run's figure is the cell's own PNG output, and the findings are printed
    healthy = nb.index("nb11-healthy")
    cell = nb.page.locator(f"{nb.root} .jp-Cell").nth(healthy)
    final = cell.locator(".jp-OutputArea-output img").first
    final.wait_for(timeout=30_000)
    assert final.get_attribute("src").startswith("data:image/png"), "the final panel is not a PNG output"
    assert nb.js("return nb.content.widgets[arg].model.outputs.toJSON().some("
                 "o => o.data && o.data['image/png']);", healthy), "the PNG is not stored in the cell's outputs"
    text = nb.output_text(healthy)
    assert "findings" in text and ("no findings" in text or "evidence:" in text), text
    # live: a cell below that trains with the panel as its log sink; the widget shows the figure while it runs
    nb.select(healthy)
    nb.js("return window.jupyterapp.commands.execute('notebook:insert-cell-below');")
    live = healthy + 1
    nb.js("nb.content.widgets[arg[0]].model.sharedModel.setSource(arg[1]);", [live, LIVE_PANEL])
    nb.select(live)
    nb.run("notebook:run-cell", 180)
    text = nb.output_text(live)
    assert "live redraws:" in text and "live redraws: 0" not in text, text
    cell = nb.page.locator(f"{nb.root} .jp-Cell").nth(live)
    img = cell.locator(".widget-output img").first
    img.wait_for(timeout=30_000)
    assert img.get_attribute("src").startswith("data:image/png")
    widget_text = cell.locator(".widget-output").first.inner_text()
    assert "no findings" in widget_text or "evidence:" in widget_text, widget_text  # format_findings' text
    nb.assert_no_errors()
    nb.page.close()


def test_ci_installs_chromium_before_the_readme_test_command():
    lines = [l.strip() for l in (ROOT / ".ci" / "run").read_text().splitlines() if l.strip()]
    install = next(i for i, l in enumerate(lines) if "apt-get install" in l and "chromium" in l)
    assert "apt-get update" in lines[install]
    assert lines[-1] == "python3 course.py test", "the README's test command must stay the last line"
    assert install < len(lines) - 1
