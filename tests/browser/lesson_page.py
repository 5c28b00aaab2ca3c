"""A lesson open in JupyterLab, driven as a learner would: run all cells, move a slider, pick a
dropdown value, read what the page shows, take screenshots."""
from __future__ import annotations

import re
import time
from pathlib import Path

NOTEBOOK_STATE_JS = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  if (!w || !w.content || !w.content.model) return null;
  const cells = w.content.model.cells;
  let pending = 0, code = 0;
  const errors = [];
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    code++;
    if (c.executionCount === null) pending++;
    for (const o of c.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push(`cell ${i}: ${o.ename}: ${o.evalue}`);
      if (o.output_type === 'stream' && o.name === 'stderr') errors.push(`cell ${i} wrote to stderr: ${String(o.text).slice(0, 400)}`);
    }
  }
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  return {pending, code, errors, status: kernel ? kernel.status : 'none', kernelName: kernel ? kernel.name : null};
}"""


class LessonPage:
    def __init__(self, browser, lab, name: str, shots: Path):
        base, token, _ = lab
        self.name = name
        self.stem = Path(name).stem
        self.shots = shots
        self.step = 0
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.page.set_default_timeout(30_000)
        self.page.goto(f"{base}/lab/tree/notebooks/{name}?token={token}")
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                    " && window.jupyterapp.shell.currentWidget.sessionContext", timeout=60_000)
        self.page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
            const k = w.sessionContext.session && w.sessionContext.session.kernel;
            return k && k.status === 'idle'; }""", timeout=90_000)
        # the notebook's model is loaded and its cells are on the page (run-all does nothing
        # before that)
        self.page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget;
            return w.context && w.context.isReady && w.content.widgets.length > 0; }""",
                                    timeout=60_000)

    def state(self) -> dict:
        return self.page.evaluate(NOTEBOOK_STATE_JS)

    def run_all(self, timeout: float = 600) -> dict:
        """Run every cell (as Run > Run All Cells does) and wait until the kernel is done."""
        # Start the command without awaiting its promise (it settles only when every cell has
        # run); progress is polled below with a bounded wait on each poll.
        run_all = "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); return true; }"
        self.page.evaluate(run_all)
        deadline = time.time() + timeout
        retry_at = time.time() + 30          # seen once on a loaded machine: nothing started
        time.sleep(1)
        while True:
            st = self.page.evaluate(f"async () => await Promise.race([({NOTEBOOK_STATE_JS})(), "
                                    "new Promise(r => setTimeout(() => r('busy'), 10000))])")
            if st == "busy":  # the page did not answer within 10 s: note it and keep polling
                st = None
            if st and st["pending"] == 0 and st["status"] == "idle":
                break
            if st and st["errors"]:
                break  # run-all stops at an error: report it now
            if (retry_at and time.time() > retry_at and st and st["pending"] == st["code"]
                    and st["status"] == "idle"):
                # no cell has started and the kernel waits: the command was lost, give it again
                self.page.evaluate(run_all)
                retry_at = None
            if time.time() > deadline:
                self.shot("timed out")
                raise AssertionError(f"{self.name}: still running after {timeout} s: {st}")
            time.sleep(1)
        self.page.wait_for_timeout(500)  # let the last widgets render
        return st

    def shot(self, label: str, locator=None) -> Path:
        self.step += 1
        path = self.shots / f"{self.stem}_{self.step:02d}_{re.sub(r'[^a-z0-9]+', '-', label.lower())}.png"
        target = locator if locator is not None else self.page
        target.screenshot(path=str(path))
        return path

    # --- widgets ------------------------------------------------------------------------------
    def widget(self, css_class: str):
        """The widget container that the explorer marked with ``add_class(css_class)``."""
        loc = self.page.locator(f".{css_class}").first
        loc.scroll_into_view_if_needed()
        return loc

    def cell_of(self, locator):
        return locator.locator("xpath=ancestor::div[contains(@class, 'jp-CodeCell')]").first

    @staticmethod
    def slider(scope, description: str):
        return scope.locator(".widget-slider").filter(has=scope.page.locator(f"label:text-is('{description}')")).first

    def slider_value(self, scope, description: str) -> str:
        return self.slider(scope, description).locator(".widget-readout").inner_text().strip()

    def nudge_slider(self, scope, description: str, steps: int = 1) -> str:
        """Move a slider by keyboard (focus its handle, press the arrow keys), as a learner can."""
        handle = self.slider(scope, description).locator(".noUi-handle").first
        handle.focus()
        for _ in range(abs(steps)):
            handle.press("ArrowRight" if steps > 0 else "ArrowLeft")
        self.page.wait_for_timeout(400)
        return self.slider_value(scope, description)

    def set_slider(self, scope, description: str, value) -> str:
        """Type a value into the slider's readout and press Enter."""
        readout = self.slider(scope, description).locator(".widget-readout")
        readout.click()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(str(value))
        self.page.keyboard.press("Enter")
        self.page.wait_for_timeout(400)
        return readout.inner_text().strip()

    def pick(self, scope, description: str, option: str) -> None:
        """Choose ``option`` in the dropdown labelled ``description``."""
        dropdown = scope.locator(".widget-dropdown").filter(has=scope.page.locator(f"label:text-is('{description}')")).first
        dropdown.locator("select").select_option(label=option)
        self.page.wait_for_timeout(400)

    def wait_until_changed(self, read, before, timeout: float = 15):
        """Poll ``read()`` until it differs from ``before``; return the new value."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            now = read()
            if now != before:
                return now
            self.page.wait_for_timeout(200)
        raise AssertionError(f"{self.name}: the page did not change within {timeout} s (still {before!r})")

    def close(self):
        """Shut the lesson's kernel down (as Kernel > Shut Down Kernel does), then the page."""
        try:
            self.page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()")
        except Exception:
            pass
        self.context.close()
