"""`charmix mouse`: a Tk window where the pointer's position on a pad is the mix.

The pad (see mapping.py) is drawn as a square in the middle of the window with each model's
anchor labelled; moving the pointer sends the weights at that point, live bars show them, the
wheel or +/- change the temperature, space freezes, f toggles fullscreen, Esc or q quits.

Nothing is sent at start-up: the daemon keeps whatever mix it has until the pointer moves over
the pad, so opening the window on stage is silent. Tk runs on the main thread; the Sender's own
thread does the network, so a slow or missing daemon never stalls drawing.
"""

from __future__ import annotations

import json
import math
import sys
import tkinter as tk
from dataclasses import dataclass

from charmix.controllers.mapping import PadMapping
from charmix.controllers.sender import Sender
from charmix.controllers.sender_messages import entry, format_targets, limits
from charmix.daemon.common.signals import install_stop_handlers
from charmix.daemon.protocol.palette import colour as model_colour

TITLE = "charmix mouse"
HELP = "move: mix · wheel or +/-: temperature · space: freeze · f: fullscreen · q/Esc: quit"
TOP = 58  # px for the help (wraps in narrow windows) and status lines
STRIP = 64  # px for the weight bars under the pad
MARGIN = 28  # px around the pad, room for anchor labels
TEMP_STEP = 1.05  # one wheel notch or key press multiplies T by this
BG, FG, DIM = "#111111", "#dddddd", "#555555"

WEIGHTS, TEMPERATURE = entry("weights"), entry("temperature")


@dataclass(frozen=True)
class Layout:
    """Where the pad sits in the window: centre and half-side in pixels."""

    cx: float
    cy: float
    half: float

    @classmethod
    def for_size(cls, width: int, height: int) -> Layout:
        side = max(min(width - 2 * MARGIN, height - TOP - STRIP - 2 * MARGIN), 20)
        return cls(width / 2, TOP + MARGIN + side / 2, side / 2)

    def to_pixels(self, x: float, y: float) -> tuple[float, float]:
        return self.cx + x * self.half, self.cy - y * self.half

    def to_pad(self, px: float, py: float) -> tuple[float, float]:
        """Pixel → pad; outside the square clamps to its edge, so the corners stay playable."""
        x = (px - self.cx) / self.half
        y = (self.cy - py) / self.half
        return min(max(x, -1.0), 1.0), min(max(y, -1.0), 1.0)


