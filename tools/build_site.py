"""Build the course site: static HTML of every lesson, executed during the build, offline.

    python3 course.py site            # all notebooks -> build/site/index.html + NN_topic.html
    python3 course.py site 01 02      # only the notebooks whose names start with these

Why nbconvert and this small script, rather than Jupyter Book or mkdocs-jupyter: nbconvert is
already installed with JupyterLab (nothing more to pin), it executes each notebook with the
course's own kernel, and its "lab" template looks like what learners see. The rest is what a
course site needs and those tools would not do offline:

- Widgets. A static page has no kernel, and the usual widget renderer is a script from a CDN.
  So each widget is replaced by what it showed when the build ran: its labels and control
  values as text, and the figures of its Output areas, with a note that it is interactive in
  JupyterLab. No script, no network.
- Maths. MathJax comes from the pip package jupyter-server-mathjax, copied into the site.
- Links between lessons point to the .html pages; the index page is the README's syllabus.
"""
from __future__ import annotations

import html
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "build" / "site"
KERNEL = "cnn-course"
MATHJAX_URL = "_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


# --- widgets, rendered as what they showed --------------------------------------------------

def _describe_control(state: dict) -> str | None:
    desc = state.get("description") or ""
    name = state.get("_model_name", "")
    if name in ("LabelModel", "HTMLModel", "HTMLMathModel"):
        return None
    if "value" in state and name.endswith(("SliderModel", "TextModel", "DropdownModel", "CheckboxModel",
                                            "ToggleButtonsModel", "RadioButtonsModel", "PlayModel",
                                            "IntTextModel", "FloatTextModel", "BoundedIntTextModel",
                                            "ToggleButtonModel", "SelectModel")):
        value = state["value"]
        if name.endswith(("DropdownModel", "ToggleButtonsModel", "RadioButtonsModel", "SelectModel")):
            labels = state.get("_options_labels") or []
            index = state.get("index")
            value = labels[index] if isinstance(index, int) and index < len(labels) else value
        return f"{desc} {value}".strip()
    if name == "ButtonModel":
        return None
    return None


def _widget_outputs(model_id: str, states: dict, seen: set) -> tuple[list, list[str]]:
    """Walk a widget tree: (the outputs of its Output areas, descriptions of its controls/labels)."""
    if model_id in seen or model_id not in states:
        return [], []
    seen.add(model_id)
    state = states[model_id].get("state", {})
    outputs, texts = [], []
    name = state.get("_model_name", "")
    if name in ("LabelModel", "HTMLModel", "HTMLMathModel") and state.get("value"):
        value = state["value"]
        texts.append(value if name != "LabelModel" else html.escape(value))
    control = _describe_control(state)
    if control:
        texts.append(html.escape(control))
    if name == "OutputModel":
        for out in state.get("outputs", []):
            outputs.append(nbformat.from_dict(out))
    for child in state.get("children", []) or []:
        if isinstance(child, str) and child.startswith("IPY_MODEL_"):
            o, t = _widget_outputs(child[len("IPY_MODEL_"):], states, seen)
            outputs += o
            texts += t
    return outputs, texts


def render_widgets_statically(nb) -> int:
    """Replace every widget view in ``nb`` by its figures and a text line of its settings."""
    states = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        new_outputs = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW not in data:
                new_outputs.append(out)
                continue
            count += 1
            outputs, texts = _widget_outputs(data[WIDGET_VIEW]["model_id"], states, set())
            note = ("<div style='border:1px dashed #999;padding:6px;margin:4px 0;font-size:90%'>"
                    "<b>Interactive widget</b> (live in JupyterLab; shown here as the build left it)"
                    + ("<br>" + " &middot; ".join(texts) if texts else "") + "</div>")
            new_outputs.append(nbformat.v4.new_output("display_data", data={"text/html": note}))
            new_outputs.extend(outputs)
        cell.outputs = new_outputs
    nb.metadata.pop("widgets", None)
    return count


def link_html_pages(nb) -> None:
    """Lesson links (NN_topic.ipynb) point to the pages of the site."""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = re.sub(r"\((\d\d_[a-z0-9_]+)\.ipynb\)", r"(\1.html)", cell.source)


# --- the index page -------------------------------------------------------------------------

def syllabus_rows() -> list[tuple[str, str, str, str]]:
    """(number, title, notebook stem, description) from the README's syllabus table."""
    rows = []
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\|\s*(\d\d)\s*\|\s*\[([^\]]+)\]\(notebooks/(\d\d_[a-z0-9_]+)\.ipynb\)\s*\|\s*(.*?)\s*\|$", line)
        if m:
            rows.append(m.groups())
    return rows


def index_page(built: dict[str, float]) -> str:
    rows = "\n".join(
        f"<tr><td>{num}</td><td><a href='{stem}.html'>{html.escape(title)}</a></td><td>{html.escape(desc)}</td>"
        f"<td>{built[stem]:.0f} s</td></tr>" if stem in built else
        f"<tr><td>{num}</td><td>{html.escape(title)}</td><td>{html.escape(desc)}</td><td>not built</td></tr>"
        for num, title, stem, desc in syllabus_rows())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CNNs from scratch: the course</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em;line-height:1.5}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ccc;padding:.4em .6em;text-align:left;vertical-align:top}}
a{{color:#0b5394}}</style></head><body>
<h1>Convolutional neural networks, from scratch</h1>
<p>An interactive course in JupyterLab notebooks. These pages show every lesson as it ran when the site
was built ({time.strftime('%Y-%m-%d')}); the sliders and dropdowns are live only in JupyterLab
(<code>python3 course.py lab</code>).</p>
<h2>Syllabus</h2>
<table><tr><th>#</th><th>lesson</th><th>what you learn</th><th>build time</th></tr>
{rows}
</table></body></html>
"""


# --- the build ------------------------------------------------------------------------------

def build_one(path: Path, exporter: HTMLExporter) -> float:
    start = time.perf_counter()
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=1800, kernel_name=KERNEL, resources={"metadata": {"path": str(NOTEBOOKS)}},
                            store_widget_state=True)
    client.execute()
    render_widgets_statically(nb)
    link_html_pages(nb)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
    assert "://cdn" not in body, f"{path.name}: the page still loads a script from a CDN"
    (OUT / f"{path.stem}.html").write_text(body, encoding="utf-8")
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    import jupyter_server_mathjax
    mathjax = Path(jupyter_server_mathjax.__file__).parent / "static"
    target = OUT / "_static" / "mathjax"
    if not target.exists():
        shutil.copytree(mathjax, target)
    exporter = HTMLExporter(template_name="course", extra_template_basedirs=[str(Path(__file__).parent / "site_template")],
                            mathjax_url=MATHJAX_URL)
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if argv:
        notebooks = [p for p in notebooks if any(p.name.startswith(a) for a in argv)]
    built = {}
    total = time.perf_counter()
    for path in notebooks:
        print(f"[site] {path.name} ...", end=" ", flush=True)
        built[path.stem] = build_one(path, exporter)
        print(f"{built[path.stem]:.1f} s", flush=True)
    # Keep the pages of earlier builds in the index when only some were rebuilt.
    for page in OUT.glob("[0-9][0-9]_*.html"):
        built.setdefault(page.stem, 0.0)
    (OUT / "index.html").write_text(index_page(built), encoding="utf-8")
    print(f"[site] {len(notebooks)} notebooks in {time.perf_counter() - total:.1f} s -> {OUT / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
