"""What a diagnosis says: :class:`Finding` (one problem, its numbers, one next step) and
:class:`Diagnosis` (the findings, most severe first, as text, HTML and JSON).

Pure Python and numpy: no TensorFlow, so ``nnviz doctor LOGDIR`` reads a finished run's findings
without loading a model.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..html import esc

__all__ = ["CODES", "Diagnosis", "Finding", "findings_html", "SEVERITIES", "jsonable"]

#: Severity names, least severe first.
SEVERITIES = ("info", "warning", "error")

#: Every finding code a diagnosis can give, with the picture that shows its evidence: the folder
#: of the callback that draws it (the report links there) or a plot of ``nv.plot``.
#: Within one severity, findings are listed in this order: causes before their symptoms.
CODES = {
    "divergence": "curves",
    "exploding_gradients": "gradient_flow",
    "vanishing_gradients": "gradient_flow",
    "dead_units": "dead_units",
    "saturated_units": "activation_stats",
    "frozen_layer": "gradient_flow",
    "attention_collapse": "attention_maps",
    "unscaled_inputs": "inputs",
    "learning_rate_too_high": "curves",
    "learning_rate_too_low": "curves",
    "label_noise": "suspect_samples",
    "class_imbalance": "class_counts",
    "shortcut": "attributions",
    "ood_inputs": "embedding_projection",
    "overfitting": "curves",
    "underfitting": "curves",
}


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays as Python numbers/lists and NaN/inf as None, so it
    serialises as strict JSON (the manifest and ``to_json``)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class Finding:
    """One problem found in a model or its training.

    Attributes:
        code: what is wrong, one of :data:`CODES` (e.g. ``"dead_units"``).
        severity: ``"info"``, ``"warning"`` or ``"error"``.
        message: one sentence saying what is wrong and where.
        layers: the layer paths concerned (empty when it is about the data or the fit).
        evidence: the numbers behind the finding (JSON-able); ``evidence["picture"]`` names the
            picture that shows them (a callback folder / ``nv.plot`` function).
        advice: one concrete next step.
    """

    code: str
    severity: str
    message: str
    layers: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    advice: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}; received {self.severity!r}")
        self.layers = [str(p) for p in self.layers]
        self.evidence = {"picture": CODES.get(self.code, ""), **jsonable(self.evidence)}

    @property
    def rank(self) -> int:
        """Position of the severity in :data:`SEVERITIES` (higher: more severe)."""
        return SEVERITIES.index(self.severity)

    def to_dict(self) -> dict[str, Any]:
        """The finding as a JSON-able dict (the fields by name)."""
        return jsonable(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """A finding from :meth:`to_dict`'s output (unknown keys are ignored)."""
        return cls(
            code=str(data.get("code", "")),
            severity=str(data.get("severity", "info")),
            message=str(data.get("message", "")),
            layers=list(data.get("layers") or []),
            evidence=dict(data.get("evidence") or {}),
            advice=str(data.get("advice", "")),
        )

    def line(self) -> str:
        """``[warning] dead_units: message (layers)``."""
        where = f" [{', '.join(self.layers[:4])}{' ...' if len(self.layers) > 4 else ''}]"
        return f"[{self.severity}] {self.code}: {self.message}{where if self.layers else ''}"


def _evidence_text(evidence: dict[str, Any], limit: int = 6) -> str:
    parts = []
    for key, value in evidence.items():
        if key == "picture" or len(parts) >= limit:
            continue
        if isinstance(value, float):
            value = f"{value:.3g}"
        elif isinstance(value, list | dict) and len(value) > 6:
            value = f"({len(value)} values)"
        parts.append(f"{key}={value}")
    return ", ".join(parts)


