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


# Times one redraw of an explorer as the learner sees it. Installed before a key press on a
# slider: t0 is the key press (a capturing keydown listener, the first thing to see it); tSrc the
# moment the explorer's picture (its first <img>, an ipywidgets Image) gets its new PNG, after the
# slider's new value went to the kernel, the explorer's update() ran and the PNG came back;
# tPaint the next animation frame after that PNG is decoded, i.e. when it is on the screen.
REDRAW_TIMER_JS = """(root) => {
  const img = root.querySelector('img');
  if (!img) return false;
  const rec = {t0: null, tSrc: null, tPaint: null};
  const onKey = () => { if (rec.t0 === null) rec.t0 = performance.now(); };
  document.addEventListener('keydown', onKey, true);
  rec.done = new Promise((resolve) => {
    const obs = new MutationObserver(() => {
      if (rec.tSrc !== null || rec.t0 === null) return;   // a late picture of an earlier move
      rec.tSrc = performance.now();
      obs.disconnect();
      document.removeEventListener('keydown', onKey, true);
      const painted = () => requestAnimationFrame(() => { rec.tPaint = performance.now(); resolve(true); });
      img.decode().then(painted, painted);
    });
    obs.observe(img, {attributes: true, attributeFilter: ['src']});
  });
  window.__cnnRedraw = rec;
  return true;
}"""

REDRAW_RESULT_JS = """async (timeout) => {
  const rec = window.__cnnRedraw;
  const ok = await Promise.race([rec.done, new Promise((r) => setTimeout(() => r(false), timeout))]);
  return ok ? {t0: rec.t0, tSrc: rec.tSrc, tPaint: rec.tPaint} : null;
}"""

# Runs Python in the lesson's kernel outside any cell (nothing is added to the notebook) and
# returns what it printed.
KERNEL_PRINT_JS = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const future = kernel.requestExecute({code, silent: false, store_history: false});
  let text = '';
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'stream') text += msg.content.text;
    if (msg.header.msg_type === 'error') text += 'ERROR ' + msg.content.ename + ': ' + msg.content.evalue;
  };
  await future.done;
  return text;
}"""

# The ``timing`` list (milliseconds of update() in the kernel) of the explorer box with a CSS class.
KERNEL_TIMING_PY = """import json as _json
from ipywidgets.widgets.widget import _instances as _cnn_widgets
print(_json.dumps([list(getattr(_w, "timing", None) or []) for _w in list(_cnn_widgets.values())
                   if "{css}" in getattr(_w, "_dom_classes", ())]))
del _json, _cnn_widgets
"""


class LessonPage:
    def __init__(self, lab_page, lab, name: str, shots: Path):
        """Open lesson ``name`` as a new tab of ``lab_page``, the JupyterLab page that the
        session's tests share (conftest.py), and wait until its kernel is ready."""
        self.name = name
        self.stem = Path(name).stem
        self.shots = shots
        self.step = 0
        self.page = lab_page
        path = f"notebooks/{name}"
        self.page.evaluate("""async (path) => {
            await window.jupyterapp.commands.execute('docmanager:open', {path, factory: 'Notebook'});
            return true; }""", path)
        self.page.wait_for_function("""(path) => { const w = window.jupyterapp.shell.currentWidget;
            return w && w.context && w.context.path === path && w.sessionContext; }""",
                                    arg=path, timeout=60_000)
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
        time.sleep(0.25)
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
            time.sleep(0.25)
        self.page.wait_for_timeout(500)  # let the last widgets render
        return st

    def shot(self, label: str, locator=None) -> Path:
        self.step += 1
        path = self.shots / f"{self.stem}_{self.step:02d}_{re.sub(r'[^a-z0-9]+', '-', label.lower())}.png"
        target = locator if locator is not None else self.page
        box = locator.bounding_box() if locator is not None else None
        size = self.page.viewport_size
        if box and box["height"] > size["height"] - 200:
            # a widget taller than the notebook's view would be cut off: make the window taller
            self.page.set_viewport_size({"width": size["width"], "height": int(box["height"]) + 250})
            self.page.wait_for_timeout(300)
            locator.scroll_into_view_if_needed()
            try:
                target.screenshot(path=str(path))
            finally:
                self.page.set_viewport_size(size)
                self.page.wait_for_timeout(300)
        else:
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

    def time_slider_redraws(self, scope, description: str, moves: int = 6, timeout_ms: int = 20_000) -> list[dict]:
        """Move a slider by one step ``moves`` times (right, left, right, ...) with the keyboard and
        time each redraw of the explorer ``scope``: from the key press to the new picture in the
        page (``to_png``) and on the screen (``to_screen``), in milliseconds."""
        handle = self.slider(scope, description).locator(".noUi-handle").first
        handle.focus()
        results = []
        for m in range(moves):
            assert scope.evaluate(REDRAW_TIMER_JS), f"{self.name}: the explorer shows no picture to time"
            handle.press("ArrowRight" if m % 2 == 0 else "ArrowLeft")
            rec = self.page.evaluate(REDRAW_RESULT_JS, timeout_ms)
            if rec is None:
                raise AssertionError(f"{self.name}: moving {description!r} did not redraw the explorer "
                                     f"within {timeout_ms} ms")
            results.append({"to_png": rec["tSrc"] - rec["t0"], "to_screen": rec["tPaint"] - rec["t0"]})
            self.page.wait_for_timeout(200)        # let the kernel settle before the next move
        return results

    def kernel_timing(self, css_class: str) -> list[float] | None:
        """The explorer's own ``timing`` list (milliseconds of its update() in the kernel), or
        None when it keeps none."""
        import json

        text = self.page.evaluate(KERNEL_PRINT_JS, KERNEL_TIMING_PY.replace("{css}", css_class))
        if not text.strip().startswith("["):
            raise AssertionError(f"{self.name}: reading the explorer's timing failed: {text}")
        lists = [t for t in json.loads(text) if t]
        return lists[-1] if lists else None         # the newest explorer of that class

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
        """Shut the lesson's kernel down (as Kernel > Shut Down Kernel does) and close its tab
        without saving (the outputs of the run stay out of the notebook file)."""
        try:
            self.page.evaluate("""async () => { const w = window.jupyterapp.shell.currentWidget;
                await w.sessionContext.shutdown(); w.context.model.dirty = false; w.dispose(); }""")
        except Exception:
            pass
