"""The charts as SVG, drawn on the server with pygal (no script: pygal's tooltips and its
config <script> are left out, so the image needs none). The SVG keeps pygal's own <style>,
so pages show it as an <img> from our routes, never inlined: the page's CSP stays
`style-src 'self'`. Colour is never the only signal: spending bars are hatched, every
series is named in the legend, categories are named on their axis, and each chart has a
data table and a one-sentence summary beside it (templates/insights/)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from xml.etree import ElementTree

import pygal
from pygal.style import Style

# pygal appends an import hook for its map plugins (pygal.maps.*, unused here) that has
# only the legacy find_module(): every later import then warns (ImportWarning), which our
# strict warnings turn into errors. Without the hook pygal's charts work the same.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "PluginImportFixer"]


# Wide: desktop; narrow: phones (the page picks with <picture> media queries).
LAYOUTS = {"wide": (760, 420), "narrow": (380, 460)}
INK = "#1f2328"
BLUE = "#1a5fb4"  # 6.2:1 on white
RUST = "#a3400f"  # 6.4:1 on white
HATCH_ID = "wy-hatch"
HATCH = (
    f'<pattern id="{HATCH_ID}" width="8" height="8" patternUnits="userSpaceOnUse" '
    f'patternTransform="rotate(45)"><rect width="8" height="8" fill="{RUST}"/>'
    '<line x1="0" y1="0" x2="0" y2="8" stroke="#fff" stroke-width="3"/></pattern>'
)
_SVG_NS = "{http://www.w3.org/2000/svg}"


def _style(*, care: bool, colors: Sequence[str], narrow: bool) -> Style:
    size = 22 if care else 18 if narrow else 15
    return Style(
        background="#ffffff",
        plot_background="#ffffff",
        foreground=INK,
        foreground_strong="#000000",
        foreground_subtle="#4a4f57",
        colors=tuple(colors),
        opacity="1",
        opacity_hover="1",
        font_family="sans-serif",
        label_font_size=size,
        major_label_font_size=size,
        legend_font_size=size,
        value_font_size=size - 2,
        title_font_size=size + 2,
        guide_stroke_color="#8c959f",
        major_guide_stroke_color="#8c959f",
    )


def _config(*, care: bool, layout: str, colors: Sequence[str], title: str) -> dict[str, Any]:
    width, height = LAYOUTS.get(layout, LAYOUTS["wide"])
    return {
        "style": _style(care=care, colors=colors, narrow=layout == "narrow"),
        "width": width,
        "height": height,
        "title": title,
        "js": [],
        "tooltip_fancy_mode": False,
        "disable_xml_declaration": True,
        "legend_at_bottom": True,
        "legend_box_size": 22 if care else 16,
        "margin": 12,
        "defs": [HATCH],
        "truncate_label": -1,  # never cut a label short
        "truncate_legend": -1,
    }


def _svg(chart: Any) -> bytes:
    """pygal's SVG without any <script> (its config script comes even with js=[])."""
    tree = chart.render_tree()  # pygal builds with xml.etree unless lxml is turned on
    for parent in list(tree.iter()):
        for child in list(parent):
            if str(child.tag).rpartition("}")[2] == "script":
                parent.remove(child)
    data: bytes = ElementTree.tostring(tree, encoding="utf-8", xml_declaration=False)
    return data


def axis_formatter(lang: str) -> Callable[[Any], str]:
    """Short amounts for the axes (whole yuan; 万 or k above 10,000): the exact amounts
    are in the data table beside the chart."""

    def fmt(value: Any) -> str:
        if value is None:
            return ""
        yuan = Decimal(int(value)) / 100
        if abs(yuan) >= 10_000:
            if lang == "zh":
                return f"{(yuan / 10_000).quantize(Decimal('0.1')).normalize():f}万"
            return f"{(yuan / 1_000).quantize(Decimal('1')):,f}k"
        return f"{yuan.quantize(Decimal('1')):,f}"

    return fmt


def ticks(largest: int, count: int = 3) -> list[int]:
    """Round axis values (1, 2 or 5 times a power of ten, in minor units) from 0 past
    `largest`, about `count` steps: a phone's axis shows these only, so none overlap."""
    step = 100  # one yuan
    while step * count < largest:
        for factor in (2, 5 / 2, 2):
            step = int(step * factor)
            if step * count >= largest:
                break
    top = max(largest, 1)
    return [step * i for i in range((top + step - 1) // step + 1)]


def _narrow_axes(layout: str, values: Sequence[int], *, months: bool = True) -> dict[str, Any]:
    """On a phone: few value labels (explicit round ones) and every third month."""
    if layout != "narrow":
        return {}
    axes: dict[str, Any] = {"y_labels": ticks(max(values, default=0))}
    if months:
        axes.update(x_labels_major_every=3, show_minor_x_labels=False)
    return axes


def monthly_chart(
    *,
    labels: list[str],
    income: list[int],
    spending: list[int],
    names: tuple[str, str],
    title: str,
    care: bool,
    layout: str,
    lang: str,
) -> bytes:
    chart = pygal.Bar(
        **_config(care=care, layout=layout, colors=(BLUE, f"url(#{HATCH_ID})"), title=title),
        value_formatter=axis_formatter(lang),
        **_narrow_axes(layout, income + spending),
        x_label_rotation=0,
    )
    chart.x_labels = labels
    chart.add(names[0], income)
    chart.add(names[1], spending)
    return _svg(chart)


def categories_chart(
    *,
    labels: list[str],
    values: list[int],
    title: str,
    no_data: str,
    care: bool,
    layout: str,
    lang: str,
) -> bytes:
    chart = pygal.HorizontalBar(
        **_config(care=care, layout=layout, colors=(f"url(#{HATCH_ID})",), title=title),
        value_formatter=axis_formatter(lang),
        **_narrow_axes(layout, values, months=False),
        show_legend=False,
        show_x_guides=True,
        show_y_guides=False,
        no_data_text=no_data,
    )
    # HorizontalBar draws the first label at the bottom: reversed, the largest is on top.
    chart.x_labels = list(reversed(labels))
    chart.add(title, list(reversed(values)))
    return _svg(chart)


def balance_chart(
    *,
    labels: list[str],
    values: list[int],
    currency: str,
    name: str,
    title: str,
    care: bool,
    layout: str,
    lang: str,
) -> bytes:
    chart = pygal.Line(
        **_config(care=care, layout=layout, colors=(BLUE,), title=title),
        value_formatter=axis_formatter(lang),
        **_narrow_axes(layout, values),
        show_legend=False,
        dots_size=5 if care else 4,
        stroke_style={"width": 4 if care else 3},
        fill=False,
    )
    chart.x_labels = labels
    chart.add(name, values)
    return _svg(chart)