@dataclass
class Diagnosis:
    """The result of :func:`keras_nnviz.diagnose`: findings, most severe first.

    Attributes:
        findings: :class:`Finding` objects, errors first, then warnings, then infos.
        suspect_samples: indices into the diagnosed ``x`` whose label is most likely wrong,
            most suspect first (empty without labels).
        checked: the checks that ran (codes); a check missing here had no data to run on
            (no labels, no history, no attention layer ...).
        seconds: wall time of the diagnosis.
        model: the model's name.
    """

    findings: list[Finding] = field(default_factory=list)
    suspect_samples: list[int] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    seconds: float = 0.0
    model: str = ""

    def __post_init__(self) -> None:
        # Most severe first; within one severity in CODES order (causes before symptoms).
        order = {code: i for i, code in enumerate(CODES)}
        self.findings = sorted(self.findings, key=lambda f: (-f.rank, order.get(f.code, 99)))

    @property
    def codes(self) -> list[str]:
        """The findings' codes, most severe first."""
        return [f.code for f in self.findings]

    @property
    def healthy(self) -> bool:
        """No warning and no error (infos allowed)."""
        return all(f.severity == "info" for f in self.findings)

    def worst(self) -> str | None:
        """The highest severity found, or None without findings."""
        return self.findings[0].severity if self.findings else None

    def __str__(self) -> str:
        head = f"Diagnosis of {self.model!r}" if self.model else "Diagnosis"
        if not self.findings:
            lines = [f"{head}: no problem found ({len(self.checked)} checks ran)."]
        else:
            counts = ", ".join(
                f"{sum(f.severity == s for f in self.findings)} {s}"
                for s in reversed(SEVERITIES)
                if any(f.severity == s for f in self.findings)
            )
            lines = [f"{head}: {counts}"]
            for f in self.findings:
                lines.append("  " + f.line())
                text = _evidence_text(f.evidence)
                if text:
                    lines.append(f"      evidence: {text}")
                if f.advice:
                    lines.append(f"      try: {f.advice}")
        if self.suspect_samples:
            shown = ", ".join(map(str, self.suspect_samples[:10]))
            more = " ..." if len(self.suspect_samples) > 10 else ""
            lines.append(f"  suspect samples (label may be wrong): {shown}{more}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Diagnosis(model={self.model!r}, codes={self.codes})"

    def _repr_html_(self) -> str:
        return findings_html(self.findings, title=f"Diagnosis of {self.model}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict: ``findings`` (dicts), ``suspect_samples``, ``checked``, ``seconds``,
        ``model``."""
        return jsonable(
            {
                "model": self.model,
                "findings": [f.to_dict() for f in self.findings],
                "suspect_samples": list(self.suspect_samples),
                "checked": list(self.checked),
                "seconds": self.seconds,
            }
        )

    def to_json(self, indent: int | None = 2) -> str:
        """The diagnosis as strict JSON (:meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        """A diagnosis from :meth:`to_dict`'s output (findings read back from a manifest)."""
        return cls(
            findings=[Finding.from_dict(f) for f in data.get("findings") or []],
            suspect_samples=[int(i) for i in data.get("suspect_samples") or []],
            checked=list(data.get("checked") or []),
            seconds=float(data.get("seconds") or 0.0),
            model=str(data.get("model") or ""),
        )


_COLOURS = {"error": "#b91c1c", "warning": "#b45309", "info": "#1d4ed8"}


def findings_html(
    findings: Sequence[Finding] | Iterable[dict[str, Any]],
    title: str = "Diagnosis",
    pictures: dict[str, str] | None = None,
    layers_href: str | None = None,
) -> str:
    """An HTML fragment listing findings (every text escaped): severity badge, code, message,
    layers, evidence numbers, advice, and a link to the picture of the evidence where
    ``pictures`` maps its name to an anchor or file (the report); ``layers_href`` links the
    layer names (to the report's architecture graph)."""
    items = [f if isinstance(f, Finding) else Finding.from_dict(f) for f in findings]
    if not items:
        return f"<div class='nv-diagnosis'><p><b>{esc(title)}</b></p><p>No problem found.</p></div>"
    rows = []
    for f in items:
        colour = _COLOURS[f.severity]
        picture = f.evidence.get("picture") or ""
        link = (pictures or {}).get(picture)
        see = f" · <a href='{esc(link)}'>see {esc(picture)}</a>" if link else ""
        names = [
            f"<a href='{esc(layers_href)}'><code>{esc(p)}</code></a>"
            if layers_href
            else f"<code>{esc(p)}</code>"
            for p in f.layers[:8]
        ]
        layers = (
            f"<div><b>layers:</b> {', '.join(names)}{' …' if len(f.layers) > 8 else ''}</div>"
            if f.layers
            else ""
        )
        rows.append(
            "<li style='margin:0 0 10px 0;list-style:none'>"
            f"<span style='background:{colour};color:#fff;border-radius:3px;padding:1px 6px;"
            f"font-size:12px'>{esc(f.severity)}</span> <b><code>{esc(f.code)}</code></b> "
            f"{esc(f.message)}{layers}"
            f"<div style='color:#444;font-size:13px'><b>evidence:</b> "
            f"{esc(_evidence_text(f.evidence, limit=8))}{see}</div>"
            f"<div style='font-size:13px'><b>try:</b> {esc(f.advice)}</div></li>"
        )
    return (
        f"<div class='nv-diagnosis'><p><b>{esc(title)}</b></p>"
        f"<ul style='padding-left:0'>{''.join(rows)}</ul></div>"
    )