class MouseBridge:
    """The window, its drawing and its bindings around one PadMapping and one Sender."""

    def __init__(
        self,
        root: tk.Tk,
        mapping: PadMapping,
        sender: Sender,
        temperature: float | None = None,
        debug: bool = False,
    ) -> None:
        self.root, self.mapping, self.sender, self.debug = root, mapping, sender, debug
        self.t_min, self.t_max = limits(TEMPERATURE)
        self.temperature = temperature  # None until known (daemon status) or first changed
        self.frozen = False
        self.position: tuple[float, float] | None = None
        self.weights = [1.0 / len(mapping.anchors)] * len(mapping.anchors)
        self.layout = Layout.for_size(1, 1)
        self.target_text = f"→ {format_targets(*sender.targets)}"

        root.title(f"{TITLE} — {HELP}")
        root.configure(background=BG)
        self.canvas = tk.Canvas(root, background=BG, highlightthickness=0, borderwidth=0)
        self.canvas.pack(fill="both", expand=True)
        self.canvas.bind("<Configure>", self._on_resize)
        self.canvas.bind("<Map>", lambda e: self._announce())
        self.canvas.bind("<Motion>", self._on_motion)
        self.canvas.bind("<Button-4>", lambda e: self.nudge_temperature(+1))  # X11 wheel
        self.canvas.bind("<Button-5>", lambda e: self.nudge_temperature(-1))
        self.canvas.bind("<MouseWheel>", lambda e: self.nudge_temperature(1 if e.delta > 0 else -1))
        for key in ("plus", "equal", "KP_Add"):
            root.bind(f"<KeyPress-{key}>", lambda e: self.nudge_temperature(+1))
        for key in ("minus", "underscore", "KP_Subtract"):
            root.bind(f"<KeyPress-{key}>", lambda e: self.nudge_temperature(-1))
        root.bind("<KeyPress-space>", lambda e: self.toggle_freeze())
        root.bind("<KeyPress-f>", lambda e: self.toggle_fullscreen())
        for key in ("Escape", "q"):
            root.bind(f"<KeyPress-{key}>", lambda e: self.quit())
        root.protocol("WM_DELETE_WINDOW", self.quit)

    # -- actions ----------------------------------------------------------------------------
    def move_to(self, x: float, y: float) -> None:
        """The pointer is at pad (x, y): new weights, sent if they changed."""
        if self.frozen:
            return
        self.position = (x, y)
        self.weights = self.mapping.weights(x, y)
        self.sender.set(WEIGHTS, *self.weights)
        self.redraw()

    def nudge_temperature(self, steps: int) -> None:
        default = float(TEMPERATURE.args[0].default)  # type: ignore[arg-type]
        base = self.temperature if self.temperature is not None else default
        self.temperature = min(max(base * TEMP_STEP**steps, self.t_min), self.t_max)
        self.temperature = round(self.temperature, 3)
        self.sender.set(TEMPERATURE, self.temperature)
        self.redraw()

    def toggle_freeze(self) -> None:
        self.frozen = not self.frozen
        self.redraw()

    def toggle_fullscreen(self) -> None:
        full = bool(self.root.attributes("-fullscreen"))
        self.root.attributes("-fullscreen", not full)

    def quit(self) -> None:
        self.root.quit()

    # -- events -----------------------------------------------------------------------------
    def _on_motion(self, event: tk.Event) -> None:
        self.move_to(*self.layout.to_pad(event.x, event.y))

    def _on_resize(self, event: tk.Event) -> None:
        self.layout = Layout.for_size(event.width, event.height)
        self._announce()
        self.redraw()

    def _announce(self) -> None:
        """--debug: where each anchor is drawn, once the window can receive pointer events."""
        if self.debug and self.canvas.winfo_ismapped():
            pixels = {a.name: [round(v) for v in self.layout.to_pixels(a.x, a.y)]
                      for a in self.mapping.anchors}
            print("anchors " + json.dumps(pixels), flush=True)

    # -- drawing ----------------------------------------------------------------------------
    def redraw(self) -> None:
        c, lay = self.canvas, self.layout
        c.delete("all")
        width = c.winfo_width()
        c.create_text(8, 6, anchor="nw", text=HELP, fill=DIM, font=("TkDefaultFont", 9),
                      width=max(width - 16, 100))
        temp = "?" if self.temperature is None else f"{self.temperature:.2f}"
        status = f"T {temp}   {'FROZEN   ' if self.frozen else ''}{self.target_text}"
        c.create_text(8, TOP - 20, anchor="nw", text=status, fill="#ff5252" if self.frozen else FG,
                      font=("TkDefaultFont", 10))
        x0, y0 = lay.to_pixels(-1, 1)
        x1, y1 = lay.to_pixels(1, -1)
        c.create_rectangle(x0, y0, x1, y1, outline=DIM)
        c.create_oval(*lay.to_pixels(-0.02, 0.02), *lay.to_pixels(0.02, -0.02), outline=DIM)
        for i, a in enumerate(self.mapping.anchors):
            colour = model_colour(a.name, i)
            ax, ay = lay.to_pixels(a.x, a.y)
            r = 5 + 10 * self.weights[i]
            c.create_oval(ax - r, ay - r, ax + r, ay + r, fill=colour, outline="")
            norm = math.hypot(a.x, a.y) or 1.0  # label just outside the anchor, away from centre
            lx, ly = ax + 26 * a.x / norm, ay - 26 * a.y / norm
            c.create_text(lx, ly, text=a.name, fill=colour, font=("TkDefaultFont", 10, "bold"))
        if self.position is not None:
            mx, my = lay.to_pixels(*self.position)
            c.create_oval(mx - 9, my - 9, mx + 9, my + 9, outline=FG, width=2)
        self._draw_bars(width, c.winfo_height())

    def _draw_bars(self, width: int, height: int) -> None:
        n = len(self.weights)
        slot = width / n
        base = height - 18
        for i, (a, w) in enumerate(zip(self.mapping.anchors, self.weights, strict=True)):
            colour = model_colour(a.name, i)
            left = i * slot + 6
            right = (i + 1) * slot - 6
            self.canvas.create_rectangle(left, base - (STRIP - 24), right, base, outline=DIM)
            self.canvas.create_rectangle(left, base - (STRIP - 24) * w, right, base, fill=colour,
                                         outline="")
            self.canvas.create_text((left + right) / 2, base + 9, fill=FG,
                                    text=f"{a.name} {w:.2f}", font=("TkDefaultFont", 9))


def run(
    mapping: PadMapping,
    sender: Sender,
    geometry: str | None = None,
    fullscreen: bool = False,
    temperature: float | None = None,
    debug: bool = False,
) -> int:
    """Open the window and run until it is closed; returns the exit code."""
    try:
        root = tk.Tk(className="charmix")
    except tk.TclError as exc:
        print(f"charmix mouse: cannot open a window ({exc}); it needs a display "
              "(set DISPLAY, or use `charmix send` / `charmix leap --replay` without one)",
              file=sys.stderr)
        return 1  # a runtime failure: no display
    if geometry:
        try:
            root.geometry(geometry)
        except tk.TclError:
            root.destroy()
            print(f"charmix mouse: bad --geometry {geometry!r} (use WIDTHxHEIGHT[+X+Y], e.g. "
                  "800x800+0+0)", file=sys.stderr)
            return 2
    bridge = MouseBridge(root, mapping, sender, temperature, debug)
    if fullscreen:
        bridge.toggle_fullscreen()
    install_stop_handlers(bridge.quit)  # SIGINT and SIGTERM (charmix.daemon.common.signals)

    def wake() -> None:  # Python runs signal handlers only between Tk events; keep them coming
        root.after(200, wake)

    wake()
    root.mainloop()
    root.destroy()
    return 0
